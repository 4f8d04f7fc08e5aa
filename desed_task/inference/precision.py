"""The arithmetic the network runs in at inference: float32, or bfloat16 autocast.

bf16 halves the bytes moved and raises the multiply rate only with native units: CUDA devices for which
``torch.cuda.is_bf16_supported()`` holds, and CPUs with AVX512-BF16 or AMX. Elsewhere oneDNN emulates bf16 with
conversions around float32 arithmetic (``torch.ops.mkldnn._is_mkldnn_bf16_supported()`` is true on any AVX-512
CPU, so it does not tell native from emulated), which is far slower than float32.

``auto`` takes bf16 wherever the device has native bf16: CUDA devices with bf16 support, and CPUs with
AVX512-BF16 or AMX (``avx512_bf16`` or ``amx_bf16`` in ``/proc/cpuinfo``). CPUs that would emulate it (AVX-512
without AVX512-BF16, e.g. older Intel Xeons) keep float32, where bf16 measured three times slower
(docs/inference.md, "Precision"). The front-ends disable autocast inside, so features stay float32 whatever the
precision, and scores come back as float32.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import torch

from desed_task.inference.inference_error import InferenceError

log = logging.getLogger(__name__)

Precision = Literal["fp32", "bf16", "auto"]
PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "auto")
NATIVE_BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
CPUINFO = Path("/proc/cpuinfo")


def cpu_flags(cpuinfo: Path | None = None) -> set[str]:
    """The feature flags of the first CPU in ``cpuinfo`` (default ``/proc/cpuinfo``; empty where there is none)."""
    try:
        text = (cpuinfo or CPUINFO).read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return set(line.split(":", 1)[1].split())
    return set()


def native_bf16(device: torch.device, cpuinfo: Path | None = None) -> tuple[bool, str]:
    """Whether ``device`` computes bf16 natively, and why (for the log)."""
    if device.type == "cuda":
        supported = torch.cuda.is_bf16_supported()
        name = torch.cuda.get_device_name(device)
        return supported, f"{name} {'supports' if supported else 'does not support'} bf16"
    if device.type == "cpu":
        found = sorted(cpu_flags(cpuinfo) & set(NATIVE_BF16_CPU_FLAGS))
        if found:
            return True, f"the CPU has {', '.join(found)}"
        return False, f"the CPU has neither {' nor '.join(NATIVE_BF16_CPU_FLAGS)}, so bf16 would be emulated"
    return False, f"native bf16 on {device.type} is not known"


def resolve_precision(precision: str, device: torch.device) -> tuple[Literal["fp32", "bf16"], str]:
    """The precision to run in and why: ``auto`` is bf16 where ``device`` has native bf16, float32 elsewhere."""
    if precision not in PRECISIONS:
        raise InferenceError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "fp32":
        return "fp32", "asked for"
    native, why = native_bf16(device)
    if precision == "bf16":
        if not native:
            log.warning("bf16 asked for but %s: expect it to be slower than fp32", why)
        return "bf16", "asked for"
    return ("bf16" if native else "fp32"), f"auto: {why}"


def autocast(device: torch.device, precision: Literal["fp32", "bf16"]) -> torch.autocast:
    """The autocast context of ``precision`` (disabled for float32)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")

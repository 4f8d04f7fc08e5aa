"""Stage-2 step measurements in a fresh Python process (``python -m tools.stage2_step``).

A fresh process per measurement makes the CPU's peak resident size that of this measurement alone, gives every
CUDA measurement an empty allocator, and keeps an out-of-memory error from spoiling the measurements after it.
Two or more devices start one process per device with ``torch.distributed.run`` (DDP).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from tools import REPO_ROOT, checkout_env

OUTPUT_TAIL = 3000  # characters of a failed run's output kept in the result


def _free_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return str(probe.getsockname()[1])


def stage2_step_command(
    json_path: Path,
    device: str = "cpu",
    devices: int = 1,
    batch: tuple[int, int, int, int] = (24, 24, 48, 48),
    precision: str = "32",
    activation_checkpointing: bool = False,
    overrides: dict[str, Any] | None = None,
    warmup: int = 1,
    steps: int = 3,
    recipe: Path | None = None,
) -> list[str]:
    """The command line of one measurement (under ``torch.distributed.run`` when ``devices`` > 1)."""
    args = [
        "--json",
        str(json_path),
        "--device",
        device,
        "--devices",
        str(devices),
        "--batch",
        *map(str, batch),
        "--precision",
        precision,
        "--warmup",
        str(warmup),
        "--steps",
        str(steps),
    ]
    if activation_checkpointing:
        args.append("--activation_checkpointing")
    if recipe is not None:
        args += ["--recipe", str(Path(recipe).resolve())]
    for key, value in (overrides or {}).items():
        args += ["--set", f"{key}={json.dumps(value)}"]
    launcher = [sys.executable]
    if devices > 1:
        launcher += ["-m", "torch.distributed.run", "--nproc_per_node", str(devices), "--master_port", _free_port()]
    return [*launcher, "-m", "tools.stage2_step", *args]


def run_stage2_step(timeout: float = 600.0, env: dict[str, str] | None = None, **options: Any) -> dict[str, Any]:
    """Run one measurement (``options``: those of ``stage2_step_command``) and return its result.

    The result has ``"status"``: ``ok``, ``out_of_memory`` (with the allocator's peak when it failed), ``error``
    (exit code and the end of the output) or ``timeout``.
    """
    environment = checkout_env({**os.environ, **(env or {})})
    with tempfile.TemporaryDirectory() as folder:
        json_path = Path(folder) / "stage2_step.json"
        command = stage2_step_command(json_path, **options)
        try:
            done = subprocess.run(
                command, cwd=REPO_ROOT, env=environment, capture_output=True, text=True, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            return {"status": "timeout", "timeout_s": timeout, "command": command}
        if json_path.is_file():
            return json.loads(json_path.read_text())
    output = (done.stdout + done.stderr)[-OUTPUT_TAIL:]
    return {"status": "error", "returncode": done.returncode, "output_tail": output, "command": command}

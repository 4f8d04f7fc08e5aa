"""Inference precision: ``auto`` picks bf16 wherever the device has native bf16 units; bf16 runs the network under
autocast while the features stay float32, and scores come back float32 and close to float32's."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from desed_task.inference import InferenceError, SoundEventDetector
from desed_task.inference import precision as precision_module
from desed_task.inference.precision import cpu_flags, native_bf16, resolve_precision

SR = 16000


@pytest.mark.parametrize(
    "flags, expected",
    [("fpu avx512f avx512bw", "fp32"), ("avx512f avx512_bf16", "bf16"), ("amx_tile amx_bf16", "bf16"), (None, "fp32")],
)
def test_auto_on_a_cpu_follows_its_bf16_flags(flags, expected, tmp_path, monkeypatch):
    cpuinfo = tmp_path / "cpuinfo"
    if flags is not None:
        cpuinfo.write_text(f"processor\t: 0\nmodel name\t: test\nflags\t\t: {flags}\n")
    monkeypatch.setattr(precision_module, "CPUINFO", cpuinfo)
    assert cpu_flags() == (set(flags.split()) if flags else set())
    chosen, why = resolve_precision("auto", torch.device("cpu"))
    assert chosen == expected and why.startswith("auto: ")
    assert resolve_precision("fp32", torch.device("cpu"))[0] == "fp32"
    assert resolve_precision("bf16", torch.device("cpu"))[0] == "bf16"  # asked for: run it, warn if emulated


def test_auto_on_cuda_asks_torch(monkeypatch):
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Test GPU")
    for supported, expected in ((True, "bf16"), (False, "fp32")):
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: supported)
        assert native_bf16(torch.device("cuda"))[0] is supported
        assert resolve_precision("auto", torch.device("cuda"))[0] == expected


def test_unknown_precision_is_an_error():
    with pytest.raises(InferenceError, match="fp32, bf16, auto"):
        resolve_precision("fp16", torch.device("cpu"))


def test_bf16_network_float32_features_and_scores(tiny_checkpoint, rng):
    fp32 = SoundEventDetector.from_checkpoint(tiny_checkpoint, device="cpu", precision="fp32")
    bf16 = SoundEventDetector.from_checkpoint(tiny_checkpoint, device="cpu", precision="bf16")
    assert (fp32.precision, bf16.precision) == ("fp32", "bf16")
    seen = {}
    bf16.network.register_forward_pre_hook(lambda module, inputs: seen.update(inputs=[x.dtype for x in inputs]))
    linear = next(m for m in bf16.network.modules() if isinstance(m, torch.nn.Linear))
    linear.register_forward_hook(lambda module, inputs, output: seen.update(linear=output.dtype))
    audio = (0.1 * rng.standard_normal(12 * SR)).astype(np.float32)
    reference, result = fp32(audio, sample_rate=SR), bf16(audio, sample_rate=SR)
    assert seen == {"inputs": [torch.float32, torch.float32], "linear": torch.bfloat16}
    assert result.scores.dtype == result.smoothed.dtype == np.float32
    assert 0 < np.abs(result.scores - reference.scores).max() < 0.05

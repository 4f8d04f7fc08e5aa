"""The two front-ends against the golden torchaudio numbers, and the mistakes those numbers catch.

Mel spectrograms are compared with a per-clip relative tolerance, ``max|a − b| ≤ 1e-4 · max|b|``: float32
STFT/matmul rounding scales with the clip's loudest bin, while an element-wise ``rtol`` would be decided by
the quietest bins (the zero-padded tail of clip 0 holds values near 1e-9). Scaled features live in a fixed
range ([0, 1] and about [-1, 1]), so they are compared with ``atol=1e-4`` as the reference README states.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from desed_task.features import SEDFrontend, mel_filterbank
from desed_task.nnet.encoders import ATSTFrontend

MEL_RTOL = 1e-4
FEAT_ATOL = 1e-4


def per_clip_relative_error(actual: torch.Tensor, expected: torch.Tensor) -> torch.Tensor:
    """max|a − b| / max|b| for each clip of (B, F, T) tensors: (B,)."""
    return (actual - expected).abs().amax(dim=(1, 2)) / expected.abs().amax(dim=(1, 2))


@pytest.fixture(scope="module")
def audio(golden: dict[str, np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(golden["audio"])  # (3, 160000)


@pytest.fixture(scope="module")
def sed_out(audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    frontend = SEDFrontend()
    mel = frontend.mel(audio)
    return mel, frontend.scale(mel)


@pytest.fixture(scope="module")
def atst_out(audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    frontend = ATSTFrontend()
    mel = frontend.mel(audio)
    return mel, frontend.scale(mel)


def test_sed_matches_golden(sed_out, golden) -> None:
    mel, feat = sed_out
    assert mel.shape == (3, 128, 626) and mel.dtype == torch.float32
    assert (per_clip_relative_error(mel, torch.from_numpy(golden["sed_mel"])) <= MEL_RTOL).all()
    torch.testing.assert_close(feat, torch.from_numpy(golden["sed_feat"]), atol=FEAT_ATOL, rtol=0)
    assert feat.amin() >= 0 and feat.amax() <= 1


def test_atst_matches_golden_with_batch_top_db(atst_out, golden) -> None:
    mel, feat = atst_out
    assert mel.shape == (3, 64, 1001) and mel.dtype == torch.float32
    assert (per_clip_relative_error(mel, torch.from_numpy(golden["atst_mel"])) <= MEL_RTOL).all()
    torch.testing.assert_close(feat, torch.from_numpy(golden["atst_feat"]), atol=FEAT_ATOL, rtol=0)


def test_periodic_hamming_for_sed_would_be_caught(audio, golden) -> None:
    frontend = SEDFrontend()
    frontend.window = torch.hamming_window(2048, periodic=True)
    assert (per_clip_relative_error(frontend.mel(audio), torch.from_numpy(golden["sed_mel"])) > MEL_RTOL).all()


def test_symmetric_hann_for_atst_would_be_caught(audio, golden) -> None:
    frontend = ATSTFrontend()
    frontend.window = torch.hann_window(1024, periodic=False)
    assert (per_clip_relative_error(frontend.mel(audio), torch.from_numpy(golden["atst_mel"])) > MEL_RTOL).all()


def _slaney_filterbank(frontend) -> torch.Tensor:
    """Triangular filters between points equally spaced on Slaney's mel scale (linear below 1 kHz, logarithmic
    above): the other common mel scale, which the recipe does not use."""
    step = np.log(6.4) / 27.0

    def to_mel(hz):
        hz = np.asarray(hz, dtype=np.float64)
        return np.where(hz < 1000.0, hz * 3.0 / 200.0, 15.0 + np.log(np.maximum(hz, 1e-9) / 1000.0) / step)

    def to_hz(mel):
        return np.where(mel < 15.0, mel * 200.0 / 3.0, 1000.0 * np.exp(step * (mel - 15.0)))

    freqs = np.linspace(0, frontend.sample_rate // 2, frontend.n_fft // 2 + 1)
    points = to_hz(np.linspace(to_mel(frontend.f_min), to_mel(frontend.f_max), frontend.n_mels + 2))
    up = (freqs[:, None] - points[None, :-2]) / (points[1:-1] - points[:-2])
    down = (points[None, 2:] - freqs[:, None]) / (points[2:] - points[1:-1])
    return torch.from_numpy(np.clip(np.minimum(up, down), 0, None)).float()


@pytest.mark.parametrize("kind", ["sed", "atst"])
def test_slaney_mel_scale_or_normalised_filters_would_be_caught(kind, audio, golden) -> None:
    expected = torch.from_numpy(golden[f"{kind}_mel"])
    frontend = SEDFrontend() if kind == "sed" else ATSTFrontend()
    frontend.fb = _slaney_filterbank(frontend)
    assert (per_clip_relative_error(frontend.mel(audio), expected) > MEL_RTOL).all()
    frontend = SEDFrontend() if kind == "sed" else ATSTFrontend()
    frontend.fb = frontend.fb / frontend.fb.sum(dim=0, keepdim=True)  # area-normalised filters
    assert (per_clip_relative_error(frontend.mel(audio), expected) > MEL_RTOL).all()


@pytest.mark.parametrize(("kind", "wrong_power"), [("sed", 2.0), ("atst", 1.0)])
def test_wrong_power_would_be_caught(kind, wrong_power, audio, golden) -> None:
    frontend = SEDFrontend() if kind == "sed" else ATSTFrontend()
    frontend.power = wrong_power
    error = per_clip_relative_error(frontend.mel(audio), torch.from_numpy(golden[f"{kind}_mel"]))
    assert (error > MEL_RTOL).all()


def test_per_clip_top_db_differs_on_golden_batch(atst_out, golden) -> None:
    feat = ATSTFrontend(top_db_scope="clip").scale(atst_out[0])
    diff = (feat - torch.from_numpy(golden["atst_feat"])).abs().amax(dim=(1, 2))  # (3,)
    # The clip holding the batch maximum is unchanged; the quieter ones get a lower floor.
    assert diff.max() > 100 * FEAT_ATOL
    assert diff.min() <= FEAT_ATOL


def test_per_clip_scope_makes_clips_independent_of_their_batch(atst_out) -> None:
    mel = atst_out[0]
    clip_scope = ATSTFrontend(top_db_scope="clip")
    batch_scope = ATSTFrontend(top_db_scope="batch")
    together = clip_scope.scale(mel)
    for i in range(mel.shape[0]):
        alone = mel[i : i + 1]
        torch.testing.assert_close(together[i : i + 1], clip_scope.scale(alone), atol=0, rtol=0)
        torch.testing.assert_close(clip_scope.scale(alone), batch_scope.scale(alone), atol=0, rtol=0)


def test_top_db_floor_is_80_db_below_the_batch_or_clip_max() -> None:
    db = torch.tensor([[70.0, 0.0, -40.0], [20.0, -30.0, -30.0]]).view(2, 1, 3).expand(2, 64, 3)  # (B, F, T)
    power = 10.0 ** (db / 10.0)
    frontend = ATSTFrontend()

    def features(values_db: list[list[float]]) -> torch.Tensor:
        x = torch.tensor(values_db).view(2, 1, 3).expand(2, 64, 3)
        return (x - frontend.db_min) / (frontend.db_max - frontend.db_min) * 2.0 - 1.0

    expected_batch = features([[70.0, 0.0, -10.0], [20.0, -10.0, -10.0]])  # floor: 70 dB − 80, shared
    torch.testing.assert_close(frontend.scale(power), expected_batch, atol=1e-5, rtol=0)
    expected_clip = features([[70.0, 0.0, -10.0], [20.0, -30.0, -30.0]])  # clip 1's own floor: −60 dB
    torch.testing.assert_close(ATSTFrontend(top_db_scope="clip").scale(power), expected_clip, atol=1e-5, rtol=0)
    expected_none = features([[70.0, 0.0, -40.0], [20.0, -30.0, -30.0]])
    torch.testing.assert_close(ATSTFrontend(top_db=None).scale(power), expected_none, atol=1e-5, rtol=0)


@pytest.mark.parametrize("frontend_cls", [SEDFrontend, ATSTFrontend])
def test_forward_is_scale_of_mel_and_1d_input_is_one_clip(frontend_cls, audio) -> None:
    frontend = frontend_cls()
    clip = audio[1, :40000]  # 2.5 s
    out = frontend(clip)
    assert out.shape == (1, frontend.n_mels, 1 + clip.numel() // frontend.hop_length)  # STFT with center=True
    torch.testing.assert_close(out, frontend.scale(frontend.mel(clip)), atol=0, rtol=0)
    torch.testing.assert_close(frontend.mel(clip), frontend.mel(clip.unsqueeze(0)), atol=0, rtol=0)


def test_frame_counts() -> None:
    assert SEDFrontend().mel(torch.randn(160000)).shape[-1] == 626
    assert ATSTFrontend().mel(torch.randn(160000)).shape[-1] == 1001
    assert ATSTFrontend().mel(torch.randn(16001)).shape[-1] == 101


def test_batch_independent_front_ends() -> None:
    """Inference batches chunks of a recording: the encoder's features of a chunk must not depend on the others."""
    sed, atst = SEDFrontend(), ATSTFrontend()
    assert sed.batch_independent() is sed  # per-clip min-max already
    clip_scoped = atst.batch_independent()
    assert clip_scoped.top_db_scope == "clip" and atst.top_db_scope == "batch"  # a copy; the original unchanged
    quiet, loud = 1e-3 * torch.randn(1, 16000), torch.randn(1, 16000)
    alone = clip_scoped(quiet)
    torch.testing.assert_close(clip_scoped(torch.cat([quiet, loud]))[:1], alone, atol=1e-6, rtol=0)
    assert (atst(torch.cat([quiet, loud]))[:1] - alone).abs().max() > 1e-2  # the batch floor would differ


@pytest.mark.parametrize("frontend_cls", [SEDFrontend, ATSTFrontend])
def test_buffers_stay_out_of_state_dict(frontend_cls) -> None:
    frontend = frontend_cls()
    assert frontend.state_dict() == {}
    assert {name for name, _ in frontend.named_buffers()} == {"window", "fb"}


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_other_float_inputs_give_float32_features(dtype, audio) -> None:
    frontend = SEDFrontend()
    clip = audio[1:2, :32000].to(dtype)
    out = frontend(clip)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, frontend(clip.float()), atol=0, rtol=0)


def test_autocast_and_double_module_still_give_float32(audio) -> None:
    frontend = ATSTFrontend()
    clip = audio[1:2, :32000]
    reference = frontend(clip)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under_autocast = frontend(clip)
    assert under_autocast.dtype == torch.float32
    torch.testing.assert_close(under_autocast, reference, atol=0, rtol=0)
    doubled = ATSTFrontend().double()
    assert doubled(clip).dtype == torch.float32


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_moves_to_cuda_with_to(audio) -> None:
    frontend = SEDFrontend()
    reference = frontend(audio[:1])
    on_gpu = frontend.to("cuda")
    assert on_gpu.fb.is_cuda and on_gpu.window.is_cuda
    torch.testing.assert_close(on_gpu(audio[:1].cuda()).cpu(), reference, atol=FEAT_ATOL, rtol=0)
    with pytest.raises(RuntimeError, match="front-end is on"):
        on_gpu(audio[:1])


def test_input_validation() -> None:
    frontend = SEDFrontend()
    with pytest.raises(ValueError, match="samples"):
        frontend(torch.zeros(2, 1, 16000))
    with pytest.raises(TypeError, match="floating-point"):
        frontend(torch.zeros(16000, dtype=torch.int16))
    with pytest.raises(ValueError, match="reflect padding"):
        frontend(torch.zeros(1024))
    assert frontend(torch.zeros(1025)).shape == (1, 128, 5)
    with pytest.raises(ValueError, match=r"\(batch, 128, frames\)"):
        frontend.scale(torch.zeros(1, 64, 10))


def test_htk_filterbank_is_triangular_and_unnormalised() -> None:
    fb = mel_filterbank(513, 60.0, 7800.0, 64, 16000)  # (513, 64)
    assert fb.shape == (513, 64)
    assert fb.min() >= 0 and fb.max() <= 1
    assert (fb.amax(dim=0) > 0.5).all()  # every filter reaches near its peak of 1 on some bin
    freqs = torch.linspace(0, 8000, 513)
    assert (fb[(freqs < 60) | (freqs > 7800)] == 0).all()
    peaks = fb.argmax(dim=0)
    assert (peaks[1:] >= peaks[:-1]).all()

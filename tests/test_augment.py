"""Mixup and frequency warping: label range, identities, shared draws and seeded determinism."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from desed_task.augment import MixupParams, draw_mixup, frequency_warp, mix, mix_labels


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------------------------------------- mixup
def test_draw_mixup_gives_a_coefficient_and_a_permutation() -> None:
    params = draw_mixup(7, generator=seeded(1))
    assert 0.0 <= params.coef <= 1.0
    assert params.perm.dtype == torch.long
    assert sorted(params.perm.tolist()) == list(range(7))


def test_draw_mixup_is_deterministic_under_a_seed() -> None:
    a, b = draw_mixup(16, generator=seeded(3)), draw_mixup(16, generator=seeded(3))
    assert a.coef == b.coef and torch.equal(a.perm, b.perm)
    others = [draw_mixup(16, generator=seeded(s)) for s in range(4, 8)]
    assert any(o.coef != a.coef for o in others)
    assert any(not torch.equal(o.perm, a.perm) for o in others)


def test_draw_mixup_uses_global_rng_without_generator() -> None:
    torch.manual_seed(5)
    a = draw_mixup(10)
    torch.manual_seed(5)
    b = draw_mixup(10)
    assert a.coef == b.coef and torch.equal(a.perm, b.perm)


def test_mixup_coefficient_follows_beta() -> None:
    from scipy import stats

    g = seeded(0)
    coefs = [draw_mixup(2, alpha=0.2, generator=g).coef for _ in range(1000)]
    assert stats.kstest(coefs, stats.beta(0.2, 0.2).cdf).pvalue > 1e-3
    assert stats.kstest(coefs, stats.uniform().cdf).pvalue < 1e-6  # a uniform draw would be caught


def test_mix_with_coefficient_one_is_identity_and_zero_is_the_permutation() -> None:
    x = torch.randn(5, 3, 8)
    perm = torch.tensor([4, 2, 0, 1, 3])
    torch.testing.assert_close(mix(x, MixupParams(1.0, perm)), x, atol=0, rtol=0)
    torch.testing.assert_close(mix(x, MixupParams(0.0, perm)), x[perm], atol=0, rtol=0)
    torch.testing.assert_close(mix(x, MixupParams(0.25, perm)), 0.25 * x + 0.75 * x[perm])


def test_one_params_mixes_several_tensors_consistently() -> None:
    batch = 6
    params = draw_mixup(batch, generator=seeded(2))
    ids = torch.arange(batch, dtype=torch.float32)
    sed_mel = ids.view(batch, 1, 1).expand(batch, 128, 20)  # (B, 128, T): clip i holds the value i
    atst_mel = ids.view(batch, 1, 1).expand(batch, 64, 30)  # (B, 64, T)
    labels = torch.eye(batch)  # (B, classes): clip i has class i only
    mixed_labels = mix_labels(labels, params)
    for i in range(batch):
        partner = int(params.perm[i])
        expected = params.coef * i + (1 - params.coef) * partner
        torch.testing.assert_close(mix(sed_mel, params)[i], torch.full((128, 20), expected))
        torch.testing.assert_close(mix(atst_mel, params)[i], torch.full((64, 30), expected))
        weights = torch.zeros(batch)
        weights[i] += params.coef
        weights[partner] += 1 - params.coef
        torch.testing.assert_close(mixed_labels[i], weights)


def test_mixed_labels_stay_in_unit_interval() -> None:
    g = seeded(4)
    labels = (torch.rand(32, 10, 156, generator=g) > 0.7).float()
    for _ in range(20):
        mixed = mix_labels(labels, draw_mixup(32, generator=g))
        assert mixed.min() >= 0 and mixed.max() <= 1
    overshoot = torch.tensor([[1.5], [-0.5]])  # e.g. predictions outside [0, 1] are clamped too
    out = mix_labels(overshoot, MixupParams(1.0, torch.tensor([1, 0])))
    assert out.tolist() == [[1.0], [0.0]]


def test_mixup_errors() -> None:
    params = draw_mixup(4, generator=seeded(0))
    with pytest.raises(ValueError, match="batch of 4"):
        mix(torch.zeros(5, 3), params)
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.coef = 0.5  # type: ignore[misc]
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        MixupParams(1.5, torch.arange(2))
    with pytest.raises(ValueError, match="alpha"):
        draw_mixup(4, alpha=0.0)


# ------------------------------------------------------------------------------------ frequency warping
def ramp(batch: int = 3, n_freq: int = 64, n_time: int = 5) -> torch.Tensor:
    """Clip b, bin f holds ``f + 100·b``: linear in frequency, so bicubic resizing of a band is exact."""
    freq = torch.arange(n_freq, dtype=torch.float32).view(1, n_freq, 1)
    offset = 100.0 * torch.arange(batch, dtype=torch.float32).view(batch, 1, 1)
    return (freq + offset).expand(batch, n_freq, n_time).contiguous()  # (B, F, T)


def band_of(warped: torch.Tensor) -> tuple[float, float]:
    """First and last source bin of the band that ``frequency_warp`` stretched over a ``ramp``."""
    clip0 = warped[0, :, 0]
    return float(clip0[0]), float(clip0[-1])


def test_ratio_one_returns_the_input() -> None:
    x = torch.randn(4, 64, 50)
    out = frequency_warp(x, min_ratio=1.0, max_ratio=1.0, generator=seeded(0))
    torch.testing.assert_close(out, x, atol=1e-5, rtol=0)


def test_warp_stretches_one_shared_band_and_keeps_time() -> None:
    x = ramp()
    g = seeded(7)
    heights = set()
    for _ in range(50):
        out = frequency_warp(x, generator=g)
        assert out.shape == x.shape and out.dtype == x.dtype
        first, last = band_of(out)
        height = round(last - first) + 1
        heights.add(height)
        assert int(0.6 * 64) <= height <= 63  # U(0.6, 1.0) excludes 1.0 itself
        assert 0 <= first and last <= 63
        assert first == int(first)  # align_corners: the band's first and last bins land on the edges
        # The band spread linearly over all 64 bins; bicubic is exact on a ramp except next to the band's
        # edges, where it replicates the border bins (an error well under one source bin).
        expected = first + torch.linspace(0, 1, 64) * (height - 1)
        for b in range(x.shape[0]):  # same band for every clip, every frame
            clip = out[b] - 100.0 * b  # (F, T)
            torch.testing.assert_close(clip, out[0].expand_as(clip), atol=1e-3, rtol=0)
            torch.testing.assert_close(clip, expected.view(64, 1).expand(64, 5), atol=0.2, rtol=0)
    assert len(heights) > 5


def test_narrow_ratio_range_fixes_the_height() -> None:
    first, last = band_of(frequency_warp(ramp(), min_ratio=0.5, max_ratio=0.5, generator=seeded(0)))
    assert round(last - first) + 1 == 32


def test_warp_is_deterministic_under_a_seed() -> None:
    x = torch.randn(2, 64, 10)
    a = frequency_warp(x, generator=seeded(11))
    b = frequency_warp(x, generator=seeded(11))
    torch.testing.assert_close(a, b, atol=0, rtol=0)
    bands = {band_of(frequency_warp(ramp(), generator=seeded(s))) for s in range(10)}
    assert len(bands) > 1
    torch.manual_seed(3)
    c = frequency_warp(x)
    torch.manual_seed(3)
    torch.testing.assert_close(frequency_warp(x), c, atol=0, rtol=0)


def test_warp_keeps_half_precision_dtype() -> None:
    x = ramp().half()
    assert frequency_warp(x, generator=seeded(0)).dtype == torch.float16


def test_warp_errors() -> None:
    with pytest.raises(ValueError, match=r"\(batch, freq, time\)"):
        frequency_warp(torch.zeros(64, 10))
    with pytest.raises(ValueError, match="min_ratio"):
        frequency_warp(torch.zeros(1, 64, 10), min_ratio=0.9, max_ratio=0.8)

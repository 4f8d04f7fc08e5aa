"""Training augmentations of ATST-SED (docs/recipe.md §5): mixup and frequency warping.

Mixup (Zhang et al., 2018) blends every clip with another clip of the same batch part,
``x̃ = c·x + (1−c)·x[perm]`` with ``c ~ Beta(α, α)``; the labels are blended the same way and clamped to
[0, 1]. One ``MixupParams`` is drawn per batch part and applied to every tensor of that part (both mel
streams, the labels and, for interpolation consistency, the teacher's predictions), so they stay aligned.

Frequency warping (stage 2, ATST stream) crops one random band of mel bins and stretches it back to the full
height with bicubic interpolation, the same band for every clip of the call.

All randomness comes from a ``torch.Generator`` (or torch's global RNG when none is given), so a seeded
generator makes training reproducible. The generator may live on another device than the tensors.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = [
    "MixupParams",
    "WarpBand",
    "draw_mixup",
    "draw_warp_band",
    "frequency_warp",
    "mix",
    "mix_labels",
    "warp_band",
    "warp_band_height",
]


def _generator_device(generator: torch.Generator | None) -> torch.device:
    return torch.device("cpu") if generator is None else generator.device


@dataclass(frozen=True)
class MixupParams:
    """One mixup draw: the coefficient ``c`` of the original clips and the permutation giving their partners."""

    coef: float
    perm: torch.Tensor  # (B,) int64

    def __post_init__(self) -> None:
        if not 0.0 <= self.coef <= 1.0:
            raise ValueError(f"mixup coefficient must lie in [0, 1], got {self.coef}")
        if self.perm.dim() != 1 or self.perm.dtype != torch.long:
            raise ValueError(
                f"mixup permutation must be a 1-D int64 tensor, got shape {tuple(self.perm.shape)} "
                f"and dtype {self.perm.dtype}"
            )


def _sample_beta(alpha: float, generator: torch.Generator | None) -> float:
    """One draw of Beta(alpha, alpha) by inverting its CDF at a uniform from the torch generator.

    ``torch.distributions.Beta`` cannot take a generator; the quantile function keeps the draw tied to it.
    """
    from scipy.special import betaincinv

    u = torch.rand((), generator=generator, dtype=torch.float64, device=_generator_device(generator)).item()
    return float(betaincinv(alpha, alpha, u))


def draw_mixup(batch_size: int, alpha: float = 0.2, generator: torch.Generator | None = None) -> MixupParams:
    """Draw ``c ~ Beta(alpha, alpha)`` and a uniformly random permutation of ``batch_size`` clips."""
    if batch_size < 1:
        raise ValueError(f"mixup needs a batch of at least one clip, got batch_size={batch_size}")
    if alpha <= 0:
        raise ValueError(f"mixup alpha must be positive, got {alpha}")
    coef = min(max(_sample_beta(alpha, generator), 0.0), 1.0)
    perm = torch.randperm(batch_size, generator=generator, device=_generator_device(generator))  # (B,)
    return MixupParams(coef=coef, perm=perm)


def mix(x: torch.Tensor, params: MixupParams) -> torch.Tensor:
    """``c·x + (1−c)·x[perm]`` for any tensor whose first axis is the batch: (B, ...) → (B, ...)."""
    if x.dim() == 0 or x.shape[0] != params.perm.numel():
        raise ValueError(
            f"mixup params were drawn for a batch of {params.perm.numel()} but the tensor has shape "
            f"{tuple(x.shape)}; draw one MixupParams per batch part and mix that part's tensors with it"
        )
    perm = params.perm.to(x.device)
    return params.coef * x + (1.0 - params.coef) * x[perm]


def mix_labels(y: torch.Tensor, params: MixupParams) -> torch.Tensor:
    """Mixed soft labels (or teacher predictions), clamped to [0, 1]: (B, ...) → (B, ...)."""
    return torch.clamp(mix(y, params), 0.0, 1.0)


@dataclass(frozen=True)
class WarpBand:
    """The band of mel bins ``start … start + height − 1`` that frequency warping stretches to the full height."""

    start: int
    height: int


def warp_band_height(u: float, n_freq: int, min_ratio: float = 0.6, max_ratio: float = 1.0) -> int:
    """Height of the band for a uniform draw ``u`` in [0, 1): ``int((min + (max − min)·u)·n_freq)``, at least 1."""
    if not 0.0 < min_ratio <= max_ratio <= 1.0:
        raise ValueError(f"frequency_warp needs 0 < min_ratio <= max_ratio <= 1, got {min_ratio} and {max_ratio}")
    return min(n_freq, max(1, int((min_ratio + (max_ratio - min_ratio) * u) * n_freq)))


def draw_warp_band(
    n_freq: int, min_ratio: float = 0.6, max_ratio: float = 1.0, generator: torch.Generator | None = None
) -> WarpBand:
    """A random band: height from one uniform draw (``warp_band_height``), then a start uniform over the valid ones."""
    device = _generator_device(generator)
    u = torch.rand((), generator=generator, dtype=torch.float64, device=device).item()
    height = warp_band_height(u, n_freq, min_ratio, max_ratio)
    start = int(torch.randint(0, n_freq - height + 1, (), generator=generator, device=device).item())
    return WarpBand(start=start, height=height)


def warp_band(features: torch.Tensor, band: WarpBand) -> torch.Tensor:
    """Stretch ``band`` of every clip of ``features`` (B, F, T) back to F bins; time is kept whole.

    Resizing is bicubic with ``align_corners=True``, so a band of the full height returns the input unchanged
    up to float error.
    """
    if features.dim() != 3:
        raise ValueError(f"frequency_warp expects features (batch, freq, time), got shape {tuple(features.shape)}")
    n_freq, n_time = features.shape[1], features.shape[2]
    if not (0 <= band.start and 1 <= band.height and band.start + band.height <= n_freq):
        raise ValueError(f"warp band {band} does not fit {n_freq} frequency bins")
    piece = features[:, band.start : band.start + band.height, :].unsqueeze(1)  # (B, 1, height, T)
    # Bicubic interpolation is not implemented for every half-precision device: compute in float32.
    warped = F.interpolate(piece.float(), size=(n_freq, n_time), mode="bicubic", align_corners=True)  # (B, 1, F, T)
    return warped.squeeze(1).to(features.dtype)  # (B, F, T)


def frequency_warp(
    features: torch.Tensor,
    min_ratio: float = 0.6,
    max_ratio: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Crop a random band of ``int(U(min_ratio, max_ratio)·F)`` bins and resize it back to F bins.

    The band (``draw_warp_band``) is shared by every clip of ``features`` (B, F, T).
    """
    if features.dim() != 3:
        raise ValueError(f"frequency_warp expects features (batch, freq, time), got shape {tuple(features.shape)}")
    return warp_band(features, draw_warp_band(features.shape[1], min_ratio, max_ratio, generator))

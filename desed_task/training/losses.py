"""Losses of the two training stages (docs/recipe.md §5): BCE supervision and MSE mean-teacher consistency.

Predictions are probabilities (sigmoid frame scores (B, C, T), clip scores (B, C)). Targets are full-batch
tensors; the boolean masks (B,) pick the strong and the weak items. Both losses are computed in float32 with
autocast disabled, whatever the training precision, and the teacher's predictions are always detached.

Stage 1:  BCE(strong) + BCE(weak) + w·(MSE(strong_s, strong_t) + MSE(weak_s, weak_t))
Stage 2:  BCE(strong) + BCE(weak)/2 + consistency, where consistency is
          (MSE(strong_s, strong_t) + MSE(weak_s, weak_t)/2)·w without mixup, and with mixup the interpolation
          consistency (Verma et al., 2019) ``Σ_parts [MSE(strong_s[p], mix(strong_t[p])) +
          MSE(weak_s[p], mix(weak_t[p]))/2] / 6 · w/4`` (the constants are the original recipe's).

The logged terms are the weighted contributions, so ``total`` is exactly their sum.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import torch
import torch.nn.functional as F

from desed_task.training.float32 import in_float32

__all__ = [
    "ConsistencyTerms",
    "LossTerms",
    "MixupLike",
    "ict_consistency",
    "stage1_loss",
    "stage2_consistency",
    "stage2_supervised",
]


class MixupLike(Protocol):
    """Anything with a mixup coefficient and a permutation within its part (e.g. ``augment.MixupParams``)."""

    coef: float
    perm: torch.Tensor


@dataclass(frozen=True)
class ConsistencyTerms:
    """A consistency loss (``total`` keeps its graph) and its strong/weak contributions (detached)."""

    total: torch.Tensor
    strong: torch.Tensor
    weak: torch.Tensor


@dataclass(frozen=True)
class LossTerms:
    """The training loss (``total``, with graph) and its four contributions, detached for logging."""

    total: torch.Tensor
    supervised_strong: torch.Tensor
    supervised_weak: torch.Tensor
    consistency_strong: torch.Tensor
    consistency_weak: torch.Tensor

    def logged(self) -> dict[str, torch.Tensor]:
        """The detached contributions by name (``total`` is logged separately)."""
        return {
            "supervised_strong": self.supervised_strong,
            "supervised_weak": self.supervised_weak,
            "consistency_strong": self.consistency_strong,
            "consistency_weak": self.consistency_weak,
        }

    def with_consistency(self, consistency: ConsistencyTerms) -> "LossTerms":
        """These terms plus a consistency loss."""
        return LossTerms(
            total=self.total + consistency.total,
            supervised_strong=self.supervised_strong,
            supervised_weak=self.supervised_weak,
            consistency_strong=self.consistency_strong + consistency.strong,
            consistency_weak=self.consistency_weak + consistency.weak,
        )


def bce(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean BCE in float32; 0 for an empty selection (a batch without items of that part)."""
    if pred.numel() == 0:
        return pred.new_zeros((), dtype=torch.float32)
    with in_float32(pred, target) as (pred, target):
        return F.binary_cross_entropy(pred, target)


def _mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error in float32 against a detached target."""
    with in_float32(pred, target.detach()) as (pred, target):
        return F.mse_loss(pred, target)


def _check_mask(mask: torch.Tensor, batch: int, name: str) -> None:
    if mask.dtype != torch.bool or mask.shape != (batch,):
        raise ValueError(f"{name} must be a bool tensor of shape ({batch},), got {mask.dtype} {tuple(mask.shape)}")


def _supervised(
    strong_s: torch.Tensor,
    weak_s: torch.Tensor,
    strong_targets: torch.Tensor,
    weak_targets: torch.Tensor,
    strong_mask: torch.Tensor,
    weak_mask: torch.Tensor,
    weak_weight: float,
) -> LossTerms:
    batch = strong_s.shape[0]
    _check_mask(strong_mask, batch, "strong_mask")
    _check_mask(weak_mask, batch, "weak_mask")
    strong = bce(strong_s[strong_mask], strong_targets[strong_mask])  # (n_strong, C, T)
    weak = bce(weak_s[weak_mask], weak_targets[weak_mask]) * weak_weight  # (n_weak, C)
    zero = strong.new_zeros(())
    return LossTerms(strong + weak, strong.detach(), weak.detach(), zero, zero)


def _consistency(
    strong_s: torch.Tensor,
    weak_s: torch.Tensor,
    strong_t: torch.Tensor,
    weak_t: torch.Tensor,
    weight: float,
    weak_weight: float,
) -> ConsistencyTerms:
    strong = _mse(strong_s, strong_t) * weight
    weak = _mse(weak_s, weak_t) * (weak_weight * weight)
    return ConsistencyTerms(strong + weak, strong.detach(), weak.detach())


def stage1_loss(
    strong_s: torch.Tensor,
    weak_s: torch.Tensor,
    strong_t: torch.Tensor,
    weak_t: torch.Tensor,
    strong_targets: torch.Tensor,
    weak_targets: torch.Tensor,
    strong_mask: torch.Tensor,
    weak_mask: torch.Tensor,
    consistency_weight: float,
) -> LossTerms:
    """Stage-1 loss: ``BCE(strong) + BCE(weak) + w·(MSE(strong_s, strong_t) + MSE(weak_s, weak_t))``.

    strong_* (B, C, T), weak_* (B, C); targets are full-batch, masks (B,) bool select the supervised items;
    the consistency terms cover the whole batch.
    """
    terms = _supervised(strong_s, weak_s, strong_targets, weak_targets, strong_mask, weak_mask, 1.0)
    return terms.with_consistency(_consistency(strong_s, weak_s, strong_t, weak_t, consistency_weight, 1.0))


def stage2_supervised(
    strong_s: torch.Tensor,
    weak_s: torch.Tensor,
    strong_targets: torch.Tensor,
    weak_targets: torch.Tensor,
    strong_mask: torch.Tensor,
    weak_mask: torch.Tensor,
) -> LossTerms:
    """Stage-2 supervision ``BCE(strong) + BCE(weak)/2`` (no consistency yet: add it with ``with_consistency``)."""
    return _supervised(strong_s, weak_s, strong_targets, weak_targets, strong_mask, weak_mask, 0.5)


def stage2_consistency(
    strong_s: torch.Tensor,
    weak_s: torch.Tensor,
    strong_t: torch.Tensor,
    weak_t: torch.Tensor,
    consistency_weight: float,
) -> ConsistencyTerms:
    """Stage-2 consistency without mixup: ``(MSE(strong_s, strong_t) + MSE(weak_s, weak_t)/2)·w``."""
    return _consistency(strong_s, weak_s, strong_t, weak_t, consistency_weight, 0.5)


def _mix_teacher(pred: torch.Tensor, params: MixupLike | None) -> torch.Tensor:
    """``clamp(c·p + (1 − c)·p[perm], 0, 1)`` in float32, or ``p`` itself when the part was not mixed."""
    if params is None:
        return pred.detach().float()
    if params.perm.shape != (pred.shape[0],):
        raise ValueError(
            f"mixup permutation of shape {tuple(params.perm.shape)} does not fit a part of {pred.shape[0]} items"
        )
    perm = params.perm.to(pred.device)
    with in_float32(pred.detach()) as (pred,):
        return (params.coef * pred + (1.0 - params.coef) * pred[perm]).clamp(0.0, 1.0)


def ict_consistency(
    strong_s: torch.Tensor,
    weak_s: torch.Tensor,
    strong_t: torch.Tensor,
    weak_t: torch.Tensor,
    parts: Sequence[tuple[torch.Tensor, MixupLike | None]],
    consistency_weight: float,
) -> ConsistencyTerms:
    """Interpolation consistency of stage 2 (student on mixed inputs, teacher on un-mixed ones).

    ``parts``: per batch part, the index tensor of its items and its mixup draw (``coef``, ``perm`` indexing
    within the part; None when the part was not mixed). The teacher's predictions of each part are mixed
    with the same draw, then ``Σ_parts [MSE_strong + MSE_weak/2] / 6 · w/4``.
    """
    scale = consistency_weight / 4.0 / 6.0
    strong = strong_s.new_zeros((), dtype=torch.float32)
    weak = strong_s.new_zeros((), dtype=torch.float32)
    for index, params in parts:
        index = index.to(strong_s.device)
        strong = strong + _mse(strong_s[index], _mix_teacher(strong_t[index], params))  # (n, C, T)
        weak = weak + _mse(weak_s[index], _mix_teacher(weak_t[index], params)) / 2.0  # (n, C)
    strong, weak = strong * scale, weak * scale
    return ConsistencyTerms(strong + weak, strong.detach(), weak.detach())

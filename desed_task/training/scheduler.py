"""Learning-rate schedule and consistency-weight ramp-up of the ATST-SED recipe (docs/recipe.md §5).

Ramp-up (Laine & Aila, 2017): ``f(s) = exp(exponent · (1 − min(s, R)/R)²)``, rising from e⁻⁵ to 1 over R steps.
After the ramp-up, stage 2 decays each group's lr with a cosine from its maximum to ``min_lr_scale · max`` at
``total_steps``: ``lr = max · (m + (1 − m) · (1 + cos(π (s − R)/(T − R))) / 2)``; stage 1 keeps the maximum.

The scheduler counts ``s`` from 1: the lr set at construction (before the first optimiser step) is
``max · f(1)``, and each ``step()`` advances ``s`` by one (golden: recipe_golden.json). As in the original, the
cosine is not clamped at ``total_steps``: steps beyond it climb back up, so ``total_steps`` must cover the run.
"""

from __future__ import annotations

import math
import warnings
from typing import Sequence

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

__all__ = ["RampUpCosineLR", "consistency_weight", "exp_rampup"]


def exp_rampup(step: int, rampup_steps: int, exponent: float = -5.0) -> float:
    """``exp(exponent · (1 − min(step, R)/R)²)``; 1.0 when ``rampup_steps`` is 0."""
    if step < 0 or rampup_steps < 0:
        raise ValueError(f"ramp-up needs non-negative step and rampup_steps, got {step} and {rampup_steps}")
    if rampup_steps == 0:
        return 1.0
    phase = 1.0 - min(step, rampup_steps) / rampup_steps
    return math.exp(exponent * phase * phase)


def consistency_weight(step: int, rampup_steps: int, consistency_weight_max: float) -> float:
    """Weight of the consistency loss: ``consistency_weight_max · exp_rampup(step, rampup_steps)``."""
    return consistency_weight_max * exp_rampup(step, rampup_steps)


class RampUpCosineLR(LRScheduler):
    """Exponential ramp-up to each group's ``max_lr``, then cosine decay (or constant with ``cosine=False``).

    Step it once per optimiser step. ``state_dict``/``load_state_dict`` (inherited from ``LRScheduler``) carry
    the step count and the settings, so a resumed run continues the same schedule.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        max_lrs: Sequence[float],
        rampup_steps: int,
        total_steps: int,
        exponent: float = -5.0,
        min_lr_scale: float = 0.1,
        cosine: bool = True,
    ) -> None:
        if len(max_lrs) != len(optimizer.param_groups):
            raise ValueError(
                f"RampUpCosineLR got {len(max_lrs)} max_lrs for an optimizer with "
                f"{len(optimizer.param_groups)} parameter groups; give one max lr per group"
            )
        if rampup_steps < 0 or total_steps < 0:
            raise ValueError(f"rampup_steps and total_steps must be >= 0, got {rampup_steps} and {total_steps}")
        if not 0.0 <= min_lr_scale <= 1.0:
            raise ValueError(f"min_lr_scale must lie in [0, 1], got {min_lr_scale}")
        if cosine and total_steps <= rampup_steps:
            warnings.warn(
                f"total_steps ({total_steps}) <= rampup_steps ({rampup_steps}) leaves no room for the cosine "
                "decay: the learning rate stays at its maximum after the ramp-up",
                stacklevel=2,
            )
        self.max_lrs = [float(lr) for lr in max_lrs]
        self.rampup_steps = rampup_steps
        self.total_steps = total_steps
        self.exponent = exponent
        self.min_lr_scale = min_lr_scale
        self.cosine = cosine
        super().__init__(optimizer)

    def scale(self, step_num: int) -> float:
        """Factor applied to every max lr at step ``step_num`` (1 = before the first optimiser step)."""
        ramp, decay = self.rampup_steps, self.total_steps - self.rampup_steps
        if step_num <= ramp or not self.cosine or decay <= 0:
            return exp_rampup(step_num, ramp, self.exponent)
        progress = (step_num - ramp) / decay
        return self.min_lr_scale + (1.0 - self.min_lr_scale) * 0.5 * (1.0 + math.cos(math.pi * progress))

    def get_lr(self) -> list[float]:
        factor = self.scale(self.last_epoch + 1)
        return [lr * factor for lr in self.max_lrs]

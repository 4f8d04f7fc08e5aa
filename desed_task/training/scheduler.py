"""Learning-rate and consistency-weight schedules (SPEC §5; golden: recipe_golden.json)."""
from __future__ import annotations

import math
from typing import Sequence

from torch.optim import Optimizer


def exp_rampup(step: int, rampup_steps: int, exponent: float = -5.0) -> float:
    """exp(exponent·(1 − min(step, R)/R)²); 1.0 without ramp-up (R = 0)."""
    if rampup_steps <= 0:
        return 1.0
    progress = 1.0 - min(step, rampup_steps) / rampup_steps
    return math.exp(exponent * progress * progress)


def consistency_weight(step: int, rampup_steps: int, const_max: float) -> float:
    """w = const_max · exp(−5·(1 − min(step, R)/R)²)."""
    return const_max * exp_rampup(step, rampup_steps)


class RampUpCosineLR:
    """Exponential ramp-up to each group's max learning rate over ``rampup_steps`` optimiser steps, then (with
    ``cosine``) cosine decay reaching ``min_lr_scale``·max at ``total_steps``, else constant.

    Counts steps from 1 like the original (the rate before the first step is that of step 1); step once per
    optimiser step. ``state_dict`` holds the step count so that resuming continues the schedule.
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
            raise ValueError(f"{len(max_lrs)} max learning rates for {len(optimizer.param_groups)} parameter groups")
        self.optimizer = optimizer
        self.max_lrs = list(max_lrs)
        self.rampup_steps = rampup_steps
        self.total_steps = total_steps
        self.exponent = exponent
        self.min_lr_scale = min_lr_scale
        self.cosine = cosine
        self.step_num = 1
        self._apply()

    def scale(self, step_num: int) -> float:
        """The factor applied to every group's max learning rate at ``step_num``."""
        if step_num <= self.rampup_steps:
            return exp_rampup(step_num, self.rampup_steps, self.exponent)
        if not self.cosine:
            return 1.0
        span = max(1, self.total_steps - self.rampup_steps)
        cos = 0.5 * (1.0 + math.cos(math.pi * (step_num - self.rampup_steps) / span))
        return self.min_lr_scale + (1.0 - self.min_lr_scale) * cos

    def _apply(self) -> None:
        factor = self.scale(self.step_num)
        for group, max_lr in zip(self.optimizer.param_groups, self.max_lrs):
            group["lr"] = max_lr * factor

    def step(self) -> None:
        self.step_num += 1
        self._apply()

    def get_last_lr(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        return {"step_num": self.step_num, "max_lrs": list(self.max_lrs)}

    def load_state_dict(self, state: dict) -> None:
        self.step_num = state["step_num"]
        self.max_lrs = list(state["max_lrs"])
        self._apply()

"""Every random decision of a training step, drawn from one seeded generator.

The training module asks for each draw by what it is for (the mixup coin, the mixup of the weak part, the
frequency band of the teacher's unlabeled part, …). A test can therefore swap this object for one that returns
stored values, e.g. the random plan under which the original code computed the golden training steps, and
compare step for step. The generator's state is saved in checkpoints, so a resumed run draws what an
uninterrupted one would.
"""

from __future__ import annotations

from typing import Literal

import torch

from desed_task.augment import MixupParams, WarpBand, draw_mixup, draw_warp_band

__all__ = ["AugmentationDraws", "Part", "Role"]

Part = Literal["strong", "weak", "unlabeled"]
Role = Literal["student", "teacher"]


class AugmentationDraws:
    """Coins, mixup draws and frequency-warp bands of the training steps, from ``torch.Generator(seed)``."""

    def __init__(self, seed: int) -> None:
        self.generator = torch.Generator().manual_seed(seed)

    def _coin(self, prob: float) -> bool:
        return prob > 0 and torch.rand((), generator=self.generator).item() < prob

    def mixup_applies(self, prob: float) -> bool:
        """Whether this step mixes its inputs (probability ``prob``)."""
        return self._coin(prob)

    def freq_warp_applies(self, prob: float) -> bool:
        """Whether this step warps the frequency axis of the encoder stream's features (probability ``prob``)."""
        return self._coin(prob)

    def mixup(self, part: Part, size: int, alpha: float) -> MixupParams:
        """The mixup coefficient ``c ~ Beta(alpha, alpha)`` and permutation of one batch part of ``size`` clips."""
        return draw_mixup(size, alpha, generator=self.generator)

    def warp_band(self, part: Part, role: Role, n_freq: int, min_ratio: float, max_ratio: float) -> WarpBand:
        """The frequency band warped for one batch part, drawn separately for the student's and teacher's input."""
        return draw_warp_band(n_freq, min_ratio, max_ratio, generator=self.generator)

    def get_state(self) -> torch.Tensor:
        return self.generator.get_state()

    def set_state(self, state: torch.Tensor) -> None:
        self.generator.set_state(state)

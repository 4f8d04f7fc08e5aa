"""The mean teacher's exponential moving average (SPEC §5)."""
from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def ema_update(teacher: nn.Module, student: nn.Module, alpha: float) -> None:
    """θ_t ← α·θ_t + (1 − α)·θ_s over parameters; buffers (BatchNorm statistics) are not averaged."""
    for t_param, s_param in zip(teacher.parameters(), student.parameters()):
        t_param.mul_(alpha).add_(s_param.detach().to(t_param.dtype), alpha=1.0 - alpha)


def warmup_ema_alpha(step: int, max_alpha: float = 0.999) -> float:
    """Stage 1's α = min(1 − 1/(step + 1), max_alpha): the teacher follows the student closely at first."""
    return min(1.0 - 1.0 / (step + 1), max_alpha)

"""Mean-teacher exponential moving average (docs/recipe.md §5).

Once per optimiser step the teacher follows the student, ``θ_t ← α·θ_t + (1 − α)·θ_s``, over parameters only:
buffers (BatchNorm running statistics) keep whatever the teacher's own forward passes put there. ``θ_s`` is the
student of that step's forward pass, before the optimiser updates it (the training module calls this just before
the optimiser step). Stage 1 warms α up with the scheduler's step counter (``warmup_ema_alpha``: 0.5 on the
first step) so that the early teacher is not stuck near the random initialisation; stage 2 uses a fixed α.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ema_update", "warmup_ema_alpha"]


@torch.no_grad()
def ema_update(teacher: nn.Module, student: nn.Module, alpha: float) -> None:
    """In place: every teacher parameter becomes ``alpha·teacher + (1 − alpha)·student``.

    The two modules must have the same parameter names in the same order (the teacher is a copy of the
    student); buffers are left untouched.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"EMA factor alpha must lie in [0, 1], got {alpha}")
    teacher_params = list(teacher.named_parameters())
    student_params = list(student.named_parameters())
    if [n for n, _ in teacher_params] != [n for n, _ in student_params]:
        differing = sorted({n for n, _ in student_params} ^ {n for n, _ in teacher_params})
        raise ValueError(
            "EMA: teacher and student parameters differ; the teacher must be a copy of the student "
            f"(names in only one of them: {differing[:5] or 'none, but the order differs'})"
        )
    for (name, t_param), (_, s_param) in zip(teacher_params, student_params):
        if t_param.shape != s_param.shape:
            raise ValueError(
                f"EMA: parameter {name!r} has shape {tuple(t_param.shape)} in the teacher but "
                f"{tuple(s_param.shape)} in the student"
            )
        t_param.mul_(alpha).add_(s_param.to(t_param.dtype), alpha=1.0 - alpha)


def warmup_ema_alpha(step: int, max_alpha: float = 0.999) -> float:
    """Stage-1 EMA factor ``min(1 − 1/(step + 1), max_alpha)`` at the scheduler's step counter (1 on the first
    optimiser step, so the first update averages teacher and student equally)."""
    if step < 0:
        raise ValueError(f"EMA warm-up needs a non-negative step, got {step}")
    return min(1.0 - 1.0 / (step + 1), max_alpha)

"""The training's Adam and the implementation torch runs its update with.

torch offers three implementations of the same update: a Python loop over the parameters (``for_loop``), one
multi-tensor kernel per operation over all of them (``foreach``), and one fused kernel per step (``fused``, on
CUDA and on CPUs). ``auto`` leaves the choice to torch (foreach when every parameter is on a CUDA device, the loop
otherwise): the recipe's behaviour. They compute the same update up to the order of float32 operations.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from desed_task.config.choices import ADAM_IMPLS, AdamImpl

__all__ = ["ADAM_IMPLS", "AdamImpl", "adam"]


def adam(groups: Iterable[dict[str, Any]], betas: tuple[float, float], impl: AdamImpl = "auto") -> torch.optim.Adam:
    """Adam over the parameter ``groups`` (each with its ``lr``) run by the implementation ``impl``."""
    if impl not in ADAM_IMPLS:
        raise ValueError(f"impl must be one of {', '.join(ADAM_IMPLS)}, got {impl!r}")
    choice = {"auto": {}, "for_loop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}
    return torch.optim.Adam(groups, betas=tuple(betas), **choice[impl])

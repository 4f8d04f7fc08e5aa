"""Losses and metrics in float32 with autocast off, whatever the training precision.

Under ``bf16-mixed`` or ``16-mixed`` the network's forward passes run under autocast; a loss or a metric computed
on its outputs must not. CUDA autocast refuses ``binary_cross_entropy`` (and ``nn.BCELoss``) outright, and a
reduced-precision loss would round the small differences the consistency terms measure. CPU autocast accepts the
call, so only a run on a GPU would notice.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch


@contextmanager
def in_float32(*tensors: torch.Tensor) -> Iterator[tuple[torch.Tensor, ...]]:
    """``with in_float32(pred, target) as (pred, target):`` — the tensors in float32, with autocast disabled for
    their device type inside the block (gradients flow through the cast)."""
    if not tensors:
        raise ValueError("in_float32 needs at least one tensor (their device type selects the autocast to disable)")
    device_types = {t.device.type for t in tensors}
    if len(device_types) != 1:
        raise ValueError(f"in_float32: the tensors lie on different device types {sorted(device_types)}")
    with torch.autocast(device_type=device_types.pop(), enabled=False):
        yield tuple(t.float() for t in tensors)

"""Collecting a Python object from every process, for metrics that must see all ranks' clips."""

from __future__ import annotations

from typing import TypeVar

import torch.distributed as dist

T = TypeVar("T")


def gather_from_all_ranks(obj: T) -> list[T]:
    """Every process's ``obj``, in rank order; ``[obj]`` when not running distributed (or with one process)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return [obj]
    parts: list = [None] * dist.get_world_size()
    dist.all_gather_object(parts, obj)
    return parts

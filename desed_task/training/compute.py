"""How the networks' arithmetic runs, without changing what it computes (up to rounding): the float32 matmul
precision of a run and ``torch.compile`` of the student and the teacher.

``highest`` keeps float32 matrix products in float32 (the recipe); ``high`` lets CUDA GPUs with TF32 units (and
CPUs where oneDNN offers it) multiply float32 matrices with a 10-bit mantissa and accumulate in float32. The
setting is process-wide in torch, so ``float32_matmul_precision`` sets it for one run and restores it after.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from desed_task.config.choices import MATMUL_PRECISIONS, MatmulPrecision


@contextmanager
def float32_matmul_precision(precision: MatmulPrecision) -> Iterator[None]:
    """``torch.set_float32_matmul_precision(precision)`` inside the block, the previous setting after it."""
    if precision not in MATMUL_PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(MATMUL_PRECISIONS)}, got {precision!r}")
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision(precision)
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(previous)


def compile_in_place(*networks: torch.nn.Module) -> None:
    """Compile each network's forward with ``torch.compile`` where it is (``nn.Module.compile``): the module
    stays the same object, so its ``state_dict`` keys, the EMA update and checkpoints are unchanged (no
    ``_orig_mod.`` prefix, as wrapping it in ``torch.compile(module)`` would add)."""
    for network in networks:
        network.compile()

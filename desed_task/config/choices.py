"""The names that a few keys choose from, shared by the configuration schema and the code that acts on them (the
training task, the optimiser, the compute settings), so that neither imports the other for them."""

from __future__ import annotations

from typing import Literal, get_args

#: checkpoint objectives (``training.objective``): ``desed_task.training.objectives.OBJECTIVES`` implements them
ObjectiveName = Literal["val_loss", "synth_psds"]
OBJECTIVE_NAMES: tuple[str, ...] = get_args(ObjectiveName)
#: Adam implementations (``training.adam_impl``)
AdamImpl = Literal["auto", "for_loop", "foreach", "fused"]
ADAM_IMPLS: tuple[str, ...] = get_args(AdamImpl)
#: float32 matrix-multiplication precisions (``training.matmul_precision``)
MatmulPrecision = Literal["highest", "high"]
MATMUL_PRECISIONS: tuple[str, ...] = get_args(MatmulPrecision)
#: Lightning precisions (``training.precision``); YAML may give the numbers as integers
PRECISIONS: tuple[str | int, ...] = (
    "32",
    "32-true",
    "16-mixed",
    "bf16-mixed",
    "16-true",
    "bf16-true",
    "64",
    "64-true",
    16,
    32,
    64,
)

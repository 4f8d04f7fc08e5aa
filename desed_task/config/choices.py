"""The names that a few keys choose from, shared by the configuration schema and the code that acts on them (the
training task, the optimiser, the compute settings), so that neither imports the other for them."""

from __future__ import annotations

#: checkpoint objectives (``training.objective``): ``desed_task.training.objectives.OBJECTIVES`` implements them
OBJECTIVE_NAMES: tuple[str, ...] = ("val_loss", "synth_psds")
#: Adam implementations (``training.adam_impl``)
ADAM_IMPLS: tuple[str, ...] = ("auto", "for_loop", "foreach", "fused")
#: float32 matrix-multiplication precisions (``training.matmul_precision``)
MATMUL_PRECISIONS: tuple[str, ...] = ("highest", "high")
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

"""Checkpoint-selection objectives (``training.objective``), computed from the validation metrics.

- ``val_loss`` (stage 1): mean of the teacher's weak validation loss and strong-real validation loss; lower is
  better.
- ``synth_psds`` (stage 2): the teacher's PSDS1 + PSDS2 on synthetic validation; higher is better.

A metric of a subset that the validation did not reach (a limited validation, e.g. ``--fast_dev_run``, which
also saves no checkpoint) is left out of the mean or counts as 0. A subset that was scored but holds no event
stops the run in the validation step instead of giving PSDS 0.0.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

from desed_task.config.choices import OBJECTIVE_NAMES

__all__ = ["OBJECTIVES", "Objective"]


@dataclass(frozen=True)
class Objective:
    compute: Callable[[Mapping[str, float]], float]
    mode: Literal["min", "max"]


def _val_loss(metrics: Mapping[str, float]) -> float:
    terms = [metrics.get("val/teacher/weak_loss"), metrics.get("val/teacher/strong_val_strong_loss")]
    terms = [t for t in terms if t is not None]
    return float(np.mean(terms)) if terms else float("inf")


def _synth_psds(metrics: Mapping[str, float]) -> float:
    return float(metrics.get("val/teacher/synth_val_psds1", 0.0) + metrics.get("val/teacher/synth_val_psds2", 0.0))


OBJECTIVES: dict[str, Objective] = {
    "val_loss": Objective(_val_loss, "min"),
    "synth_psds": Objective(_synth_psds, "max"),
}
assert tuple(OBJECTIVES) == OBJECTIVE_NAMES, "the schema's training.objective names these"

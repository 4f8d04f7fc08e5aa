"""A third post-processing method, for tests only: what a new method takes is this one file plus a registry entry.

``floor``: per class, frame scores below the class's floor become 0 (the frames then never count as detections),
and frames are thresholded as usual. It has its own per-class key (``floor``), its own grid option of ``tune``
(``--floors``) and its own inference decoder.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from desed_task.evaluation.psds import SCENARIO_1
from desed_task.postprocess.method import Params, events_table, check_classes, check_keys, number
from desed_task.postprocess.tuning_objective import tuning_set
from desed_task.data.tables import SCORE_TIME_COLUMNS, table_classes
from desed_task.postprocess.score_tables import consistent_classes
from desed_task.postprocess.tuning import grid_search


def floored(scores: np.ndarray, floors: np.ndarray) -> np.ndarray:
    """``scores`` (..., C, T) with values below the class's floor (C,) set to 0."""
    return np.where(scores < floors[:, None], 0.0, scores)


class FloorDecoder:
    """Floors, then each run of frames with a score above the class's threshold is an event."""

    median_window = None

    def __init__(self, classes: Sequence[str], floors: np.ndarray, description: str) -> None:
        self.classes, self.floors, self.description = list(classes), floors, description

    def __call__(
        self, scores: np.ndarray, timestamps: np.ndarray, thresholds: np.ndarray
    ) -> tuple[np.ndarray, pd.DataFrame]:
        kept = floored(scores, self.floors)  # (C, T)
        return kept, events_table(kept, thresholds, self.classes, timestamps)


@dataclass(frozen=True)
class FloorParams(Params):
    """A score floor per class."""

    floors: dict[str, float]
    tuning: dict[str, Any] | None = field(default=None, compare=False)
    method: ClassVar[str] = "floor"
    summary: ClassVar[str] = "scores below a floor per class become 0"

    @property
    def classes(self) -> list[str]:
        return list(self.floors)

    def file_fields(self) -> dict[str, Any]:
        return {"classes": {c: {"floor": f} for c, f in self.floors.items()}}

    @classmethod
    def from_file_fields(cls, data: Mapping[str, Any], tuning: dict[str, Any] | None, source: str) -> "FloorParams":
        floors = {}
        for name, values in data["classes"].items():
            check_keys(values, {"floor"}, {"floor"}, f"{source}: classes.{name}")
            floors[name] = number(values["floor"], f"{source}: classes.{name}.floor")
        return cls(floors, tuning)

    def apply(self, scores: Mapping[str, pd.DataFrame], source: str = "the scores") -> dict[str, pd.DataFrame]:
        if not scores:
            return {}
        classes = consistent_classes(scores, source)
        check_classes(self, classes, source)
        floors = np.array([self.floors[c] for c in classes])
        return {
            clip: pd.DataFrame(
                np.hstack(
                    [
                        table[list(SCORE_TIME_COLUMNS)].to_numpy(float),
                        floored(table[classes].to_numpy(float).T, floors).T,
                    ]
                ),
                columns=[*SCORE_TIME_COLUMNS, *classes],
            )
            for clip, table in scores.items()
        }

    def decoder(self, classes: Sequence[str], frame_hop: float, description_suffix: str = "") -> FloorDecoder:
        self.check_fits(classes, frame_hop, "the checkpoint's scores")
        return FloorDecoder(classes, np.array([self.floors[c] for c in classes]), f"floors{description_suffix}")

    @classmethod
    def tune(
        cls,
        scores: Mapping[str, pd.DataFrame],
        ground_truth: Any,
        durations: Any,
        scenario=SCENARIO_1,
        floors: Sequence[float] = (0.0, 0.3, 0.6),
        jobs: int = 1,
        progress: bool = False,
    ) -> "FloorParams":
        chosen, tuned_scores = tuning_set(scores, ground_truth, durations, scenario)
        classes = table_classes(next(iter(tuned_scores.values())))
        best, tuning = grid_search(
            tuned_scores,
            chosen,
            list(floors),
            lambda f: FloorParams(dict(f)),
            {},
            lambda f: f"floor {f}",
            jobs,
            progress,
        )
        return cls({c: best[c] for c in classes}, tuning)

    @classmethod
    def add_tune_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--floors",
            type=lambda text: [float(v) for v in text.split(",")],
            default=[0.0, 0.3, 0.6],
            metavar="F,F,...",
            help="floor: score floors to try",
        )

    @classmethod
    def grid_options(cls, args: argparse.Namespace) -> dict[str, Any]:
        return {"floors": args.floors}

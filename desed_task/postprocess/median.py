"""The median method: a median filter per class, ``window_frames[class]`` frames long (the recipe's decoding with
class-wise windows tuned for PSDS).

The filter is ``desed_task.evaluation.median_filter_scores``: scipy's ``median_filter`` along time with the
default ``reflect`` mode, as the recipe applies it. Windows count frames, so the tables must have one fixed hop,
and the parameter file stores the hop they were tuned at (``frame_hop``, seconds).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterable

import numpy as np
import pandas as pd

from desed_task.data.tables import TableSource
from desed_task.evaluation.decoding import median_filter_scores
from desed_task.evaluation.psds import SCENARIO_1, PSDSScenario
from desed_task.postprocess.postprocess_errors import PostprocessError
from desed_task.postprocess.method import Params, events_table, check_classes, check_keys, frame_count, number
from desed_task.postprocess.tuning_objective import tuning_set
from desed_task.data.tables import SCORE_TIME_COLUMNS, table_classes
from desed_task.postprocess.score_tables import HOP_TOLERANCE, consistent_classes, frame_hop
from desed_task.postprocess.tuning import grid_search

DEFAULT_MEDIAN_WINDOWS = tuple(range(1, 42))
RECIPE_STAGE1_WINDOW = 7
RECIPE_STAGE2_WINDOWS = {  # confs/stage2.yaml training.median_window, DESED class order
    "Alarm_bell_ringing": 6,
    "Blender": 20,
    "Cat": 7,
    "Dishes": 4,
    "Dog": 7,
    "Electric_shaver_toothbrush": 6,
    "Frying": 6,
    "Running_water": 6,
    "Speech": 6,
    "Vacuum_cleaner": 6,
}


class MedianDecoder:
    """Median filter per class, then each run of frames with a score above the class's threshold is an event."""

    def __init__(self, classes: Sequence[str], windows: int | Sequence[int], description: str) -> None:
        median_filter_scores(np.zeros((len(classes), 1), dtype=np.float32), windows)  # validates the windows
        self.classes = list(classes)
        self.median_window = windows
        self.description = description

    def __call__(
        self, scores: np.ndarray, timestamps: np.ndarray, thresholds: np.ndarray
    ) -> tuple[np.ndarray, pd.DataFrame]:
        smoothed = median_filter_scores(scores, self.median_window)  # (C, T)
        return smoothed, events_table(smoothed, thresholds, self.classes, timestamps)


@dataclass(frozen=True)
class MedianParams(Params):
    """A median filter per class, ``window_frames[class]`` frames long, for scores at ``frame_hop`` seconds."""

    window_frames: dict[str, int]
    frame_hop: float
    tuning: dict[str, Any] | None = field(default=None, compare=False)
    method: ClassVar[str] = "median"
    summary: ClassVar[str] = "one median-filter window (frames) per class"
    file_keys: ClassVar[tuple[str, ...]] = ("frame_hop",)

    @property
    def classes(self) -> list[str]:
        return list(self.window_frames)

    def file_fields(self) -> dict[str, Any]:
        classes = {c: {"window_frames": w} for c, w in self.window_frames.items()}
        return {"frame_hop": self.frame_hop, "classes": classes}

    @classmethod
    def from_file_fields(cls, data: Mapping[str, Any], tuning: dict[str, Any] | None, source: str) -> "MedianParams":
        hop = number(data["frame_hop"], f"{source}: frame_hop", positive=True)
        windows = {}
        for name, values in data["classes"].items():
            where = f"{source}: classes.{name}"
            check_keys(values, {"window_frames"}, {"window_frames"}, where)
            windows[name] = frame_count(values["window_frames"], f"{where}.window_frames")
        return cls(windows, hop, tuning)

    def apply(self, scores: Mapping[str, pd.DataFrame], source: str = "the scores") -> dict[str, pd.DataFrame]:
        return median_filter_tables(dict(scores), self, source)

    def check_fits(
        self, classes: Sequence[str], frame_hop: float, classes_source: str, hop_source: str | None = None
    ) -> None:
        check_classes(self, list(classes), classes_source)
        check_hop(self, frame_hop, classes_source if hop_source is None else hop_source)

    def decoder(self, classes: Sequence[str], frame_hop: float, description_suffix: str = "") -> MedianDecoder:
        self.check_fits(classes, frame_hop, "the checkpoint's scores")
        windows = [self.window_frames[c] for c in classes]
        return MedianDecoder(classes, windows, f"median filter with tuned windows{description_suffix}")

    @classmethod
    def tune(
        cls, scores: Mapping[str, pd.DataFrame], ground_truth: Any, durations: Any, **options: Any
    ) -> "MedianParams":
        return tune_median(scores, ground_truth, durations, **options)

    @classmethod
    def check_tuning_scores(cls, scores: dict[str, pd.DataFrame], source: str) -> None:
        frame_hop(scores, source)

    @classmethod
    def add_tune_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--windows",
            type=_windows,
            default=list(DEFAULT_MEDIAN_WINDOWS),
            metavar="FIRST-LAST|N,N,...",
            help="median: window lengths in frames (default 1-41); the recipe's windows (7; stage 2: "
            "4, 6, 7, 20) are always added",
        )

    @classmethod
    def grid_options(cls, args: argparse.Namespace) -> dict[str, Any]:
        return {"windows": args.windows}


def _windows(text: str) -> list[int]:
    try:
        first, _, last = text.partition("-")
        return list(range(int(first), int(last) + 1)) if last else [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected FIRST-LAST or comma-separated frame counts, got {text!r}")


def check_hop(params: MedianParams, hop: float, source: str) -> None:
    """Median windows count frames: scores at another hop would be filtered over another duration."""
    if abs(hop - params.frame_hop) > HOP_TOLERANCE:
        raise PostprocessError(
            f"{source} have a frame hop of {hop:.6g} s but the median parameters were tuned at "
            f"{params.frame_hop:.6g} s; tune them on scores with a {hop:.6g} s hop"
        )


def median_filter_tables(
    scores: dict[str, pd.DataFrame], params: MedianParams, source: str = "the scores"
) -> dict[str, pd.DataFrame]:
    """Each table median-filtered per class with ``params.window_frames``; timestamps and columns unchanged.

    Tables with the same frame count are filtered as one batch (clips are independent: the filter runs along
    time only).
    """
    if not scores:
        return {}
    classes = consistent_classes(scores, source)
    check_classes(params, classes, source)
    check_hop(params, frame_hop(scores, source), source)
    windows = [params.window_frames[c] for c in classes]
    groups: dict[int, list[str]] = {}
    for clip_id, table in scores.items():
        groups.setdefault(len(table), []).append(clip_id)
    out = {}
    for clip_ids in groups.values():
        batch = np.stack([scores[c][classes].to_numpy(float).T for c in clip_ids])  # (B, C, T)
        filtered = median_filter_scores(batch, windows)  # (B, C, T)
        for clip_id, clip_scores in zip(clip_ids, filtered):
            times = scores[clip_id][list(SCORE_TIME_COLUMNS)].to_numpy(float)  # (T, 2)
            out[clip_id] = pd.DataFrame(np.hstack([times, clip_scores.T]), columns=[*SCORE_TIME_COLUMNS, *classes])
    return {c: out[c] for c in scores}


def median_windows_grid(windows: Iterable[int] = DEFAULT_MEDIAN_WINDOWS) -> list[int]:
    """``windows`` plus the recipe's (7 for stage 1; stage 2's per-class windows), sorted."""
    grid = {int(w) for w in windows} | {RECIPE_STAGE1_WINDOW, *RECIPE_STAGE2_WINDOWS.values()}
    if min(grid) < 1:
        raise PostprocessError(f"median windows must be >= 1 frame, got {sorted(grid)}")
    return sorted(grid)


def tune_median(
    scores: Mapping[str, pd.DataFrame],
    ground_truth: TableSource,
    durations: TableSource,
    scenario: PSDSScenario = SCENARIO_1,
    windows: Iterable[int] = DEFAULT_MEDIAN_WINDOWS,
    jobs: int = 1,
    progress: bool = False,
) -> MedianParams:
    """Class-wise median windows (frames) maximising PSDS of ``scenario`` on the given validation set.

    The grid always contains the recipe's windows, and the recipe's stage-2 windows compete as a whole when the
    classes are DESED's; classes without ground-truth events get the best fixed window.
    """
    grid = median_windows_grid(windows)
    chosen, tuned_scores = tuning_set(scores, ground_truth, durations, scenario)
    hop = frame_hop(tuned_scores)
    classes = table_classes(next(iter(tuned_scores.values())))
    references = {"recipe_stage2": dict(RECIPE_STAGE2_WINDOWS)} if set(classes) == set(RECIPE_STAGE2_WINDOWS) else {}
    windows_by_class, tuning = grid_search(
        tuned_scores,
        chosen,
        grid,
        lambda w: MedianParams(dict(w), hop),
        references,
        lambda w: f"{w} frames",
        jobs,
        progress,
    )
    tuning["grid"] = {"window_frames": grid}
    return MedianParams({c: windows_by_class[c] for c in classes}, hop, tuning)

"""What ``python -m desed_task.evaluation`` scores, read and checked before any metric is computed.

The table layer checks each table on its own (columns, numbers, onset < offset, scores in [0, 1]); this module
checks them against each other, because a mismatch does not fail later, it quietly lowers the metrics: labels
that are not ground-truth classes, clips that the ground truth or the durations do not know, events outside
their clip, score files without a column per class. Every problem is a :class:`TableError` naming the file, the
line or clip, and what to do.
"""
from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from desed_task.data.tables import (
    TableError,
    clip_id_of,
    durations_by_clip,
    first_few,
    read_durations,
    read_events,
)
from desed_task.evaluation.folders import read_operating_points, read_score_folder


@dataclass(frozen=True)
class EvaluationInputs:
    """Checked tables: the ground truth and durations, and those of the system's outputs that were given."""

    truth: pd.DataFrame
    durations: pd.DataFrame
    operating_points: dict[float, pd.DataFrame] | None = None
    scores: dict[str, pd.DataFrame] | None = None
    predictions: pd.DataFrame | None = None


def check_path(path: Path, kind: str, folder: bool = False) -> None:
    """A TableError if ``path`` is not an existing file (or folder, with ``folder``)."""
    expected, other = ("folder", "file") if folder else ("file", "folder")
    if (path.is_file() and folder) or (path.is_dir() and not folder):
        raise TableError(f"{kind} {path} is a {other}, expected a {expected}")
    if not path.exists():
        raise TableError(f"{kind} {expected} not found: {path}")


def read_inputs(
    ground_truth: Path,
    durations: Path,
    operating_points: Path | None = None,
    scores: Path | None = None,
    predictions: Path | None = None,
) -> EvaluationInputs:
    """Read every input and check it against the ground truth and the durations (see the module docstring)."""
    check_path(ground_truth, "ground truth")
    check_path(durations, "durations")
    for path, kind, folder in ((operating_points, "operating-points", True), (scores, "scores", True),
                               (predictions, "detections", False)):
        if path is not None:
            check_path(path, kind, folder)
    lengths = read_durations(durations)
    clip_durations = durations_by_clip(lengths)
    truth = read_events(ground_truth, "ground truth", durations=clip_durations)
    known = _KnownClips(set(truth["filename"].map(clip_id_of)), set(clip_durations), ground_truth, durations)
    classes = sorted(set(truth["event_label"].dropna())) or None
    tables = None
    if operating_points is not None:
        tables = read_operating_points(operating_points, classes, clip_durations)
        for threshold, table in tables.items():
            known.check(table["filename"], f"operating points {operating_points} (threshold {threshold})")
    score_tables = None
    if scores is not None:
        score_tables = read_score_folder(scores)
        known.check(score_tables, f"scores folder {scores}")
        if classes is not None:
            _check_score_classes(score_tables, classes, Path(scores))
    detected = None
    if predictions is not None:
        detected = read_events(predictions, "detections", classes, clip_durations, pad_to_longest=True)
        known.check(detected["filename"], f"detections file {predictions}")
        if detected.empty:
            warnings.warn(f"detections file {predictions} has a header and no rows: no detections", stacklevel=2)
    return EvaluationInputs(truth, lengths, tables, score_tables, detected)


@dataclass(frozen=True)
class _KnownClips:
    """The clip ids of the ground truth and of the durations, and where they come from."""

    truth: set[str]
    durations: set[str]
    truth_path: Path
    durations_path: Path

    def check(self, filenames: Iterable[str], name: str) -> None:
        """A TableError naming the clips of ``filenames`` that the ground truth or the durations lack."""
        clip_ids = {clip_id_of(f) for f in filenames}
        for known, where in ((self.truth, f"the ground truth {self.truth_path}"),
                             (self.durations, f"the durations {self.durations_path}")):
            unknown = sorted(clip_ids - known)
            if unknown:
                raise TableError(
                    f"{name}: {len(unknown)} clip(s) are not in {where} ({first_few(unknown)}); "
                    "score the set that the ground truth describes, or remove those clips"
                )


def _check_score_classes(scores: Mapping[str, pd.DataFrame], classes: Sequence[str], folder: Path) -> None:
    """Every score file has a column per ground-truth class, and all have the same classes in the same order."""
    first = min(scores)
    expected = _score_classes(scores[first])
    for clip_id in sorted(scores):
        columns = _score_classes(scores[clip_id])
        path = folder / f"{clip_id}.tsv"
        missing = [c for c in classes if c not in columns]
        if missing:
            extra = [c for c in columns if c not in classes]
            found = f" (it has {first_few(extra)} instead; labels are case-sensitive)" if extra else ""
            raise TableError(
                f"score file {path} (clip {clip_id}) lacks the ground truth's class column(s) {missing}{found}: "
                "write one score column per ground-truth class, named as in the ground truth"
            )
        if columns != expected:
            raise TableError(
                f"score file {path} has the class columns {columns}, but {folder / (first + '.tsv')} has "
                f"{expected}: every score file needs the same class columns in the same order"
            )


def _score_classes(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if c not in ("onset", "offset")]

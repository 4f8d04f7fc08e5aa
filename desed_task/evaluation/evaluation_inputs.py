"""What ``python -m desed_task.evaluation`` scores, read and checked before any metric is computed.

The table layer checks each table on its own (columns, numbers, onset < offset, scores in [0, 1]); this module
checks them against each other, because a mismatch does not fail later, it quietly lowers the metrics: labels
that are not classes (:func:`class_list`), clips that the ground truth or the durations do not know, two names for
one clip, events outside their clip, score files without a column per class. Every problem is a
:class:`TableError` naming the file, the line or clip, and what to do. Once every input is valid, what is scored
differently from how it was given is warned about: ground-truth clips without a duration (left out of every
metric), duplicated detections (dropped with ``dedupe``), overlapping detections of a class (merged for psds_eval).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from desed_task.data.label_encoder import DESED_CLASSES
from desed_task.data.tables import (
    TableError,
    check_clip_ids,
    clip_id_of,
    durations_by_clip,
    first_few,
    read_durations,
    read_events,
    table_classes,
)
from desed_task.evaluation.detections import duplicated, merge_overlaps, without_duplicates
from desed_task.evaluation.folders import read_operating_points, read_score_folder


@dataclass(frozen=True)
class EvaluationInputs:
    """Checked tables: the ground truth and durations, and those of the system's outputs that were given; what the
    metrics (``metrics.METRICS``) read, here and in the test stage (which fills it with its decoded tables).

    ``truth`` holds the clips that have a duration only. ``predictions`` are scored as given by event- and
    segment-based F1 (duplicates dropped with ``dedupe``); ``disjoint_predictions`` and ``operating_points`` have
    each clip's overlapping detections of a class merged, for psds_eval.
    """

    truth: pd.DataFrame
    durations: pd.DataFrame
    operating_points: dict[float, pd.DataFrame] | None = None
    scores: dict[str, pd.DataFrame] | None = None
    predictions: pd.DataFrame | None = None
    disjoint_predictions: pd.DataFrame | None = None


def check_path(path: Path, kind: str, folder: bool = False) -> None:
    """A TableError if ``path`` is not an existing file (or folder, with ``folder``)."""
    expected, other = ("folder", "file") if folder else ("file", "folder")
    if (path.is_file() and folder) or (path.is_dir() and not folder):
        raise TableError(f"{kind} {path} is a {other}, expected a {expected}")
    if not path.exists():
        raise TableError(f"{kind} {expected} not found: {path}")


def class_list(truth_labels: Iterable[str], score_classes: Sequence[str] = ()) -> list[str]:
    """The classes that detections may use: the ground truth's, the score files' columns (the system's classes),
    and DESED's ten when every ground-truth class is a DESED class.

    A class of the list without ground-truth events is still a class: its detections are false positives.
    """
    classes = set(truth_labels) | set(score_classes)
    if classes <= set(DESED_CLASSES):
        classes |= set(DESED_CLASSES)
    return sorted(classes)


def read_inputs(
    ground_truth: Path,
    durations: Path,
    operating_points: Path | None = None,
    scores: Path | None = None,
    predictions: Path | None = None,
    dedupe: bool = False,
) -> EvaluationInputs:
    """Read every input and check it against the ground truth and the durations (see the module docstring)."""
    check_path(ground_truth, "ground truth")
    check_path(durations, "durations")
    for path, kind, folder in (
        (operating_points, "operating-points", True),
        (scores, "scores", True),
        (predictions, "detections", False),
    ):
        if path is not None:
            check_path(path, kind, folder)
    lengths = read_durations(durations)
    check_clip_ids(lengths["filename"], f"durations {durations}")
    clip_durations = durations_by_clip(lengths)
    truth = read_events(ground_truth, "ground truth", durations=clip_durations)
    check_clip_ids(truth["filename"], f"ground truth {ground_truth}")
    known = _KnownClips(set(truth["filename"].map(clip_id_of)), set(clip_durations), ground_truth, durations)
    score_tables = None
    if scores is not None:
        score_tables = read_score_folder(scores)
        known.check(score_tables, f"scores folder {scores}")
    truth_labels = set(truth["event_label"].dropna())
    classes = class_list(truth_labels, table_classes(next(iter(score_tables.values()))) if score_tables else ())
    if score_tables is not None and truth_labels:
        _checktable_classes(score_tables, sorted(truth_labels), Path(scores))
    tables = None
    if operating_points is not None:
        tables = read_operating_points(operating_points, classes, clip_durations)
        for threshold, table in tables.items():
            name = f"operating points {operating_points} (threshold {threshold})"
            check_clip_ids(table["filename"], name)
            known.check(table["filename"], name)
    detected = None
    if predictions is not None:
        detected = read_events(predictions, "detections", classes, clip_durations, pad_to_longest=True)
        check_clip_ids(detected["filename"], f"detections file {predictions}")
        known.check(detected["filename"], f"detections file {predictions}")
    # Every input is valid: what follows only warns.
    truth = _with_durations(truth, clip_durations, ground_truth, durations)
    if tables is not None:
        tables = _disjoint_operating_points(tables, operating_points)
    disjoint = None
    if detected is not None:
        if detected.empty:
            warnings.warn(f"detections file {predictions} has a header and no rows: no detections", stacklevel=2)
        detected = _handle_duplicates(detected, predictions, dedupe)
        disjoint, merged = merge_overlaps(without_duplicates(detected))  # the same union, repeats not counted
        if merged:
            warnings.warn(
                f"detections file {predictions}: {merged} detection(s) overlap an earlier detection of their class "
                "in their clip; intersection F1 scores the union of each such group (psds_eval needs detections "
                "of a class not to overlap), event- and segment-based F1 score the rows as they are",
                stacklevel=2,
            )
    return EvaluationInputs(truth, lengths, tables, score_tables, detected, disjoint)


def _with_durations(
    truth: pd.DataFrame, durations: Mapping[str, float], ground_truth: Path, durations_path: Path
) -> pd.DataFrame:
    """The ground truth of the clips that have a duration; the others are left out of every metric, with a warning."""
    clip_ids = truth["filename"].map(clip_id_of)
    absent = sorted(set(clip_ids) - set(durations))
    if not absent:
        return truth
    warnings.warn(
        f"{len(absent)} clip(s) of the ground truth {ground_truth} are not in the durations {durations_path} "
        f"({first_few(absent)}): they are left out of every metric (event, segment and intersection F1, PSDS); "
        "add their durations to score them",
        stacklevel=3,
    )
    return truth[clip_ids.isin(set(durations))].reset_index(drop=True)


def _handle_duplicates(table: pd.DataFrame, path: Path, dedupe: bool) -> pd.DataFrame:
    """Warn about detections listed more than once; drop the repeats with ``dedupe``."""
    repeats = duplicated(table)
    if repeats.empty:
        return table
    first = repeats.iloc[0]
    example = f"{first['filename']} {first['event_label']} {first['onset']}-{first['offset']} s"
    if dedupe:
        warnings.warn(
            f"detections file {path}: {len(repeats)} duplicated detection(s) dropped (--dedupe; same clip, "
            f"class, onset and offset as an earlier row, e.g. {example})",
            stacklevel=3,
        )
        return without_duplicates(table)
    warnings.warn(
        f"detections file {path}: {len(repeats)} duplicated detection(s) (same clip, class, onset and offset as an "
        f"earlier row, e.g. {example}): each copy counts as a false positive in event-based F1 (intersection F1 "
        "counts one); --dedupe drops them",
        stacklevel=3,
    )
    return table


def _disjoint_operating_points(tables: dict[float, pd.DataFrame], folder: Path) -> dict[float, pd.DataFrame]:
    """Each table with its overlapping same-class detections merged (psds_eval refuses them), with one warning."""
    out, merged, affected = {}, 0, 0
    for threshold, table in tables.items():
        out[threshold], count = merge_overlaps(table)
        merged, affected = merged + count, affected + bool(count)
    if merged:
        warnings.warn(
            f"operating points {folder}: {merged} detection(s) in {affected} of {len(tables)} table(s) overlap (or "
            "repeat) an earlier detection of their class in their clip; each such group is scored as its union "
            "(psds_eval needs detections of a class not to overlap)",
            stacklevel=3,
        )
    return out


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
        for known, where in (
            (self.truth, f"the ground truth {self.truth_path}"),
            (self.durations, f"the durations {self.durations_path}"),
        ):
            unknown = sorted(clip_ids - known)
            if unknown:
                raise TableError(
                    f"{name}: {len(unknown)} clip(s) are not in {where} ({first_few(unknown)})"
                    f"{_folder_hint(unknown, known)}; "
                    "score the set that the ground truth describes, or remove those clips"
                )


def _folder_hint(unknown: Sequence[str], known: set[str]) -> str:
    """A note when the unknown clips are known under another folder (``day1/kitchen`` versus ``kitchen``)."""
    base = {c.rpartition("/")[2]: c for c in sorted(known, reverse=True)}  # the first in sorted order wins
    pairs = [f"{c} is not {base[c.rpartition('/')[2]]}" for c in unknown if c.rpartition("/")[2] in base]
    return f" (clip ids keep the folders the tables give: {first_few(pairs)})" if pairs else ""


def _checktable_classes(scores: Mapping[str, pd.DataFrame], classes: Sequence[str], folder: Path) -> None:
    """Every score file has a column per ground-truth class, and all have the same classes in the same order."""
    first = min(scores)
    expected = table_classes(scores[first])
    for clip_id in sorted(scores):
        columns = table_classes(scores[clip_id])
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

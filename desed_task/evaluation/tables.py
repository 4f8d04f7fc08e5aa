"""Reading, checking and converting the tables that evaluation works on (DESED tsv formats).

- ground truth: ``filename onset offset event_label`` (a clip without events may appear once with empty cells);
- durations: ``filename duration``;
- detections: ``filename onset offset event_label`` (tsv, or csv with an index column as the DCASE baseline writes);
- scores: sed_scores_eval's format, one ``<clip id>.tsv`` per clip with columns ``onset offset <classes>``.

Clips are matched by clip id (file name without its audio extension), so ``Y1.wav`` and ``Y1`` are the same clip.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

import pandas as pd

from desed_task.evaluation.decoding import DETECTION_COLUMNS, clip_id_of
from desed_task.evaluation.lazy import sed_scores_eval

GROUND_TRUTH_COLUMNS = DETECTION_COLUMNS
DURATION_COLUMNS = ("filename", "duration")
OPERATING_POINT_PATTERN = re.compile(r"^predictions_th_(\d+(?:\.\d+)?)\.tsv$")

TableLike = pd.DataFrame | str | Path


class EvaluationInputError(ValueError):
    """An evaluation input (file or table) is missing or malformed; the message says which and what to do."""


def _read_table(path: str | Path, columns: Iterable[str], what: str) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise EvaluationInputError(f"{what} file not found: {path}")
    sep = "," if path.suffix.lower() == ".csv" else "\t"
    try:
        table = pd.read_csv(path, sep=sep)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise EvaluationInputError(f"cannot read {what} file {path} as a {'csv' if sep == ',' else 'tsv'}: {error}")
    table = table.drop(columns=[c for c in table.columns if str(c).startswith("Unnamed:") or c == "index"])
    return check_columns(table, columns, f"{what} file {path}")


def check_columns(table: pd.DataFrame, columns: Iterable[str], what: str) -> pd.DataFrame:
    """``table`` restricted to ``columns`` (in that order); an error naming the missing columns otherwise."""
    columns = list(columns)
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise EvaluationInputError(
            f"{what} lacks column(s) {missing}: it has {list(table.columns)}, needs {columns} "
            "(tab-separated, with a header row)"
        )
    return table[columns].copy()


def ground_truth_table(ground_truth: TableLike) -> pd.DataFrame:
    """Ground truth as a DataFrame ``filename onset offset event_label``; clips without events keep NaN cells."""
    if isinstance(ground_truth, pd.DataFrame):
        return check_columns(ground_truth, GROUND_TRUTH_COLUMNS, "ground truth table")
    return _read_table(ground_truth, GROUND_TRUTH_COLUMNS, "ground truth")


def durations_table(durations: TableLike) -> pd.DataFrame:
    """Durations as a DataFrame ``filename duration``."""
    if isinstance(durations, pd.DataFrame):
        table = check_columns(durations, DURATION_COLUMNS, "durations table")
    else:
        table = _read_table(durations, DURATION_COLUMNS, "durations")
    table["duration"] = table["duration"].astype(float)
    return table


def detections_table(detections: TableLike) -> pd.DataFrame:
    """Detections as a DataFrame ``filename onset offset event_label`` (a csv's index column is dropped)."""
    if isinstance(detections, pd.DataFrame):
        table = check_columns(detections, DETECTION_COLUMNS, "detection table")
    else:
        table = _read_table(detections, DETECTION_COLUMNS, "detections")
    table = table.dropna(subset=["event_label"])
    return _numeric_times(table, "detections").reset_index(drop=True)


def _numeric_times(table: pd.DataFrame, what: str) -> pd.DataFrame:
    try:
        return table.astype({"onset": float, "offset": float})
    except ValueError as error:
        raise EvaluationInputError(f"{what}: onset and offset must be numbers in seconds ({error})")


def read_operating_points(folder: str | Path) -> dict[float, pd.DataFrame]:
    """Detections per threshold from a folder of ``predictions_th_<threshold>.tsv`` files."""
    folder = Path(folder)
    if not folder.is_dir():
        raise EvaluationInputError(f"operating-points folder not found: {folder}")
    out = {}
    for path in sorted(folder.iterdir()):
        match = OPERATING_POINT_PATTERN.match(path.name)
        if match:
            out[float(match.group(1))] = detections_table(path)
    if not out:
        raise EvaluationInputError(
            f"no predictions_th_<threshold>.tsv files in {folder}: write one detection table per threshold there"
        )
    return dict(sorted(out.items()))


def write_operating_points(folder: str | Path, detections: dict[float, pd.DataFrame]) -> None:
    """Write ``predictions_th_<t>.tsv`` (two decimals when they suffice) for every threshold."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for threshold, table in detections.items():
        path = folder / f"predictions_th_{threshold_name(threshold)}.tsv"
        table[list(DETECTION_COLUMNS)].to_csv(path, sep="\t", index=False)


def threshold_name(threshold: float) -> str:
    """``0.01`` -> ``"0.01"``, ``0.125`` -> ``"0.125"``: two decimals unless more are needed."""
    text = f"{threshold:.6f}".rstrip("0")
    whole, _, decimals = text.partition(".")
    return f"{whole}.{decimals.ljust(2, '0')}"


def ground_truth_events(ground_truth: pd.DataFrame) -> dict[str, list[tuple[float, float, str]]]:
    """Events per clip id; clips listed without events map to an empty list."""
    events: dict[str, list[tuple[float, float, str]]] = {}
    for filename, onset, offset, label in ground_truth[list(GROUND_TRUTH_COLUMNS)].itertuples(index=False):
        clip_events = events.setdefault(clip_id_of(filename), [])
        if isinstance(label, str) and label:
            clip_events.append((float(onset), float(offset), label))
    return events


def durations_by_clip(durations: pd.DataFrame) -> dict[str, float]:
    """Duration in seconds per clip id."""
    return {clip_id_of(f): float(d) for f, d in durations[list(DURATION_COLUMNS)].itertuples(index=False)}


def read_score_folder(folder: str | Path) -> dict[str, pd.DataFrame]:
    """sed_scores_eval score tables from a folder of ``<clip id>.tsv`` files, keyed by clip id."""
    folder = Path(folder)
    if not folder.is_dir():
        raise EvaluationInputError(f"scores folder not found: {folder}")
    files = sorted(p for p in folder.iterdir() if p.suffix == ".tsv")
    if not files:
        raise EvaluationInputError(f"no <clip id>.tsv score files in {folder}")
    validate = sed_scores_eval().base_modules.scores.validate_score_dataframe
    out = {}
    for path in files:
        table = pd.read_csv(path, sep="\t")
        try:
            validate(table)
        except (ValueError, AssertionError) as error:
            raise EvaluationInputError(
                f"score file {path} is not a sed_scores_eval score table (columns onset, offset, <classes>): {error}"
            )
        out[path.stem] = table
    return out


def write_score_folder(folder: str | Path, scores: dict[str, pd.DataFrame], progress: bool = False) -> None:
    """Write one ``<clip id>.tsv`` per clip in sed_scores_eval's format."""
    from tqdm.auto import tqdm

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write = sed_scores_eval().base_modules.io.write_sed_scores
    for clip_id, table in tqdm(scores.items(), desc=f"writing {folder.name} scores", disable=not progress):
        write(table, folder / f"{clip_id}.tsv")

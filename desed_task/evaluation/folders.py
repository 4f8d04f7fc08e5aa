"""The folders that evaluation reads and writes: detections at several operating points, and score files.

- operating points: one detection table ``predictions_th_<threshold>.tsv`` per decision threshold;
- scores: sed_scores_eval's format, one ``<clip id>.tsv`` per clip with columns ``onset offset <classes>``.

Parsing and checking the tables is the table layer's job (:mod:`desed_task.data.tables`).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from desed_task.data.tables import EVENT_COLUMNS, TableError, first_few, read_events, read_scores
from desed_task.evaluation.score_files import write_score_folders

OPERATING_POINT_PATTERN = re.compile(r"^predictions_th_(\d+(?:\.\d+)?)\.tsv$")


def _folder(folder: str | Path, what: str) -> Path:
    folder = Path(folder)
    if folder.is_file():
        raise TableError(f"{what} {folder} is a file, expected a folder")
    if not folder.is_dir():
        raise TableError(f"{what} folder not found: {folder}")
    return folder


def read_operating_points(
    folder: str | Path,
    classes: Sequence[str] | None = None,
    durations: Mapping[str, float] | None = None,
) -> dict[float, pd.DataFrame]:
    """Detections per threshold from a folder of ``predictions_th_<threshold>.tsv`` files.

    ``classes`` and ``durations`` (per clip id) check the labels and times of every table (``read_events``).
    """
    folder = _folder(folder, "operating-points")
    out = {}
    for path in sorted(folder.iterdir()):
        match = OPERATING_POINT_PATTERN.match(path.name)
        if match:
            out[float(match.group(1))] = read_events(path, "detections", classes, durations, pad_to_longest=True)
    if not out:
        raise TableError(
            f"no predictions_th_<threshold>.tsv files in {folder}: write one detection table per threshold there"
        )
    return dict(sorted(out.items()))


def write_operating_points(folder: str | Path, detections: dict[float, pd.DataFrame]) -> None:
    """Write ``predictions_th_<t>.tsv`` (two decimals when they suffice) for every threshold."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for threshold, table in detections.items():
        path = folder / f"predictions_th_{threshold_name(threshold)}.tsv"
        table[list(EVENT_COLUMNS)].to_csv(path, sep="\t", index=False)


def threshold_name(threshold: float) -> str:
    """``0.01`` -> ``"0.01"``, ``0.125`` -> ``"0.125"``: two decimals unless more are needed."""
    text = f"{threshold:.6f}".rstrip("0")
    whole, _, decimals = text.partition(".")
    return f"{whole}.{decimals.ljust(2, '0')}"


def read_score_folder(folder: str | Path) -> dict[str, pd.DataFrame]:
    """sed_scores_eval score tables from a folder of ``<clip id>.tsv`` files, keyed by clip id, each checked.

    A clip id with a folder (``day1/kitchen``) is a file in a subfolder (``day1/kitchen.tsv``).
    """
    folder = _folder(folder, "scores")
    files = sorted(p for p in folder.rglob("*.tsv") if p.is_file())
    if not files:
        raise TableError(f"no <clip id>.tsv score files in {folder}")
    tables = {path.relative_to(folder).as_posix()[: -len(".tsv")]: read_scores(path, warn=False) for path in files}
    padded = {
        clip_id: table.attrs.pop("stripped_columns")
        for clip_id, table in tables.items()
        if "stripped_columns" in table.attrs
    }
    if padded:
        shown = sorted({repr(c) for columns in padded.values() for c in columns})
        warnings.warn(
            f"scores folder {folder}: {len(padded)} file(s) ({first_few(sorted(padded))}) have column(s) "
            f"{first_few(shown)} with leading or trailing white space; stripped",
            stacklevel=2,
        )
    return tables


def write_score_folder(folder: str | Path, scores: dict[str, pd.DataFrame], progress: bool = False) -> None:
    """Write one ``<clip id>.tsv`` per clip in sed_scores_eval's format (``score_files``: byte for byte as
    ``write_sed_scores``; in a subfolder for ``day1/kitchen``)."""
    write_score_folders({folder: scores}, progress)

"""The folders that evaluation reads and writes: detections at several operating points, and score files.

- operating points: one detection table ``predictions_th_<threshold>.tsv`` per decision threshold;
- scores: sed_scores_eval's format, one ``<clip id>.tsv`` per clip with columns ``onset offset <classes>``.

Parsing and checking the tables is the table layer's job (:mod:`desed_task.data.tables`).
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from desed_task.data.tables import EVENT_COLUMNS, TableError, clip_id_of, read_events, read_scores

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
    """sed_scores_eval score tables from a folder of ``<clip id>.tsv`` files, keyed by clip id, each checked."""
    folder = _folder(folder, "scores")
    files = sorted(p for p in folder.iterdir() if p.suffix == ".tsv")
    if not files:
        raise TableError(f"no <clip id>.tsv score files in {folder}")
    return {clip_id_of(path.name): read_scores(path) for path in files}


def write_score_folder(
    folder: str | Path, scores: dict[str, pd.DataFrame], progress: bool = False, clips_per_pass: int = 128
) -> None:
    """Write one ``<clip id>.tsv`` per clip in sed_scores_eval's format (``onset offset <classes>``).

    The files are byte for byte what ``sed_scores_eval.io.write_sed_scores`` writes (``DataFrame.to_csv`` with
    tabs), but tables with the same columns and dtypes are formatted ``clips_per_pass`` at a time in one
    ``to_csv`` call and the text is cut back into files: one call per clip cost about 13 ms, mostly pandas'
    per-call overhead, and a test set of 1,168 clips writes 4,672 files.
    """
    from tqdm.auto import tqdm

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    items = list(scores.items())
    for clip_id, table in items:
        if list(table.columns[:2]) != ["onset", "offset"]:
            raise TableError(f"score table of {clip_id} must start with onset, offset columns, got "
                             f"{list(table.columns[:2])}")
    with tqdm(total=len(items), desc=f"writing {folder.name} scores", disable=not progress) as bar:
        for start in range(0, len(items), clips_per_pass):
            batch = items[start:start + clips_per_pass]
            for group in _same_layout(batch):
                _write_tables(folder, group)
            bar.update(len(batch))


def _same_layout(items: list[tuple[str, pd.DataFrame]]) -> list[list[tuple[str, pd.DataFrame]]]:
    """``items`` grouped by identical columns and dtypes (what one ``to_csv`` call formats alike)."""
    groups: dict[tuple, list[tuple[str, pd.DataFrame]]] = {}
    for clip_id, table in items:
        groups.setdefault((tuple(table.columns), tuple(map(str, table.dtypes))), []).append((clip_id, table))
    return list(groups.values())


def _write_tables(folder: Path, group: list[tuple[str, pd.DataFrame]]) -> None:
    text = pd.concat([table for _, table in group], ignore_index=True).to_csv(sep="\t", index=False)
    lines = text.split("\n")
    header, row = lines[0], 1
    for clip_id, table in group:
        body = lines[row:row + len(table)]
        row += len(table)
        (folder / f"{clip_id}.tsv").write_text("\n".join([header, *body]) + "\n")
"""Score files (sed_scores_eval's format, one ``<clip id>.tsv`` per clip), byte for byte as sed_scores_eval's
``write_sed_scores`` writes them, in about half its time.

``write_sed_scores`` checks a table and calls pandas' ``to_csv``: tab-separated, header, no index, ``os.linesep``
line ends, and each float64 as numpy's shortest round-trip repr, which is Python's ``repr`` of the float (NaN
as an empty field). Most of its time is that formatting and the per-table overhead of pandas' csv writer. Here the
tables of a whole set (several folders at once) are packed (``score_arrays``), every distinct value is formatted
once, and the lines are joined directly: raw and median-filtered tables share most values (a median is one of its
window's values) and all tables share their timestamps. Tables that do not pack (mixed columns, lengths or
dtypes) and column names the csv writer would quote go through ``write_sed_scores`` itself.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from desed_task.evaluation.lazy import sed_scores_eval
from desed_task.evaluation.score_arrays import PackedScores, pack_scores

_PLAIN_NAME = re.compile(r'^[^\t"\r\n]+$')  # a header field that pandas' csv writer leaves unquoted


def value_strings(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each distinct float64 of ``values`` (by bit pattern, so -0.0 and 0.0 stay apart) as pandas writes it,
    and the index of each value's string: ``strings[inverse]`` is the formatted ``values.ravel()``."""
    bits, inverse = np.unique(
        np.ascontiguousarray(values, dtype=np.float64).view(np.uint64).ravel(), return_inverse=True
    )
    distinct = bits.view(np.float64).tolist()
    strings = np.array(["" if v != v else repr(v) for v in distinct], dtype=object)  # v != v: NaN
    return strings, inverse.ravel()


def writable(packed: PackedScores) -> bool:
    """Whether ``write_packed_folders`` writes these tables as ``write_sed_scores`` would (header unquoted)."""
    return len(packed.columns) > 1 and all(_PLAIN_NAME.match(name) for name in packed.columns)


def write_packed_folders(folders: Sequence[tuple[Path, PackedScores]]) -> None:
    """Write the packed tables of each folder, one ``<clip id>.tsv`` per clip, all values formatted together."""
    validate = sed_scores_eval().base_modules.scores.validate_score_dataframe
    if not folders:
        return
    strings, inverse = value_strings(np.concatenate([packed.values.reshape(-1) for _, packed in folders]))
    offset = 0
    for folder, packed in folders:
        folder.mkdir(parents=True, exist_ok=True)
        n_clips, n_frames, n_columns = packed.values.shape
        cells = strings[inverse[offset : offset + packed.values.size]].reshape(n_clips, n_frames, n_columns)
        offset += packed.values.size
        header = "\t".join(packed.columns) + os.linesep
        for i, clip_id in enumerate(packed.clip_ids):
            validate(pd.DataFrame(packed.values[i], columns=list(packed.columns)))
            text = header + "".join("\t".join(row) + os.linesep for row in cells[i].tolist())
            with open(_clip_file(folder, clip_id), "w", encoding="utf-8", newline="") as file:
                file.write(text)


def _clip_file(folder: Path, clip_id: str) -> Path:
    """``<folder>/<clip id>.tsv``, its subfolder made for a clip id with a folder (``day1/kitchen``)."""
    path = folder / f"{clip_id}.tsv"
    if "/" in clip_id:
        path.parent.mkdir(parents=True, exist_ok=True)
    return path


def write_score_folders(folders: Mapping[str | Path, Mapping[str, pd.DataFrame]], progress: bool = False) -> None:
    """Write the score tables of each folder (``{folder: {clip id: table}}``) as ``<folder>/<clip id>.tsv``."""
    from tqdm.auto import tqdm

    packed, others = [], []
    for folder, tables in folders.items():
        packs = pack_scores(tables)
        if packs is not None and writable(packs):
            packed.append((Path(folder), packs))
        else:
            others.append((Path(folder), tables))
    write_packed_folders(packed)
    write = sed_scores_eval().base_modules.io.write_sed_scores
    for folder, tables in others:
        folder.mkdir(parents=True, exist_ok=True)
        for clip_id, table in tqdm(tables.items(), desc=f"writing {folder.name} scores", disable=not progress):
            write(table, _clip_file(folder, clip_id))

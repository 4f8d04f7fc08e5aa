"""Score tables of many clips as one array, the form in which they travel to scoring workers and are written.

A dict of sed_scores_eval score tables (one ``DataFrame`` per clip) pickles slowly, table by table. Tables of a
scored set usually share their columns and frame count, and are all float64 (``score_dataframes``): then they are
one (N, T, K) array with the clip ids and the column names, and each table is rebuilt from its rows exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class PackedScores:
    """Score tables of ``clip_ids`` (in that order): ``values[i]`` (T, K) holds clip i's table, ``columns`` names
    its K columns (onset, offset, classes)."""

    clip_ids: tuple[str, ...]
    columns: tuple[str, ...]
    values: np.ndarray  # (N, T, K) float64

    def tables(self) -> dict[str, pd.DataFrame]:
        """The score tables, keyed by clip id."""
        return {
            clip: pd.DataFrame(values, columns=list(self.columns)) for clip, values in zip(self.clip_ids, self.values)
        }

    def subset(self, clip_ids: Sequence[str]) -> "PackedScores":
        """The tables of ``clip_ids``, still packed."""
        index = {clip: i for i, clip in enumerate(self.clip_ids)}
        return PackedScores(tuple(clip_ids), self.columns, self.values[[index[clip] for clip in clip_ids]])


def pack_scores(tables: Mapping[str, pd.DataFrame]) -> PackedScores | None:
    """The tables as one array, or None when they differ in columns or length or hold other than float64."""
    if not tables:
        return None
    first = next(iter(tables.values()))
    columns = list(first.columns)
    if not all(isinstance(c, str) for c in columns):
        return None
    for table in tables.values():
        if list(table.columns) != columns or len(table) != len(first):
            return None
        if not all(dtype == np.float64 for dtype in table.dtypes):
            return None
    values = np.stack([table.to_numpy() for table in tables.values()])  # (N, T, K)
    return PackedScores(tuple(tables), tuple(columns), values)

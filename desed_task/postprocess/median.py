"""Class-wise median filtering of sed_scores_eval score tables (the recipe's decoding, windows per class).

The filter is ``desed_task.evaluation.median_filter_scores``: scipy's ``median_filter`` along time with the
default ``reflect`` mode, as the recipe applies it. Windows count frames, so the tables must have one fixed hop.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from desed_task.evaluation.decoding import median_filter_scores
from desed_task.postprocess.errors import PostprocessError
from desed_task.postprocess.params import HOP_TOLERANCE, MedianParams, check_classes, check_hop

TIME_COLUMNS = ("onset", "offset")


def table_classes(table: pd.DataFrame) -> list[str]:
    """The class columns of a score table, in order."""
    return [c for c in table.columns if c not in TIME_COLUMNS]


def frame_hop(scores: dict[str, pd.DataFrame], source: str = "the scores") -> float:
    """The one frame length (s) of all tables; an error if frames differ in length (e.g. cSEBB outputs)."""
    lengths = np.concatenate([t["offset"].to_numpy(float) - t["onset"].to_numpy(float) for t in scores.values()])
    if lengths.size == 0:
        raise PostprocessError(f"{source} have no frames")
    if lengths.max() - lengths.min() > HOP_TOLERANCE:
        raise PostprocessError(
            f"{source} have frames from {lengths.min():.6g} s to {lengths.max():.6g} s long: a median window "
            "in frames needs one fixed hop (median-filter frame scores, not cSEBB outputs)"
        )
    return float(np.median(lengths))


def median_filter_tables(
    scores: dict[str, pd.DataFrame], params: MedianParams, source: str = "the scores"
) -> dict[str, pd.DataFrame]:
    """Each table median-filtered per class with ``params.window_frames``; timestamps and columns unchanged.

    Tables with the same frame count are filtered as one batch (clips are independent: the filter runs along
    time only).
    """
    if not scores:
        return {}
    classes = table_classes(next(iter(scores.values())))
    check_classes(params, classes, source)
    check_hop(params, frame_hop(scores, source), source)
    windows = [params.window_frames[c] for c in classes]
    groups: dict[int, list[str]] = {}
    for clip_id, table in scores.items():
        if table_classes(table) != classes:
            raise PostprocessError(f"{source}: clip {clip_id} has classes {table_classes(table)}, others {classes}")
        groups.setdefault(len(table), []).append(clip_id)
    out = {}
    for clip_ids in groups.values():
        batch = np.stack([scores[c][classes].to_numpy(float).T for c in clip_ids])  # (B, C, T)
        filtered = median_filter_scores(batch, windows)  # (B, C, T)
        for clip_id, clip_scores in zip(clip_ids, filtered):
            times = scores[clip_id][list(TIME_COLUMNS)].to_numpy(float)  # (T, 2)
            out[clip_id] = pd.DataFrame(np.hstack([times, clip_scores.T]), columns=[*TIME_COLUMNS, *classes])
    return {c: out[c] for c in scores}

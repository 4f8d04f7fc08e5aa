"""Class-wise median filtering of sed_scores_eval score tables (the recipe's decoding, windows per class).

The filter is ``desed_task.evaluation.median_filter_scores``: scipy's ``median_filter`` along time with the
default ``reflect`` mode, as the recipe applies it. Windows count frames, so the tables must have one fixed hop.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

import numpy as np
import pandas as pd

from desed_task.evaluation.decoding import median_filter_scores
from desed_task.postprocess.errors import PostprocessError
from desed_task.postprocess.params import HOP_TOLERANCE, MedianParams, check_classes, check_hop

TIME_COLUMNS = ("onset", "offset")


def table_classes(table: pd.DataFrame) -> list[str]:
    """The class columns of a score table, in order."""
    return [c for c in table.columns if c not in TIME_COLUMNS]


def consistent_classes(scores: Mapping[str, pd.DataFrame], source: str = "the scores") -> list[str]:
    """The class columns of the tables, which must be the same, in the same order, in every table.

    Otherwise the error names the first clip (in clip-id order) whose columns differ from those of most clips:
    the odd one out, not the first table read.
    """
    if not scores:
        raise PostprocessError(f"{source}: no score tables")
    columns = {clip_id: tuple(table_classes(table)) for clip_id, table in scores.items()}
    usual, count = Counter(columns.values()).most_common(1)[0]
    odd = sorted(c for c, found in columns.items() if found != usual)
    if odd:
        example = next(c for c, found in columns.items() if found == usual)
        raise PostprocessError(
            f"{source}: clip {odd[0]} has the class columns {list(columns[odd[0]])}, but {count} of {len(columns)} "
            f"clips (e.g. {example}) have {list(usual)}"
            f"{f' ({len(odd) - 1} more clips differ too)' if len(odd) > 1 else ''}: every score table needs the "
            "same class columns in the same order; score the clip again or remove it"
        )
    return list(usual)


def frame_hop(scores: dict[str, pd.DataFrame], source: str = "the scores") -> float:
    """The one frame length (s) of all tables; an error naming a clip whose frames differ (e.g. cSEBB outputs)."""
    lengths = {c: t["offset"].to_numpy(float) - t["onset"].to_numpy(float) for c, t in scores.items()}
    every = np.concatenate(list(lengths.values())) if lengths else np.zeros(0)
    if every.size == 0:
        raise PostprocessError(f"{source} have no frames")
    if every.max() - every.min() <= HOP_TOLERANCE:
        return float(np.median(every))
    hops = Counter(round(float(np.median(frames)), 6) for frames in lengths.values() if frames.size)
    usual = hops.most_common(1)[0][0]  # the hop of most clips
    odd = sorted(c for c, frames in lengths.items() if frames.size and np.abs(frames - usual).max() > HOP_TOLERANCE)
    frames = lengths[odd[0]]
    raise PostprocessError(
        f"{source}: clip {odd[0]} has frames from {frames.min():.6g} s to {frames.max():.6g} s long, where most "
        f"clips have {usual:.6g} s ({len(odd)} of {len(lengths)} clips differ): a median window in frames needs "
        "one fixed hop (median-filter frame scores, not cSEBB outputs)"
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
            times = scores[clip_id][list(TIME_COLUMNS)].to_numpy(float)  # (T, 2)
            out[clip_id] = pd.DataFrame(np.hstack([times, clip_scores.T]), columns=[*TIME_COLUMNS, *classes])
    return {c: out[c] for c in scores}

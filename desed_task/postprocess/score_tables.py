"""Facts about a folder's sed_scores_eval score tables that every post-processing method checks: their class
columns (the same in every table) and their frame hop (one fixed length, for methods that count frames)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

import numpy as np
import pandas as pd

from desed_task.data.tables import table_classes
from desed_task.postprocess.postprocess_errors import PostprocessError

HOP_TOLERANCE = 1e-6  # seconds: frame hops closer than this are the same hop


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

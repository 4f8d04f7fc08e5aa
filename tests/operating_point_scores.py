"""Frame scores rebuilt from a real system's detections at many thresholds (a stand-in for a real score folder).

No real score folder ships with the project, but ``tests/data/desed_validation/baseline_student`` holds the
DCASE 2021 baseline's detections on the DESED validation set at 50 thresholds (0.01, 0.03, ..., 0.99), decoded
from median-filtered frame scores with a hop of 64 ms. A frame detected at threshold ``t`` and not at the next
one had a score in ``(t, t + 0.02]``; the rebuilt score is the middle of that bin (0.005 when never detected).
The curves are the baseline's own, quantised to 50 levels.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from desed_task.data.label_encoder import DESED_CLASSES
from desed_task.evaluation import clip_id_of, read_operating_points
from desed_task.evaluation.lazy import sed_scores_eval

HOP = 0.064
N_FRAMES = 156


def scores_from_operating_points(
    folder: Path, clip_ids: list[str] | None = None, hop: float = HOP, n_frames: int = N_FRAMES
) -> dict[str, pd.DataFrame]:
    """sed_scores_eval score tables (``n_frames`` frames of ``hop`` s) rebuilt from ``predictions_th_*.tsv``."""
    operating_points = read_operating_points(folder)
    thresholds = sorted(operating_points)
    step = thresholds[1] - thresholds[0]
    index = {c: i for i, c in enumerate(DESED_CLASSES)}
    tables = {t: table.assign(filename=table["filename"].map(clip_id_of)) for t, table in operating_points.items()}
    wanted = sorted(set().union(*(set(t["filename"]) for t in tables.values()))) if clip_ids is None else clip_ids
    position = {c: i for i, c in enumerate(wanted)}
    scores = np.full((len(wanted), len(DESED_CLASSES), n_frames), step / 4)  # (B, C, T)
    for threshold in thresholds:
        table = tables[threshold]
        table = table[table["filename"].isin(position)]
        for clip, onset, offset, label in table[["filename", "onset", "offset", "event_label"]].itertuples(False):
            start, end = int(round(onset / hop)), min(int(round(offset / hop)), n_frames)
            scores[position[clip], index[label], start:end] = threshold + step / 2
    timestamps = np.arange(n_frames + 1) * hop
    create = sed_scores_eval().base_modules.scores.create_score_dataframe
    return {clip: create(scores[i].T, timestamps, list(DESED_CLASSES)) for i, clip in enumerate(wanted)}


ROOT = Path(__file__).parent / "data" / "desed_validation"


@lru_cache(maxsize=None)
def validation_subset(every: int) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, pd.DataFrame]:
    """Rebuilt scores, ground truth and durations of every ``every``-th clip (by clip id) of the DESED validation
    set, computed once per session (do not modify them)."""
    durations = pd.read_csv(ROOT / "validation_durations.tsv", sep="\t")
    durations["clip_id"] = durations["filename"].map(clip_id_of)
    clip_ids = sorted(durations["clip_id"])[::every]
    truth = pd.read_csv(ROOT / "validation.tsv", sep="\t")
    truth = truth[truth["filename"].map(clip_id_of).isin(set(clip_ids))].reset_index(drop=True)
    durations = durations[durations["clip_id"].isin(set(clip_ids))].drop(columns="clip_id").reset_index(drop=True)
    scores = scores_from_operating_points(ROOT / "baseline_student" / "predictions_operating_points", clip_ids)
    return scores, truth, durations

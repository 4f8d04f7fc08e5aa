"""Post-processing of frame scores and decoding into events (SPEC §6).

Scores are class-major, ``(..., C, T)``, as the network outputs them. Frame ``t`` spans
``[timestamps[t], timestamps[t + 1])``: the caller passes ``T + 1`` timestamps (the label encoder's
``frame_to_time(0..T)``), so decoding never has to know the hop or the pooling factor.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from scipy.ndimage import median_filter

from desed_task.evaluation.lazy import sed_scores_eval

DETECTION_COLUMNS = ("filename", "onset", "offset", "event_label")
AUDIO_SUFFIX = ".wav"


def median_filter_scores(scores: np.ndarray, windows: int | Sequence[int]) -> np.ndarray:
    """Median filter along time, one window length per class (or one for all).

    Per class this is scipy's ``median_filter`` with size ``(w, 1)`` on the ``(T, C)`` matrix, default
    ``reflect`` mode, exactly what the original recipe applies.
    """
    scores = np.asarray(scores)
    if scores.ndim < 2:
        raise ValueError(f"scores must have shape (..., C, T), got {scores.shape}")
    n_classes = scores.shape[-2]
    if np.isscalar(windows):
        windows = [int(windows)] * n_classes
    windows = [int(w) for w in windows]
    if len(windows) != n_classes:
        raise ValueError(
            f"got {len(windows)} median window lengths for {n_classes} classes: give one per class or a single int"
        )
    if any(w < 1 for w in windows):
        raise ValueError(f"median window lengths must be >= 1, got {windows}")
    out = np.empty_like(scores)
    lead = (1,) * (scores.ndim - 2)
    for c, w in enumerate(windows):
        out[..., c, :] = median_filter(scores[..., c, :], size=lead + (w,))  # (..., T)
    return out


def clip_id_of(filename: str) -> str:
    """The clip id of a file name: its name without the audio extension (``a/b/Y1.wav`` -> ``Y1``)."""
    name = str(filename).replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, extension = name.rpartition(".")
    return stem if dot and extension.isalnum() and not extension.isdigit() else name


def score_dataframes(
    scores: np.ndarray, clip_ids: Sequence[str], class_labels: Sequence[str], timestamps: np.ndarray
) -> dict[str, pd.DataFrame]:
    """One sed_scores_eval score table per clip: columns ``onset, offset, <classes>``, one row per frame.

    scores: (B, C, T); timestamps: (T + 1,) frame boundaries in seconds. Keys are clip ids (file stems).
    """
    create_score_dataframe = sed_scores_eval().base_modules.scores.create_score_dataframe
    scores = np.asarray(scores)
    timestamps = np.asarray(timestamps, dtype=float)
    _check_scores(scores, len(clip_ids), class_labels, timestamps)
    return {
        clip_id_of(clip): create_score_dataframe(clip_scores.T, timestamps, list(class_labels))  # (T, C)
        for clip, clip_scores in zip(clip_ids, scores)
    }


def _check_scores(scores: np.ndarray, n_clips: int, class_labels: Sequence[str], timestamps: np.ndarray) -> None:
    if scores.ndim != 3 or scores.shape[0] != n_clips or scores.shape[1] != len(class_labels):
        raise ValueError(
            f"scores must have shape (B={n_clips} clips, C={len(class_labels)} classes, T), got {scores.shape}"
        )
    if timestamps.shape != (scores.shape[2] + 1,):
        raise ValueError(f"need T + 1 = {scores.shape[2] + 1} timestamps (frame boundaries), got {timestamps.shape}")


def _thresholds_per_class(thresholds: float | Sequence[float], n_classes: int) -> np.ndarray:
    values = np.asarray(thresholds, dtype=float)
    if values.ndim == 0:
        values = np.full(n_classes, float(values))
    if values.shape != (n_classes,):
        raise ValueError(f"give one threshold or one per class ({n_classes}), got {len(values)}")
    return values


def active_runs(active: np.ndarray) -> list[tuple[int, int]]:
    """Contiguous runs of True in a 1-D boolean array as (start, end) frame indices, end exclusive."""
    padded = np.concatenate([[False], np.asarray(active, dtype=bool), [False]])
    changes = np.flatnonzero(padded[1:] != padded[:-1])
    return [(int(s), int(e)) for s, e in zip(changes[::2], changes[1::2])]


def decode_events(
    scores: np.ndarray,
    thresholds: float | Sequence[float],
    class_labels: Sequence[str],
    timestamps: np.ndarray,
) -> list[tuple[float, float, str]]:
    """Events ``(onset, offset, label)`` of one clip: each run of frames with score > threshold.

    scores: (C, T); timestamps: (T + 1,). Events are listed class by class, in time order within a class.
    """
    scores = np.asarray(scores)
    timestamps = np.asarray(timestamps, dtype=float)
    _check_scores(scores[None], 1, class_labels, timestamps)
    per_class = _thresholds_per_class(thresholds, len(class_labels))
    events = []
    for c, label in enumerate(class_labels):
        for start, end in active_runs(scores[c] > per_class[c]):  # (T,)
            events.append((float(timestamps[start]), float(timestamps[end]), str(label)))
    return events


def decode_score_dataframes(
    scores: dict[str, pd.DataFrame], thresholds: float | Sequence[float], audio_suffix: str = AUDIO_SUFFIX
) -> pd.DataFrame:
    """A DESED detection table (``filename onset offset event_label``) from sed_scores_eval score tables.

    ``filename`` is the clip id plus ``audio_suffix``; a frame is active when its score is > the threshold
    (scalar, or one per class in the tables' column order).
    """
    return decode_operating_points(scores, [thresholds], audio_suffix)[0]


def decode_operating_points(
    scores: dict[str, pd.DataFrame],
    operating_points: Sequence[float | Sequence[float]],
    audio_suffix: str = AUDIO_SUFFIX,
    progress: bool = False,
) -> list[pd.DataFrame]:
    """One detection table per operating point (threshold or per-class thresholds), tables read only once."""
    from tqdm.auto import tqdm

    arrays = []
    for clip_id in sorted(scores):
        table = scores[clip_id]
        labels = [c for c in table.columns if c not in ("onset", "offset")]
        timestamps = np.append(table["onset"].to_numpy(float), table["offset"].to_numpy(float)[-1:])  # (T + 1,)
        arrays.append((clip_id + audio_suffix, table[labels].to_numpy().T, labels, timestamps))  # (C, T)
    out = []
    for thresholds in tqdm(operating_points, desc="decoding operating points", disable=not progress):
        rows = [
            (filename, onset, offset, label)
            for filename, clip_scores, labels, timestamps in arrays
            for onset, offset, label in decode_events(clip_scores, thresholds, labels, timestamps)
        ]
        out.append(pd.DataFrame(rows, columns=list(DETECTION_COLUMNS)).astype({"onset": float, "offset": float}))
    return out


def decode_batch(
    scores: np.ndarray,
    clip_ids: Sequence[str],
    thresholds: float | Sequence[float],
    class_labels: Sequence[str],
    timestamps: np.ndarray,
    audio_suffix: str = AUDIO_SUFFIX,
) -> pd.DataFrame:
    """A DESED detection table from a batch of scores (B, C, T); ``filename`` is the clip id + ``audio_suffix``."""
    scores = np.asarray(scores)
    timestamps = np.asarray(timestamps, dtype=float)
    _check_scores(scores, len(clip_ids), class_labels, timestamps)
    rows = [
        (clip_id_of(clip) + audio_suffix, onset, offset, label)
        for clip, clip_scores in zip(clip_ids, scores)
        for onset, offset, label in decode_events(clip_scores, thresholds, class_labels, timestamps)
    ]
    return pd.DataFrame(rows, columns=list(DETECTION_COLUMNS)).astype({"onset": float, "offset": float})


def operating_point_thresholds(n_thresholds: int = 50) -> np.ndarray:
    """``n`` thresholds at the centres of ``n`` equal bins of [0, 1]: 0.01, 0.03, …, 0.99 for n = 50."""
    if n_thresholds < 1:
        raise ValueError(f"n_thresholds must be >= 1, got {n_thresholds}")
    return np.round((np.arange(n_thresholds) + 0.5) / n_thresholds, 6)

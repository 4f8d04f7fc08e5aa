"""Post-processing of frame scores and decoding into events (docs/recipe.md §6).

Scores are class-major, ``(..., C, T)``, as the network outputs them. Frame ``t`` spans
``[timestamps[t], timestamps[t + 1])``: the caller passes ``T + 1`` timestamps (the label encoder's
``frame_to_time(0..T)``), so decoding never has to know the hop or the pooling factor.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from scipy.ndimage import median_filter

from desed_task.data.tables import EVENT_COLUMNS, clip_id_of, table_classes
from desed_task.evaluation.lazy import sed_scores_eval

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


def _runs(scores: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Runs of frames with score > threshold in a batch, as index arrays (clip, class, start, end exclusive).

    scores: (B, C, T); thresholds: (C,). Runs come in (clip, class, time) order.
    """
    n_clips, n_classes, n_frames = scores.shape
    padded = np.zeros((n_clips, n_classes, n_frames + 2), dtype=np.int8)
    padded[..., 1:-1] = scores > thresholds[None, :, None]  # (B, C, T + 2)
    change = np.diff(padded, axis=-1)  # (B, C, T + 1): +1 where a run starts, -1 after it ends
    clip, cls, start = np.nonzero(change == 1)
    end = np.nonzero(change == -1)[2]
    return clip, cls, start, end


_EMPTY = (np.array([], dtype=object), np.array([], dtype=object), np.zeros((0, 0, 0)), np.zeros(0), np.zeros((0, 1)))


def _detection_table(
    filenames: np.ndarray, labels: np.ndarray, scores: np.ndarray, thresholds: np.ndarray, timestamps: np.ndarray
) -> pd.DataFrame:
    """Detections of a batch: scores (B, C, T), timestamps (B, T + 1), one file name per clip, one label per class."""
    clip, cls, start, end = _runs(scores, thresholds)
    return pd.DataFrame(
        {
            "filename": filenames[clip],
            "onset": timestamps[clip, start].astype(float),
            "offset": timestamps[clip, end].astype(float),
            "event_label": labels[cls],
        },
        columns=list(EVENT_COLUMNS),
    )


def decode_events(
    scores: np.ndarray,
    thresholds: float | Sequence[float],
    class_labels: Sequence[str],
    timestamps: np.ndarray,
) -> list[tuple[float, float, str]]:
    """Events ``(onset, offset, label)`` of one clip: each run of frames with score > threshold.

    scores: (C, T); timestamps: (T + 1,). Events are listed class by class, in time order within a class.
    """
    table = decode_batch(np.asarray(scores)[None], [""], thresholds, class_labels, timestamps, audio_suffix="")
    return [(float(on), float(off), str(label)) for _, on, off, label in table.itertuples(index=False)]


def decode_operating_points(
    scores: dict[str, pd.DataFrame],
    operating_points: Sequence[float | Sequence[float]],
    audio_suffix: str = AUDIO_SUFFIX,
    progress: bool = False,
) -> list[pd.DataFrame]:
    """One detection table per operating point (threshold, or per-class thresholds), clips in clip-id order.

    The score tables are read once and stacked (clips with the same frame count and classes decode together).
    """
    from tqdm.auto import tqdm

    groups: dict[tuple, list[tuple[int, str, np.ndarray, np.ndarray]]] = {}
    for order, clip_id in enumerate(sorted(scores)):
        table = scores[clip_id]
        labels = tuple(table_classes(table))
        timestamps = np.append(table["onset"].to_numpy(float), table["offset"].to_numpy(float)[-1:])  # (T + 1,)
        clip_scores = table[list(labels)].to_numpy().T  # (C, T)
        groups.setdefault((labels, len(table)), []).append((order, clip_id + audio_suffix, clip_scores, timestamps))
    stacked = [
        (
            np.array([m[1] for m in members], dtype=object),
            np.array(labels, dtype=object),
            np.stack([m[2] for m in members]),  # (B, C, T)
            np.stack([m[3] for m in members]),  # (B, T + 1)
        )
        for (labels, _), members in groups.items()
    ]
    clip_order = {filename: order for members in groups.values() for order, filename, _, _ in members}
    out = []
    for thresholds in tqdm(operating_points, desc="decoding operating points", disable=not progress):
        tables = [
            _detection_table(filenames, labels, clip_scores, _thresholds_per_class(thresholds, len(labels)), times)
            for filenames, labels, clip_scores, times in stacked
        ]
        if len(tables) == 1:
            out.append(tables[0])
            continue
        merged = pd.concat(tables, ignore_index=True) if tables else _detection_table(*_EMPTY)
        rank = merged["filename"].map(clip_order).to_numpy()
        out.append(merged.iloc[np.argsort(rank, kind="stable")].reset_index(drop=True))
    return out


def decode_batch(
    scores: np.ndarray,
    clip_ids: Sequence[str],
    thresholds: float | Sequence[float],
    class_labels: Sequence[str],
    timestamps: np.ndarray,
    audio_suffix: str = AUDIO_SUFFIX,
) -> pd.DataFrame:
    """A DESED detection table from a batch of scores (B, C, T); ``filename`` is the clip id + ``audio_suffix``.

    Events are listed clip by clip (in the given order), class by class, in time order within a class.
    """
    scores = np.asarray(scores)
    timestamps = np.asarray(timestamps, dtype=float)
    _check_scores(scores, len(clip_ids), class_labels, timestamps)
    filenames = np.array([clip_id_of(c) + audio_suffix if c else audio_suffix for c in clip_ids], dtype=object)
    per_class = _thresholds_per_class(thresholds, len(class_labels))
    batch_timestamps = np.broadcast_to(timestamps, (len(clip_ids), len(timestamps)))  # (B, T + 1)
    return _detection_table(filenames, np.array(class_labels, dtype=object), scores, per_class, batch_timestamps)


def operating_point_thresholds(n_thresholds: int = 50) -> np.ndarray:
    """``n`` thresholds at the centres of ``n`` equal bins of [0, 1]: 0.01, 0.03, …, 0.99 for n = 50."""
    if n_thresholds < 1:
        raise ValueError(f"n_thresholds must be >= 1, got {n_thresholds}")
    return np.round((np.arange(n_thresholds) + 0.5) / n_thresholds, 6)

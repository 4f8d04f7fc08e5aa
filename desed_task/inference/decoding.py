"""From a recording's merged frame scores to events: the recipe's per-class median filter and frame threshold,
or tuned post-processing from a ``desed_task.postprocess`` parameter file.

- median parameters replace the checkpoint's median windows (tuned per class for PSDS); frames are thresholded
  as in the recipe;
- cSEBB parameters turn the merged (unfiltered) scores into sound event bounding boxes, and the threshold
  applies to each box's confidence: it decides which boxes are events, never where they start or end.

Either way, an event shorter than one output frame (the recording's last frame, cut by its end) is dropped.

Parameters tuned on scores with other classes, or median windows tuned at another frame hop, are refused with
the library's ``PostprocessError`` naming the difference.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from desed_task.evaluation.decoding import decode_events, median_filter_scores
from desed_task.postprocess.params import CSEBBParams, MedianParams, Params, check_classes, check_hop, read_params

EVENT_COLUMNS = ["onset", "offset", "event_label"]


class Decoder(Protocol):
    description: str

    def __call__(
        self, scores: np.ndarray, timestamps: np.ndarray, thresholds: np.ndarray
    ) -> tuple[np.ndarray, pd.DataFrame]:
        """scores (C, T), timestamps (T + 1,), thresholds (C,) → (what is thresholded (C, T), events)."""


class MedianDecoder:
    """Median filter per class, then each run of frames with a score above the class's threshold is an event."""

    def __init__(self, classes: Sequence[str], windows: int | Sequence[int], description: str) -> None:
        median_filter_scores(np.zeros((len(classes), 1), dtype=np.float32), windows)  # validates the windows
        self.classes = list(classes)
        self.windows = windows
        self.description = description

    def __call__(
        self, scores: np.ndarray, timestamps: np.ndarray, thresholds: np.ndarray
    ) -> tuple[np.ndarray, pd.DataFrame]:
        smoothed = median_filter_scores(scores, self.windows)  # (C, T)
        events = decode_events(smoothed, thresholds, self.classes, timestamps)
        return smoothed, pd.DataFrame(sorted(events, key=lambda e: (e[0], e[2])), columns=EVENT_COLUMNS)


class CSEBBDecoder:
    """cSEBB boxes of the merged scores; boxes whose confidence exceeds the class's threshold are the events.

    What is "thresholded" per frame is the confidence of the box covering the frame's centre (0 outside boxes).
    """

    def __init__(self, classes: Sequence[str], params: CSEBBParams, description: str) -> None:
        from desed_task.postprocess.csebb import require_sebbs

        check_classes(params, list(classes), "the checkpoint's scores")
        require_sebbs()  # MissingExtraError now, not after the first recording
        self.classes = list(classes)
        self.params = params
        self.description = description

    def __call__(
        self, scores: np.ndarray, timestamps: np.ndarray, thresholds: np.ndarray
    ) -> tuple[np.ndarray, pd.DataFrame]:
        from desed_task.postprocess.csebb import csebb_boxes

        table = pd.DataFrame(scores.T, columns=self.classes)  # (T, C)
        table.insert(0, "offset", timestamps[1:])
        table.insert(0, "onset", timestamps[:-1])
        boxes = csebb_boxes({"recording": table}, self.params, "the checkpoint's scores")["recording"]
        index = {c: i for i, c in enumerate(self.classes)}
        centres = (timestamps[:-1] + timestamps[1:]) / 2  # (T,)
        confidence = np.zeros_like(scores, dtype=np.float32)  # (C, T)
        rows = []
        for box in boxes:
            row = index[box.label]
            confidence[row, (centres >= box.onset) & (centres < box.offset)] = box.confidence
            if box.confidence > thresholds[row]:
                rows.append((box.onset, box.offset, box.label, box.confidence))
        events = pd.DataFrame(sorted(rows, key=lambda e: (e[0], e[2])), columns=[*EVENT_COLUMNS, "confidence"])
        return confidence, events


def without_partial_frame_events(events: pd.DataFrame, frame_duration: float) -> pd.DataFrame:
    """The events that last at least one output frame.

    Every event spans whole frames except where the recording's end cuts its last frame; an event shorter than a
    frame is only that cut frame, which the network scored mostly on padding (a clip shorter than one frame gives
    none). Dropping it keeps zero-length events (``0.000 0.000`` at the table's millisecond resolution) out.
    """
    short = (events["offset"] - events["onset"]) < frame_duration - 1e-9
    return events[~short].reset_index(drop=True) if short.any() else events


def make_decoder(
    classes: Sequence[str],
    frame_hop: float,
    median_window: int | Sequence[int],
    postprocess: Params | str | Path | None = None,
) -> Decoder:
    """The recipe's decoder with the checkpoint's ``median_window``, or the one of ``postprocess`` (parameters or
    the path of a parameter file) for frames of ``frame_hop`` seconds."""
    if postprocess is None:
        return MedianDecoder(classes, median_window, "median filter with the checkpoint's windows")
    source = ""
    if isinstance(postprocess, (str, Path)):
        source = f" from {postprocess}"
        postprocess = read_params(postprocess)
    if isinstance(postprocess, MedianParams):
        check_classes(postprocess, list(classes), "the checkpoint's scores")
        check_hop(postprocess, frame_hop, "the checkpoint's scores")
        windows = [postprocess.window_frames[c] for c in classes]
        return MedianDecoder(classes, windows, f"median filter with tuned windows{source}")
    return CSEBBDecoder(classes, postprocess, f"cSEBB boxes{source}")

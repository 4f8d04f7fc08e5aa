"""From a recording's merged frame scores to events: the recipe's per-class median filter and frame threshold,
or tuned post-processing from a ``desed_task.postprocess`` parameter file, whose method supplies the decoder:

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

import pandas as pd

from desed_task.postprocess.median import MedianDecoder
from desed_task.postprocess.method import Decoder, Params
from desed_task.postprocess.params import read_params

__all__ = ["Decoder", "MedianDecoder", "make_decoder", "without_partial_frame_events"]


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
    if isinstance(postprocess, (str, Path)):
        return read_params(postprocess).decoder(classes, frame_hop, f" from {postprocess}")
    return postprocess.decoder(classes, frame_hop)

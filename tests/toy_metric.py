"""A fifth metric, for tests only: what a new metric takes is this one file plus a registry entry.

``detected_clip_fraction``: the fraction of ground-truth clips (with or without events) where the system detected
at least one event, from the one detection table (``detections``: the command's ``--predictions``, the test
stage's detections at 0.5).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from desed_task.data.tables import clip_id_of
from desed_task.evaluation.metric import Metric


class DetectedClipFraction(Metric):
    name = "detected_clips"
    keys = ("detected_clip_fraction",)
    reads = "detections"
    description = "fraction of the ground-truth clips with at least one detection"

    def compute(
        self, data: pd.DataFrame, truth: pd.DataFrame, durations: pd.DataFrame, plot_dir: Path | None = None
    ) -> dict[str, float]:
        clips = set(truth["filename"].map(clip_id_of))
        detected = set(data["filename"].map(clip_id_of)) & clips
        return {"detected_clip_fraction": len(detected) / len(clips) if clips else 0.0}

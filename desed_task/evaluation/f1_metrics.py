"""F1 scores of one detection table as metric units (``f1``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from desed_task.evaluation.evaluation_inputs import EvaluationInputs
from desed_task.evaluation.f1 import event_and_segment_f1, intersection_f1_macro
from desed_task.evaluation.metric import Metric


class EventSegmentF1(Metric):
    """sed_eval's event- and segment-based F1 of the detections as given (duplicates and overlaps included)."""

    name = "event_segment_f1"
    keys = ("event_f1_macro", "event_f1_micro", "segment_f1_macro", "segment_f1_micro")
    reads = "detections"
    description = "event-based (200 ms collar) and segment-based (1 s) F1 with sed_eval"

    def compute(
        self, data: pd.DataFrame, truth: pd.DataFrame, durations: pd.DataFrame, plot_dir: Path | None = None
    ) -> dict[str, float]:
        return event_and_segment_f1(data, truth)


class IntersectionF1(Metric):
    """psds_eval's intersection-based macro F1, of the detections with each group of overlapping detections of a
    class merged (psds_eval refuses overlaps)."""

    name = "intersection_f1"
    keys = ("intersection_f1_macro",)
    reads = "detections"
    description = "intersection-based macro F1 with psds_eval (dtc = gtc = 0.5, cttc 0.3)"

    def data(self, inputs: EvaluationInputs) -> pd.DataFrame | None:
        return inputs.disjoint_predictions

    def compute(
        self, data: pd.DataFrame, truth: pd.DataFrame, durations: pd.DataFrame, plot_dir: Path | None = None
    ) -> dict[str, float]:
        return {"intersection_f1_macro": intersection_f1_macro(data, truth, durations)}

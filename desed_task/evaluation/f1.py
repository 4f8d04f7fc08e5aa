"""F1 scores of hard decisions: event-based, segment-based, intersection-based (detections) and clip-level.

Event- and segment-based F1 use sed_eval, the tool the published DCASE numbers were computed with (it matches
them within 0.05 points on the DESED validation set; see tests/test_evaluation_cli.py).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from desed_task.data.tables import TableSource, events_by_clip, read_events
from desed_task.evaluation.lazy import quiet_psds_eval, sed_eval
from desed_task.evaluation.psds import detections_for_clips, psds_eval_evaluator

EVENT_COLLAR_S = 0.2
EVENT_OFFSET_FRACTION = 0.2
SEGMENT_S = 1.0
INTERSECTION_DTC = 0.5
INTERSECTION_GTC = 0.5
INTERSECTION_CTTC = 0.3


def _score(value: float, name: str) -> float:
    if value is None or not math.isfinite(float(value)):
        warnings.warn(f"{name} is undefined (nothing detected or nothing to detect): set to 0.0", stacklevel=3)
        return 0.0
    return float(value)


def _sed_eval_events(table: pd.DataFrame) -> dict[str, list[dict]]:
    """Events per clip id in sed_eval's form (one dict per event)."""
    return {
        clip: [{"filename": clip, "onset": on, "offset": off, "event_label": label} for on, off, label in events]
        for clip, events in events_by_clip(table).items()
    }


def _warn_left_out(key: str, class_wise: dict[str, dict]) -> None:
    """Name the classes whose F1 is undefined: sed_eval's macro mean (``nanmean``) leaves them out, so removing
    every detection of a class can raise the score. The published numbers were computed that way; we keep it."""
    left_out = sorted(c for c, r in class_wise.items() if not math.isfinite(float(r["f_measure"]["f_measure"])))
    if left_out and len(left_out) < len(class_wise):
        warnings.warn(
            f"{key}: {', '.join(left_out)} {'has' if len(left_out) == 1 else 'have'} an undefined F1 (no detections, "
            "or no ground truth); sed_eval leaves such classes out of the macro mean (as in the published numbers), "
            "so the score is that of the others",
            stacklevel=3,
        )


def event_and_segment_f1(
    detections: TableSource,
    ground_truth: TableSource,
    t_collar: float = EVENT_COLLAR_S,
    percentage_of_length: float = EVENT_OFFSET_FRACTION,
    time_resolution: float = SEGMENT_S,
) -> dict[str, float]:
    """Event-based (collar ``t_collar`` s on onsets, offsets within max(collar, ``percentage_of_length`` of the
    event length)) and segment-based (``time_resolution`` s segments) F1, macro (class average) and micro (over all
    events/segments). Every ground-truth clip is evaluated; detections of other clips are ignored.

    Returns ``event_f1_macro``, ``event_f1_micro``, ``segment_f1_macro``, ``segment_f1_micro`` in [0, 1].
    """
    truth = read_events(ground_truth, "ground truth")
    estimated = read_events(detections, "detections")
    keys = ("event_f1_macro", "event_f1_micro", "segment_f1_macro", "segment_f1_micro")
    if estimated.empty:
        warnings.warn("no detections at all: event- and segment-based F1 set to 0.0", stacklevel=2)
        return {key: 0.0 for key in keys}
    reference_events = _sed_eval_events(truth)
    estimated_events = _sed_eval_events(estimated)
    classes = sorted(set(truth["event_label"].dropna()) | set(estimated["event_label"].dropna()))
    sound_event = sed_eval().sound_event
    event_metric = sound_event.EventBasedMetrics(
        event_label_list=classes,
        t_collar=t_collar,
        percentage_of_length=percentage_of_length,
        empty_system_output_handling="zero_score",
    )
    segment_metric = sound_event.SegmentBasedMetrics(event_label_list=classes, time_resolution=time_resolution)
    for clip, reference in reference_events.items():
        clip_estimate = estimated_events.get(clip, [])
        event_metric.evaluate(reference_event_list=reference, estimated_event_list=clip_estimate)
        segment_metric.evaluate(reference_event_list=reference, estimated_event_list=clip_estimate)
    event, segment = event_metric.results(), segment_metric.results()
    for key, results in (("event_f1_macro", event), ("segment_f1_macro", segment)):
        _warn_left_out(key, results["class_wise"])
    values = (
        event["class_wise_average"]["f_measure"]["f_measure"],
        event["overall"]["f_measure"]["f_measure"],
        segment["class_wise_average"]["f_measure"]["f_measure"],
        segment["overall"]["f_measure"]["f_measure"],
    )
    return {key: _score(value, key) for key, value in zip(keys, values)}


def intersection_f1_macro(
    detections: TableSource,
    ground_truth: TableSource,
    durations: TableSource,
    dtc_threshold: float = INTERSECTION_DTC,
    gtc_threshold: float = INTERSECTION_GTC,
    cttc_threshold: float = INTERSECTION_CTTC,
) -> float:
    """Intersection-based macro F1 (psds_eval's DTC/GTC/CTTC criteria; cross-triggers count as false positives)."""
    built = psds_eval_evaluator(ground_truth, durations, dtc_threshold, gtc_threshold, cttc_threshold)
    if built is None:
        return 0.0
    evaluator, clip_ids = built
    table = detections_for_clips(detections, clip_ids)
    if table.empty:
        warnings.warn("no detections at all: intersection-based F1 set to 0.0", stacklevel=2)
        return 0.0
    with quiet_psds_eval(), np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Mean of empty slice", RuntimeWarning)  # no class defined: warned below
        value, per_class = evaluator.compute_macro_f_score(table)
    left_out = sorted(name for name, f in per_class.items() if not math.isfinite(float(f)))
    if left_out and len(left_out) < len(per_class):
        warnings.warn(
            f"intersection_f1_macro: {', '.join(left_out)} had no true positive; psds_eval leaves such classes out "
            "of the macro mean (as in the published numbers), so the score is that of the other classes",
            stacklevel=2,
        )
    return _score(value, "intersection_f1_macro")


def weak_f1_macro(scores: np.ndarray, targets: np.ndarray, threshold: float = 0.5) -> float:
    """Clip-level (weak) macro F1: scores (N, C) > ``threshold`` against 0/1 targets (N, C).

    A class with neither positives nor detections scores 0 (zero division -> 0, as torchmetrics' multilabel F1).
    """
    scores, targets = np.asarray(scores), np.asarray(targets)
    if scores.shape != targets.shape or scores.ndim != 2:
        raise ValueError(f"scores and targets must both be (N, C), got {scores.shape} and {targets.shape}")
    predicted = scores > threshold  # (N, C)
    actual = targets > 0.5  # (N, C)
    tp = (predicted & actual).sum(axis=0)
    fp = (predicted & ~actual).sum(axis=0)
    fn = (~predicted & actual).sum(axis=0)
    denominator = 2 * tp + fp + fn
    per_class = np.divide(2 * tp, denominator, out=np.zeros(len(tp), dtype=float), where=denominator > 0)
    return float(per_class.mean()) if per_class.size else 0.0

"""How long the test stage takes to score a test set once the networks have run (docs/performance.md).

``SEDTask.on_test_epoch_end`` turns each model's frame scores into score tables (raw and median-filtered) and calls
``evaluation.write_test_outputs``: score files, PSDS with sed_scores_eval and with psds_eval (50 operating points)
in both DCASE scenarios with their PSD-ROC plots, the operating points' detection tables, event-, segment- and
intersection-based F1. This module times that work for student and teacher on a real ground truth (the DESED
validation set: 1,168 clips) with synthetic scores, end to end and step by step.

The synthetic scores look like a trained system's: high on the ground-truth events, low elsewhere, with noise
smoothed over about 10 frames, so that decoding finds about as many events as a real system does (on the DESED
validation set about 3,900 detections at threshold 0.5 and 220,000 over the 50 operating points; the DCASE 2021
baseline's published detections have 3,300 and 175,000). Scores of independent noise would give ten times more
events and time a workload no trained system produces.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter1d

from desed_task.data import DESED_CLASSES, LabelEncoder
from desed_task.data.tables import TableSource, clip_id_of, events_by_clip, read_durations, read_events
from desed_task.evaluation.pool import ScoringPool

MODELS = ("student", "teacher")
MEDIAN_WINDOW = (6, 20, 7, 4, 7, 6, 6, 6, 6, 6)  # confs/stage2.yaml's training.median_window
NOISE_FRAMES = 10.0  # standard deviation of the Gaussian that smooths the noise along time
NOISE_STD = 2.0  # of the smoothed noise, in logits
EVENT_LOGIT, BACKGROUND_LOGIT = 4.0, -7.0


@dataclass
class TestSetScores:
    """A scored test set: clip ids (sorted, as the test stage orders them) and frame scores per model (N, C, T)."""

    clip_ids: list[str]
    scores: dict[str, np.ndarray]
    label_encoder: LabelEncoder
    ground_truth: TableSource
    durations: TableSource


def synthetic_scores(targets: np.ndarray, seed: int) -> np.ndarray:
    """Scores (N, C, T) in (0, 1) of a plausible system for the 0/1 frame targets (N, C, T)."""
    rng = np.random.default_rng(seed)
    noise = gaussian_filter1d(rng.standard_normal(targets.shape), NOISE_FRAMES, axis=-1)  # (N, C, T)
    noise *= NOISE_STD / noise.std()
    logits = np.where(targets > 0, EVENT_LOGIT, BACKGROUND_LOGIT) + noise
    return (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)


def synthetic_test_set(ground_truth: TableSource, durations: TableSource, seed: int = 0) -> TestSetScores:
    """Every clip of ``durations`` with synthetic student and teacher scores for ``ground_truth``'s events."""
    label_encoder = LabelEncoder(DESED_CLASSES)
    clip_ids = sorted(read_durations(durations)["filename"].map(clip_id_of))
    events = events_by_clip(read_events(ground_truth, "ground truth"))
    targets = np.stack([label_encoder.encode_strong(events.get(clip, [])) for clip in clip_ids])  # (N, C, T)
    scores = {model: synthetic_scores(targets, seed + i) for i, model in enumerate(MODELS)}
    return TestSetScores(clip_ids, scores, label_encoder, ground_truth, durations)


def _timed(fn: Callable[[], object], times: dict[str, float], key: str) -> object:
    start = time.perf_counter()
    out = fn()
    times[key] = times.get(key, 0.0) + time.perf_counter() - start
    return out


def _score_tables(test_set: TestSetScores, model: str, times: dict[str, float]) -> tuple[dict, dict]:
    """Raw and median-filtered score tables, as ``EvaluationSteps.on_test_epoch_end`` makes them."""
    from desed_task.evaluation import median_filter_scores, score_dataframes

    encoder, scores = test_set.label_encoder, test_set.scores[model]
    timestamps = encoder.timestamps()
    raw = _timed(
        lambda: score_dataframes(scores, test_set.clip_ids, encoder.labels, timestamps), times, "score_tables_s"
    )
    smoothed = _timed(lambda: median_filter_scores(scores, list(MEDIAN_WINDOW)), times, "median_filter_s")
    smoothed = _timed(
        lambda: score_dataframes(smoothed, test_set.clip_ids, encoder.labels, timestamps), times, "score_tables_s"
    )
    return raw, smoothed


def time_test_stage(
    test_set: TestSetScores,
    out_dir: str | Path | None = None,
    n_thresholds: int = 50,
    pool: ScoringPool | None = None,
) -> dict[str, float]:
    """Seconds of the test stage's scoring of both models: score tables, then ``write_test_outputs`` (with the
    scoring workers of ``pool``, if given).

    Returns ``score_tables_s``, ``median_filter_s``, ``write_test_outputs_s`` (summed over the models),
    ``total_s`` and each model's metrics (``<model>/<metric>``), which show what was computed.
    """
    from desed_task.evaluation import write_test_outputs

    times: dict[str, float] = {}
    metrics: dict[str, dict[str, float]] = {}
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() if out_dir is None else nullcontext(str(out_dir)) as folder:
        for model in MODELS:
            raw, smoothed = _score_tables(test_set, model, times)
            metrics[model] = _timed(
                lambda: write_test_outputs(
                    Path(folder) / model,
                    raw,
                    smoothed,
                    test_set.ground_truth,
                    test_set.durations,
                    test_set.label_encoder.labels,
                    n_thresholds=n_thresholds,
                    progress=False,
                    pool=pool,
                ),
                times,
                "write_test_outputs_s",
            )
    times["total_s"] = sum(times.values())
    return {**times, **{f"{model}/{key}": value for model, values in metrics.items() for key, value in values.items()}}


def time_test_steps(
    test_set: TestSetScores, models: tuple[str, ...] = MODELS, n_thresholds: int = 50
) -> dict[str, float]:
    """Seconds of each step of the test stage's scoring, summed over ``models`` (where the time goes).

    The steps are those of ``write_test_outputs``, in its order, each timed alone: ``score_files_s`` and
    ``operating_point_files_s`` write files, the others compute metrics (``metrics_s`` sums those and the score
    tables). ``detections_per_operating_point`` is the mean count of the last model's detection tables.
    """
    from desed_task.evaluation import (
        decode_operating_points,
        event_and_segment_f1,
        intersection_f1_macro,
        operating_point_thresholds,
        psds_eval_scenarios,
        psds_sed_scores_eval,
        write_operating_points,
        write_scores_only,
    )

    times: dict[str, float] = {}
    truth, lengths = test_set.ground_truth, test_set.durations
    thresholds = [float(t) for t in operating_point_thresholds(n_thresholds)]
    tables: list = []
    for model in models:
        raw, smoothed = _score_tables(test_set, model, times)
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder)
            _timed(lambda: write_scores_only(out, raw, smoothed), times, "score_files_s")
            _timed(lambda: psds_sed_scores_eval(smoothed, truth, lengths, plot_dir=out), times, "sed_scores_eval_s")
            tables = _timed(lambda: decode_operating_points(smoothed, thresholds + [0.5]), times, "decode_s")
            points = dict(zip(thresholds, tables[:-1]))
            _timed(lambda: write_operating_points(out / "operating_points", points), times, "operating_point_files_s")
            plots = {key: out / f"psd_roc_{key}_psds_eval.png" for key in ("psds1", "psds2")}
            _timed(lambda: psds_eval_scenarios(points, truth, lengths, plot_paths=plots), times, "psds_eval_s")
            _timed(lambda: event_and_segment_f1(tables[-1], truth), times, "event_segment_f1_s")
            _timed(lambda: intersection_f1_macro(tables[-1], truth, lengths), times, "intersection_f1_s")
    files = times["score_files_s"] + times["operating_point_files_s"]
    times["total_s"] = sum(times.values())
    times["metrics_s"] = times["total_s"] - files
    times["detections_per_operating_point"] = sum(len(t) for t in tables[:-1]) / len(thresholds)
    return times

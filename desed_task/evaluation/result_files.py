"""Everything the test stage writes under an experiment folder, and the metrics it reports (docs/recipe.md §6).

Layout of ``out_dir`` after :func:`write_test_outputs`::

    scores/raw/<clip id>.tsv              network outputs (sed_scores_eval format)
    scores/postprocessed/<clip id>.tsv    after the median filter; every metric below uses these
    predictions_operating_points/predictions_th_<t>.tsv   detections at each of the n thresholds
    predictions_th_0.50.tsv               detections at 0.5 (event/segment/intersection F1)
    plots/psd_roc_<psds1|psds2>_<sed_scores_eval|psds_eval>.png
    metrics.json, metrics.txt             the returned metrics
"""
from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Sequence

import pandas as pd

from desed_task.data.tables import TableSource, clip_id_of, read_durations, read_events
from desed_task.evaluation.decoding import decode_operating_points, operating_point_thresholds
from desed_task.evaluation.f1 import event_and_segment_f1, intersection_f1_macro
from desed_task.evaluation.folders import threshold_name, write_operating_points
from desed_task.evaluation.pool import Job, ScoringPool
from desed_task.evaluation.psds import SCENARIOS, psds_eval_scenarios
from desed_task.evaluation.psds_shards import clip_shards, submit_psds_sed_scores_eval
from desed_task.evaluation.score_arrays import pack_scores
from desed_task.evaluation.score_files import writable, write_packed_folders, write_score_folders

log = logging.getLogger(__name__)

F1_THRESHOLD = 0.5
METRIC_KEYS = (
    "psds1_sed_scores_eval",
    "psds2_sed_scores_eval",
    "psds1_psds_eval",
    "psds2_psds_eval",
    "event_f1_macro",
    "event_f1_micro",
    "segment_f1_macro",
    "segment_f1_micro",
    "intersection_f1_macro",
)


def format_metrics(metrics: dict[str, float], title: str = "") -> str:
    """A two-column text table (metric, value in [0, 1] and in %)."""
    width = max([len(k) for k in metrics] + [6])
    lines = [title] if title else []
    lines.append(f"{'metric':<{width}}  {'value':>7}  {'%':>6}")
    lines += [f"{key:<{width}}  {value:7.4f}  {100 * value:6.2f}" for key, value in metrics.items()]
    return "\n".join(lines) + "\n"


def write_metric_files(out_dir: str | Path, metrics: dict[str, float], stem: str = "metrics") -> None:
    """The test metrics as ``<stem>.json`` (machine-readable) and ``<stem>.txt`` (the printed table) in ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{stem}.json").write_text(json.dumps(metrics, indent=2) + "\n")
    (out_dir / f"{stem}.txt").write_text(format_metrics(metrics))


def write_scores_only(
    out_dir: str | Path,
    scores_raw: dict[str, pd.DataFrame],
    scores_postprocessed: dict[str, pd.DataFrame] | None = None,
    progress: bool = False,
) -> None:
    """Evaluation mode (no ground truth): write ``scores/raw`` and, if given, ``scores/postprocessed``."""
    out_dir = Path(out_dir)
    folders = {out_dir / "scores" / "raw": scores_raw}
    if scores_postprocessed is not None:
        folders[out_dir / "scores" / "postprocessed"] = scores_postprocessed
    write_score_folders(folders, progress)
    log.info("scores of %d clips written under %s", len(scores_raw), out_dir / "scores")


def _restrict_to_scored(
    ground_truth: TableSource, durations: TableSource, clip_ids: set[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    truth = read_events(ground_truth, "ground truth")
    lengths = read_durations(durations)
    truth_ids = truth["filename"].map(clip_id_of)
    unscored = sorted(set(truth_ids) - clip_ids)
    if unscored:
        warnings.warn(
            f"{len(unscored)} ground-truth clips have no scores (e.g. {unscored[:3]}): "
            "metrics cover the scored clips only",
            stacklevel=3,
        )
    return truth[truth_ids.isin(clip_ids)], lengths[lengths["filename"].map(clip_id_of).isin(clip_ids)]


def write_test_outputs(
    out_dir: str | Path,
    scores_raw: dict[str, pd.DataFrame],
    scores_postprocessed: dict[str, pd.DataFrame],
    ground_truth: TableSource,
    durations: TableSource,
    class_labels: Sequence[str],
    n_thresholds: int = 50,
    prefix: str = "",
    progress: bool = True,
    pool: ScoringPool | None = None,
) -> dict[str, float]:
    """Score a test set, write every output (see the module docstring) and return the metrics (``METRIC_KEYS``).

    All metrics use ``scores_postprocessed`` (keyed by clip id); ground truth and durations are restricted to the
    scored clips. ``prefix`` ("student", "teacher") names the metric files (``<prefix>_metrics.json``) and the log.
    With a parallel ``pool`` its workers write the score files while they and this process compute the metrics
    (the PSDS of each scenario, psds_eval's operating points, the F1s): the same files and numbers.
    """
    pool = pool if pool is not None else ScoringPool(0)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _check_classes(scores_postprocessed, class_labels)
    score_files = submit_score_files(pool, out_dir, scores_raw, scores_postprocessed, progress)
    truth, lengths = _restrict_to_scored(ground_truth, durations, set(scores_postprocessed))
    plots = out_dir / "plots"

    log.info("PSDS with sed_scores_eval on %d clips", len(scores_postprocessed))
    psds = submit_psds_sed_scores_eval(pool, scores_postprocessed, truth, lengths, plot_dir=plots)
    thresholds = [float(t) for t in operating_point_thresholds(n_thresholds)]
    tables = decode_operating_points(scores_postprocessed, thresholds + [F1_THRESHOLD], progress=progress)
    operating_points = dict(zip(thresholds, tables[:-1]))
    detections = tables[-1]
    event_segment_f1 = pool.submit(event_and_segment_f1, detections, truth)
    intersection_f1 = pool.submit(intersection_f1_macro, detections, truth, lengths)
    write_operating_points(out_dir / "predictions_operating_points", operating_points)
    plot_paths = {key: plots / f"psd_roc_{key}_psds_eval.png" for key in SCENARIOS}
    # psds_eval's operating points are queued behind the PSDS jobs before those are waited for.
    psds_eval_values = psds_eval_scenarios(operating_points, truth, lengths, SCENARIOS, plot_paths, pool)
    metrics = {f"{key}_psds_eval": value for key, value in psds_eval_values.items()}
    metrics.update({f"{key}_sed_scores_eval": value for key, value in psds.result().items()})

    detections.to_csv(out_dir / f"predictions_th_{threshold_name(F1_THRESHOLD)}.tsv", sep="\t", index=False)
    metrics.update(event_segment_f1.result())
    metrics["intersection_f1_macro"] = intersection_f1.result()
    metrics = {key: metrics[key] for key in METRIC_KEYS}
    for job in score_files:
        job.result()

    stem = f"{prefix}_metrics" if prefix else "metrics"
    write_metric_files(out_dir, metrics, stem)
    log.info("%s", format_metrics(metrics, title=f"test metrics {prefix}".strip()))
    return metrics


def submit_score_files(
    pool: ScoringPool,
    out_dir: Path,
    scores_raw: dict[str, pd.DataFrame],
    scores_postprocessed: dict[str, pd.DataFrame],
    progress: bool = False,
) -> list[Job[None]]:
    """``write_scores_only``'s files, written by a parallel pool's workers (a shard of clips each) when the tables
    pack into arrays (``score_arrays``); otherwise here and now."""
    packed = (pack_scores(scores_raw), pack_scores(scores_postprocessed)) if pool.parallel else (None, None)
    raw, smoothed = packed
    if raw is None or smoothed is None or raw.clip_ids != smoothed.clip_ids or not writable(raw):
        write_scores_only(out_dir, scores_raw, scores_postprocessed, progress)
        return []
    folders = (out_dir / "scores" / "raw", out_dir / "scores" / "postprocessed")
    return [
        pool.submit(write_packed_folders, [(folders[0], raw.subset(shard)), (folders[1], smoothed.subset(shard))])
        for shard in clip_shards(raw.clip_ids, pool.workers)
    ]


def _check_classes(scores: dict[str, pd.DataFrame], class_labels: Sequence[str]) -> None:
    for clip_id, table in scores.items():
        columns = [c for c in table.columns if c not in ("onset", "offset")]
        if columns != list(class_labels):
            raise ValueError(
                f"score table of clip {clip_id} has classes {columns}, expected {list(class_labels)} "
                "(score tables must come from score_dataframes with the same class list)"
            )

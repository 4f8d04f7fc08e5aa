"""Everything the test stage writes under an experiment folder, and the metrics it reports (docs/recipe.md §6).

Layout of ``out_dir`` after :func:`write_test_outputs`::

    scores/raw/<clip id>.tsv              network outputs (sed_scores_eval format)
    scores/postprocessed/<clip id>.tsv    after the median filter; every metric below uses these
    predictions_operating_points/predictions_th_<t>.tsv   detections at each of the n thresholds
    predictions_th_0.50.tsv               detections at 0.5 (event/segment/intersection F1, any metric of detections)
    plots/psd_roc_<psds1|psds2>_<sed_scores_eval|psds_eval>.png
    metrics.json, metrics.txt             the returned metrics
"""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import pandas as pd

from desed_task.data.tables import TableSource, clip_id_of, read_durations, read_events, table_classes
from desed_task.evaluation.decoding import decode_operating_points, operating_point_thresholds
from desed_task.evaluation.evaluation_inputs import EvaluationInputs
from desed_task.evaluation.folders import threshold_name, write_operating_points
from desed_task.evaluation.metrics import METRICS, metric_values, submit_metrics
from desed_task.evaluation.pool import Job, ScoringPool
from desed_task.evaluation.psds_shards import clip_shards
from desed_task.evaluation.score_arrays import pack_scores
from desed_task.evaluation.score_files import writable, write_packed_folders, write_score_folders

log = logging.getLogger(__name__)

F1_THRESHOLD = 0.5


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
    """Score a test set, write every output (see the module docstring) and return the metrics: those of every
    registered metric (``metrics.METRICS``), in registry order (``METRIC_KEYS`` for the built-in ones).

    All metrics use ``scores_postprocessed`` (keyed by clip id): its tables (``scores``), the detections at the
    ``n_thresholds`` operating points and those at 0.5 (``detections``). Ground truth and durations are restricted
    to the scored clips. ``prefix`` ("student", "teacher") names the metric files (``<prefix>_metrics.json``) and
    the log. With a parallel ``pool`` its workers write the score files while they and this process compute the
    metrics (the PSDS of each scenario, psds_eval's operating points, the F1s): the same files and numbers.
    """
    pool = pool if pool is not None else ScoringPool(0)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _check_classes(scores_postprocessed, class_labels)
    score_files = submit_score_files(pool, out_dir, scores_raw, scores_postprocessed, progress)
    truth, lengths = _restrict_to_scored(ground_truth, durations, set(scores_postprocessed))
    plots = out_dir / "plots"
    inputs = EvaluationInputs(truth, lengths, scores=scores_postprocessed)

    pending = submit_metrics(pool, "scores", inputs, plots)  # its workers start while the scores are decoded
    thresholds = [float(t) for t in operating_point_thresholds(n_thresholds)]
    tables = decode_operating_points(scores_postprocessed, thresholds + [F1_THRESHOLD], progress=progress)
    operating_points = dict(zip(thresholds, tables[:-1]))
    detections = tables[-1]  # decoded events of a class never overlap: the table is its own disjoint version
    inputs = replace(inputs, operating_points=operating_points, predictions=detections, disjoint_predictions=detections)
    pending.update(submit_metrics(pool, "detections", inputs, plots))
    write_operating_points(out_dir / "predictions_operating_points", operating_points)
    # Last: psds_eval works here while the pool computes its operating points, queued behind the jobs above.
    pending.update(submit_metrics(pool, "operating_points", inputs, plots))

    detections.to_csv(out_dir / f"predictions_th_{threshold_name(F1_THRESHOLD)}.tsv", sep="\t", index=False)
    metrics = metric_values({name: pending[name] for name in METRICS if name in pending})
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
        columns = table_classes(table)
        if columns != list(class_labels):
            raise ValueError(
                f"score table of clip {clip_id} has classes {columns}, expected {list(class_labels)} "
                "(score tables must come from score_dataframes with the same class list)"
            )

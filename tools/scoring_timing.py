"""How long validation and the test stage take to score, in the training process alone and with scoring workers
(``training.scoring_workers``), measured back to back on the same inputs (docs/performance.md).

Validation (``EvaluationSteps.on_validation_epoch_end``) scores PSDS1 and PSDS2 with sed_scores_eval for student and
teacher on two subsets: DESED's synthetic validation (2,500 clips) and real validation (1,168 clips). The real
subset here is the DESED validation set (real ground truth, synthetic scores, ``eval_timing``); the synthetic
subset, whose ground truth this project does not ship, is stood in for by the real clips again under other ids
(repeated up to 2,500 clips) with scores of other seeds: as many clips and events as the real set has per clip.
The test stage is ``eval_timing.time_test_stage`` on the real set.

Wall time is what the training process waits; CPU time sums the process and its workers (on a busy machine it
says how much work was done when the wall time says little).
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable

import pandas as pd

from desed_task.data.tables import clip_id_of, read_durations, read_events
from desed_task.evaluation import median_filter_scores, score_dataframes
from desed_task.evaluation.pool import ScoringPool
from desed_task.evaluation.psds_shards import submit_psds_sed_scores_eval
from tools.eval_timing import MEDIAN_WINDOW, MODELS, TestSetScores, synthetic_test_set, time_test_stage

SYNTHETIC_VALIDATION_CLIPS = 2500


def stand_in_subset(ground_truth: pd.DataFrame, durations: pd.DataFrame, n_clips: int, seed: int) -> TestSetScores:
    """``n_clips`` clips: those of ``durations`` repeated under the ids ``r<k>_<clip id>``, with their events."""
    clip_ids = list(durations["filename"].map(clip_id_of))
    names = [f"r{i // len(clip_ids)}_{clip_ids[i % len(clip_ids)]}" for i in range(n_clips)]
    source = [clip_ids[i % len(clip_ids)] for i in range(n_clips)]
    lengths = dict(zip(clip_ids, durations["duration"]))
    events = ground_truth.assign(clip=ground_truth["filename"].map(clip_id_of))
    parts = [events[events["clip"] == clip].assign(filename=f"{name}.wav") for name, clip in zip(names, source)]
    truth = pd.concat(parts, ignore_index=True).drop(columns="clip")
    new_durations = pd.DataFrame({"filename": [f"{n}.wav" for n in names], "duration": [lengths[c] for c in source]})
    return synthetic_test_set(truth, new_durations, seed=seed)


def validation_sets(
    ground_truth: str, durations: str, n_synthetic: int = SYNTHETIC_VALIDATION_CLIPS, n_real: int | None = None
) -> dict[str, TestSetScores]:
    """``synth_val`` (the stand-in, ``n_synthetic`` clips) and ``strong_val`` (the first ``n_real`` clips)."""
    truth, lengths = read_events(ground_truth, "ground truth"), read_durations(durations)
    if n_real is not None:
        lengths = lengths.head(n_real)
        truth = truth[truth["filename"].isin(set(lengths["filename"]))]
    return {
        "synth_val": stand_in_subset(truth, lengths, n_synthetic, seed=100),
        "strong_val": synthetic_test_set(truth, lengths),
    }


def score_validation(sets: dict[str, TestSetScores], pool: ScoringPool) -> dict[str, float]:
    """What a validation scores after the networks ran: each model's score tables (median-filtered) and PSDS per
    subset, every PSDS submitted before any is waited for, as ``on_validation_epoch_end`` does."""
    pending = {}
    for model in MODELS:
        for subset, scored in sets.items():
            encoder = scored.label_encoder
            smoothed = median_filter_scores(scored.scores[model], list(MEDIAN_WINDOW))
            tables = score_dataframes(smoothed, scored.clip_ids, encoder.labels, encoder.timestamps())
            pending[f"{model}/{subset}"] = submit_psds_sed_scores_eval(
                pool, tables, scored.ground_truth, scored.durations
            )
    return {f"{key}_{scenario}": value for key, job in pending.items() for scenario, value in job.result().items()}


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _measured(fn: Callable[[ScoringPool], dict[str, float]], workers: int) -> tuple[float, float, dict[str, float]]:
    """Wall and CPU seconds of ``fn`` with a new pool of ``workers`` (its start and stop included; spawned, so
    that the workers' CPU time is counted)."""
    cpu, start = _cpu_seconds(), time.perf_counter()
    with ScoringPool(workers, start_method="spawn") as pool:
        values = fn(pool)
    return time.perf_counter() - start, _cpu_seconds() - cpu, values


def _started(pool: ScoringPool) -> dict[str, float]:
    """Start every worker (a job each that loads the scoring libraries) and wait for them."""
    jobs = [pool.submit(_load_libraries) for _ in range(pool.workers)]
    return {"started": float(sum(job.result() for job in jobs))}


def _load_libraries() -> int:
    from desed_task.evaluation.lazy import psds_eval, sed_eval, sed_scores_eval

    sed_scores_eval(), sed_eval(), psds_eval()
    return 1


def compare_scoring(sets: dict[str, TestSetScores], workers: int, n_thresholds: int = 50) -> dict[str, float]:
    """Validation and test-stage scoring in process and with ``workers`` workers, back to back, and whether every
    number came out the same. Keys ``<validation|test>_<serial|workers>_<wall|cpu>_s`` (the workers' runs include
    starting them), ``<validation|test>_same``, and ``workers_start_<wall|cpu>_s``: starting the workers alone.
    The scoring libraries are loaded in this process before anything is timed."""
    _load_libraries()
    test_set = sets["strong_val"]
    jobs = {
        "validation": lambda pool: score_validation(sets, pool),
        "test": lambda pool: {
            k: v
            for k, v in time_test_stage(test_set, n_thresholds=n_thresholds, pool=pool).items()
            if not k.endswith("_s")
        },
    }
    out: dict[str, float] = {"workers": workers}
    out["workers_start_wall_s"], out["workers_start_cpu_s"], _ = _measured(_started, workers)
    for name, fn in jobs.items():
        results = {}
        for label, count in (("serial", 0), ("workers", workers)):
            wall, cpu, results[label] = _measured(fn, count)
            out[f"{name}_{label}_wall_s"], out[f"{name}_{label}_cpu_s"] = wall, cpu
        out[f"{name}_same"] = results["serial"] == results["workers"]
    return out

"""sed_scores_eval's PSDS of one scenario, its per-clip work split into shards of clips for scoring workers.

sed_scores_eval computes, clip by clip, how its intermediate statistics change over the decision thresholds (the
"deltas", ``intermediate_statistics_deltas``), then concatenates the deltas of all clips in clip order, sorts and
accumulates them into the PSD-ROC. The per-clip part is nearly all the time. Each job here computes the deltas of
a contiguous shard of the sorted clips and returns them concatenated per class (a dict per clip would take longer
to pickle than to compute). ``psds(deltas=...)`` is then given each shard's concatenation under the shard's first
clip and empty deltas under its other clips: the concatenation over all clips that it makes is the one it makes
from the scores, so every statistic, curve and value is the same as ``psds.scenario_psds``'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from desed_task.data.tables import SCORE_TIME_COLUMNS, TableSource
from desed_task.evaluation.lazy import sed_scores_eval
from desed_task.evaluation.pool import Job, ScoringPool
from desed_task.evaluation.psds import (
    SCENARIOS,
    PSDSScenario,
    plot_psd_roc,
    psds_sed_scores_eval,
    scenario_psds,
    sed_scores_eval_inputs,
    without_cross_triggers,
)
from desed_task.evaluation.score_arrays import PackedScores, pack_scores

ClassDeltas = dict[str, tuple[np.ndarray, dict[str, np.ndarray]]]  # class -> (change-point scores, deltas per key)
ScenarioResult = tuple[float, dict[str, float], tuple[np.ndarray, np.ndarray]]


def clip_shards(clip_ids: Sequence[str], n_shards: int) -> list[list[str]]:
    """``clip_ids`` in at most ``n_shards`` contiguous runs of near-equal length (none empty)."""
    n_shards = max(1, min(n_shards, len(clip_ids)))
    bounds = np.linspace(0, len(clip_ids), n_shards + 1).round().astype(int)
    return [list(clip_ids[a:b]) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def event_covering_shards(clip_ids: Sequence[str], ground_truth: Mapping[str, list], n_shards: int) -> list[list[str]]:
    """``clip_ids`` in at most ``n_shards`` contiguous runs of about equal length, each holding a ground-truth event
    of every class the clips have events of: sed_scores_eval refuses clips among which a class has no event."""
    classes = {event[2] for clip in clip_ids for event in ground_truth[clip]}
    target = len(clip_ids) / max(1, n_shards)
    shards: list[list[str]] = []
    current: list[str] = []
    seen: set[str] = set()
    for clip in clip_ids:
        current.append(clip)
        seen.update(event[2] for event in ground_truth[clip])
        if len(shards) < n_shards - 1 and len(current) >= target and seen == classes:
            shards.append(current)
            current, seen = [], set()
    if current and (seen == classes or not shards):
        shards.append(current)
    elif current:
        shards[-1].extend(current)
    return shards


def shard_deltas(
    scores: PackedScores | Mapping[str, pd.DataFrame],
    ground_truth: Mapping[str, list],
    scenario: PSDSScenario,
) -> ClassDeltas:
    """sed_scores_eval's deltas of the clips of ``scores`` (in its clip order), concatenated per class."""
    tables = scores.tables() if isinstance(scores, PackedScores) else dict(scores)
    clip_ids = list(tables)
    deltas = sed_scores_eval().intersection_based.intermediate_statistics_deltas(
        scores=tables,
        ground_truth={clip: ground_truth[clip] for clip in clip_ids},
        dtc_threshold=scenario.dtc_threshold,
        gtc_threshold=scenario.gtc_threshold,
        cttc_threshold=scenario.cttc_threshold,
    )
    first = deltas[clip_ids[0]]
    return {
        name: (
            np.concatenate([deltas[clip][name][0] for clip in clip_ids]),
            {key: np.concatenate([deltas[clip][name][1][key] for clip in clip_ids]) for key in first[name][1]},
        )
        for name in first
    }


def _as_clip_deltas(shards: Sequence[tuple[list[str], ClassDeltas]]) -> dict[str, ClassDeltas]:
    """Each shard's deltas under its first clip, empty deltas (of the same dtypes) under its other clips."""
    out: dict[str, ClassDeltas] = {}
    for clip_ids, concatenated in shards:
        empty = {
            name: (cps[:0], {key: value[:0] for key, value in stats.items()})
            for name, (cps, stats) in concatenated.items()
        }
        out[clip_ids[0]] = concatenated
        out.update(dict.fromkeys(clip_ids[1:], empty))
    return out


class ShardedScenarioPSDS:
    """The result of ``scenario_psds`` for one scenario, its deltas computed by a pool's workers."""

    def __init__(
        self,
        pool: ScoringPool,
        scores: PackedScores | Mapping[str, pd.DataFrame],
        ground_truth: Mapping[str, list],
        durations: Mapping[str, float],
        scenario: PSDSScenario,
    ) -> None:
        clip_ids = sorted(scores.clip_ids if isinstance(scores, PackedScores) else scores)
        self._classes = [c for c in _columns(scores) if c not in SCORE_TIME_COLUMNS]
        self._scenario = without_cross_triggers(scenario) if len(self._classes) == 1 else scenario
        self._truth = {clip: ground_truth[clip] for clip in clip_ids}
        self._durations = {clip: durations[clip] for clip in clip_ids}
        self._jobs: list[tuple[list[str], Job[ClassDeltas]]] = []
        for shard in event_covering_shards(clip_ids, self._truth, pool.workers):
            part = scores.subset(shard) if isinstance(scores, PackedScores) else {c: scores[c] for c in shard}
            truth = {clip: self._truth[clip] for clip in shard}
            self._jobs.append((shard, pool.submit(shard_deltas, part, truth, self._scenario)))

    def result(self) -> ScenarioResult:
        deltas = _as_clip_deltas([(shard, job.result()) for shard, job in self._jobs])
        return scenario_psds(None, self._truth, self._durations, self._scenario, deltas, self._classes)


def _columns(scores: PackedScores | Mapping[str, pd.DataFrame]) -> list[str]:
    if isinstance(scores, PackedScores):
        return list(scores.columns)
    return list(next(iter(scores.values())).columns)


def submit_scenario_psds(
    pool: ScoringPool,
    scores: Mapping[str, pd.DataFrame],
    ground_truth: Mapping[str, list],
    durations: Mapping[str, float],
    scenarios: Mapping[str, PSDSScenario],
) -> dict[str, ShardedScenarioPSDS | Job[ScenarioResult]]:
    """``scenario_psds`` of each scenario (same arguments), as jobs of ``pool``; without workers computed here and
    now by ``scenario_psds`` itself. The tables are packed once for all the scenarios' shards."""
    if not pool.parallel:
        return {key: Job(value=scenario_psds(scores, ground_truth, durations, s)) for key, s in scenarios.items()}
    packed = pack_scores(scores)
    payload = packed if packed is not None else scores
    return {key: ShardedScenarioPSDS(pool, payload, ground_truth, durations, s) for key, s in scenarios.items()}


class PendingPSDS:
    """``psds.psds_sed_scores_eval``'s result (same arguments), its scenarios computed by a pool's workers while
    the caller goes on; ``result()`` waits for them and saves the plots."""

    def __init__(
        self,
        pool: ScoringPool,
        scores: Mapping[str, pd.DataFrame],
        ground_truth: TableSource,
        durations: TableSource,
        scenarios: Mapping[str, PSDSScenario] = SCENARIOS,
        plot_dir: str | Path | None = None,
        plot_suffix: str = "sed_scores_eval",
    ) -> None:
        self._scenarios = dict(scenarios)
        self._plot_dir, self._plot_suffix = plot_dir, plot_suffix
        inputs = sed_scores_eval_inputs(scores, ground_truth, durations)
        self._pending = None if inputs is None else submit_scenario_psds(pool, *inputs, self._scenarios)

    def result(self) -> dict[str, float]:
        if self._pending is None:
            return {key: 0.0 for key in self._scenarios}
        out = {}
        for key, pending in self._pending.items():
            value, _, (etpr, efpr) = pending.result()
            out[key] = value
            if self._plot_dir is not None:
                path = Path(self._plot_dir) / f"psd_roc_{key}_{self._plot_suffix}.png"
                plot_psd_roc(efpr, etpr, value, self._scenarios[key], path)
        return out


def submit_psds_sed_scores_eval(
    pool: ScoringPool,
    scores: Mapping[str, pd.DataFrame],
    ground_truth: TableSource,
    durations: TableSource,
    scenarios: Mapping[str, PSDSScenario] = SCENARIOS,
    plot_dir: str | Path | None = None,
    plot_suffix: str = "sed_scores_eval",
) -> Job[dict[str, float]] | PendingPSDS:
    """``psds_sed_scores_eval`` with a pool's workers (``PendingPSDS``); without workers it runs here and now."""
    if not pool.parallel:
        return Job(
            value=psds_sed_scores_eval(dict(scores), ground_truth, durations, dict(scenarios), plot_dir, plot_suffix)
        )
    return PendingPSDS(pool, scores, ground_truth, durations, scenarios, plot_dir, plot_suffix)

"""PSDS in the two DCASE scenarios (``psds.SCENARIOS``) as metric units, one per implementation (``psds``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from desed_task.evaluation.metric import Metric, Pending, Suffixed, suffixed
from desed_task.evaluation.pool import Job, ScoringPool
from desed_task.evaluation.psds import SCENARIOS, psds_eval_scenarios, psds_sed_scores_eval
from desed_task.evaluation.psds_shards import submit_psds_sed_scores_eval


class SedScoresEvalPSDS(Metric):
    """sed_scores_eval's exact PSDS from the score tables (keyed by clip id)."""

    name = "psds_sed_scores_eval"
    keys = tuple(f"{key}_sed_scores_eval" for key in SCENARIOS)
    reads = "scores"
    description = "threshold-free PSDS with sed_scores_eval (clips without events are left out)"

    def compute(
        self,
        data: Mapping[str, pd.DataFrame],
        truth: pd.DataFrame,
        durations: pd.DataFrame,
        plot_dir: Path | None = None,
    ) -> dict[str, float]:
        return suffixed(psds_sed_scores_eval(dict(data), truth, durations, SCENARIOS, plot_dir), "sed_scores_eval")

    def submit(
        self,
        pool: ScoringPool,
        data: Mapping[str, pd.DataFrame],
        truth: pd.DataFrame,
        durations: pd.DataFrame,
        plot_dir: Path | None = None,
    ) -> Pending:
        """Each scenario's per-clip work in shards of clips, one job each (``psds_shards``)."""
        pending = submit_psds_sed_scores_eval(pool, data, truth, durations, SCENARIOS, plot_dir)
        return Suffixed(pending, "sed_scores_eval")


class PsdsEvalPSDS(Metric):
    """psds_eval's PSDS, approximated from the detection tables at the operating points (``{threshold: table}``)."""

    name = "psds_psds_eval"
    keys = tuple(f"{key}_psds_eval" for key in SCENARIOS)
    reads = "operating_points"
    description = "PSDS with psds_eval, from the detections at each decision threshold"

    def compute(
        self,
        data: Mapping[float, pd.DataFrame],
        truth: pd.DataFrame,
        durations: pd.DataFrame,
        plot_dir: Path | None = None,
        pool: ScoringPool | None = None,
    ) -> dict[str, float]:
        plots = None
        if plot_dir is not None:
            plots = {key: Path(plot_dir) / f"psd_roc_{key}_psds_eval.png" for key in SCENARIOS}
        return suffixed(psds_eval_scenarios(dict(data), truth, durations, SCENARIOS, plots, pool), "psds_eval")

    def submit(
        self,
        pool: ScoringPool,
        data: Mapping[float, pd.DataFrame],
        truth: pd.DataFrame,
        durations: pd.DataFrame,
        plot_dir: Path | None = None,
    ) -> Pending:
        """Computed here and now, the operating points' rates by the pool's workers (``psds_eval_points``): it
        waits for them, so the test stage submits it after the metrics whose jobs should run meanwhile."""
        return Job(value=self.compute(data, truth, durations, plot_dir, pool))

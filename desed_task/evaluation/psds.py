"""Polyphonic Sound Detection Score (PSDS, Bilen et al., ICASSP 2020) in the two DCASE scenarios (docs/recipe.md §6).

Two implementations, both reported by the recipe:
- sed_scores_eval (Ebbers et al., ICASSP 2022): exact PSD-ROC from the frame scores, threshold-free;
- psds_eval: PSD-ROC approximated from detections at a set of operating points (thresholds).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from desed_task.data.tables import (
    TableError,
    TableSource,
    clip_id_of,
    durations_by_clip,
    events_by_clip,
    read_durations,
    read_events,
    table_classes,
)
from desed_task.evaluation.lazy import psds_eval, quiet_psds_eval, sed_scores_eval
from desed_task.evaluation.pool import ScoringPool
from desed_task.evaluation.psds_eval_points import add_operating_points_with_workers

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PSDSScenario:
    """Detection/ground-truth intersection criteria and penalties of one PSDS scenario.

    ``cttc_threshold`` None means no cross-trigger criterion; psds_eval always needs one and is given
    ``PSDS_EVAL_DEFAULT_CTTC`` then (it has no effect when ``alpha_ct`` is 0).
    """

    dtc_threshold: float
    gtc_threshold: float
    cttc_threshold: float | None
    alpha_ct: float
    alpha_st: float
    max_efpr: float = 100.0


PSDS_EVAL_DEFAULT_CTTC = 0.3
SCENARIO_1 = PSDSScenario(dtc_threshold=0.7, gtc_threshold=0.7, cttc_threshold=None, alpha_ct=0.0, alpha_st=1.0)
SCENARIO_2 = PSDSScenario(dtc_threshold=0.1, gtc_threshold=0.1, cttc_threshold=0.3, alpha_ct=0.5, alpha_st=1.0)
SCENARIOS = {"psds1": SCENARIO_1, "psds2": SCENARIO_2}


def without_cross_triggers(scenario: PSDSScenario) -> PSDSScenario:
    """The scenario for a single class: no other class, so no cross-triggers (cttc None, alpha_ct 0).

    The value is the same (the cross-trigger term averages over the other classes, of which there are none), and
    sed_scores_eval 0.0.4 crashes on a cttc threshold with one class (its statistics of the other classes are empty).
    """
    return replace(scenario, cttc_threshold=None, alpha_ct=0.0)


def scenario_psds(
    scores: Mapping[str, pd.DataFrame] | None,
    ground_truth: Mapping[str, list[tuple[float, float, str]]],
    durations: Mapping[str, float],
    scenario: PSDSScenario,
    deltas: Mapping | None = None,
    classes: Sequence[str] | None = None,
) -> tuple[float, dict[str, float], tuple[np.ndarray, np.ndarray]]:
    """sed_scores_eval's intersection-based PSDS of one scenario: the value, each class's PSDS alone (the area
    under its PSD-ROC) and the effective PSD-ROC (eTPR, eFPR). Scores, ground truth and durations are keyed by
    clip id and cover the same clips; a single class is scored without cross-triggers. With ``deltas`` (the
    intermediate statistics of every clip, e.g. combined from shards) ``scores`` is None and ``classes`` names
    the score columns."""
    if classes is None:
        classes = table_classes(next(iter(scores.values())))
    if len(classes) == 1:
        scenario = without_cross_triggers(scenario)
    value, per_class, (etpr, efpr), _ = sed_scores_eval().intersection_based.psds(
        scores=None if scores is None else dict(scores),
        ground_truth=dict(ground_truth),
        audio_durations=dict(durations),
        deltas=deltas,
        dtc_threshold=scenario.dtc_threshold,
        gtc_threshold=scenario.gtc_threshold,
        cttc_threshold=scenario.cttc_threshold,
        alpha_ct=scenario.alpha_ct,
        alpha_st=scenario.alpha_st,
        max_efpr=scenario.max_efpr,
    )
    return float(value), {c: float(per_class[c]) for c in classes}, (etpr, efpr)


ScenarioInputs = tuple[dict[str, pd.DataFrame], dict[str, list], dict[str, float]]


def sed_scores_eval_inputs(
    scores: Mapping[str, pd.DataFrame], ground_truth: TableSource, durations: TableSource
) -> ScenarioInputs | None:
    """The score tables, ground-truth events and durations that ``scenario_psds`` scores, keyed by the sorted ids
    of the scored clips with ground-truth events; None (with a warning) when there is no such clip.

    Clips without ground-truth events are left out, as in the recipe; ground-truth clips without scores are left
    out with a warning, and so are classes without ground-truth events among the scored clips.
    """
    events = {c: e for c, e in events_by_clip(read_events(ground_truth, "ground truth")).items() if e}
    clip_durations = durations_by_clip(read_durations(durations))
    unscored = sorted(set(events) - set(scores))
    if unscored:
        warnings.warn(
            f"{len(unscored)} ground-truth clips with events have no scores (e.g. {unscored[:3]}); "
            "PSDS is computed without them",
            stacklevel=3,
        )
    clip_ids = sorted(set(events) & set(scores))
    if not clip_ids:
        warnings.warn("no scored clip has ground-truth events: PSDS set to 0.0", stacklevel=3)
        return None
    no_duration = [c for c in clip_ids if c not in clip_durations]
    if no_duration:
        raise TableError(
            f"durations lack {len(no_duration)} ground-truth clips (e.g. {no_duration[:3]}): "
            "add them to the durations tsv"
        )
    present = {label for c in clip_ids for _, _, label in events[c]}
    classes = table_classes(next(iter(scores.values())))
    absent = [c for c in classes if c not in present]
    if absent:
        warnings.warn(
            f"classes {absent} have no ground-truth event among the scored clips: PSDS is computed over the "
            f"{len(classes) - len(absent)} other classes",
            stacklevel=3,
        )
    keep = ["onset", "offset"] + [c for c in classes if c in present]
    # A column selection copies each table: keep the tables as they are when every class is kept.
    tables = {c: scores[c] if list(scores[c].columns) == keep else scores[c][keep] for c in clip_ids}
    return tables, {c: events[c] for c in clip_ids}, {c: clip_durations[c] for c in clip_ids}


def psds_sed_scores_eval(
    scores: dict[str, pd.DataFrame],
    ground_truth: TableSource,
    durations: TableSource,
    scenarios: dict[str, PSDSScenario] = SCENARIOS,
    plot_dir: str | Path | None = None,
    plot_suffix: str = "sed_scores_eval",
) -> dict[str, float]:
    """PSDS per scenario from sed_scores_eval score tables (keyed by clip id), e.g. ``{"psds1": .., "psds2": ..}``.

    The clips and classes scored are ``sed_scores_eval_inputs``'s. With ``plot_dir`` the PSD-ROC of each
    scenario is saved as ``<plot_dir>/psd_roc_<key>_<plot_suffix>.png``. (``psds_shards.submit_psds_sed_scores_eval``
    computes the same with scoring workers.)
    """
    inputs = sed_scores_eval_inputs(scores, ground_truth, durations)
    if inputs is None:
        return {key: 0.0 for key in scenarios}
    out = {}
    for key, scenario in scenarios.items():
        value, _, (etpr, efpr) = scenario_psds(*inputs, scenario)
        out[key] = value
        if plot_dir is not None:
            plot_psd_roc(efpr, etpr, value, scenario, Path(plot_dir) / f"psd_roc_{key}_{plot_suffix}.png")
    return out


def _psds_eval_inputs(ground_truth: TableSource, durations: TableSource) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Ground-truth events and metadata keyed by clip id, the ground truth restricted to clips with a duration."""
    metadata = read_durations(durations)
    metadata["filename"] = metadata["filename"].map(clip_id_of)
    truth = read_events(ground_truth, "ground truth").dropna(subset=["event_label"])
    truth["filename"] = truth["filename"].map(clip_id_of)
    absent = sorted(set(truth["filename"]) - set(metadata["filename"]))
    if absent:
        warnings.warn(
            f"{len(absent)} ground-truth clips have no duration (e.g. {absent[:3]}) and are left out", stacklevel=3
        )
        truth = truth[truth["filename"].isin(set(metadata["filename"]))]
    return truth.reset_index(drop=True), metadata.reset_index(drop=True)


def detections_for_clips(detections: TableSource, clip_ids: set[str]) -> pd.DataFrame:
    """Detections keyed by clip id, only those of ``clip_ids``."""
    table = read_events(detections, "detections")
    # Clip ids of the distinct names only: the names repeat, once per event.
    codes, names = pd.factorize(table["filename"], use_na_sentinel=False)
    table["filename"] = np.array([clip_id_of(name) for name in names], dtype=object)[codes]
    return table[table["filename"].isin(clip_ids)].reset_index(drop=True)


def psds_eval_evaluator(
    ground_truth: TableSource, durations: TableSource, dtc: float, gtc: float, cttc: float
) -> tuple[object, set[str]] | None:
    """A ``psds_eval.PSDSEval`` on the ground truth and the clip ids it knows; None (with a warning) without events."""
    truth, metadata = _psds_eval_inputs(ground_truth, durations)
    if truth.empty:
        warnings.warn("the ground truth has no events: psds_eval metrics set to 0.0", stacklevel=3)
        return None
    evaluator = psds_eval().PSDSEval(
        dtc_threshold=dtc, gtc_threshold=gtc, cttc_threshold=cttc, ground_truth=truth, metadata=metadata
    )
    return evaluator, set(metadata["filename"])


def _add_operating_points(
    evaluators: list, operating_points: dict[float, TableSource], clip_ids: set[str], pool: ScoringPool | None = None
) -> None:
    """``add_operating_point`` of psds_eval 0.5.3 for several evaluators of the same ground truth at once.

    Each detection table is checked and prepared, identified and intersected with the ground truth once; each
    evaluator then applies its own DTC/GTC/CTTC criteria to the intersections. These are the calls
    ``add_operating_point`` and ``_evaluate_detections`` make, on the same tables, so every count and rate is the
    same; per evaluator, the checks and the intersections took most of the time and were the same for all.
    With a parallel ``pool`` the operating points are computed by its workers (``psds_eval_points``).
    """
    if pool is not None and pool.parallel:
        tables = {t: detections_for_clips(table, clip_ids) for t, table in operating_points.items()}
        add_operating_points_with_workers(pool, evaluators, tables)
        return
    first = evaluators[0]
    for i, (threshold, detections) in enumerate(sorted(operating_points.items())):
        det_t = first._init_det_table(detections_for_clips(detections, clip_ids))
        op_id = first._operating_point_id(det_t)  # "" (skipped) when an identical table came before
        if not op_id:
            continue
        inter_t = first._ground_truth_intersections(det_t, first.ground_truth)
        for evaluator in evaluators:
            tp, dtc_ids = evaluator._detection_and_ground_truth_criteria(inter_t)
            cttc = evaluator._cross_trigger_criterion(inter_t, tp, dtc_ids)
            counts, tpr, fpr, ctr = evaluator._confusion_matrix_and_rates(
                tp.drop_duplicates("id_gt"), cttc.drop_duplicates(["id_det", "event_label_gt"])
            )
            evaluator._add_op(
                opid=op_id,
                counts=counts,
                tpr=tpr,
                fpr=fpr,
                ctr=ctr,
                info={"name": f"Op {i + 1:02d}", "threshold": threshold},
            )


def psds_eval_scenarios(
    operating_points: dict[float, TableSource],
    ground_truth: TableSource,
    durations: TableSource,
    scenarios: dict[str, PSDSScenario] = SCENARIOS,
    plot_paths: dict[str, str | Path] | None = None,
    pool: ScoringPool | None = None,
) -> dict[str, float]:
    """PSDS with psds_eval in each scenario from detection tables at several thresholds (``{threshold: detections}``).

    Detections of clips absent from the durations are ignored; clips with durations and no detections count
    as clips where nothing was detected. ``plot_paths`` names the PSD-ROC plot of a scenario's key. The scenarios
    share the reading and intersecting of every operating point (``_add_operating_points``), which a parallel
    ``pool``'s workers share out.
    """
    out: dict[str, float] = {}
    evaluators: dict[str, tuple[object, PSDSScenario]] = {}
    clip_ids: set[str] = set()
    for key, scenario in scenarios.items():
        cttc = PSDS_EVAL_DEFAULT_CTTC if scenario.cttc_threshold is None else scenario.cttc_threshold
        built = psds_eval_evaluator(ground_truth, durations, scenario.dtc_threshold, scenario.gtc_threshold, cttc)
        out[key] = 0.0
        if built is None or not operating_points:
            if built is not None:
                warnings.warn("no operating points given: PSDS set to 0.0", stacklevel=2)
            continue
        evaluator, clip_ids = built
        classes = [name for name in evaluator.class_names if name != psds_eval().psds.WORLD]
        if len(classes) == 1:
            warnings.warn(
                f"psds_eval cannot score one class ({classes[0]}): its cross-trigger rates are NaN and "
                "its PSDS 0 whatever the detections; PSDS set to 0.0, use the psds*_sed_scores_eval values",
                stacklevel=2,
            )
            continue
        evaluators[key] = (evaluator, replace(scenario, cttc_threshold=cttc))
    if not evaluators:
        return out
    with quiet_psds_eval():
        _add_operating_points([evaluator for evaluator, _ in evaluators.values()], operating_points, clip_ids, pool)
        for key, (evaluator, scenario) in evaluators.items():
            result = evaluator.psds(alpha_ct=scenario.alpha_ct, alpha_st=scenario.alpha_st, max_efpr=scenario.max_efpr)
            out[key] = float(result.value)
            if plot_paths is not None and key in plot_paths:
                plot_psd_roc(np.asarray(result.plt.xp), np.asarray(result.plt.yp), out[key], scenario, plot_paths[key])
    return out


def psds_from_operating_points(
    operating_points: dict[float, TableSource],
    ground_truth: TableSource,
    durations: TableSource,
    scenario: PSDSScenario = SCENARIO_1,
    plot_path: str | Path | None = None,
) -> float:
    """PSDS with psds_eval in one scenario (see ``psds_eval_scenarios``)."""
    plots = None if plot_path is None else {"psds": plot_path}
    return psds_eval_scenarios(operating_points, ground_truth, durations, {"psds": scenario}, plots)["psds"]


def plot_psd_roc(efpr: np.ndarray, etpr: np.ndarray, value: float, scenario: PSDSScenario, path: str | Path) -> Path:
    """Save the PSD-ROC (eTPR over eFPR per hour, step curve, area up to max_efpr shaded) as a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    efpr, etpr = np.asarray(efpr, dtype=float), np.asarray(etpr, dtype=float)
    keep = efpr <= scenario.max_efpr
    x = np.append(efpr[keep], scenario.max_efpr)
    y = np.append(etpr[keep], etpr[keep][-1] if keep.any() else 0.0)
    figure = Figure(figsize=(6, 6))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.step(x, y, where="post", color="tab:blue", label="PSD-ROC")
    axes.fill_between(x, y, step="post", alpha=0.3, color="tab:blue", label="area (PSDS)")
    axes.vlines(scenario.max_efpr, 0, 1, linestyles="dashed", color="k")
    axes.set_xlim(0, scenario.max_efpr)
    axes.set_ylim(0, 1)
    axes.set_xlabel("eFPR per hour")
    axes.set_ylabel("eTPR")
    axes.set_title(
        f"PSDS {value:.4f} (dtc {scenario.dtc_threshold}, gtc {scenario.gtc_threshold}, "
        f"cttc {scenario.cttc_threshold}, α_ct {scenario.alpha_ct}, α_st {scenario.alpha_st})",
        fontsize=9,
    )
    axes.grid(True)
    axes.legend(loc="lower right")
    figure.savefig(path, dpi=100)
    log.info("PSD-ROC saved to %s", path)
    return path

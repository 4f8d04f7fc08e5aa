"""The tuning objective: PSDS of post-processed scores on a validation set, overall and per class (sed_scores_eval).

The recipe's conventions (``desed_task.evaluation.psds_sed_scores_eval``) hold: clips without ground-truth events
are left out, classes without ground-truth events are left out, one class is scored without cross-triggers.
A class's own PSD-ROC depends only on that class's scores (cross-triggers count its detections on other classes'
events), so per-class values of one evaluation rank per-class parameters independently.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Mapping

import pandas as pd

from desed_task.data.tables import TableSource, durations_by_clip, events_by_clip, read_durations, read_events
from desed_task.evaluation.psds import PSDSScenario, scenario_psds
from desed_task.postprocess.postprocess_errors import PostprocessError
from desed_task.data.tables import SCORE_TIME_COLUMNS
from desed_task.postprocess.score_tables import consistent_classes


@dataclass(frozen=True)
class TuningSet:
    """What the objective needs: events and durations of the clips with events, the classes it can rank."""

    ground_truth: dict[str, list[tuple[float, float, str]]]
    durations: dict[str, float]
    classes: list[str]
    untuned: list[str]
    scenario: PSDSScenario


def tuning_set(
    scores: Mapping[str, pd.DataFrame], ground_truth: TableSource, durations: TableSource, scenario: PSDSScenario
) -> tuple[TuningSet, dict[str, pd.DataFrame]]:
    """The tuning set and the score tables of its clips (those with ground-truth events and scores)."""
    if not scores:
        raise PostprocessError("no score tables to tune on")
    classes = consistent_classes(scores)
    events = {c: e for c, e in events_by_clip(read_events(ground_truth, "ground truth")).items() if e}
    clip_ids = sorted(set(events) & set(scores))
    if not clip_ids:
        raise PostprocessError(
            "no scored clip has ground-truth events: the scores and the ground truth name different clips "
            "(clip id = file name without the audio extension)"
        )
    unscored = sorted(set(events) - set(scores))
    if unscored:
        warnings.warn(
            f"{len(unscored)} ground-truth clips with events have no scores (e.g. {unscored[:3]}); tuning without them",
            stacklevel=2,
        )
    clip_durations = durations_by_clip(read_durations(durations))
    no_duration = [c for c in clip_ids if c not in clip_durations]
    if no_duration:
        raise PostprocessError(
            f"durations lack {len(no_duration)} clips with ground truth (e.g. {no_duration[:3]}): add them"
        )
    unknown = sorted({label for c in clip_ids for _, _, label in events[c]} - set(classes))
    if unknown:
        warnings.warn(f"ground-truth labels {unknown} are not score classes: their events are ignored", stacklevel=2)
    truth = {c: kept for c in clip_ids if (kept := [e for e in events[c] if e[2] in classes])}
    present = {label for clip_events in truth.values() for _, _, label in clip_events}
    ranked = [c for c in classes if c in present]
    untuned = [c for c in classes if c not in present]
    if not ranked:
        raise PostprocessError(f"no ground-truth event of the score classes {classes}: nothing to tune on")
    if untuned:
        warnings.warn(
            f"classes {untuned} have no ground-truth event among the scored clips: they keep default parameters",
            stacklevel=2,
        )
    chosen = TuningSet(truth, {c: clip_durations[c] for c in truth}, ranked, untuned, scenario)
    return chosen, {c: scores[c] for c in truth}


def class_psds(tables: Mapping[str, pd.DataFrame], chosen: TuningSet) -> tuple[float, dict[str, float]]:
    """PSDS of ``tables`` on the tuning set, and the PSDS of each ranked class alone (its PSD-ROC's area)."""
    keep = [*SCORE_TIME_COLUMNS, *chosen.classes]
    value, per_class, _ = scenario_psds(
        {c: tables[c][keep] for c in chosen.ground_truth}, chosen.ground_truth, chosen.durations, chosen.scenario
    )
    return value, per_class

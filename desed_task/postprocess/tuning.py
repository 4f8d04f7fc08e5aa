"""Grid search of class-wise post-processing parameters for PSDS on a validation set.

Every grid point is applied to all classes at once and scored once: sed_scores_eval gives the PSDS of each class
alone, and each class takes the grid point where its own PSDS is highest (as the DCASE 2024 baseline and sebbs
select them). PSDS with ``alpha_st`` = 1 also penalises the spread between classes, so the class-wise choice is
not guaranteed to beat every fixed setting; it is kept only if its PSDS is at least that of every setting scored
(each grid point for all classes and, for the median filter, the recipe's stage-2 windows). Tuning therefore never
scores below the recipe on the data it was tuned on.
"""
from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict
from typing import Any, Callable, Iterable, Mapping, Sequence, TypeVar

import pandas as pd

from desed_task.evaluation.psds import SCENARIO_1, PSDSScenario
from desed_task.data.tables import TableSource
from desed_task.postprocess.apply import postprocess_scores
from desed_task.postprocess.errors import PostprocessError
from desed_task.postprocess.median import frame_hop, table_classes
from desed_task.postprocess.tuning_objective import TuningSet, class_psds, tuning_set
from desed_task.postprocess.params import CSEBBClassParams, CSEBBParams, MedianParams, Params

DEFAULT_STEP_FILTER_LENGTHS = (0.32, 0.48, 0.64)
DEFAULT_MERGE_THRESHOLDS_ABS = (0.15, 0.2, 0.3)
DEFAULT_MERGE_THRESHOLDS_REL = (1.5, 2.0, 3.0)
DEFAULT_MEDIAN_WINDOWS = tuple(range(1, 42))
RECIPE_STAGE1_WINDOW = 7
RECIPE_STAGE2_WINDOWS = {  # confs/stage2.yaml training.median_window, DESED class order
    "Alarm_bell_ringing": 6, "Blender": 20, "Cat": 7, "Dishes": 4, "Dog": 7,
    "Electric_shaver_toothbrush": 6, "Frying": 6, "Running_water": 6, "Speech": 6, "Vacuum_cleaner": 6,
}

Option = TypeVar("Option")
Result = tuple[float, dict[str, float]]
_WORKER: dict[str, Any] = {}


def median_windows_grid(windows: Iterable[int] = DEFAULT_MEDIAN_WINDOWS) -> list[int]:
    """``windows`` plus the recipe's (7 for stage 1; stage 2's per-class windows), sorted."""
    grid = {int(w) for w in windows} | {RECIPE_STAGE1_WINDOW, *RECIPE_STAGE2_WINDOWS.values()}
    if min(grid) < 1:
        raise PostprocessError(f"median windows must be >= 1 frame, got {sorted(grid)}")
    return sorted(grid)


def csebb_grid(
    step_filter_lengths: Sequence[float] = DEFAULT_STEP_FILTER_LENGTHS,
    merge_thresholds_abs: Sequence[float] = DEFAULT_MERGE_THRESHOLDS_ABS,
    merge_thresholds_rel: Sequence[float] = DEFAULT_MERGE_THRESHOLDS_REL,
) -> list[CSEBBClassParams]:
    """Each step-filter length with either one absolute merge threshold (no relative) or one relative (no absolute)."""
    values = [*step_filter_lengths, *merge_thresholds_abs, *merge_thresholds_rel]
    if not step_filter_lengths or not (merge_thresholds_abs or merge_thresholds_rel) or any(v <= 0 for v in values):
        raise PostprocessError(
            f"cSEBB grid: give at least one step-filter length and one merge threshold, all > 0; got step-filter "
            f"lengths {list(step_filter_lengths)}, absolute {list(merge_thresholds_abs)}, "
            f"relative {list(merge_thresholds_rel)}"
        )
    return [
        option
        for length in step_filter_lengths
        for option in [CSEBBClassParams(length, a, None) for a in merge_thresholds_abs]
        + [CSEBBClassParams(length, None, r) for r in merge_thresholds_rel]
    ]


def _init_worker(scores: dict[str, pd.DataFrame], chosen: TuningSet) -> None:
    _WORKER.update(scores=scores, chosen=chosen)


def _evaluate(params: Params) -> Result:
    return class_psds(postprocess_scores(_WORKER["scores"], params), _WORKER["chosen"])


class _Evaluator:
    """Scores parameter sets, in this process (``jobs`` 1) or in a pool that receives the data once."""

    def __init__(self, scores: dict[str, pd.DataFrame], chosen: TuningSet, jobs: int, progress: bool) -> None:
        self.jobs, self.progress = jobs, progress
        self.pool = None
        if jobs > 1:
            self.pool = ProcessPoolExecutor(
                jobs, multiprocessing.get_context("spawn"), initializer=_init_worker, initargs=(scores, chosen)
            )
        else:
            _init_worker(scores, chosen)

    def __enter__(self) -> "_Evaluator":
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
        _WORKER.clear()

    def map(self, candidates: list[Params], desc: str) -> list[Result]:
        from tqdm.auto import tqdm

        with tqdm(total=len(candidates), desc=desc, unit="setting", disable=not self.progress) as bar:
            if self.pool is None:
                results = []
                for params in candidates:
                    results.append(_evaluate(params))
                    bar.update()
                return results
            futures = {self.pool.submit(_evaluate, params): i for i, params in enumerate(candidates)}
            out: list[Result | None] = [None] * len(candidates)
            for future in as_completed(futures):
                out[futures[future]] = future.result()
                bar.update()
            return out  # type: ignore[return-value]


def _grid_search(
    scores: dict[str, pd.DataFrame],
    chosen: TuningSet,
    options: list[Option],
    build: Callable[[dict[str, Option]], Params],
    references: Mapping[str, dict[str, Option]],
    describe: Callable[[Option], Any],
    jobs: int,
    progress: bool,
) -> tuple[dict[str, Option], dict[str, Any]]:
    """Class-wise options (each class's best), or the best fixed setting if that scores higher overall."""
    classes = table_classes(next(iter(scores.values())))
    with _Evaluator(scores, chosen, max(1, int(jobs)), progress) as evaluator:
        uniform = evaluator.map([build({c: o for c in classes}) for o in options], "scoring grid points")
        best_uniform = max(range(len(options)), key=lambda i: uniform[i][0])
        per_class = {c: options[best_uniform] for c in classes}  # untuned classes: the best fixed setting
        for c in chosen.classes:
            per_class[c] = options[max(range(len(options)), key=lambda i: uniform[i][1][c])]
        finalists = {"class_wise": per_class, **references}
        scored = dict(zip(finalists, evaluator.map([build(f) for f in finalists.values()], "scoring finalists")))
    for i, option in enumerate(options):
        finalists[f"fixed {describe(option)}"] = {c: option for c in classes}
        scored[f"fixed {describe(option)}"] = uniform[i]
    selected = max(finalists, key=lambda name: scored[name][0])  # first maximum: class-wise wins ties
    tuning = {
        "scenario": asdict(chosen.scenario),
        "clips": len(chosen.ground_truth),
        "selected": selected,
        "psds": scored[selected][0],
        "class_psds": scored[selected][1],
        "psds_of": {name: scored[name][0] for name in scored},
        "untuned_classes": chosen.untuned,
    }
    return finalists[selected], tuning


def tune_median(
    scores: Mapping[str, pd.DataFrame],
    ground_truth: TableSource,
    durations: TableSource,
    scenario: PSDSScenario = SCENARIO_1,
    windows: Iterable[int] = DEFAULT_MEDIAN_WINDOWS,
    jobs: int = 1,
    progress: bool = False,
) -> MedianParams:
    """Class-wise median windows (frames) maximising PSDS of ``scenario`` on the given validation set.

    The grid always contains the recipe's windows, and the recipe's stage-2 windows compete as a whole when the
    classes are DESED's; classes without ground-truth events get the best fixed window.
    """
    grid = median_windows_grid(windows)
    chosen, tuned_scores = tuning_set(scores, ground_truth, durations, scenario)
    hop = frame_hop(tuned_scores)
    classes = table_classes(next(iter(tuned_scores.values())))
    references = {"recipe_stage2": dict(RECIPE_STAGE2_WINDOWS)} if set(classes) == set(RECIPE_STAGE2_WINDOWS) else {}
    windows_by_class, tuning = _grid_search(
        tuned_scores, chosen, grid, lambda w: MedianParams(dict(w), hop), references,
        lambda w: f"{w} frames", jobs, progress,
    )
    tuning["grid"] = {"window_frames": grid}
    return MedianParams({c: windows_by_class[c] for c in classes}, hop, tuning)


def tune_csebb(
    scores: Mapping[str, pd.DataFrame],
    ground_truth: TableSource,
    durations: TableSource,
    scenario: PSDSScenario = SCENARIO_1,
    step_filter_lengths: Sequence[float] = DEFAULT_STEP_FILTER_LENGTHS,
    merge_thresholds_abs: Sequence[float] = DEFAULT_MERGE_THRESHOLDS_ABS,
    merge_thresholds_rel: Sequence[float] = DEFAULT_MERGE_THRESHOLDS_REL,
    jobs: int = 1,
    progress: bool = False,
) -> CSEBBParams:
    """Class-wise cSEBB parameters maximising PSDS of ``scenario`` (grid: ``csebb_grid``); needs sebbs."""
    from desed_task.postprocess.csebb import require_sebbs

    require_sebbs()
    grid = csebb_grid(step_filter_lengths, merge_thresholds_abs, merge_thresholds_rel)
    chosen, tuned_scores = tuning_set(scores, ground_truth, durations, scenario)
    options, tuning = _grid_search(
        tuned_scores, chosen, grid, lambda o: CSEBBParams(dict(o)), {}, _describe_csebb, jobs, progress
    )
    tuning["grid"] = {
        "step_filter_length": list(step_filter_lengths),
        "merge_threshold_abs": list(merge_thresholds_abs),
        "merge_threshold_rel": list(merge_thresholds_rel),
    }
    return CSEBBParams(options, tuning)


def _describe_csebb(option: CSEBBClassParams) -> str:
    merge = (
        f"abs {option.merge_threshold_abs}" if option.merge_threshold_abs is not None
        else f"rel {option.merge_threshold_rel}"
    )
    return f"step {option.step_filter_length} s, merge {merge}"

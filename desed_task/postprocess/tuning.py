"""Grid search of class-wise post-processing parameters for PSDS on a validation set.

Every grid point is applied to all classes at once and scored once: sed_scores_eval gives the PSDS of each class
alone, and each class takes the grid point where its own PSDS is highest (as the DCASE 2024 baseline and sebbs
select them). PSDS with ``alpha_st`` = 1 also penalises the spread between classes, so the class-wise choice is
not guaranteed to beat every fixed setting; it is kept only if its PSDS is at least that of every setting scored
(each grid point for all classes and, for the median filter, the recipe's stage-2 windows). Tuning therefore never
scores below the recipe on the data it was tuned on.

Each method's ``tune`` builds its grid and calls ``grid_search``.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict
from typing import Any, Callable, Mapping, TypeVar

import pandas as pd

from desed_task.postprocess.method import Params
from desed_task.postprocess.tuning_objective import TuningSet, class_psds
from desed_task.data.tables import table_classes

Option = TypeVar("Option")
Result = tuple[float, dict[str, float]]
_WORKER: dict[str, Any] = {}


def _init_worker(scores: dict[str, pd.DataFrame], chosen: TuningSet) -> None:
    _WORKER.update(scores=scores, chosen=chosen)


def _evaluate(params: Params) -> Result:
    return class_psds(params.apply(_WORKER["scores"]), _WORKER["chosen"])


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


def grid_search(
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

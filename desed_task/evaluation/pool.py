"""Worker processes for the independent parts of scoring, or the calling process when one worker is asked for.

Scoring splits into jobs that do not depend on each other (sed_scores_eval's statistics of a shard of clips in one
scenario, psds_eval's rates at a few operating points, F1, writing score files). ``ScoringPool`` runs them in a
``concurrent.futures.ProcessPoolExecutor``, started on the first job and kept until ``shutdown``, so that the
validations of a run share one set of workers. Jobs are module-level functions of plain numpy/pandas/Python
arguments. The workers start by ``forkserver`` (``spawn`` where there is none): they hold no CUDA state, no
threads and no copy of the training process.

With ``workers`` 0 or 1 a job runs at once in the calling process, which is how scoring ran before it had
workers. A warning a job raises in a worker is raised again in the calling process when its result is taken.
"""

from __future__ import annotations

import multiprocessing
import os
import warnings
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Generic, TypeVar

T = TypeVar("T")

_Caught = tuple[str, type, str, int]  # message, category, file, line


def available_cores() -> int:
    """CPU cores this process may run on (its affinity), or the machine's count where affinity is unknown."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_scoring_workers(loader_workers: int) -> int:
    """The cores the data loader leaves free: available cores minus its worker processes, at least 1."""
    return max(1, available_cores() - loader_workers)


def _start_method() -> str:
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


def _run_catching_warnings(fn: Callable[..., T], args: tuple, kwargs: dict) -> tuple[T, list[_Caught]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fn(*args, **kwargs)
    return result, [(str(w.message), w.category, w.filename, w.lineno) for w in caught]


class Job(Generic[T]):
    """The result of a submitted job: ``result()`` waits for it (and re-raises its warnings and errors)."""

    def __init__(self, value: T | None = None, future: Future | None = None) -> None:
        self._value = value
        self._future = future

    def result(self) -> T:
        if self._future is None:
            return self._value  # type: ignore[return-value]
        value, caught = self._future.result()
        self._future, self._value = None, value
        for message, category, filename, lineno in caught:
            warnings.warn_explicit(message, category, filename, lineno)
        return value


class ScoringPool:
    """``workers`` processes for scoring jobs (started lazily), or none: jobs run in place when ``workers`` <= 1.

    ``start_method`` None is forkserver (spawn where there is none); spawn makes the workers children of this
    process, whose CPU time ``resource.getrusage(RUSAGE_CHILDREN)`` then counts once they stopped.
    """

    def __init__(self, workers: int = 1, start_method: str | None = None) -> None:
        if workers < 0:
            raise ValueError(f"scoring workers must be >= 0 (0 or 1: score in this process), got {workers}")
        self.workers = workers
        self.start_method = start_method or _start_method()
        self._executor: ProcessPoolExecutor | None = None

    @property
    def parallel(self) -> bool:
        return self.workers > 1

    def submit(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Job[T]:
        """Run ``fn(*args, **kwargs)``: in a worker, or here and now without workers."""
        if not self.parallel:
            return Job(value=fn(*args, **kwargs))
        if self._executor is None:
            context = multiprocessing.get_context(self.start_method)
            self._executor = ProcessPoolExecutor(self.workers, mp_context=context)
        return Job(future=self._executor.submit(_run_catching_warnings, fn, args, kwargs))

    def shutdown(self) -> None:
        """Stop the workers (a later job starts new ones)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def __enter__(self) -> "ScoringPool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def __getstate__(self) -> dict:
        """Copies (a spawned trainer process, ``copy.deepcopy``) get the setting, not the running workers."""
        return {**self.__dict__, "_executor": None}

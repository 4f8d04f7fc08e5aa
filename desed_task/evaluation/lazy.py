"""Deferred imports of the heavy scoring libraries, so that ``import desed_task.evaluation`` stays light.

sed_scores_eval and sed_eval import dcase_util, whose ``pkg_resources`` import warns on every run; the warning
says nothing about the user's data, so it is silenced here (and only here).
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from types import ModuleType
from typing import Iterator


def _quiet_import(names: tuple[str, ...]) -> ModuleType:
    import importlib

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
        modules = [importlib.import_module(name) for name in names]
    return modules[0]


def sed_scores_eval() -> ModuleType:
    """``sed_scores_eval`` with its io, scores and intersection-based modules loaded."""
    return _quiet_import(
        (
            "sed_scores_eval",
            "sed_scores_eval.base_modules.io",
            "sed_scores_eval.base_modules.scores",
            "sed_scores_eval.intersection_based",
        )
    )


def sed_eval() -> ModuleType:
    """``sed_eval`` with its sound-event metrics loaded."""
    return _quiet_import(("sed_eval", "sed_eval.sound_event"))


def psds_eval() -> ModuleType:
    """``psds_eval`` (imports matplotlib.pyplot: the non-interactive Agg backend is selected first)."""
    import matplotlib

    matplotlib.use("Agg")
    return _quiet_import(("psds_eval",))


@contextmanager
def quiet_psds_eval() -> Iterator[None]:
    """Silence psds_eval 0.5.3's warnings about itself, not the data: pandas' ``fillna(method=...)`` and numpy's
    array-to-scalar deprecations (docs/recipe.md §8: pandas >= 3 and numpy >= 2.4 break it; the project pins
    below), and its note that an operating point identical to an earlier one is skipped (same detections, same ROC
    point)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*fillna with 'method'", category=FutureWarning)
        warnings.filterwarnings("ignore", message="Conversion of an array with ndim > 0", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message="A similar operating point exists", category=UserWarning)
        yield

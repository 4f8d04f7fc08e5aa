"""What every post-processing method is: a class of frozen class-wise parameters that owns the method's part of
the parameter file, its application to score tables, its inference decoder and its tuning.

A method is one module with a ``Params`` subclass and one entry in ``desed_task.postprocess.methods.METHODS``;
the parameter file (``desed_task.postprocess.params``), ``postprocess_scores``, the command line, inference and
the test stage reach it only through this interface.
"""

from __future__ import annotations

import argparse
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Protocol

import numpy as np
import pandas as pd

from desed_task.evaluation.decoding import decode_events
from desed_task.postprocess.postprocess_errors import PostprocessError

EVENT_COLUMNS = ["onset", "offset", "event_label"]


def events_table(
    scores: np.ndarray, thresholds: np.ndarray, classes: Sequence[str], timestamps: np.ndarray
) -> pd.DataFrame:
    """The events of post-processed frame scores ``(C, T)`` above their class's threshold, as a decoder returns
    them: one row each, by onset then class."""
    events = decode_events(scores, thresholds, classes, timestamps)
    return pd.DataFrame(sorted(events, key=lambda e: (e[0], e[2])), columns=EVENT_COLUMNS)


class Decoder(Protocol):
    """From one recording's merged frame scores to events, for inference."""

    description: str
    #: the median windows (frames, per class or one for all) the decoder filters with; None when it does not
    #: median-filter
    median_window: int | Sequence[int] | None

    def __call__(
        self, scores: np.ndarray, timestamps: np.ndarray, thresholds: np.ndarray
    ) -> tuple[np.ndarray, pd.DataFrame]:
        """scores (C, T), timestamps (T + 1,), thresholds (C,) → (what is thresholded (C, T), events)."""


class Params(ABC):
    """Class-wise parameters of one post-processing method (subclasses are frozen dataclasses)."""

    #: the method's name: the parameter file's ``method`` and the command line's ``--method``
    method: ClassVar[str]
    #: one line (or indented lines) describing the method in ``python -m desed_task.postprocess --help``
    summary: ClassVar[str]
    #: keys of the parameter file's top level besides ``method``, ``classes`` and ``tuning``
    file_keys: ClassVar[tuple[str, ...]] = ()
    #: how and on what the parameters were tuned (informative only, never changes the output)
    tuning: dict[str, Any] | None

    @property
    @abstractmethod
    def classes(self) -> list[str]:
        """The classes the parameters are for."""

    @abstractmethod
    def file_fields(self) -> dict[str, Any]:
        """The parameter file's ``file_keys`` and ``classes`` (``{class: {key: value}}``), in file order."""

    @classmethod
    @abstractmethod
    def from_file_fields(cls, data: Mapping[str, Any], tuning: dict[str, Any] | None, source: str) -> "Params":
        """Parameters from the file's object (top-level keys already checked; ``classes`` a non-empty object);
        a ``PostprocessError`` naming ``source`` and the key for a bad value."""

    @abstractmethod
    def apply(self, scores: Mapping[str, pd.DataFrame], source: str = "the scores") -> dict[str, pd.DataFrame]:
        """Post-processed sed_scores_eval score tables, same clips as ``scores``."""

    @abstractmethod
    def decoder(self, classes: Sequence[str], frame_hop: float, description_suffix: str = "") -> Decoder:
        """The inference decoder for scores of ``classes`` at ``frame_hop`` seconds (checked with ``check_fits``)."""

    @classmethod
    @abstractmethod
    def tune(cls, scores: Mapping[str, pd.DataFrame], ground_truth: Any, durations: Any, **options: Any) -> "Params":
        """Parameters maximising PSDS on a validation set (``options``: ``scenario``, ``jobs``, ``progress`` and
        the method's grid, as ``grid_options`` returns it)."""

    @classmethod
    def require_extra(cls) -> None:
        """Raise ``MissingExtraError`` if an optional package the method needs is missing (default: none)."""

    def check_fits(
        self, classes: Sequence[str], frame_hop: float, classes_source: str, hop_source: str | None = None
    ) -> None:
        """Scores of ``classes`` at ``frame_hop`` seconds can be post-processed with these parameters."""
        check_classes(self, list(classes), classes_source)

    @classmethod
    def check_tuning_scores(cls, scores: dict[str, pd.DataFrame], source: str) -> None:
        """Checks of a score folder before tuning, beyond consistent classes (default: none)."""

    @classmethod
    def add_tune_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """The method's grid options of ``tune`` (default: none)."""

    @classmethod
    def grid_options(cls, args: argparse.Namespace) -> dict[str, Any]:
        """The keyword arguments of ``tune`` from the parsed ``add_tune_arguments`` options."""
        return {}


def check_classes(params: Params, classes: list[str], source: str) -> None:
    """The scores' classes must be exactly the parameters' classes (in any order)."""
    missing = [c for c in params.classes if c not in classes]
    extra = [c for c in classes if c not in params.classes]
    if missing or extra:
        raise PostprocessError(
            f"{source} and the {params.method} parameters have different classes: the scores lack {missing}, "
            f"the parameters lack {extra}; tune parameters on scores with the same classes"
        )


def check_keys(values: Any, allowed: set[str], required: set[str], where: str) -> None:
    """``values`` is an object with the ``required`` keys and no key outside ``allowed``."""
    if not isinstance(values, dict):
        raise PostprocessError(f"{where}: expected an object with keys {sorted(required)}, got {values!r}")
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise PostprocessError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")
    missing = sorted(required - set(values))
    if missing:
        raise PostprocessError(f"{where}: missing key(s) {missing}")


def number(value: Any, where: str, positive: bool = False) -> float:
    """A finite number (JSON int or float, not a bool), > 0 when ``positive``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise PostprocessError(f"{where} must be a finite number, got {value!r}")
    if positive and value <= 0:
        raise PostprocessError(f"{where} must be > 0, got {value!r}")
    return float(value)


def optional_number(value: Any, where: str) -> float | None:
    """None, or a number > 0."""
    return None if value is None else number(value, where + " (or null: not used)", positive=True)


def frame_count(value: Any, where: str) -> int:
    """An integer >= 1 (frames)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise PostprocessError(f"{where} must be an integer >= 1 (frames), got {value!r}")
    return value

"""What every metric is: the keys it reports, the input it reads, a line for the command's help, and how it computes
from that input, the ground truth and the durations.

A metric is one ``Metric`` subclass and one entry in ``desed_task.evaluation.metrics.METRICS``; the test stage
(``result_files.write_test_outputs``), ``python -m desed_task.evaluation`` and its help reach it only through this
interface.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

import pandas as pd

from desed_task.evaluation.pool import ScoringPool

if TYPE_CHECKING:
    from desed_task.evaluation.evaluation_inputs import EvaluationInputs

InputKind = Literal["operating_points", "scores", "detections"]

#: the inputs a metric may read, in the order the command line scores and lists them: kind -> the command's flag
INPUT_FLAGS: dict[str, str] = {
    "operating_points": "--operating_points DIR",
    "scores": "--scores DIR",
    "detections": "--predictions FILE",
}
#: what one item of each input is, for the progress log ("psds_psds_eval on 50 operating points")
INPUT_ITEMS: dict[str, str] = {
    "operating_points": "operating points",
    "scores": "score files",
    "detections": "detections",
}


class Pending(Protocol):
    """A submitted metric: ``result()`` waits for its values."""

    def result(self) -> dict[str, float]:
        """``{key: value}``."""


class Metric(ABC):
    """One metric (or a group computed together) of a system's outputs against a ground truth."""

    #: the registry's name of the metric (its progress log names it)
    name: ClassVar[str]
    #: the keys of the values it returns, in the order of the metric tables and files
    keys: ClassVar[tuple[str, ...]]
    #: its input: sed_scores_eval score tables by clip id (``scores``), detection tables by decision threshold
    #: (``operating_points``), or one detection table at the test stage's threshold (``detections``)
    reads: ClassVar[InputKind]
    #: one line for ``python -m desed_task.evaluation --help``, after the metric's keys
    description: ClassVar[str]

    def data(self, inputs: EvaluationInputs) -> Any:
        """What the metric scores of ``inputs``, None when that input was not given (default: the input it
        ``reads``; ``detections`` is ``inputs.predictions``, the table as given)."""
        return {"operating_points": inputs.operating_points, "scores": inputs.scores, "detections": inputs.predictions}[
            self.reads
        ]

    @abstractmethod
    def compute(
        self, data: Any, truth: pd.DataFrame, durations: pd.DataFrame, plot_dir: Path | None = None
    ) -> dict[str, float]:
        """``{key: value}`` for each of ``keys``, values in [0, 1]. ``data`` is what ``data`` selected, ``truth``
        the ground-truth events (filename onset offset event_label; a clip without events once, with empty
        cells), ``durations`` the clips' durations (filename duration), both of the scored clips. ``plot_dir``: a
        folder for the metric's figures, if it draws any (the test stage's ``plots``; None: no figure)."""

    def submit(
        self,
        pool: ScoringPool,
        data: Any,
        truth: pd.DataFrame,
        durations: pd.DataFrame,
        plot_dir: Path | None = None,
    ) -> Pending:
        """``compute`` as work of ``pool`` (default: one job); without workers it runs here and now. The test stage
        submits every metric before it takes any result, so the metrics' jobs run side by side."""
        return pool.submit(self.compute, data, truth, durations, plot_dir)


def suffixed(values: dict[str, float], suffix: str) -> dict[str, float]:
    """``{key + "_" + suffix: value}``: a scenario's PSDS (``psds1``) as the key of one implementation."""
    return {f"{key}_{suffix}": value for key, value in values.items()}


class Suffixed:
    """A pending ``{key: value}`` whose keys get ``suffixed`` when it is taken."""

    def __init__(self, pending: Pending, suffix: str) -> None:
        self._pending, self._suffix = pending, suffix

    def result(self) -> dict[str, float]:
        return suffixed(self._pending.result(), self._suffix)

"""A test stage's metrics scored again from the files it wrote, by the evaluation command.

A run of a few batches on the tiny synthetic set has no known PSDS; what it must give is the PSDS of its own score
files: the expectation for the metrics such a run reports.
"""

from __future__ import annotations

import json
from pathlib import Path

from desed_task.evaluation.evaluate_command import main as evaluate_main

TEST_TRUTH = "metadata/validation/validation.tsv"
TEST_DURATIONS = "metadata/validation/validation_durations.tsv"


def rescored(test_folder: str | Path, dataset: Path, operating_points: bool = False) -> dict[str, float]:
    """The metrics of ``test_folder`` (``<experiment>/test/<model>[/tuned_<method>]``) against the test ground truth
    of the synthetic set in ``dataset``; see :func:`rescored_against`."""
    return rescored_against(test_folder, dataset / TEST_TRUTH, dataset / TEST_DURATIONS, operating_points)


def rescored_against(
    test_folder: str | Path, truth: Path, durations: Path, operating_points: bool = False
) -> dict[str, float]:
    """The metrics of a folder written by ``write_test_outputs`` computed by ``python -m desed_task.evaluation``
    from its score files: the sed_scores_eval PSDS, and with ``operating_points`` psds_eval's PSDS of its
    operating-point tables (which needs every clip of ``truth`` scored)."""
    folder = Path(test_folder)
    out = folder / "rescored_metrics.json"
    argv = [
        "--ground_truth",
        str(truth),
        "--durations",
        str(durations),
        "--scores",
        str(folder / "scores" / "postprocessed"),
        "--quiet",
        "--json",
        str(out),
    ]
    if operating_points:
        argv += ["--operating_points", str(folder / "predictions_operating_points")]
    assert evaluate_main(argv) == 0
    return json.loads(out.read_text())

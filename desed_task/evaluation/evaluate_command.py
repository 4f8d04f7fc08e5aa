"""``python -m desed_task.evaluation``: score a system's outputs against DESED-format ground truth.

Thin wrapper over the library: every input is read and checked first (``evaluation.evaluation_inputs``), then each input
selects a group of metrics, printed as a table and optionally written as JSON. An input or usage error ends the
command with exit status 2 and one line on stderr that names the file, the line or clip, and what to do; a
program error keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Sequence

from desed_task.command_parser import CommandParser
from desed_task.data.tables import TableError
from desed_task.evaluation.evaluation_inputs import EvaluationInputs, read_inputs
from desed_task.evaluation.metric import INPUT_FLAGS
from desed_task.evaluation.metrics import metric_values, metrics_reading, submit_metrics
from desed_task.evaluation.pool import ScoringPool
from desed_task.evaluation.result_files import format_metrics
from desed_task.output_files import (
    EXIT_INTERRUPTED,
    Interrupted,
    OutputError,
    check_output_file,
    check_separate,
    handle_interrupts,
    write_text,
)

DESCRIPTION_HEAD = """\
Score sound event detection outputs against a DESED-format ground truth. Give at least one of
--operating_points, --scores, --predictions; each one adds its metrics (values in [0, 1]):
"""
DESCRIPTION_TAIL = """\
PSDS scenario 1: dtc=gtc=0.7, alpha_ct=0, alpha_st=1, max_efpr=100 (cttc 0.3 for psds_eval, unused);
scenario 2: dtc=gtc=0.1, cttc=0.3, alpha_ct=0.5, alpha_st=1, max_efpr=100. Clips are matched by file
name without the audio extension, folders included (Y1.wav == Y1; day1/Y1.wav is another clip).

Every input is checked before scoring: labels must be classes (the ground truth's, the score files',
and DESED's ten when the ground truth's are DESED classes; detections of a class without ground-truth
events are false positives), clips must be in the ground truth and the durations, each clip must have
one name, events must lie in their clip, scores must be in [0, 1]; --json must not be (or overwrite) an
input. Exit status 0 when the metrics were computed, 2 on a usage or input error (one line on stderr,
nothing written), 130 when interrupted (SIGINT, SIGTERM; nothing written). Warnings: ground-truth clips
without a duration (left out of every metric), labels with white space around them (stripped),
duplicated detections (see --dedupe), overlapping detections of a class (merged for psds_eval)."""
HELP_WIDTH = 104
FLAG_WIDTH = 26  # the column of the metric keys


def description() -> str:
    """The command's description: under each input's flag, the keys and line of every registered metric of it."""
    lines = []
    for kind, flag in INPUT_FLAGS.items():
        first = f"  {flag:<{FLAG_WIDTH - 4}}  "
        for metric in metrics_reading(kind):
            indent = " " * FLAG_WIDTH
            lines += textwrap.wrap(", ".join(metric.keys), HELP_WIDTH, initial_indent=first, subsequent_indent=indent)
            lines += textwrap.wrap(
                metric.description, HELP_WIDTH, initial_indent=indent + "  ", subsequent_indent=indent + "  "
            )
            first = indent
    return DESCRIPTION_HEAD + "\n" + "\n".join(lines) + "\n\n" + DESCRIPTION_TAIL


EXAMPLE = """\
example:
  python -m desed_task.evaluation --ground_truth validation.tsv --durations validation_durations.tsv \\
      --operating_points exp/student/predictions_operating_points \\
      --predictions exp/student/predictions_th_0.50.tsv --json results.json"""


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="python -m desed_task.evaluation",
        description=description(),
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--ground_truth",
        required=True,
        type=Path,
        metavar="GT.tsv",
        help="strong labels, tab-separated with header: filename onset offset event_label (seconds); "
        "a clip without events may appear once with empty onset/offset/event_label",
    )
    parser.add_argument(
        "--durations",
        required=True,
        type=Path,
        metavar="DUR.tsv",
        help="clip durations, tab-separated with header: filename duration (seconds); every evaluated clip",
    )
    parser.add_argument(
        "--operating_points",
        type=Path,
        metavar="DIR",
        help="folder of detection tables predictions_th_<threshold>.tsv (filename onset offset event_label), "
        "one per decision threshold, e.g. the 50 that the test stage writes (its metrics: see above)",
    )
    parser.add_argument(
        "--scores",
        type=Path,
        metavar="DIR",
        help="folder of sed_scores_eval score files, one <clip id>.tsv per clip with columns onset offset "
        "<class...> (its metrics: see above)",
    )
    parser.add_argument(
        "--predictions",
        type=Path,
        metavar="FILE",
        help="one detection table (filename onset offset event_label) at a single threshold, tab-separated .tsv "
        "or comma-separated .csv (a leading index column is ignored; its metrics: see above)",
    )
    parser.add_argument(
        "--json",
        type=Path,
        metavar="OUT",
        help="also write the metrics to this JSON file ({metric: value}, only the metrics computed); checked "
        "before scoring (never one of the inputs), written only when every metric was computed",
    )
    parser.add_argument(
        "--dedupe",
        action="store_true",
        help="drop detections that repeat an earlier row (same clip, class, onset and offset) before scoring; "
        "without it each copy is a false positive in event-based F1 (a warning gives their count)",
    )
    parser.add_argument("--quiet", action="store_true", help="print only the metric table (no progress logging)")
    return parser


def evaluate(
    ground_truth: Path,
    durations: Path,
    operating_points: Path | None = None,
    scores: Path | None = None,
    predictions: Path | None = None,
    dedupe: bool = False,
) -> dict[str, float]:
    """The metrics that the given inputs allow (see ``description()``); all inputs are checked before any scoring."""
    return score(read_inputs(ground_truth, durations, operating_points, scores, predictions, dedupe))


def score(inputs: EvaluationInputs) -> dict[str, float]:
    """The metrics of checked inputs: those of each registered metric whose input was given, input by input (the
    order of ``--help``), here and now."""
    pool = ScoringPool(0)
    metrics: dict[str, float] = {}
    for kind in INPUT_FLAGS:
        metrics.update(metric_values(submit_metrics(pool, kind, inputs)))
    return metrics


def _inputs(args: argparse.Namespace) -> list[tuple[Path, str]]:
    """Every path the command reads, for the check that ``--json`` overwrites none of them."""
    given = [
        (args.ground_truth, "--ground_truth"),
        (args.durations, "--durations"),
        (args.operating_points, "--operating_points"),
        (args.scores, "--scores"),
        (args.predictions, "--predictions"),
    ]
    return [(path, flag) for path, flag in given if path is not None]


def _one_line_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: object = None,
    line: str | None = None,
) -> None:
    """Warnings as ``warning: <message>`` lines: the user's data is the subject, not the library's source line."""
    print(f"warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.operating_points is None and args.scores is None and args.predictions is None:
        parser.error("give at least one of --operating_points, --scores, --predictions")
    try:
        with handle_interrupts():
            return _run(args)
    except (OutputError, TableError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except Interrupted as stop:
        print(f"interrupted by {stop.signal_name}; nothing written", file=sys.stderr)
        return EXIT_INTERRUPTED


def _run(args: argparse.Namespace) -> int:
    """Check ``--json`` (writable, apart from every input), score, print, write; the project's errors propagate."""
    if args.json is not None:
        check_separate([(args.json, "--json")], _inputs(args))
        check_output_file(args.json, "--json")
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    with warnings.catch_warnings():
        warnings.showwarning = _one_line_warning
        metrics = evaluate(
            args.ground_truth, args.durations, args.operating_points, args.scores, args.predictions, dedupe=args.dedupe
        )
    sys.stdout.write(format_metrics(metrics))
    if args.json is not None:
        write_text(args.json, json.dumps(metrics, indent=2) + "\n", "--json")
    return 0

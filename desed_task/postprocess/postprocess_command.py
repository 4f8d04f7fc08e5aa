"""``python -m desed_task.postprocess``: tune class-wise post-processing on a validation set, apply it to scores.

Thin wrapper over the library. Every output path is checked before any work (an output that is, would
overwrite or holds an input is refused) and written all or nothing; an error is one line on stderr with exit
status 2, and then nothing is written. An interrupt (SIGINT, SIGTERM) exits 130 and leaves nothing behind.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from desed_task.command_parser import CommandParser
from desed_task.evaluation.psds import SCENARIOS
from desed_task.data.tables import TableError
from desed_task.evaluation.folders import read_score_folder
from desed_task.postprocess.postprocess_errors import MissingExtraError, PostprocessError
from desed_task.postprocess.methods import METHODS

DESCRIPTION_HEAD = """\
Post-process frame scores beyond the recipe's fixed median filter, with class-wise parameters tuned for PSDS:
"""
DESCRIPTION_TAIL = """\
Score folders hold one <clip id>.tsv per clip with columns onset offset <class...> (what the test stage
writes, sed_scores_eval's format). Score the output with: python -m desed_task.evaluation --scores DIR ..."""

EXAMPLE = """\
example:
  python -m desed_task.postprocess tune --method csebb --scores val/scores --ground_truth validation.tsv \\
      --durations validation_durations.tsv --out csebb.json
  python -m desed_task.postprocess apply --params csebb.json --scores test/scores --out test/scores_csebb"""


def description() -> str:
    """The command's description, one entry per registered method."""
    methods = "".join(f"  {name:<7} {cls.summary}\n" for name, cls in METHODS.items())
    return f"{DESCRIPTION_HEAD}\n{methods}\n{DESCRIPTION_TAIL}"


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="python -m desed_task.postprocess",
        description=description(),
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    tune = commands.add_parser(
        "tune",
        help="grid-search class-wise parameters for PSDS on a validation set, write a parameter file",
        description="Grid-search class-wise parameters for PSDS (sed_scores_eval) on a validation set. Each "
        "class takes its best grid point; if a fixed setting (one grid point for all classes, or the recipe's "
        "stage-2 windows) scores higher overall, that is kept instead.",
    )
    tune.add_argument("--method", required=True, choices=sorted(METHODS), help="post-processing method")
    tune.add_argument("--scores", required=True, type=Path, metavar="DIR", help="validation score folder")
    tune.add_argument(
        "--ground_truth",
        required=True,
        type=Path,
        metavar="TSV",
        help="strong labels: filename onset offset event_label (clips without events are ignored)",
    )
    tune.add_argument("--durations", required=True, type=Path, metavar="TSV", help="clip durations: filename duration")
    tune.add_argument(
        "--out", required=True, type=Path, metavar="PARAMS.json", help="parameter file to write (replaced if it exists)"
    )
    tune.add_argument(
        "--scenario",
        type=int,
        choices=[1, 2],
        default=1,
        help="PSDS scenario to maximise: 1 (dtc=gtc=0.7, default) or 2 (dtc=gtc=0.1, cttc=0.3)",
    )
    tune.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="processes scoring grid points in parallel (default 1; each receives the scores once)",
    )
    for cls in METHODS.values():
        cls.add_tune_arguments(tune)
    tune.add_argument("--quiet", action="store_true", help="no progress bars")
    apply = commands.add_parser(
        "apply",
        help="post-process a score folder with a parameter file",
        description="Post-process every score table of a folder with a parameter file written by tune.",
    )
    apply.add_argument("--params", required=True, type=Path, metavar="PARAMS.json", help="parameter file")
    apply.add_argument("--scores", required=True, type=Path, metavar="DIR", help="score folder to post-process")
    apply.add_argument(
        "--out",
        required=True,
        type=Path,
        metavar="DIR",
        help="new (or empty) folder for the post-processed score files",
    )
    apply.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def run_tune(args: argparse.Namespace) -> str:
    """Tune and write the parameter file; the summary line to print."""
    from desed_task.output_files import check_output_file, check_separate
    from desed_task.postprocess.params import write_params
    from desed_task.postprocess.score_tables import consistent_classes

    method = METHODS[args.method]
    method.require_extra()
    check_separate(
        [(args.out, "--out parameter file")],
        [(args.scores, "--scores folder"), (args.ground_truth, "--ground_truth"), (args.durations, "--durations")],
    )
    check_output_file(args.out, "--out parameter file")
    scores = read_score_folder(args.scores)
    consistent_classes(scores, f"the scores in {args.scores}")
    method.check_tuning_scores(scores, f"the scores in {args.scores}")
    params = method.tune(
        scores,
        args.ground_truth,
        args.durations,
        scenario=SCENARIOS[f"psds{args.scenario}"],
        jobs=args.jobs,
        progress=not args.quiet,
        **method.grid_options(args),
    )
    write_params(args.out, params)
    tuning = params.tuning or {}
    return (
        f"{args.method}: PSDS{args.scenario} {tuning['psds']:.4f} on {tuning['clips']} clips with "
        f"{tuning['selected']} parameters -> {args.out}"
    )


def run_apply(args: argparse.Namespace) -> str:
    """Post-process the folder and write the result; the summary line to print."""
    from desed_task.evaluation.folders import write_score_folder
    from desed_task.output_files import check_output_folder, check_separate, write_folder
    from desed_task.postprocess.apply import postprocess_scores
    from desed_task.postprocess.params import read_params

    check_separate([(args.out, "--out folder")], [(args.params, "--params"), (args.scores, "--scores folder")])
    params = read_params(args.params)
    params.require_extra()
    check_output_folder(args.out, "--out folder")
    scores = read_score_folder(args.scores)
    tables = postprocess_scores(scores, params, source=f"the scores in {args.scores}")
    write_folder(args.out, lambda partial: write_score_folder(partial, tables, progress=not args.quiet), "--out folder")
    return f"{params.method}: {len(tables)} score files -> {args.out}"


def main(argv: Sequence[str] | None = None) -> int:
    from desed_task.output_files import EXIT_INTERRUPTED, Interrupted, OutputError, handle_interrupts

    args = build_parser().parse_args(argv)
    try:
        with handle_interrupts():
            summary = run_tune(args) if args.command == "tune" else run_apply(args)
    except (OutputError, PostprocessError, TableError, MissingExtraError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except Interrupted as stop:
        print(f"interrupted by {stop.signal_name}; nothing written (temporary files removed)", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(summary)
    return 0

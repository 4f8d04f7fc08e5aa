"""Project the full recipe's wall clock (stage 1 and stage 2: training, validation, test) on this machine from
measured parts: training steps, data loading, epoch overhead, validation forward passes and scoring, test.
Prints a table of stage x part with minutes and share, and writes the measured inputs and the projection as JSON
(``total_min``, ``parts``). See docs/performance.md, "Projected run time of the recipe".

Example: ``python scripts/recipe_time.py --device cuda --json recipe_time.json``
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import torch

import _repo_path  # noqa: F401  (the repository root on sys.path: tools is not in the wheel)
from desed_task.command_parser import CommandParser
from desed_task.output_files import write_text
from tools.recipe_time import RECIPES, TESTS_DATA, Setup, format_table, project_recipe


def _problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the command line, or None (checked before any measurement)."""
    if args.device == "cuda" and not torch.cuda.is_available():
        return "--device cuda but torch sees no CUDA GPU; use --device cpu"
    out = args.json.resolve()
    if out.is_dir() or not out.parent.is_dir():
        return f"--json {args.json}: not a file in an existing folder"
    if out in {path.resolve() for path in RECIPES.values()}:
        return f"--json {args.json}: is one of the recipe's YAML files, which this command reads"
    if TESTS_DATA.resolve() in out.parents:
        return f"--json {args.json}: inside {TESTS_DATA}, whose ground truth this command reads"
    if args.data is not None:
        data = args.data.resolve()
        if not (data / "metadata").is_dir():
            return f"--data {args.data}: no metadata/ folder there; give a DESED-format folder (docs/data.md)"
        if data == out or data in out.parents:
            return f"--json {args.json}: inside --data {args.data}, which this command reads"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = CommandParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=("cpu", "cuda"), required=True, help="device to measure on")
    parser.add_argument("--json", type=Path, required=True, help="where to write the projection and its inputs")
    parser.add_argument(
        "--precision",
        choices=("32", "bf16-mixed", "16-mixed"),
        default=None,
        help="training precision of both stages (default: each stage's YAML, float32)",
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="a DESED-format folder for the data-loading timing (default: the synthetic "
        "generator's tiny preset in a temporary folder)",
    )
    parser.add_argument(
        "--train_batch",
        "--train-batch",
        type=int,
        nargs=4,
        default=None,
        metavar=("STRONG", "SYNTH", "WEAK", "UNLABELED"),
        help="time the training steps at this batch and scale them to each stage's batch by the "
        "clip count (default: each stage's batch; a smaller one for a CPU)",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny network and sizes, to check that every part runs in seconds (numbers mean nothing)",
    )
    args = parser.parse_args(argv)
    problem = _problem(args)
    if problem is None and args.train_batch and min(args.train_batch) < 1:
        problem = f"--train_batch {args.train_batch}: every subset needs at least one clip"
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    setup = Setup.for_run(
        args.device, args.smoke, args.precision, str(args.data) if args.data else None, args.train_batch
    )
    result = project_recipe(setup)
    print(format_table(result))
    write_text(args.json, json.dumps(result, indent=2) + "\n", "--json")
    return 0


if __name__ == "__main__":
    sys.exit(main())

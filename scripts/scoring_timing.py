"""Time validation and test-stage scoring in the training process and with scoring workers, back to back, on the
DESED validation ground truth (docs/performance.md#scoring-workers). Prints (and with --json writes) wall and CPU
seconds of each and whether the numbers were the same.

Example: ``python scripts/scoring_timing.py --workers 2 --json docs/measurements/scoring_cpu.json``
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import _repo_path  # noqa: F401  (the repository root on sys.path: tools is not in the wheel)
from desed_task.command_parser import CommandParser
from desed_task.evaluation.pool import default_scoring_workers
from tools.scoring_timing import SYNTHETIC_VALIDATION_CLIPS, compare_scoring, validation_sets

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "desed_validation"


def main(argv: list[str] | None = None) -> int:
    parser = CommandParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--workers",
        type=int,
        default=default_scoring_workers(0),
        help="scoring workers of the parallel runs (default: the available cores)",
    )
    parser.add_argument(
        "--synthetic_clips",
        "--synthetic-clips",
        type=int,
        default=SYNTHETIC_VALIDATION_CLIPS,
        help="clips of the synthetic-validation stand-in (default: DESED's 2,500)",
    )
    parser.add_argument(
        "--real_clips",
        "--real-clips",
        type=int,
        default=None,
        help="first clips of the real validation set to use (default: all 1,168)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    if args.workers < 2:
        print(
            f"error: --workers must be at least 2 to compare with the serial path, got {args.workers}", file=sys.stderr
        )
        return 2
    if args.json is not None and not args.json.parent.is_dir():
        print(f"error: --json: folder {args.json.parent} does not exist", file=sys.stderr)
        return 2
    sets = validation_sets(
        DATA / "validation.tsv", DATA / "validation_durations.tsv", args.synthetic_clips, args.real_clips
    )
    results = {
        "synthetic_clips": args.synthetic_clips,
        "real_clips": len(sets["strong_val"].clip_ids),
        **compare_scoring(sets, args.workers),
    }
    text = json.dumps(results, indent=2)
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

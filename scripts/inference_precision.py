"""bf16 against float32 inference: end-to-end clips/s of the full-size network at batch 1 and 8 on the CPU and,
given a trained checkpoint and a test set, the largest score difference and PSDS1/PSDS2 in both precisions.

Example (the demo's stage-2 teacher on the synthetic test set):

    python scripts/inference_precision.py --json bf16.json \\
        --checkpoint demo_out/stage2/version_0/checkpoints/last.ckpt \\
        --audio demo_out/synthetic_demo/audio/validation/validation_16k \\
        --ground_truth demo_out/synthetic_demo/metadata/validation/validation.tsv \\
        --durations demo_out/synthetic_demo/metadata/validation/validation_durations.tsv
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import _repo_path  # noqa: F401  (the repository root on sys.path: tools is not in the wheel)
from desed_task.command_parser import CommandParser
from tools.inference_precision import measure


def main(argv: list[str] | None = None) -> int:
    parser = CommandParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, required=True, help="where to write the results")
    parser.add_argument("--checkpoint", type=Path, help="a stage checkpoint whose teacher's scores are compared")
    parser.add_argument("--audio", type=Path, help="folder of .wav test clips (with --checkpoint)")
    parser.add_argument("--ground_truth", "--ground-truth", type=Path, help="DESED strong-label tsv of the test clips")
    parser.add_argument("--durations", type=Path, help="durations tsv of the test clips")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per precision and batch (best kept)")
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="also list the N costliest operators of one network forward in each precision",
    )
    args = parser.parse_args(argv)
    scoring = (args.checkpoint, args.audio, args.ground_truth, args.durations)
    if any(scoring) and not all(scoring):
        parser.error("--checkpoint, --audio, --ground_truth and --durations go together")
    if args.json.is_dir() or not args.json.parent.is_dir():
        parser.error(f"--json {args.json}: not a file in an existing folder")
    results = measure(*scoring, rounds=args.rounds, profile_top=args.profile)
    from desed_task.output_files import write_text

    write_text(args.json, json.dumps(results, indent=2) + "\n", "--json")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Measure the matmul limit, inference (float32 and bf16 autocast), stage-2 training steps (float32 and
bf16-mixed), data loading and the test stage's scoring on this machine. Keys: docs/performance.md.

Example: ``python scripts/benchmark.py --device cuda --json results.json``
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
from tools.benchmark import format_table, run_benchmark
from tools.stage2_step import PAPER_BATCH, TINY_NETWORK

CPU_BATCH = (1, 1, 2, 2)  # the paper's proportions, smallest


def main(argv: list[str] | None = None) -> int:
    parser = CommandParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default="cuda" if torch.cuda.is_available() else "cpu",
        help="device to measure (default: cuda when available, else cpu)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    parser.add_argument(
        "--train_batch",
        "--train-batch",
        type=int,
        nargs=4,
        default=None,
        metavar=("STRONG", "SYNTH", "WEAK", "UNLABELED"),
        help="clips of each training subset per stage-2 step (default: 1 1 2 2 on cpu, the paper's "
        "24 24 48 48 on cuda)",
    )
    parser.add_argument("--train_warmup", "--train-warmup", type=int, default=1, help="stage-2 steps run before timing")
    parser.add_argument(
        "--train_steps", "--train-steps", type=int, default=3, help="timed stage-2 steps (their median is reported)"
    )
    parser.add_argument(
        "--precisions",
        nargs="+",
        default=["32", "bf16-mixed"],
        choices=("32", "bf16-mixed", "16-mixed"),
        help="precisions of inference and training steps",
    )
    parser.add_argument("--repeats", type=int, default=10, help="timed repetitions (best is kept) for inference")
    parser.add_argument(
        "--window",
        type=float,
        default=10.0,
        help="seconds over which the matmul limit and batch-1 inference keep their best call "
        "(longer is steadier on a shared machine)",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's setting)")
    parser.add_argument("--no_train", "--no-train", action="store_true", help="skip the stage-2 training steps")
    parser.add_argument(
        "--no_test_scoring",
        "--no-test-scoring",
        action="store_true",
        help="skip timing the test stage's scoring of 1,168 clips (CPU work, about a minute)",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny network and sizes, to check that every part runs (the numbers mean nothing)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda but torch sees no CUDA GPU; use --device cpu", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    train_batch = tuple(args.train_batch or (CPU_BATCH if args.device == "cpu" else PAPER_BATCH))
    options = dict(
        repeats=args.repeats, window_seconds=args.window, train_warmup=args.train_warmup, train_steps=args.train_steps
    )
    if args.smoke:
        train_batch = (1, 1, 1, 1)
        options = dict(
            repeats=1,
            window_seconds=0.0,
            train_warmup=1,
            train_steps=1,
            inference_batches=(1, 2),
            data_clips=4,
            matmul_sizes=(256,),
            overrides=TINY_NETWORK,
        )
    results = run_benchmark(
        args.device,
        train_batch=train_batch,
        precisions=tuple(args.precisions),
        train=not args.no_train,
        test_scoring=not args.no_test_scoring,
        **options,
    )
    print(format_table(results))
    if args.json:
        from desed_task.output_files import write_text

        write_text(args.json, json.dumps(results, indent=2) + "\n", "--json")
    return 0


if __name__ == "__main__":
    sys.exit(main())

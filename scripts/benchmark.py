"""Measure matmul limit, inference, one stage-2 training step and data loading on this machine.

Example: ``python scripts/benchmark.py --device cuda --train-batch 24 --json results.json``
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import torch

from desed_task.tools.benchmark import describe_device, format_table, run_benchmark


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu",
                        help="device to measure (default: cuda when available, else cpu)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    parser.add_argument("--train-batch", type=int, default=None,
                        help="clips per training step (default: 1 on cpu; 144 = [24, 24, 48, 48] on cuda)")
    parser.add_argument("--precisions", nargs="+", default=["32", "bf16-mixed"],
                        choices=("32", "bf16-mixed", "16-mixed"), help="training-step precisions to measure")
    parser.add_argument("--repeats", type=int, default=10, help="timed repetitions (best is kept) for inference")
    parser.add_argument("--window", type=float, default=10.0,
                        help="seconds over which the matmul limit and batch-1 inference keep their best call "
                             "(longer is steadier on a shared machine)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's setting)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda but torch sees no CUDA GPU; use --device cpu", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    train_batch = args.train_batch or (1 if args.device == "cpu" else 144)
    results = run_benchmark(args.device, train_batch=train_batch, precisions=tuple(args.precisions),
                            repeats=args.repeats, window_seconds=args.window)
    device = describe_device(torch.device(args.device))
    print(f"device: {device}")
    print(format_table(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"device": device, **results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Write a synthetic dataset in the DESED folder layout (16 kHz, 10 s clips, every metadata file the configs use).

    python scripts/make_synthetic_desed.py --out ../data/synthetic_demo --preset demo

Then set `data.root` of a configuration to the --out folder (confs/demo_stage*.yaml point at ../data/synthetic_demo).
See docs/data.md for the layout and the sound of each class.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from desed_task.command_parser import CommandParser


def main(argv: list[str] | None = None) -> int:
    parser = CommandParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, type=Path, help="dataset folder to write (created if needed)")
    parser.add_argument(
        "--preset",
        choices=("tiny", "demo"),
        default="demo",
        help="size: 'tiny' (a few clips per subset, seconds; for tests) or 'demo' (~1100 clips)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed; the same seed writes the same data")
    parser.add_argument(
        "--classes",
        default=None,
        help="comma-separated class labels (default: the 10 DESED classes); class i gets sound type i mod 10",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    from desed_task.data import DESED_CLASSES, make_synthetic_desed

    labels = [c.strip() for c in args.classes.split(",") if c.strip()] if args.classes else list(DESED_CLASSES)
    out = make_synthetic_desed(args.out, preset=args.preset, seed=args.seed, labels=labels, progress=not args.quiet)
    print(f"synthetic DESED ({args.preset}) written to {out}; set data.root: {out.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Render the README's performance table from the benchmark's JSON (and a GPU check's), or replace it in the README.

Example: ``python scripts/benchmark.py --json bench.json && python scripts/performance_table.py bench.json --readme
README.md``
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import _repo_path  # noqa: F401  (the repository root on sys.path: tools is not in the wheel)
from desed_task.command_parser import CommandParser
from desed_task.output_files import OutputError, write_text
from tools.performance_table import render_table, replace_table


def main(argv: list[str] | None = None) -> int:
    parser = CommandParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("benchmark", type=Path, help="JSON written by scripts/benchmark.py --json")
    parser.add_argument(
        "--gpu_check",
        "--gpu-check",
        type=Path,
        default=None,
        help="JSON written by scripts/gpu_check.sh (its stage-2 memory at the paper's batch)",
    )
    parser.add_argument(
        "--readme", type=Path, default=None, help="replace the generated table in this file instead of printing it"
    )
    args = parser.parse_args(argv)
    try:
        results = json.loads(args.benchmark.read_text())
        gpu_check = json.loads(args.gpu_check.read_text()) if args.gpu_check else None
        table = render_table(results, gpu_check)
        if args.readme is None:
            print(table)
            return 0
        write_text(args.readme, replace_table(args.readme.read_text(), table), "--readme")
    except (OSError, ValueError, KeyError, OutputError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"table replaced in {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Run the GPU check's plan (tools.gpu_check) and write its one JSON; called by scripts/gpu_check.sh.

Example: ``python scripts/gpu_check.py gpu_check.json`` (or ``--dry_run`` on a CPU, with tiny sizes)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import _repo_path  # noqa: F401  (the repository root on sys.path: tools is not in the wheel)
from desed_task.command_parser import CommandParser
from tools.gpu_check import PARTS, run_check


def _cli_summary(value: dict) -> str:
    if "runs" not in value:
        return f"synthetic data: {value.get('status')}"
    lines = []
    for run in value["runs"]:
        times = ", ".join(
            f"{name} {c['wall_s']:.0f} s" if "wall_s" in c else f"{name} {c['status']}"
            for name, c in run["commands"].items()
        )
        psds = run.get("stage2_teacher_psds1")
        same = run.get("test_from_checkpoint", {}).get("same_numbers")
        lines.append(
            f"{run['precision']}: {run['status']} ({times})"
            + (f", stage-2 teacher PSDS1 {psds:.3f}" if psds is not None else "")
            + ("" if same is None else f", test from checkpoint {'same' if same else 'DIFFERENT'}")
        )
    return "; ".join(lines)


def _summary(part: str, value: object) -> str:
    if part == "cli_runs" and isinstance(value, dict):
        return _cli_summary(value)
    if isinstance(value, list):
        return "; ".join(_summary(part, v) for v in value)
    if not isinstance(value, dict):
        return str(value)
    if part == "stage2_paper_batch" or part == "ddp":
        what = f"{value.get('precision')}{' + checkpointing' if value.get('activation_checkpointing') else ''}"
        if value.get("status") == "ok":
            return f"{what}: {value['step_s_median']:.3f} s/step, peak {value['peak_memory_mb']:.0f} MB"
        return f"{what}: {value.get('status')}"
    return str(value.get("status"))


def main(argv: list[str] | None = None) -> int:
    parser = CommandParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("json", type=Path, help="where to write the results (rewritten after every part)")
    parser.add_argument(
        "--dry_run",
        "--dry-run",
        action="store_true",
        help="the same plan on the CPU with tiny sizes (checks the plan, measures nothing useful)",
    )
    parser.add_argument(
        "--parts",
        nargs="+",
        choices=PARTS,
        default=list(PARTS),
        metavar="PART",
        help=f"run only these parts (default: all, in this order: {' '.join(PARTS)})",
    )
    args = parser.parse_args(argv)
    results = run_check(args.json, dry_run=args.dry_run, parts=tuple(args.parts))
    failed = []
    for part in results["parts"]:
        print(f"{part}: {_summary(part, results[part])}")
        runs = results[part] if isinstance(results[part], list) else [results[part]]
        if any(run.get("status") not in ("ok", "skipped", "out_of_memory") for run in runs):
            failed.append(part)
    print(f"results in {args.json} ({results['elapsed_s']:.0f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

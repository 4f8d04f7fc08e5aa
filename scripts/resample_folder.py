"""Resample a DESED folder tree (44.1 kHz as downloaded) to 16 kHz, keeping the folder structure.

    python scripts/resample_folder.py dataset/audio/train/weak dataset/audio/train/weak_16k --workers 8

soxr "HQ" (librosa's default, as the original recipe used), in parallel, with a progress bar. Idempotent: files
already converted are skipped, so an interrupted run can simply be started again. Exit code 1 if any file failed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from desed_task.command_parser import CommandParser


def main(argv: list[str] | None = None) -> int:
    parser = CommandParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", type=Path, help="folder with .wav/.flac files (searched recursively)")
    parser.add_argument("output", type=Path, help="folder to write; the same relative paths as under INPUT")
    parser.add_argument("--sr", type=int, default=16000, help="target sample rate in Hz (default 16000)")
    parser.add_argument("--workers", type=int, default=None, help="parallel processes (default: CPU count)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    from desed_task.data import resample_folder

    report = resample_folder(args.input, args.output, args.sr, args.workers, progress=not args.quiet)
    print(
        f"{report.converted} resampled, {report.copied} copied (already at {args.sr} Hz), "
        f"{report.skipped} already done, {len(report.failed)} failed"
    )
    for failure in report.failed[:20]:
        print(f"  failed: {failure}", file=sys.stderr)
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())

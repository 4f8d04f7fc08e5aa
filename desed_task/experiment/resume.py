"""What to tell a user whose training run was interrupted: the checkpoint to resume from."""
from __future__ import annotations

from pathlib import Path


def newest_last_checkpoint(log_dir: str | Path) -> Path | None:
    """The most recently written ``<log_dir>/version_K/checkpoints/last.ckpt``, or None when there is none."""
    found = [path for path in Path(log_dir).glob("version_*/checkpoints/last.ckpt") if path.is_file()]
    return max(found, key=lambda path: path.stat().st_mtime, default=None)


def resume_hint(log_dir: str | Path) -> str:
    """``resume with --resume_from_checkpoint <newest last.ckpt>``, or that there is nothing to resume from."""
    last = newest_last_checkpoint(log_dir)
    if last is None:
        return f"no last.ckpt under {log_dir} yet: nothing to resume from, start the run again"
    return f"resume with --resume_from_checkpoint {last}"

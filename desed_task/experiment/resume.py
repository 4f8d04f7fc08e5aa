"""The checkpoint a run resumes from: ``--resume_from_checkpoint last`` resolved to the newest run's ``last.ckpt``
under ``--log_dir``, and the hint an interrupted run prints (no Lightning import: the command line uses both)."""

from __future__ import annotations

from pathlib import Path

from desed_task.config.files import ConfigError

LAST = "last"
LAST_FILE = f"{LAST}.ckpt"


def _version_number(folder: Path) -> int | None:
    suffix = folder.name[len("version_") :]
    return int(suffix) if folder.name.startswith("version_") and suffix.isdigit() else None


def newest_last_checkpoint(log_dir: str | Path) -> Path | None:
    """``version_K/checkpoints/last.ckpt`` of the highest K under ``log_dir`` that has one, or None."""
    versions = [(n, p) for p in Path(log_dir).glob("version_*") if (n := _version_number(p)) is not None]
    for _, folder in sorted(versions, reverse=True):
        last = folder / "checkpoints" / LAST_FILE
        if last.is_file():
            return last
    return None


def resolve_resume(checkpoint: str | None, log_dir: str | Path) -> str | None:
    """``--resume_from_checkpoint`` as a path: the word ``last`` becomes the newest run's ``last.ckpt`` under
    ``log_dir``; anything else is returned as given (and checked with the other input paths)."""
    if checkpoint != LAST:
        return checkpoint
    found = newest_last_checkpoint(log_dir)
    if found is None:
        raise ConfigError(
            f"--resume_from_checkpoint last: no version_*/checkpoints/{LAST_FILE} under --log_dir "
            f"{log_dir}: pass the --log_dir of the run to resume, or the checkpoint's path"
        )
    return str(found)


def resume_hint(log_dir: str | Path) -> str:
    """``resume with --resume_from_checkpoint <newest last.ckpt>``, or that there is nothing to resume from."""
    last = newest_last_checkpoint(log_dir)
    if last is None:
        return f"no {LAST_FILE} under {log_dir} yet: nothing to resume from, start the run again"
    return f"resume with --resume_from_checkpoint {last}"

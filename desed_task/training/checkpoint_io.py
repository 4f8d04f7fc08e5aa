"""Checkpoint files that are either the previous complete file or the new complete file, never a truncated one.

Lightning's own writer builds the checkpoint in a temporary file under ``$TMPDIR`` and moves it into place; when
the experiment folder is on another filesystem the move falls back to a copy over the target, so a kill during the
save truncates the only resume point. Here the temporary file is created in the target's own folder (hidden:
``.last.ckpt.partial-<pid>-<random>``), flushed and synced to disk, then renamed over the target with
``os.replace``, which is atomic within one filesystem. A writer killed before the rename leaves only its hidden
temporary file, which no checkpoint search matches and the next writer in that folder removes.
"""
from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import torch
from fsspec.utils import get_protocol
from lightning.fabric.utilities.types import _PATH
from lightning.pytorch.plugins.io import TorchCheckpointIO

PARTIAL_TAG = ".partial-"


def partial_prefix(target: Path) -> str:
    """The name every temporary file of ``target`` starts with (before ``<pid>-<random>``)."""
    return f".{target.name}{PARTIAL_TAG}"


def _writer_pid(name: str) -> int | None:
    """The process id in a temporary file's name, or None for a name that is not one of ours."""
    if not name.startswith(".") or PARTIAL_TAG not in name:
        return None
    pid = name.rpartition(PARTIAL_TAG)[2].partition("-")[0]
    return int(pid) if pid.isdigit() else None


def _is_running(pid: int) -> bool:
    """Whether a process with this id runs on this host (a writer on another host counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_partials(folder: Path) -> list[Path]:
    """Delete the temporary files in ``folder`` whose writer no longer runs; returns what was removed."""
    removed = []
    if not folder.is_dir():
        return removed
    for path in folder.iterdir():
        pid = _writer_pid(path.name)
        if pid is None or pid == os.getpid() or _is_running(pid):
            continue
        path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def _sync_folder(folder: Path) -> None:
    """Make a rename inside ``folder`` durable (a no-op where folders can't be opened, as on Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomically(target: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Call ``write`` on a temporary file beside ``target``, sync it, then rename it over ``target``.

    On any failure (an exception, KeyboardInterrupt) the temporary file is removed and ``target`` is untouched.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.parent / f"{partial_prefix(target)}{os.getpid()}-{secrets.token_hex(4)}"
    # Created like any new file (permissions from the umask, unlike tempfile's 0600), never over another's.
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _sync_folder(target.parent)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer for local paths, writing each checkpoint with ``write_atomically`` (remote
    URLs keep Lightning's own writer). The first save into a folder removes the temporary files of killed
    writers there."""

    def __init__(self) -> None:
        super().__init__()
        self._cleaned: set[Path] = set()

    def save_checkpoint(self, checkpoint: dict[str, Any], path: _PATH, storage_options: Any | None = None) -> None:
        if storage_options is not None or get_protocol(str(path)) not in ("file", "local"):
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        target = Path(path)
        if target.parent not in self._cleaned:
            remove_stale_partials(target.parent)
            self._cleaned.add(target.parent)
        write_atomically(target, lambda file: self.write(checkpoint, file))

    def write(self, checkpoint: dict[str, Any], file: IO[bytes]) -> None:
        """Serialise the checkpoint into an open file."""
        torch.save(checkpoint, file)

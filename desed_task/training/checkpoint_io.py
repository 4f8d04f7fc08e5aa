"""Checkpoint files that are either the previous complete file or the new complete file, never a truncated one.

Lightning's own writer builds the checkpoint in a temporary file under ``$TMPDIR`` and moves it into place; when
the experiment folder is on another filesystem the move falls back to a copy over the target, so a kill during the
save truncates the only resume point. Here the temporary file is created in the target's own folder (hidden, named
by the output layer's rule: ``.last.ckpt.partial-<pid>-<8 hex digits>``), flushed and synced to disk, then renamed
over the target with ``os.replace``, which is atomic within one filesystem. A writer killed before the rename
leaves only its hidden temporary file, which no checkpoint search matches and the next writer in that folder removes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import torch
from fsspec.utils import get_protocol
from lightning.fabric.utilities.types import _PATH
from lightning.pytorch.plugins.io import TorchCheckpointIO

from desed_task.output_files import remove_stale_partials, temporary_name


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
    temporary = temporary_name(target)
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

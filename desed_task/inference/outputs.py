"""All-or-nothing outputs of the command line: every path is checked before any work, each result is written
under a temporary name next to its destination, and the names are swapped in only once all results are written.
If anything fails, every temporary file, every output already moved into place and every folder created for
them are removed, so a run leaves all its outputs or none.

Files are created like any other file of the user (mode 0666 less the umask), not 0600 as ``tempfile`` makes them.
"""
from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

from desed_task.inference.errors import InferenceError


def _nearest_existing(path: Path) -> Path:
    ancestor = path.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    return ancestor


def check_output_path(path: Path, what: str) -> None:
    """Fail now if ``path`` cannot become a file: it is a folder, a parent is a file, or its folder (the nearest
    existing one) does not take a new file (permissions, a read-only file system); an existing file is replaced."""
    path = Path(os.path.abspath(path))
    if path.is_dir():
        raise InferenceError(f"cannot write {what} {path}: it is a folder; give a file path")
    ancestor = _nearest_existing(path)
    if not ancestor.is_dir():
        raise InferenceError(f"cannot write {what} {path}: {ancestor} is a file, not a folder")
    probe = ancestor / f".{path.name}.probe-{uuid.uuid4().hex[:8]}"
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    except OSError as error:
        raise InferenceError(f"cannot write {what} {path}: {error.strerror} in {ancestor}") from None
    probe.unlink(missing_ok=True)


class AtomicOutputs:
    """A set of output files written together: ``write`` each under a temporary name, ``commit`` moves them all
    into place; leaving the ``with`` block by an exception (or calling ``abort``) removes everything written."""

    def __init__(self, paths: Sequence[tuple[Path, str]]) -> None:
        """``paths``: (destination, what it is, for messages); all checked here, before any work."""
        destinations = [Path(os.path.abspath(p)) for p, _ in paths]
        if len(set(destinations)) != len(destinations):
            raise InferenceError("two outputs have the same path: give --tsv and --plot different file names")
        for path, what in paths:
            check_output_path(path, what)
        self.what = {Path(os.path.abspath(p)): what for p, what in paths}
        self.pending: dict[Path, Path] = {}  # destination → temporary file
        self.created_dirs: list[Path] = []
        self.committed: list[Path] = []

    def __enter__(self) -> "AtomicOutputs":
        return self

    def __exit__(self, kind: type | None, error: BaseException | None, trace: TracebackType | None) -> None:
        if kind is None:
            self.commit()
        else:
            self.abort()

    def write(self, path: Path, writer: Callable[[Path], object]) -> None:
        """Call ``writer(temporary path)`` to write the output that will become ``path``."""
        path = Path(os.path.abspath(path))
        what = self.what[path]
        self._make_parents(path.parent, what)
        temporary = path.parent / f".{path.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except OSError as error:
            raise InferenceError(f"cannot write {what} {path}: {error.strerror}") from None
        self.pending[path] = temporary
        try:
            writer(temporary)
        except OSError as error:
            raise InferenceError(f"cannot write {what} {path}: {error.strerror or error}") from None

    def commit(self) -> None:
        """Move every written output into place; on a failure, undo (see ``abort``) and raise."""
        try:
            for path, temporary in list(self.pending.items()):
                os.replace(temporary, path)
                del self.pending[path]
                self.committed.append(path)
        except OSError as error:
            self.abort()
            raise InferenceError(f"cannot write {self.what[path]} {path}: {error.strerror or error}") from None

    def abort(self) -> None:
        """Remove the temporary files, the outputs already moved into place and the folders made for them."""
        for path in [*self.pending.values(), *self.committed]:
            path.unlink(missing_ok=True)
        self.pending.clear()
        self.committed.clear()
        for folder in reversed(self.created_dirs):
            try:
                folder.rmdir()
            except OSError:
                pass  # not empty: someone else put a file there meanwhile
        self.created_dirs.clear()

    def _make_parents(self, folder: Path, what: str) -> None:
        missing = []
        while not folder.exists():
            missing.append(folder)
            folder = folder.parent
        for new in reversed(missing):
            try:
                new.mkdir()
            except OSError as error:
                raise InferenceError(f"cannot create the folder {new} for {what}: {error.strerror}") from None
            self.created_dirs.append(new)

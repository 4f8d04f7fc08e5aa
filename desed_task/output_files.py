"""The one output layer of every command: outputs are checked against the command's inputs and written all or
nothing, and an interrupt (SIGINT, SIGTERM) leaves nothing half-written.

- ``check_separate``: no output may be an input, by resolved path or by inode (symlinks, hard links), nor an
  existing file inside an input folder, nor a folder holding an input. Checked before any work.
- ``check_output_file`` / ``check_output_folder``: the path can become a file (a new or empty folder).
- ``AtomicOutputs``, ``write_text``, ``write_folder``: each result is written under a temporary name in the
  target's own folder (so the final rename is atomic on every file system) and renamed into place at the end.
- Temporary names are ``.<name>.partial-<pid>-<8 hex digits>``: a run writing into a folder first removes the
  ones left there by processes that no longer exist (a killed run).
- ``handle_interrupts``: SIGINT and SIGTERM raise ``Interrupted`` in the command's process, so the ``with``
  blocks above clean up; the command then exits with ``EXIT_INTERRUPTED`` and one line.
- ``create_numbered_folder``: ``version_K`` folders created exclusively, so runs started together differ.

Files are created like any other file of the user (mode 0666 less the umask), not 0600 as ``tempfile`` makes them.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType, TracebackType

EXIT_INTERRUPTED = 130
PARTIAL_PATTERN = re.compile(r"^\..+\.partial-(?P<pid>\d+)-[0-9a-f]{8}$")

Named = tuple[str | Path, str]  # a path and what it is, for messages ("--tsv", "ground truth")


class OutputError(Exception):
    """An output that cannot or must not be written; the message names the path(s) and what to do."""


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived; a ``BaseException`` like ``KeyboardInterrupt``, so only cleanup code sees it."""

    def __init__(self, signal_number: int) -> None:
        self.signal_name = signal.Signals(signal_number).name
        super().__init__(f"interrupted by {self.signal_name}")


def temporary_name(path: Path) -> Path:
    """A fresh temporary name in ``path``'s own folder, recognisable as ours and as stale once its pid is gone."""
    return path.parent / f".{path.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def remove_stale_partials(folder: Path) -> list[Path]:
    """Remove the temporary files and folders of dead processes in ``folder`` (our name pattern only)."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = PARTIAL_PATTERN.match(entry.name)
        if match is None or _alive(int(match["pid"])):
            continue
        path = Path(entry.path)
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(path)
            else:
                path.unlink()
        except OSError:
            continue  # removed meanwhile by another run, or not ours to remove
        removed.append(path)
    return removed


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_dev, status.st_ino


def _files_under(folder: Path) -> Iterator[Path]:
    for root, _, files in os.walk(folder, followlinks=True):
        for name in files:
            yield Path(root) / name


def check_separate(outputs: Sequence[Named], inputs: Sequence[Named]) -> None:
    """Raise ``OutputError`` (naming both) if an output would replace or hold an input.

    An output overlaps an input when it resolves to the same path, is the same file (st_dev, st_ino) through a
    symlink or a hard link, is an existing file inside an input folder, or is a folder holding an input.
    Input folders are walked only when an output exists already (a new path cannot be any input's inode).
    """
    named_inputs = [(Path(os.path.realpath(p)), Path(p), what) for p, what in inputs if p is not None]
    input_ids: dict[tuple[int, int], str] = {}
    walked = False
    for out_path, out_what in outputs:
        out_path = Path(out_path)
        resolved = Path(os.path.realpath(out_path))
        for real, given, what in named_inputs:
            if resolved == real:
                raise _overlap(out_what, out_path, f"would overwrite the input {what} {given}")
            if real.is_relative_to(resolved):
                raise _overlap(out_what, out_path, f"holds the input {what} {given}")
        if not out_path.exists():
            continue
        if not walked:
            walked = True
            for real, given, what in named_inputs:
                for file in _files_under(real) if real.is_dir() else [real]:
                    identity = _identity(file)
                    if identity is not None and identity not in input_ids:
                        input_ids[identity] = (
                            f"would overwrite the input {what} {given}"
                            if file == real
                            else f"would overwrite {file}, inside the input {what} {given}"
                        )
        for file in _files_under(resolved) if resolved.is_dir() else [resolved]:
            hit = input_ids.get(_identity(file) or (-1, -1))
            if hit is not None:
                raise _overlap(out_what, out_path, hit)


def _overlap(out_what: str, out_path: Path, relation: str) -> OutputError:
    return OutputError(f"{out_what} {out_path} {relation}: give an output path apart from every input")


def _nearest_existing(path: Path) -> Path:
    ancestor = path.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    return ancestor


def _check_creatable(path: Path, what: str) -> None:
    ancestor = _nearest_existing(path)
    if not ancestor.is_dir():
        raise OutputError(f"cannot write {what} {path}: {ancestor} is a file, not a folder")
    probe = temporary_name(ancestor / path.name)
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    except OSError as error:
        raise OutputError(f"cannot write {what} {path}: {error.strerror} in {ancestor}") from None
    probe.unlink(missing_ok=True)


def check_output_file(path: str | Path, what: str) -> Path:
    """Fail now if ``path`` cannot become a file: it is a folder, a parent is a file, or its folder (the nearest
    existing one) does not take a new file (permissions, a read-only file system); an existing file is replaced."""
    path = Path(os.path.abspath(path))
    if path.is_dir():
        raise OutputError(f"cannot write {what} {path}: it is a folder; give a file path")
    _check_creatable(path, what)
    return path


def check_output_folder(path: str | Path, what: str) -> Path:
    """Fail now if ``path`` cannot become a new folder: it is a file, a non-empty folder, or cannot be made."""
    path = Path(os.path.abspath(path))
    if path.exists() and not path.is_dir():
        raise OutputError(f"cannot write {what} {path}: it exists and is not a folder; give a new folder path")
    if path.is_dir() and any(path.iterdir()):
        raise OutputError(
            f"cannot write {what} {path}: it is not empty; give a new or empty folder (nothing is overwritten)"
        )
    _check_creatable(path, what)
    return path


class AtomicOutputs:
    """A set of output files written together: ``write`` each under a temporary name, leaving the ``with`` block
    moves them all into place; leaving it by an exception (``Interrupted`` too) or calling ``abort`` removes
    everything written, the outputs already moved into place and the folders made for them."""

    def __init__(self, paths: Sequence[Named]) -> None:
        """``paths``: (destination, what it is, for messages); all checked here, before any work."""
        destinations = [Path(os.path.abspath(p)) for p, _ in paths]
        if len(set(destinations)) != len(destinations):
            raise OutputError("two outputs have the same path: give each output its own file name")
        for path, what in paths:
            check_output_file(path, what)
        self.what = {Path(os.path.abspath(p)): what for p, what in paths}
        self.pending: dict[Path, Path] = {}  # destination → temporary file
        self.created_dirs: list[Path] = []
        self.committed: list[Path] = []
        self.cleaned: set[Path] = set()

    def __enter__(self) -> "AtomicOutputs":
        return self

    def __exit__(self, kind: type | None, error: BaseException | None, trace: TracebackType | None) -> None:
        if kind is None:
            self.commit()
        else:
            self.abort()

    def write(self, path: str | Path, writer: Callable[[Path], object]) -> None:
        """Call ``writer(temporary path)`` to write the output that will become ``path``."""
        path = Path(os.path.abspath(path))
        what = self.what[path]
        self._make_parents(path.parent, what)
        if path.parent not in self.cleaned:
            remove_stale_partials(path.parent)
            self.cleaned.add(path.parent)
        temporary = temporary_name(path)
        try:
            os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except OSError as error:
            raise OutputError(f"cannot write {what} {path}: {error.strerror}") from None
        self.pending[path] = temporary
        try:
            writer(temporary)
        except OSError as error:
            raise OutputError(f"cannot write {what} {path}: {error.strerror or error}") from None

    def commit(self) -> None:
        """Move every written output into place; on a failure, undo (see ``abort``) and raise."""
        try:
            for path, temporary in list(self.pending.items()):
                os.replace(temporary, path)
                del self.pending[path]
                self.committed.append(path)
        except OSError as error:
            self.abort()
            raise OutputError(f"cannot write {self.what[path]} {path}: {error.strerror or error}") from None

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
            except FileExistsError:
                continue  # made meanwhile by another process: not ours to remove
            except OSError as error:
                raise OutputError(f"cannot create the folder {new} for {what}: {error.strerror}") from None
            self.created_dirs.append(new)


def write_text(path: str | Path, text: str, what: str) -> Path:
    """Write ``text`` to the file ``path`` all or nothing (a temporary file renamed over it)."""
    with AtomicOutputs([(path, what)]) as outputs:
        outputs.write(path, lambda temporary: temporary.write_text(text, encoding="utf-8"))
    return Path(path)


def write_folder(folder: str | Path, fill: Callable[[Path], object], what: str) -> Path:
    """Make the new (or empty) ``folder`` all or nothing: ``fill(temporary folder)`` writes its content, which
    is renamed into place at the end; on any failure or interrupt the temporary folder is removed."""
    folder = check_output_folder(folder, what)
    created = []
    parent = folder.parent
    while not parent.exists():
        created.append(parent)
        parent = parent.parent
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_partials(folder.parent)
        partial = temporary_name(folder)
        os.mkdir(partial)
        try:
            fill(partial)
            os.rename(partial, folder)  # replaces an empty folder, refuses a non-empty one
        except OSError as error:
            raise OutputError(f"cannot write {what} {folder}: {error.strerror or error}") from None
        finally:
            if partial.exists():
                shutil.rmtree(partial)
    except BaseException:
        for new in created:
            try:
                new.rmdir()
            except OSError:
                pass
        raise
    return folder


@contextmanager
def removed_unless_finished(folder: str | Path) -> Iterator[Path]:
    """For a folder filled piece by piece (the test stage's): if it did not exist before and the block does not
    finish (an error, an interrupt), it is removed, so no half folder is left behind."""
    folder = Path(folder)
    existed = folder.exists()
    try:
        yield folder
    except BaseException:
        if not existed and folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
        raise


@contextmanager
def handle_interrupts() -> Iterator[None]:
    """While the block runs, SIGINT and SIGTERM raise ``Interrupted`` in this process (worker processes forked
    from it keep the default behaviour); the previous handlers come back afterwards. Outside the main thread,
    where Python cannot install handlers, the block runs with the handlers as they are."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    owner = os.getpid()

    def interrupt(number: int, frame: FrameType | None) -> None:
        if os.getpid() != owner:
            raise KeyboardInterrupt
        raise Interrupted(number)

    previous = {number: signal.signal(number, interrupt) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def next_numbered_folder(parent: str | Path, prefix: str = "version_", above: int = -1) -> Path:
    """``parent/<prefix>K`` for the next K above every existing one (and above ``above``), not created."""
    parent = Path(parent)
    taken = [int(p.name[len(prefix) :]) for p in parent.glob(f"{prefix}*") if p.name[len(prefix) :].isdigit()]
    return parent / f"{prefix}{max([*taken, above]) + 1}"


def create_numbered_folder(parent: str | Path, prefix: str = "version_", inputs: Sequence[Named] = ()) -> Path:
    """Create and return ``parent/<prefix>K`` for the next K above every existing one, exclusively: when two
    runs pick the same K at once, one ``mkdir`` fails and that run tries again. The folder must stay apart from
    ``inputs`` (``check_separate``)."""
    parent = Path(parent)
    if parent.exists() and not parent.is_dir():
        raise OutputError(f"cannot create a folder in {parent}: it is a file; give a folder path")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create the folder {parent}: {error.strerror or error}") from None
    tried = -1
    while True:
        folder = next_numbered_folder(parent, prefix, above=tried)
        tried = int(folder.name[len(prefix) :])
        check_separate([(folder, "the new folder")], inputs)
        try:
            folder.mkdir()
        except FileExistsError:
            continue  # taken meanwhile by another run
        return folder

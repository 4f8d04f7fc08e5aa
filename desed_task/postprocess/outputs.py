"""All-or-nothing outputs: paths are checked before any work, results are written next to their destination
under a temporary name and renamed into place, so a failure never leaves a half-written file or folder."""
from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pandas as pd

from desed_task.postprocess.errors import PostprocessError


def _writable_ancestor(path: Path, what: str) -> None:
    """The nearest existing ancestor of ``path`` must be a writable directory (missing ones get created)."""
    ancestor = path.absolute().parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise PostprocessError(f"cannot write {what} {path}: {ancestor} is not a directory")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise PostprocessError(f"cannot write {what} {path}: no write permission in {ancestor}")


def check_output_file(path: str | Path, what: str = "output file") -> Path:
    """Fail now, before any work, if ``path`` cannot become a file (an existing file is replaced)."""
    path = Path(path)
    if path.is_dir():
        raise PostprocessError(f"{what} {path} is a directory: give a file path")
    _writable_ancestor(path, what)
    return path


def check_output_folder(path: str | Path, what: str = "output folder") -> Path:
    """Fail now, before any work, if ``path`` exists as a file or a non-empty folder, or cannot be created."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise PostprocessError(f"{what} {path} exists and is not a folder: give a new folder path")
    if path.is_dir() and any(path.iterdir()):
        raise PostprocessError(f"{what} {path} is not empty: give a new or empty folder (nothing is overwritten)")
    _writable_ancestor(path, what)
    return path


def _partial_name(path: Path) -> Path:
    return path.parent / f".{path.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def write_text_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same folder, then rename (replaces a file)."""
    check_output_file(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = _partial_name(path)
    try:
        with open(partial, "x", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def write_scores_atomically(folder: str | Path, scores: dict[str, pd.DataFrame], progress: bool = False) -> Path:
    """Write one ``<clip id>.tsv`` per clip into a new (or empty) ``folder``, all or nothing."""
    from desed_task.evaluation.folders import write_score_folder

    folder = check_output_folder(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    partial = _partial_name(folder)
    os.mkdir(partial)
    try:
        write_score_folder(partial, scores, progress=progress)
        os.rename(partial, folder)  # replaces an empty folder, refuses a non-empty one
    finally:
        if partial.exists():
            shutil.rmtree(partial)
    return folder

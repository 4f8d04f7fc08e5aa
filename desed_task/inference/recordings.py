"""The recordings named on the command line: folders expanded, names for the table, every file checked first.

Checking reads each file once before any scoring (libsndfile decodes far faster than the network scores), so a
damaged file is reported before minutes of work on the files before it, not after.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from desed_task.data.audio import READABLE_EXTENSIONS, AudioError, check_audio_file, find_audio_files


def expand_inputs(paths: Sequence[Path]) -> tuple[list[Path], list[str]]:
    """Files in the order given, each folder replaced by its audio files (recursive, sorted), a file named twice
    kept once; and the problems found (a folder without audio files)."""
    files: list[Path] = []
    problems: list[str] = []
    seen: set[Path] = set()
    for path in paths:
        found = find_audio_files(path, READABLE_EXTENSIONS) if path.is_dir() else [path]
        if path.is_dir() and not found:
            problems.append(f"folder {path} holds no audio files ({', '.join(READABLE_EXTENSIONS)})")
        for file in found:
            key = Path(os.path.realpath(file))
            if key not in seen:
                seen.add(key)
                files.append(file)
    return files, problems


def table_names(paths: Sequence[Path]) -> list[str]:
    """The ``filename`` of each recording in the table: its base name, as in DESED metadata; where several
    recordings share a base name, their paths relative to the deepest folder holding all of them."""
    names = [path.name for path in paths]
    out = []
    for path, name in zip(paths, names):
        if names.count(name) == 1:
            out.append(name)
            continue
        same = [os.path.abspath(p) for p, n in zip(paths, names) if n == name]
        common = os.path.commonpath([os.path.dirname(p) for p in same])
        out.append(Path(os.path.relpath(os.path.abspath(path), common)).as_posix())
    return out


def check_inputs(paths: Sequence[Path]) -> dict[Path, str]:
    """The unusable files and why: missing, a folder, unreadable, empty, truncated, NaN or infinite samples."""
    problems = {}
    for path in paths:
        try:
            check_audio_file(path)
        except AudioError as error:
            problems[path] = str(error)
    return problems

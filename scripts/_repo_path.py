"""Puts the repository root first on ``sys.path``, so that a script run as ``python scripts/X.py`` from any folder
imports the checkout's ``tools`` package (developer tools, not in the wheel) and ``desed_task``.

A script imports it before ``tools``: ``import _repo_path  # noqa: F401`` (``python scripts/X.py`` puts
``scripts/`` on ``sys.path``, where this module is)."""

import sys
from pathlib import Path

REPO_ROOT = str(Path(__file__).resolve().parents[1])
if sys.path[:1] != [REPO_ROOT]:
    sys.path.insert(0, REPO_ROOT)

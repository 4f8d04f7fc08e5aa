"""Developer tools (benchmarks, timings, the GPU check): run from a checkout of the repository, not shipped in the
wheel (``setup.py`` packages ``desed_task`` only). They read the checkout's ``confs/``, ``scripts/``, ``train/``
and ``tests/data/``; ``scripts/*.py`` put the repository root on ``sys.path`` and run them."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def checkout_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """``environ`` (default: this process's environment) with the repository root first on ``PYTHONPATH``, for a
    child process that imports ``tools`` (``python -m tools.stage2_step``) or this checkout's ``desed_task``; without
    the experiment version a training process hands to its own DDP workers, so that each command chooses its own
    experiment folder."""
    env = dict(os.environ if environ is None else environ)
    env.pop("DESED_TASK_RUN_VERSION", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env

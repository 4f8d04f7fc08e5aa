"""Checks of the training command line's flags, made before the experiment folder is created.

Lightning reads a checkpoint to resume from only once ``fit`` starts, after the ``version_K`` folder and its
``config.yaml`` were written, and then fails with a traceback; the folder of ``--log_dir`` is created on the way.
These checks run first, so that a mistake stops the run with one line and nothing written.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from desed_task.config.files import ConfigError
from desed_task.nnet.checkpoints import CheckpointError, read_checkpoint, stage_state_dict

MODE_FLAGS = (
    "--resume_from_checkpoint",
    "--test_from_checkpoint",
    "--eval_from_checkpoint",
    "--validate_from_checkpoint",
)
# What Lightning needs to continue a run, beside the weights.
_TRAINING_STATE_KEYS = ("optimizer_states", "lr_schedulers", "loops", "epoch", "global_step")
# The settings that define the networks (front-ends, shapes, dropout) and, with the stage, the optimiser's parameter
# groups: a resumed run must share them.
_SAME_ON_RESUME = ("data.classes", "training.stage", "net", "encoder")
_FREE_ON_RESUME = ("encoder.init", "encoder.random_init", "encoder.activation_checkpointing")  # free to change


def check_mode_flags(flags: Mapping[str, str | None]) -> None:
    """``ConfigError`` naming two of the mode flags (train on, test, evaluate, validate) given together."""
    given = [flag for flag in MODE_FLAGS if flags.get(flag) is not None]
    if len(given) > 1:
        raise ConfigError(
            f"{given[0]} and {given[1]} cannot be combined: each chooses what the run does (resume training, "
            "test, evaluate, validate); give one of them (a resumed run tests its best checkpoint when it ends)"
        )


def check_log_dir(log_dir: str | Path) -> None:
    """``ConfigError`` unless ``log_dir`` is a folder, or can be created, that this process can write to."""
    log_dir = Path(log_dir)
    if log_dir.exists() and not log_dir.is_dir():
        raise ConfigError(
            f"--log_dir {log_dir} is a file, not a folder: give a folder for the experiments "
            "(it is created when missing)"
        )
    existing = log_dir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"--log_dir {log_dir} cannot be created: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(
            f"--log_dir {log_dir}: {existing} is not writable (read-only file system or no "
            "permission): give a folder you can write to"
        )


def _dotted(config: Mapping, dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        node = node[part]
    return node


def _first_difference(ours: Any, theirs: Any, where: str) -> tuple[str, Any, Any] | None:
    """The first dotted key below ``where`` whose values differ (keys of ``_FREE_ON_RESUME`` are not compared)."""
    if where in _FREE_ON_RESUME:
        return None
    if isinstance(ours, Mapping) and isinstance(theirs, Mapping):
        for key in list(ours) + [k for k in theirs if k not in ours]:
            found = _first_difference(ours.get(key), theirs.get(key), f"{where}.{key}")
            if found is not None:
                return found
        return None
    return None if ours == theirs else (where, ours, theirs)


def check_resume_checkpoint(path: str | Path, config: dict) -> None:
    """``CheckpointError`` unless ``path`` is a complete training checkpoint of this project written with the
    classes, stage and network settings of ``config``, the configuration of the run that resumes it."""
    from desed_task.config.checkpoint import checkpoint_config  # builds networks: imported when needed

    flag = "--resume_from_checkpoint"
    checkpoint = read_checkpoint(path)
    advice = (
        "resume from the last.ckpt (or an epoch=... checkpoint) that train/train_stage1.py or "
        "train/train_stage2.py wrote under <log_dir>/version_K/checkpoints/"
    )
    try:
        stage_state_dict(checkpoint, "student")
        stage_state_dict(checkpoint, "teacher")
    except CheckpointError as err:
        raise CheckpointError(f"{flag} {path} is not a checkpoint of this project ({err}); {advice}") from err
    missing = [key for key in _TRAINING_STATE_KEYS if key not in checkpoint]
    if missing:
        raise CheckpointError(
            f"{flag} {path} holds network weights but not the state of a training run ({', '.join(missing)} "
            f"missing): a published or exported checkpoint can be tested (--test_from_checkpoint) or start stage 2 "
            f"(training.init_checkpoint), not resumed; {advice}"
        )
    stored = checkpoint_config(checkpoint, path)
    for dotted in _SAME_ON_RESUME:
        found = _first_difference(_dotted(config, dotted), _dotted(stored, dotted), dotted)
        if found is not None:
            key, ours, theirs = found
            raise CheckpointError(
                f"{flag} {path} was trained with {key} = {theirs!r}, but the configuration gives {ours!r}: a run "
                "resumes only with the classes, stage and network it was trained with; resume with that run's "
                "config.yaml (beside its checkpoints folder) or start a new run"
            )

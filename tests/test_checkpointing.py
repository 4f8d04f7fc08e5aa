"""When a training run writes last.ckpt, and --resume_from_checkpoint last."""

from __future__ import annotations

import logging
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
import yaml

from conftest import CONFS_DIR, tiny_config
from desed_task.config.files import ConfigError
from desed_task.experiment.pipeline import run_experiment
from desed_task.experiment.resume import newest_last_checkpoint, resolve_resume
from desed_task.experiment.run import main
from desed_task.training.checkpoint_io import AtomicCheckpointIO


@pytest.fixture(autouse=True)
def _restore_logging():
    """main() calls logging.basicConfig, whose handler keeps capsys's stream after the test closed it."""
    handlers = logging.root.handlers[:]
    yield
    logging.root.handlers[:] = handlers


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def test_last_is_the_newest_version_that_has_a_last_checkpoint(tmp_path):
    _touch(tmp_path / "version_2" / "checkpoints" / "last.ckpt")
    newest = _touch(tmp_path / "version_10" / "checkpoints" / "last.ckpt")  # 10 after 2, not before
    _touch(tmp_path / "version_11" / "checkpoints" / ".last.ckpt.partial-123-0a1b2c3d")  # killed first save
    _touch(tmp_path / "version_12" / "config.yaml")  # a run stopped before its first epoch ended
    _touch(tmp_path / "version_x" / "checkpoints" / "last.ckpt")
    assert newest_last_checkpoint(tmp_path) == newest
    assert resolve_resume("last", tmp_path) == str(newest)
    assert resolve_resume("some/path.ckpt", tmp_path) == "some/path.ckpt"
    assert resolve_resume(None, tmp_path) is None


def test_last_without_a_checkpoint_names_the_log_dir(tmp_path):
    _touch(tmp_path / "version_0" / "checkpoints" / "epoch=9-obj=0.1.ckpt")
    with pytest.raises(
        ConfigError,
        match=r"--resume_from_checkpoint last: no version_\*/checkpoints/last.ckpt "
        rf"under --log_dir {tmp_path}",
    ):
        resolve_resume("last", tmp_path)


class _RecordSaves(pl.Callback):
    def __init__(self) -> None:
        self.steps: list[int] = []

    def on_save_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        self.steps.append(trainer.global_step)
        self.checkpoint_io = trainer.strategy.checkpoint_io


@pytest.mark.slow
def test_last_checkpoint_every_epoch_and_every_n_steps_without_validation(tiny_dataset, tmp_path):
    """validation_interval beyond n_epochs: no validation, no top-k checkpoint, and still last.ckpt at the end of
    each epoch and every N optimiser steps."""
    config = tiny_config(
        tiny_dataset,
        1,
        **{
            "training.n_epochs": 2,
            "training.validation_interval": 100,
            "training.limit_train_batches": 3,
            "training.checkpoint_every_n_steps": 2,
        },
    )
    record = _RecordSaves()
    metrics = run_experiment(config, tmp_path, run_test=False, extra_callbacks=[record])
    assert isinstance(record.checkpoint_io, AtomicCheckpointIO)
    assert record.steps == [2, 3, 4, 6, 6]  # every 2 steps, and each epoch's end (3 steps an epoch), last
    assert metrics["best_checkpoint"] is None
    folder = Path(metrics["experiment_dir"]) / "checkpoints"
    assert sorted(p.name for p in folder.iterdir()) == ["last.ckpt"]
    assert torch.load(folder / "last.ckpt", weights_only=True)["global_step"] == 6


@pytest.mark.slow
def test_a_run_that_never_validates_ends_with_last_and_resumes_from_it(tiny_dataset, tmp_path, monkeypatch):
    conf = tmp_path / "stage1.yaml"
    training = {
        "batch_size": [2, 2, 2, 2],
        "batch_size_val": 4,
        "num_workers": 0,
        "n_epochs": 2,
        "validation_interval": 100,
        "limit_train_batches": 2,
        "enable_progress_bar": False,
        "n_test_thresholds": 5,
    }
    conf.write_text(
        yaml.safe_dump(
            {"base": str(CONFS_DIR / "demo_stage1.yaml"), "data": {"root": str(tiny_dataset)}, "training": training}
        )
    )
    log_dir = tmp_path / "exp"
    first = main(1, ["--conf_file", str(conf), "--log_dir", str(log_dir), "--gpus", "cpu"])
    last = Path(first["experiment_dir"]) / "checkpoints" / "last.ckpt"
    assert sorted(p.name for p in log_dir.rglob("*.ckpt")) == ["last.ckpt"]
    assert first["last_checkpoint"] == str(last)

    training["n_epochs"] = 3
    conf.write_text(
        yaml.safe_dump(
            {"base": str(CONFS_DIR / "demo_stage1.yaml"), "data": {"root": str(tiny_dataset)}, "training": training}
        )
    )
    monkeypatch.delenv("DESED_TASK_RUN_VERSION")  # the version a process keeps for its DDP workers: a new command
    resumed = main(
        1, ["--conf_file", str(conf), "--log_dir", str(log_dir), "--gpus", "cpu", "--resume_from_checkpoint", "last"]
    )
    assert Path(resumed["experiment_dir"]).name == "version_1"
    continued = torch.load(resumed["last_checkpoint"], weights_only=True)
    assert (continued["epoch"], continued["global_step"]) == (2, 6)  # epoch 3 of 3 after the 2 epochs of version_0


class _Killed(Exception):
    pass


class _KillAfterStep(pl.Callback):
    """Stops the run at the start of the batch after optimiser step ``step`` (Lightning calls checkpoint
    callbacks after the others at a batch's end, so this is the first moment after that step's save)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            raise _Killed


@pytest.mark.slow
def test_resume_from_a_checkpoint_inside_an_epoch_finishes_that_epoch(tiny_dataset, tmp_path):
    overrides = {
        "training.n_epochs": 1,
        "training.validation_interval": 100,
        "training.limit_train_batches": 3,
        "training.checkpoint_every_n_steps": 2,
    }
    config = tiny_config(tiny_dataset, 1, **overrides)
    with pytest.raises(_Killed):
        run_experiment(config, tmp_path / "killed", run_test=False, extra_callbacks=[_KillAfterStep(2)])
    (last,) = (tmp_path / "killed").glob("version_*/checkpoints/last.ckpt")
    assert torch.load(last, weights_only=True)["global_step"] == 2
    resumed = run_experiment(config, tmp_path / "resumed", run_test=False, resume_from=str(last))
    assert torch.load(resumed["last_checkpoint"], weights_only=True)["global_step"] == 3  # the epoch's third step

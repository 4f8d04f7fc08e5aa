"""End-to-end runs of both stages on the tiny synthetic dataset (CPU), resume, and checkpoint testing."""

from __future__ import annotations

import json
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
import yaml

from conftest import CONFS_DIR, tiny_config
from rescoring import rescored
from desed_task.experiment.builders import build_network, build_task
from desed_task.experiment.pipeline import run_experiment
from desed_task.experiment.run import main
from desed_task.training.batch import BatchParts

pytestmark = pytest.mark.slow


def _write_conf(tmp_path: Path, dataset: Path, stage: int, **training) -> Path:
    conf = {
        "base": str(CONFS_DIR / f"demo_stage{stage}.yaml"),
        "data": {"root": str(dataset)},
        "training": {
            "batch_size": [2, 2, 2, 2],
            "batch_size_val": 4,
            "num_workers": 0,
            "n_epochs": 1,
            "enable_progress_bar": False,
            "n_test_thresholds": 5,
            **training,
        },
    }
    path = tmp_path / f"stage{stage}.yaml"
    path.write_text(yaml.safe_dump(conf))
    return path


def test_stage1_fast_dev_run_cli(tiny_dataset, tmp_path):
    conf = _write_conf(tmp_path, tiny_dataset, 1)
    metrics = main(
        1,
        [
            "--conf_file",
            str(conf),
            "--log_dir",
            str(tmp_path / "exp"),
            "--gpus",
            "",
            "--fast_dev_run",
            "--accm_grad",
            "2",
        ],
    )
    exp_dir = Path(metrics["experiment_dir"])
    assert yaml.safe_load((exp_dir / "config.yaml").read_text())["training"]["accumulate_batches"] == 2
    saved = json.loads((exp_dir / "metrics.json").read_text())
    assert "energy_kwh" in saved
    again = rescored(exp_dir / "test" / "teacher", tiny_dataset)
    assert metrics["teacher/psds1_sed_scores_eval"] == pytest.approx(again["psds1_sed_scores_eval"], abs=1e-6)
    assert not any(exp_dir.rglob("*.ckpt")) and metrics["last_checkpoint"] is None  # fast_dev_run saves nothing


def test_stage2_fast_dev_run_cli_from_stage1_checkpoint(tiny_dataset, trained_checkpoint, tmp_path):
    conf = _write_conf(tmp_path, tiny_dataset, 2)
    text = yaml.safe_load(conf.read_text())
    text["training"]["init_checkpoint"] = str(trained_checkpoint)
    conf.write_text(yaml.safe_dump(text))
    metrics = main(
        2,
        [
            "--conf_file",
            str(conf),
            "--log_dir",
            str(tmp_path / "exp"),
            "--gpus",
            "cpu",
            "--fast_dev_run",
            "--ema",
            "0.99",
            "--warmup",
            "1",
        ],
    )
    again = rescored(Path(metrics["experiment_dir"]) / "test" / "student", tiny_dataset)
    assert metrics["student/psds2_sed_scores_eval"] == pytest.approx(again["psds2_sed_scores_eval"], abs=1e-6)
    saved = yaml.safe_load((Path(metrics["experiment_dir"]) / "config.yaml").read_text())
    assert saved["training"]["ema_factor"] == 0.99


def test_checkpoint_has_published_layout(trained_checkpoint):
    checkpoint = torch.load(trained_checkpoint, map_location="cpu", weights_only=True)
    keys = set(checkpoint["state_dict"])
    for model in ("sed_student", "sed_teacher"):
        assert set(checkpoint[model]) == {k[len(model) + 1 :] for k in keys if k.startswith(model + ".")}
    assert keys == {k for k in keys if k.startswith(("sed_student.", "sed_teacher."))}
    assert checkpoint["hyper_parameters"]["training"]["stage"] == 1


def test_test_from_published_style_checkpoint_uses_local_paths(tiny_dataset, trained_checkpoint, tmp_path):
    """A published checkpoint holds the authors' paths in hyper_parameters: only the weights are used."""
    checkpoint = torch.load(trained_checkpoint, map_location="cpu", weights_only=True)
    hparams = checkpoint["hyper_parameters"]
    hparams["encoder"]["init"] = "/home/authors/pretrained/atst_as2M.ckpt"
    hparams["data"]["test_folder"] = "/home/authors/dcase/validation_16k"
    published = {"state_dict": checkpoint["state_dict"], "hyper_parameters": hparams}
    path = tmp_path / "published.ckpt"
    torch.save(published, path)
    conf = _write_conf(tmp_path, tiny_dataset, 1)
    metrics = main(
        1,
        [
            "--conf_file",
            str(conf),
            "--log_dir",
            str(tmp_path / "exp"),
            "--gpus",
            "",
            "--test_from_checkpoint",
            str(path),
        ],
    )
    exp_dir = Path(metrics["experiment_dir"])
    for model in ("student", "teacher"):
        again = rescored(exp_dir / "test" / model, tiny_dataset, operating_points=True)
        assert metrics[f"{model}/psds1_psds_eval"] == pytest.approx(again["psds1_psds_eval"], abs=1e-6)
        assert any((exp_dir / "test" / model).rglob("*.png"))


def test_eval_mode_writes_scores_only(tiny_dataset, trained_checkpoint, tmp_path):
    conf = _write_conf(tmp_path, tiny_dataset, 1)
    text = yaml.safe_load(conf.read_text())
    text["data"]["eval_folder"] = str(tiny_dataset / "audio" / "validation" / "validation_16k")
    conf.write_text(yaml.safe_dump(text))
    metrics = main(
        1,
        [
            "--conf_file",
            str(conf),
            "--log_dir",
            str(tmp_path / "exp"),
            "--gpus",
            "",
            "--eval_from_checkpoint",
            str(trained_checkpoint),
        ],
    )
    eval_dir = Path(metrics["experiment_dir"]) / "eval"
    assert any(eval_dir.rglob("*.tsv"))
    assert not any(k.startswith("teacher/") for k in metrics)


class _StopAfterFirstEpoch(pl.Callback):
    def on_train_epoch_end(self, trainer, pl_module):
        trainer.should_stop = True


def _weights(path: str) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


@pytest.mark.parametrize("interval", [1, 2], ids=["validated", "between_validations"])
@pytest.mark.parametrize("stage,accumulate", [(1, 1), (2, 1), (1, 2), (2, 2)])
def test_resume_gives_the_same_weights(tiny_dataset, trained_checkpoint, tmp_path, stage, accumulate, interval):
    """Weights, optimiser, scheduler, the step counter read by the consistency weight and the EMA warm-up, and
    the random draws all continue; with accumulation over 2 of an epoch's 3 batches, the last step of each epoch
    takes a single batch. With validation every 2 epochs the run is stopped after an epoch without validation:
    its last.ckpt is the only checkpoint, and the resumed run validates as the uninterrupted one does."""
    overrides = {
        "training.n_epochs": 2,
        "training.validation_interval": interval,
        "training.limit_train_batches": 2 if accumulate == 1 else 3,
        "training.accumulate_batches": accumulate,
    }
    if stage == 2:
        overrides["training.init_checkpoint"] = str(trained_checkpoint)
    config = tiny_config(tiny_dataset, stage, **overrides)
    full = run_experiment(config, tmp_path / "full", run_test=False)
    part = run_experiment(config, tmp_path / "part", run_test=False, extra_callbacks=[_StopAfterFirstEpoch()])
    resumed = run_experiment(config, tmp_path / "resumed", run_test=False, resume_from=part["last_checkpoint"])
    reference, result = _weights(full["last_checkpoint"]), _weights(resumed["last_checkpoint"])
    steps = torch.load(full["last_checkpoint"], weights_only=True)["global_step"]
    assert steps == 2 * 2  # two epochs of two optimiser steps
    assert torch.load(resumed["last_checkpoint"], weights_only=True)["global_step"] == steps
    if interval == 2:
        assert part["best_checkpoint"] is None and Path(part["last_checkpoint"]).name == "last.ckpt"
        assert Path(resumed["best_checkpoint"]).name == Path(full["best_checkpoint"]).name  # epoch=1-obj=...
    first = _weights(part["last_checkpoint"])
    assert any(not torch.equal(first[k], reference[k]) for k in reference if reference[k].is_floating_point())
    for key in reference:
        torch.testing.assert_close(result[key], reference[key], rtol=0, atol=1e-6, msg=key)


def test_stage2_every_trainable_parameter_gets_a_gradient(tiny_dataset, tmp_path):
    from desed_task.data import collate_clips
    from desed_task.experiment.builders import build_label_encoder
    from desed_task.experiment.dataset_builders import build_train_sets

    config = tiny_config(tiny_dataset, 2, **{"training.mixup_prob": 1.0, "training.freq_warp_prob": 1.0})
    student = build_network(config)
    student.encoder.set_trainable_groups(4)
    task = build_task(config, tmp_path, student)
    sets = build_train_sets(config, build_label_encoder(config))
    batch = collate_clips([s[i] for s in sets.train for i in range(2)])
    task.train()
    parts = BatchParts.from_subsets(batch["subsets"])
    terms = task.training_loss(batch["audio"], batch["labels"], parts)
    terms.total.backward()
    missing = [n for n, p in task.sed_student.named_parameters() if p.requires_grad and p.grad is None]
    assert missing == ["atst_frame.atst.mask_embed"]  # used by the encoder's pre-training only (docs/recipe.md §4)
    assert all(p.grad is None for p in task.sed_teacher.parameters())


def test_labels_outside_the_class_list_stop_the_script_with_the_table_named(tiny_dataset, tmp_path, capsys):
    conf = _write_conf(tmp_path, tiny_dataset, 1)
    text = yaml.safe_load(conf.read_text())
    text["data"]["classes"] = ["Dog"]
    conf.write_text(yaml.safe_dump(text))
    with pytest.raises(SystemExit) as stop:
        main(1, ["--conf_file", str(conf), "--log_dir", str(tmp_path / "exp"), "--gpus", "cpu", "--fast_dev_run"])
    message = capsys.readouterr().err
    assert stop.value.code == 2 and message.count("\n") == 1
    assert message.startswith("data error: ") and ".tsv uses labels outside the class list" in message
    assert "add them to data.classes" in message


class _CaptureLoop(pl.Callback):
    def on_fit_start(self, trainer, pl_module):
        from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint

        self.check_every = trainer.check_val_every_n_epoch
        self.sanity = trainer.num_sanity_val_steps
        self.accumulate = trainer.accumulate_grad_batches
        self.schedulers = [(c.interval, c.frequency) for c in trainer.lr_scheduler_configs]
        self.checkpoints = [
            (c.monitor, c.mode, c.save_top_k) for c in trainer.callbacks if isinstance(c, ModelCheckpoint)
        ]
        self.stops = [
            (c.monitor, c.mode, c.patience, c._check_on_train_epoch_end)
            for c in trainer.callbacks
            if isinstance(c, EarlyStopping)
        ]
        self.lr_logging = [c.logging_interval for c in trainer.callbacks if isinstance(c, LearningRateMonitor)]

    def on_train_start(self, trainer, pl_module):
        self.groups = [g["name"] for g in trainer.optimizers[0].param_groups]  # LearningRateMonitor's names
        trainer.should_stop = True


@pytest.mark.parametrize("stage,mode", [(1, "min"), (2, "max")])
def test_loop_wiring_as_the_original(tiny_dataset, trained_checkpoint, tmp_path, stage, mode):
    """Scheduler stepped once per optimiser step; validation every validation_interval epochs without a sanity
    run; best checkpoints and early stopping on val/obj_metric in the stage's direction, early stopping checked at
    validation (so its patience counts validation runs, as Lightning counted it for the original); the learning
    rate of every named parameter group logged."""
    overrides = {
        "training.validation_interval": 3,
        "training.early_stop_patience": 7,
        "training.save_top_k": 2,
        "training.accumulate_batches": 2,
    }
    if stage == 2:
        overrides["training.init_checkpoint"] = str(trained_checkpoint)
    capture = _CaptureLoop()
    run_experiment(tiny_config(tiny_dataset, stage, **overrides), tmp_path, run_test=False, extra_callbacks=[capture])
    assert (capture.check_every, capture.sanity, capture.accumulate) == (3, 0, 2)
    assert capture.schedulers == [("step", 1)]
    assert capture.checkpoints == [("val/obj_metric", mode, 2), (None, "min", 1)]  # best k, and "last"
    assert capture.stops == [("val/obj_metric", mode, 7, False)]
    assert capture.lr_logging == ["step"]  # every named group's learning rate, logged as lr-Adam/<group>
    assert capture.groups == (
        ["cnn", "rnn"]
        if stage == 1
        else ["cnn", "rnn", "encoder.norm_frame", "encoder.block1", "encoder.block0", "encoder.embeddings"]
    )

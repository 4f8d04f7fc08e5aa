"""One experiment: build data, network and task from a validated config, then train, test or evaluate."""
from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import lightning.pytorch as pl
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger

from desed_task.experiment.builders import (
    build_eval_set,
    build_label_encoder,
    build_network,
    build_task,
    build_test_set,
    build_train_sets,
)
from desed_task.experiment.config import ConfigError
from desed_task.experiment.datamodule import ReshuffleEachEpoch, SEDDataModule
from desed_task.experiment.energy import EnergyMeter
from desed_task.experiment.run import write_metrics, write_resolved_config
from desed_task.nnet import CRNN, load_state_dict_checked, read_checkpoint, stage_state_dict
from desed_task.training.param_groups import set_encoder_trainable_layers

log = logging.getLogger(__name__)

_VERSION_ENV = "DESED_TASK_RUN_VERSION"


def _experiment_version(log_dir: Path) -> str:
    """The next free version_N under log_dir, chosen once by the launching process and passed through the
    environment, so that DDP worker processes (which re-run the script) write to the same folder."""
    key = str(log_dir.resolve())
    folder, _, version = os.environ.get(_VERSION_ENV, "").rpartition("|")
    if folder != key:
        existing = [int(p.name[8:]) for p in log_dir.glob("version_*") if p.name[8:].isdigit()]
        version = f"version_{max(existing, default=-1) + 1}"
        os.environ[_VERSION_ENV] = f"{key}|{version}"
    return version


def _networks_from_checkpoint(config: dict, path: str) -> tuple[CRNN, CRNN]:
    """Student and teacher from a stage checkpoint; weights come from the file, never from its stored paths."""
    checkpoint = read_checkpoint(path)
    nets = []
    for model in ("student", "teacher"):
        net = build_network(config, load_encoder=False)
        load_state_dict_checked(net, stage_state_dict(checkpoint, model), source=f"{path} ({model})")
        nets.append(net)
    return nets[0], nets[1]


def _trainer(config: dict, exp_dir: Path, devices, fast_dev_run: bool, callbacks: list) -> pl.Trainer:
    training = config["training"]
    accelerator, device_ids = devices
    n_devices = len(device_ids) if isinstance(device_ids, list) else device_ids
    strategy = training["backend"]
    if strategy == "auto" and n_devices * training["num_nodes"] > 1:
        strategy = "ddp"
    return pl.Trainer(
        accelerator=accelerator,
        devices=device_ids,
        strategy=strategy,
        num_nodes=training["num_nodes"],
        precision=training["precision"],
        max_epochs=training["n_epochs"],
        check_val_every_n_epoch=training["validation_interval"],
        num_sanity_val_steps=0,
        callbacks=callbacks,
        logger=TensorBoardLogger(save_dir=str(exp_dir.parent), name="", version=exp_dir.name,
                                 default_hp_metric=False),
        gradient_clip_val=training["gradient_clip"] or None,
        accumulate_grad_batches=training["accumulate_batches"],
        deterministic=training["deterministic"],
        limit_train_batches=training["limit_train_batches"],
        enable_progress_bar=training["enable_progress_bar"],
        use_distributed_sampler=False,
        fast_dev_run=fast_dev_run,
        log_every_n_steps=10,
    )


def run_experiment(
    config: dict,
    log_dir: str | Path,
    devices: tuple[str, list[int] | int] = ("cpu", 1),
    resume_from: str | None = None,
    test_from: str | None = None,
    eval_from: str | None = None,
    fast_dev_run: bool = False,
    extra_callbacks: list[pl.Callback] | None = None,
    run_test: bool = True,
) -> dict:
    """Train (then test the best checkpoint), or only test / evaluate a checkpoint. Returns the metrics.

    ``extra_callbacks`` are added to the trainer's; ``run_test=False`` stops after training.
    """
    training = config["training"]
    pl.seed_everything(training["seed"], workers=True)
    log_dir = Path(log_dir)
    exp_dir = log_dir / _experiment_version(log_dir)
    encoder = build_label_encoder(config)
    checkpoint_to_score = test_from or eval_from
    if checkpoint_to_score:
        student, teacher = _networks_from_checkpoint(config, checkpoint_to_score)
    elif training["stage"] == 2:
        init = config["ultra"]["model_init"]
        if not init:
            raise ConfigError("stage 2 starts from the best stage-1 checkpoint: set ultra.model_init to its path")
        student, teacher = _networks_from_checkpoint(config, init)
    else:
        student, teacher = build_network(config), None
    set_encoder_trainable_layers(
        student.named_parameters(), config["opt"]["tfm_trainable_layers"], len(student.encoder.blocks)
    )
    datamodule = SEDDataModule(
        batch_sizes=training["batch_size"], batch_size_val=training["batch_size_val"],
        num_workers=training["num_workers"], seed=training["seed"],
    )
    references = {}
    if eval_from:
        datamodule.test_set = build_eval_set(config, encoder)
    else:
        datamodule.test_set, references = build_test_set(config, encoder)
    if not checkpoint_to_score:
        sets = build_train_sets(config, encoder)
        datamodule.train_sets, datamodule.val_sets = sets.train, sets.val
        datamodule.batch_sizes = sets.batch_sizes
        references.update(sets.references)
    output_dir = exp_dir / ("eval" if eval_from else "test")
    task = build_task(config, output_dir, student, teacher, references)

    checkpoint_cb = ModelCheckpoint(
        dirpath=exp_dir / "checkpoints", filename="epoch={epoch}-obj={val/obj_metric:.4f}",
        auto_insert_metric_name=False, monitor="val/obj_metric", mode=task.objective_mode,
        save_top_k=training["save_top_k"],
    )
    # Lightning writes "last" only when a top-k checkpoint is written; resuming needs the latest epoch always.
    last_cb = ModelCheckpoint(dirpath=exp_dir / "checkpoints", filename="last", monitor=None, save_top_k=1,
                              enable_version_counter=False)
    early_stop = EarlyStopping(monitor="val/obj_metric", mode=task.objective_mode,
                               patience=training["early_stop_patience"], check_on_train_epoch_end=False)
    callbacks = [checkpoint_cb, last_cb, early_stop, ReshuffleEachEpoch(), *(extra_callbacks or [])]
    trainer = _trainer(config, exp_dir, devices, fast_dev_run, callbacks)
    if trainer.is_global_zero:
        write_resolved_config(config, exp_dir)

    meter = EnergyMeter()
    with meter.measure(), warnings.catch_warnings():
        # Lightning 2.6 asks torch 2.13's pytree a deprecated question at every fit/test: noise to our users.
        warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated",
                                category=FutureWarning)
        if not checkpoint_to_score:
            trainer.fit(task, datamodule=datamodule, ckpt_path=resume_from)
            best = checkpoint_cb.best_model_path
            if best and not fast_dev_run and run_test:
                log.info("testing the best checkpoint %s", best)
                best_student, best_teacher = _networks_from_checkpoint(config, best)
                task.sed_student.load_state_dict(best_student.state_dict())
                task.sed_teacher.load_state_dict(best_teacher.state_dict())
        if run_test:
            trainer.test(task, datamodule=datamodule)
    metrics = dict(task.test_metrics)
    metrics["energy_kwh"] = meter.kwh
    if not checkpoint_to_score:
        metrics["best_checkpoint"] = checkpoint_cb.best_model_path or None
        metrics["last_checkpoint"] = last_cb.best_model_path or None
    metrics["experiment_dir"] = str(exp_dir)
    if trainer.is_global_zero:
        write_metrics(exp_dir, metrics)
    return metrics

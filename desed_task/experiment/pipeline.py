"""One experiment: its parts are built once (``builders.build_experiment``), then trained, tested or evaluated."""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import lightning.pytorch as pl
import yaml
from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger

from desed_task.experiment.builders import build_experiment
from desed_task.experiment.checkpointing import last_checkpoint_callbacks
from desed_task.experiment.datamodule import ReshuffleEachEpoch
from desed_task.experiment.energy import EnergyMeter
from desed_task.experiment.host_memory import keep_freed_memory
from desed_task.experiment.paths import check_paths, run_inputs, run_mode
from desed_task.output_files import create_numbered_folder, next_numbered_folder, removed_unless_finished, write_text
from desed_task.training.checkpoint_io import AtomicCheckpointIO, remove_stale_partials
from desed_task.training.compute import float32_matmul_precision

log = logging.getLogger(__name__)

_VERSION_ENV = "DESED_TASK_RUN_VERSION"


def _experiment_folder(log_dir: Path, inputs: Sequence[tuple[Path, str]]) -> tuple[Path, bool]:
    """The run's ``version_K`` under log_dir and whether this process created it. The launching process creates
    it exclusively (runs started together get different K) and passes it through the environment with its pid;
    DDP worker processes (which re-run the script with that environment, under another pid) reuse it."""
    key = str(log_dir.resolve())
    folder, version, pid = (os.environ.get(_VERSION_ENV, "").split("|") + ["", "", ""])[:3]
    if folder == key and pid and pid != str(os.getpid()):
        return log_dir / version, False
    if _launched_rank() > 0:
        # A rank other than 0 of a torchrun or SLURM launch: rank 0 creates the folder and writes everything, so
        # this process names the next free folder without creating it (no stray empty version_K).
        return next_numbered_folder(log_dir), False
    exp_dir = create_numbered_folder(log_dir, inputs=inputs)
    os.environ[_VERSION_ENV] = f"{key}|{exp_dir.name}|{os.getpid()}"
    return exp_dir, True


def _launched_rank() -> int:
    """This process's global rank as its launcher set it (torchrun: ``RANK``; SLURM: ``SLURM_PROCID``); 0 when
    none did (a single process, or the launching process of Lightning's own DDP)."""
    for name in ("RANK", "SLURM_PROCID"):
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return 0


def _remove_empty(folders: Sequence[Path]) -> None:
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            pass  # not empty, or gone: not ours to remove


def distributed_strategy(backend: str, processes: int) -> str:
    """Lightning's strategy for ``training.backend``: DDP for ``auto`` with several processes, and DDP that looks
    for parameters without a gradient. Stage 2 trains the encoder's ``mask_embed``, which only the encoder's
    pre-training uses; plain DDP stops at the first step when a trainable parameter gets no gradient."""
    if backend == "auto" and processes > 1:
        backend = "ddp"
    return "ddp_find_unused_parameters_true" if backend == "ddp" else backend


def _trainer(config: dict, exp_dir: Path, devices, fast_dev_run: bool, callbacks: list) -> pl.Trainer:
    training = config["training"]
    accelerator, device_ids = devices
    n_devices = len(device_ids) if isinstance(device_ids, list) else device_ids
    strategy = distributed_strategy(training["backend"], n_devices * training["num_nodes"])
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
        logger=TensorBoardLogger(save_dir=str(exp_dir.parent), name="", version=exp_dir.name, default_hp_metric=False),
        gradient_clip_val=training["gradient_clip"] or None,
        accumulate_grad_batches=training["accumulate_batches"],
        deterministic=training["deterministic"],
        limit_train_batches=training["limit_train_batches"],
        enable_progress_bar=training["enable_progress_bar"],
        use_distributed_sampler=False,
        fast_dev_run=fast_dev_run,
        log_every_n_steps=10,
        plugins=[AtomicCheckpointIO()],
    )


def run_experiment(
    config: dict,
    log_dir: str | Path,
    devices: tuple[str, list[int] | int] = ("cpu", 1),
    resume_from: str | None = None,
    test_from: str | None = None,
    eval_from: str | None = None,
    validate_from: str | None = None,
    fast_dev_run: bool = False,
    extra_callbacks: list[pl.Callback] | None = None,
    run_test: bool = True,
    config_files: Sequence[Path] = (),
) -> dict:
    """Train (then test the best checkpoint), or only test / evaluate / validate a checkpoint. Returns the metrics.

    ``validate_from`` scores the validation sets with a checkpoint and writes their raw score folders, with the
    ground truth and durations of the scored clips, under ``<experiment>/validation/<model>/<subset>/`` (what
    ``python -m desed_task.postprocess tune`` takes). ``extra_callbacks`` are added to the trainer's;
    ``run_test=False`` stops after training. Every input path is checked, and every part built, before anything
    is written (the experiment folder, made exclusively, is removed again if building fails); ``config_files``
    (the YAML and its ``base:`` files) join the inputs that the experiment folder must stay apart from. An
    interrupt during the test (or validation) stage removes its half-written folder.
    """
    training = config["training"]
    checkpoint_to_score = test_from or eval_from or validate_from
    mode = run_mode(test_from, eval_from, validate_from)
    checkpoints = {
        "resume_from": resume_from,
        "test_from": test_from,
        "eval_from": eval_from,
        "validate_from": validate_from,
    }
    check_paths(config, mode, checkpoints, run_test=run_test)
    if devices[0] == "cpu" and training["cpu_keep_freed_memory"]:
        keep_freed_memory()
    pl.seed_everything(training["seed"], workers=True)
    log_dir = Path(log_dir)
    new_folders = [folder for folder in (log_dir, *log_dir.parents) if not folder.exists()]  # deepest first
    inputs = [*run_inputs(config, mode, checkpoints, run_test), *((p, "the configuration") for p in config_files)]
    exp_dir, created = _experiment_folder(log_dir, inputs)
    scores_dir = exp_dir / ("eval" if eval_from else "test")
    try:
        parts = build_experiment(config, scores_dir, mode, checkpoint_to_score)
    except BaseException:
        if created:
            _remove_empty([exp_dir, *new_folders])
        raise
    task, datamodule = parts.task, parts.datamodule
    if validate_from:
        task.validation_scores_dir = exp_dir / "validation"

    checkpoint_cb = ModelCheckpoint(
        dirpath=exp_dir / "checkpoints",
        filename="epoch={epoch}-obj={val/obj_metric:.4f}",
        auto_insert_metric_name=False,
        monitor="val/obj_metric",
        mode=task.objective_mode,
        save_top_k=training["save_top_k"],
    )
    last_cbs = last_checkpoint_callbacks(exp_dir / "checkpoints", training["checkpoint_every_n_steps"])
    last_cb = last_cbs[0]
    early_stop = EarlyStopping(
        monitor="val/obj_metric",
        mode=task.objective_mode,
        patience=training["early_stop_patience"],
        check_on_train_epoch_end=False,
    )
    callbacks = [checkpoint_cb, *last_cbs, early_stop, ReshuffleEachEpoch(), *(extra_callbacks or [])]
    if not checkpoint_to_score:
        callbacks.append(LearningRateMonitor(logging_interval="step"))  # every named parameter group
    trainer = _trainer(config, exp_dir, devices, fast_dev_run, callbacks)
    if trainer.is_global_zero:
        write_text(exp_dir / "config.yaml", yaml.safe_dump(config, sort_keys=False), "the resolved configuration")
        if resume_from:
            remove_stale_partials(Path(resume_from).parent)  # of a writer killed while saving there

    meter = EnergyMeter()
    with meter.measure(), warnings.catch_warnings(), float32_matmul_precision(training["matmul_precision"]):
        # Lightning 2.6 asks torch 2.13's pytree a deprecated question at every fit/test: noise to our users.
        warnings.filterwarnings(
            "ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated", category=FutureWarning
        )
        best = last = None
        if not checkpoint_to_score:
            trainer.fit(task, datamodule=datamodule, ckpt_path=resume_from)
            # Read before testing: loading a checkpoint for the test restores the callbacks' states as saved.
            best, last = checkpoint_cb.best_model_path or None, last_cb.best_model_path or None
            # Rank 0's files (a process of another machine may have chosen another version_N: it writes nothing).
            best, last = trainer.strategy.broadcast((best, last))
        if validate_from:
            with removed_unless_finished(exp_dir / "validation"):
                trainer.validate(task, datamodule=datamodule)
            validation = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
        if run_test and not validate_from:
            if best and not fast_dev_run:
                log.info("testing the best checkpoint %s", best)
            with removed_unless_finished(scores_dir):
                trainer.test(task, datamodule=datamodule, ckpt_path=best if best and not fast_dev_run else None)
    metrics = dict(task.test_metrics) if not validate_from else validation
    metrics["energy_kwh"] = meter.kwh
    if not checkpoint_to_score:
        metrics["best_checkpoint"] = best
        metrics["last_checkpoint"] = last
    metrics["experiment_dir"] = str(exp_dir)
    if trainer.is_global_zero:
        write_text(exp_dir / "metrics.json", json.dumps(metrics, indent=2), "the run's metrics")
    return metrics

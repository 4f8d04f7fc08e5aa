"""From a validated configuration to the parts of an experiment, in one pass (the entry points' glue).

``build_experiment`` builds the label encoder, the networks (fresh, or from a checkpoint), the datasets and the
training task once and returns them together; ``pipeline.run_experiment`` then only runs them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from desed_task.evaluation.pool import default_scoring_workers
from desed_task.config.files import ConfigError
from desed_task.experiment.dataset_builders import build_eval_set, build_test_set, build_train_sets, build_val_sets
from desed_task.config.checkpoint import build_network, networks_from_checkpoint
from desed_task.experiment.paths import Mode
from desed_task.nnet import CRNN
from desed_task.nnet.sed_model_builder import build_label_encoder, build_sed_frontend
from desed_task.training.options import EvaluationReference, TaskOptions

__all__ = [  # build_network, build_label_encoder and build_sed_frontend are also here for the entry points' use
    "ExperimentParts",
    "Mode",
    "build_experiment",
    "build_label_encoder",
    "build_network",
    "build_sed_frontend",
    "build_task",
    "load_postprocess",
    "scoring_options",
]

if TYPE_CHECKING:
    from desed_task.experiment.datamodule import SEDDataModule
    from desed_task.postprocess import Params
    from desed_task.training.module import SEDTask


def load_postprocess(config: dict) -> "Params | None":
    """The tuned post-processing of ``training.postprocess`` (a parameter file of ``desed_task.postprocess``),
    checked against the configuration's classes and output frame hop; None when the key is not set."""
    path = config["training"]["postprocess"]
    if not path:
        return None
    from desed_task.postprocess import PostprocessError, read_params

    label_encoder = build_label_encoder(config)
    try:
        params = read_params(path)
        params.check_fits(
            list(label_encoder.labels),
            label_encoder.frame_to_time(1),
            "data.classes",
            "this configuration's output frames",
        )
    except PostprocessError as err:
        raise ConfigError(f"training.postprocess: {err}") from err
    return params


def scoring_options(config: dict) -> TaskOptions:
    """The task's options, ``training.scoring_workers`` null resolved to the cores the data loader leaves free."""
    options = TaskOptions.from_config(config)
    if options.scoring_workers is None:
        options = replace(options, scoring_workers=default_scoring_workers(config["training"]["num_workers"]))
    return options


def build_task(
    config: dict,
    output_dir: str | Path,
    student: CRNN,
    teacher: CRNN | None = None,
    references: dict[str, EvaluationReference] | None = None,
) -> "SEDTask":
    from desed_task.training.module import SEDTask, Stage2SEDTask  # Lightning: imported only to train or test

    cls = Stage2SEDTask if config["training"]["stage"] == 2 else SEDTask
    return cls(
        student=student,
        teacher=teacher,
        sed_frontend=build_sed_frontend(config),
        label_encoder=build_label_encoder(config),
        options=scoring_options(config),
        output_dir=output_dir,
        references=references,
        config=config,
        postprocess=load_postprocess(config),
    )


@dataclass
class ExperimentParts:
    """What a run needs, built once: the task (networks inside) and its data."""

    task: "SEDTask"
    datamodule: "SEDDataModule"


def _networks(config: dict, mode: Mode, checkpoint: str | None) -> tuple[CRNN, CRNN | None]:
    if checkpoint is not None:
        nets = networks_from_checkpoint(checkpoint, config).networks
        return nets["student"], nets["teacher"]
    if config["training"]["stage"] == 2:
        init = config["training"]["init_checkpoint"]
        if not init:
            raise ConfigError(
                "stage 2 starts from the best stage-1 checkpoint: set training.init_checkpoint to its path"
            )
        nets = networks_from_checkpoint(init, config).networks
        return nets["student"], nets["teacher"]
    return build_network(config), None


def build_experiment(
    config: dict, output_dir: str | Path, mode: Mode = "train", checkpoint: str | None = None
) -> ExperimentParts:
    """Networks, datasets and task of a run: ``train`` (stage 1 from the pretrained encoder, stage 2 from
    ``training.init_checkpoint``), ``test`` a checkpoint on ``data.test_*``, ``eval``: score ``data.eval_folder``, or
    ``validate``: score the validation sets with a checkpoint (their score folders are written for tuning)."""
    from desed_task.experiment.datamodule import SEDDataModule  # Lightning: imported only to train or test

    training = config["training"]
    label_encoder = build_label_encoder(config)
    student, teacher = _networks(config, mode, checkpoint)
    try:
        student.encoder.set_trainable_groups(config["opt"]["encoder_trainable_layers"])
    except ValueError as err:
        raise ConfigError(f"opt.encoder_trainable_layers: {err}") from err
    datamodule = SEDDataModule(
        batch_sizes=training["batch_size"],
        batch_size_val=training["batch_size_val"],
        num_workers=training["num_workers"],
        seed=training["seed"],
    )
    references: dict[str, EvaluationReference] = {}
    if mode == "eval":
        datamodule.test_set = build_eval_set(config, label_encoder)
    elif mode == "validate":
        datamodule.val_sets, references = build_val_sets(config, label_encoder)
    else:
        datamodule.test_set, references = build_test_set(config, label_encoder)
    if mode == "train":
        sets = build_train_sets(config, label_encoder)
        datamodule.train_sets, datamodule.val_sets = sets.train, sets.val
        datamodule.batch_sizes = sets.batch_sizes
        references.update(sets.references)
    task = build_task(config, output_dir, student, teacher, references)
    return ExperimentParts(task, datamodule)

"""From a stage checkpoint (and optionally a configuration) to the detector's parts.

Entry-point glue: the configuration is mapped onto constructors by ``desed_task.experiment.builders`` (which
imports the training stack, Lightning, only when a training task is built).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from desed_task.data.label_encoder import LabelEncoder
from desed_task.experiment.builders import build_frontends, build_label_encoder, build_network
from desed_task.experiment.config import ConfigError, load_config, resolve_config
from desed_task.features import ATSTFrontend, SEDFrontend
from desed_task.nnet import CRNN, CheckpointError, load_state_dict_checked, read_checkpoint, stage_state_dict


@dataclass
class DetectorParts:
    network: CRNN
    sed_frontend: SEDFrontend
    atst_frontend: ATSTFrontend
    encoder: LabelEncoder
    median_window: int | Sequence[int]


def checkpoint_config(checkpoint: Mapping, path: str | Path) -> dict:
    """The resolved configuration stored in a stage checkpoint's ``hyper_parameters``."""
    hparams = checkpoint.get("hyper_parameters")
    if not isinstance(hparams, Mapping) or not hparams:
        raise CheckpointError(
            f"{path} stores no configuration (hyper_parameters); pass the training configuration "
            "(config=... or --config) so that the network can be built"
        )
    try:
        return resolve_config(dict(hparams), source=f"{path} (hyper_parameters)")
    except ConfigError as err:
        raise CheckpointError(
            f"{path} stores a configuration this project cannot read ({err}); checkpoints of the original code "
            "keep its own YAML layout. Pass the configuration the network was trained with: config=... or "
            "--config (confs/stage2.yaml for the published stage-2 checkpoint)"
        ) from err


def _config(config: str | Path | Mapping | None, checkpoint: Mapping, path: str | Path) -> dict:
    if config is None:
        return checkpoint_config(checkpoint, path)
    if isinstance(config, Mapping):
        return resolve_config(dict(config), source="the given configuration")
    return load_config(config)


def detector_parts(
    path: str | Path,
    config: str | Path | Mapping | None = None,
    model: Literal["teacher", "student"] = "teacher",
) -> DetectorParts:
    """Network (weights of ``model`` loaded strictly), front-ends, label encoder and median windows."""
    try:
        checkpoint = read_checkpoint(path)
    except CheckpointError:
        raise
    except Exception as err:  # the unpickler fails in many ways on files that are not checkpoints
        raise CheckpointError(
            f"{path} is not a torch checkpoint ({type(err).__name__}: {err}); give a checkpoint written by training"
        ) from err
    try:
        weights = stage_state_dict(checkpoint, model)
    except CheckpointError as err:
        raise CheckpointError(
            f"{path} is not a stage checkpoint of this project: {err}. Give a checkpoint written by "
            "train/train_stage1.py or train/train_stage2.py (or the published stage-2 checkpoint)"
        ) from err
    resolved = _config(config, checkpoint, path)
    network = build_network(resolved, load_encoder=False)
    load_state_dict_checked(network, weights, f"{path} ({model})")
    sed_frontend, atst_frontend = build_frontends(resolved)
    # Per-clip top_db floor: a chunk's features must not depend on the other chunks of its batch.
    atst_frontend = ATSTFrontend(**{**resolved["atst_feats"], "top_db_scope": "clip"})
    return DetectorParts(
        network, sed_frontend, atst_frontend, build_label_encoder(resolved), resolved["training"]["median_window"]
    )

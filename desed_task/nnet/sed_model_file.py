"""A ``SEDModel`` in one file: the configuration sections it is built from, beside the network's weights.

Such a file rebuilds its model without a training configuration and without the training code: the stored
sections go through ``sed_model_builder`` and the weights load strictly. Paths the sections hold (an encoder's
``init``) are stored as given and never read on loading.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from desed_task.nnet.checkpoints import CheckpointError, load_state_dict_checked, read_checkpoint
from desed_task.nnet.sed_model import SEDModel
from desed_task.nnet.sed_model_builder import build_encoder, build_network, build_sed_model

CONFIG_KEY = "sed_model_config"
WEIGHTS_KEY = "network"
DATA_KEYS = ("classes", "fs", "audio_max_len")
MODEL_SECTIONS = ("encoder", "net")


def model_config(config: Mapping) -> dict:
    """The parts of a resolved configuration that a ``SEDModel`` is built from."""
    sections = {"data": {key: config["data"][key] for key in DATA_KEYS}}
    sections.update({name: dict(config[name]) for name in MODEL_SECTIONS})
    return sections


def _current_layout(config: Mapping) -> dict:
    """Stored sections with the CRNN's front-end under ``net.frontend`` (a file may hold it as ``feats``)."""
    config = {name: dict(section) if isinstance(section, Mapping) else section for name, section in config.items()}
    if isinstance(config.get("feats"), Mapping) and isinstance(config.get("net"), Mapping):
        config["net"]["frontend"] = config.pop("feats")
    return config


def save_sed_model(path: str | Path, model: SEDModel, config: Mapping) -> None:
    """Write ``model``'s network weights with the sections of ``config`` it was built from."""
    torch.save({CONFIG_KEY: model_config(config), WEIGHTS_KEY: model.network.state_dict()}, Path(path))


def load_sed_model(path: str | Path) -> tuple[SEDModel, dict]:
    """The model of a file written by ``save_sed_model`` (weights loaded strictly), and its stored sections."""
    stored = read_checkpoint(path)
    if CONFIG_KEY not in stored or WEIGHTS_KEY not in stored:
        raise CheckpointError(
            f"{path} is not a SEDModel file (it lacks {CONFIG_KEY!r} or {WEIGHTS_KEY!r}); give a file written by "
            "save_sed_model"
        )
    config = _current_layout(stored[CONFIG_KEY])
    missing = [f"data.{key}" for key in DATA_KEYS if key not in config.get("data", {})]
    missing += [name for name in MODEL_SECTIONS if name not in config]
    if missing:
        raise CheckpointError(f"{path} stores a model configuration without {', '.join(missing)}; save the model again")
    try:
        network = build_network(config, build_encoder(config))
        model = build_sed_model(config, network)
    except ValueError as err:
        raise CheckpointError(f"{path} stores a model configuration that cannot be built: {err}") from err
    load_state_dict_checked(network, stored[WEIGHTS_KEY], str(path))
    return model, config

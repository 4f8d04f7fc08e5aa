"""From a configuration to its network, fresh or from a stage checkpoint: the one path used by training (stage-2
initialisation, testing a checkpoint), inference and the tests.

Weights always come from the checkpoint (read safely, strictly, keys named on a mismatch); the network is built
from the given configuration, or else from the one the checkpoint stores (its ``hyper_parameters``, with this
project's earlier key names read as the current ones, or mapped from the original code's layout, as the authors'
published checkpoints hold it). Paths stored in a checkpoint (the authors' pretrained encoder, their data) are
never read.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal, NamedTuple

from desed_task.config.files import ConfigError, resolve_config
from desed_task.config.original_layout import from_original_layout, is_original_layout
from desed_task.nnet import (
    CRNN,
    CheckpointError,
    FrameEncoder,
    encoder_class,
    load_pretrained_encoder,
    load_state_dict_checked,
    read_checkpoint,
    stage_state_dict,
)
from desed_task.nnet import sed_model_builder

Role = Literal["student", "teacher"]
log = logging.getLogger(__name__)
_PASS_CONFIG = "pass the configuration the network was trained with: config=... or --config"


def build_encoder(config: dict, load_pretrained: bool = True) -> FrameEncoder:
    """The encoder unit of ``encoder``; with ``load_pretrained`` its weights come from ``encoder.init`` (or stay
    random where the config asks with ``encoder.random_init``). Without it the caller loads a stage checkpoint."""
    try:  # only the constructors' checks of the section's values are configuration errors
        encoder = sed_model_builder.build_encoder(config)
    except ValueError as err:
        raise ConfigError(str(err)) from err
    section = config["encoder"]
    if load_pretrained:
        if section["init"]:
            load_pretrained_encoder(encoder, section["init"])
        elif not section["random_init"]:
            raise ConfigError(
                f"encoder.init is not set. Set it to the pretrained encoder checkpoint: "
                f"{encoder_class(section['name']).pretrained_source}. Only a toy or test configuration may set "
                "encoder.random_init: true to start from random weights."
            )
    return encoder


def build_network(config: dict, load_encoder: bool = True) -> CRNN:
    """The CRNN of ``net`` around the encoder unit of ``encoder`` (see ``build_encoder``)."""
    encoder = build_encoder(config, load_encoder)
    try:
        return sed_model_builder.build_network(config, encoder)
    except ValueError as err:
        raise ConfigError(str(err)) from err


def checkpoint_config(checkpoint: Mapping, path: str | Path) -> dict:
    """The resolved configuration stored in a stage checkpoint's ``hyper_parameters``.

    A configuration in the original code's layout is mapped (``original_layout``); where each value came from is
    logged at INFO, so that a user can see which values were assumed.
    """
    hparams = checkpoint.get("hyper_parameters")
    if not isinstance(hparams, Mapping) or not hparams:
        raise CheckpointError(
            f"{path} stores no configuration (hyper_parameters); pass the training configuration "
            "(config=... or --config) so that the network can be built"
        )
    source = f"{path} (hyper_parameters)"
    try:
        user = dict(hparams)
        if is_original_layout(hparams):
            source = f"{path} (hyper_parameters in the original code's layout)"
            translation = from_original_layout(hparams, source)
            log.info("%s: the configuration stored in the original ATST-SED layout was mapped:", path)
            for note in translation.notes:
                log.info("  %s", note)
            user = translation.config
        return resolve_config(user, source=source)
    except ConfigError as err:
        message = f"{path} stores a configuration this project cannot read ({err}); {_PASS_CONFIG}"
        raise CheckpointError(message) from err


class CheckpointNetworks(NamedTuple):
    """The configuration the networks were built from, and the networks by role."""

    config: dict
    networks: dict[str, CRNN]


def networks_from_checkpoint(
    path: str | Path, config: dict | None = None, roles: Sequence[Role] = ("student", "teacher")
) -> CheckpointNetworks:
    """The networks of ``roles`` in a stage checkpoint, built from ``config`` (default: the checkpoint's own)."""
    checkpoint = read_checkpoint(path)
    weights = {}
    for role in roles:
        try:
            weights[role] = stage_state_dict(checkpoint, role)
        except CheckpointError as err:
            raise CheckpointError(
                f"{path} is not a stage checkpoint: {err}. Give a checkpoint written by train/train_stage1.py or "
                "train/train_stage2.py, or a published stage checkpoint"
            ) from err
    stored = config is None
    if stored:
        config = checkpoint_config(checkpoint, path)
    networks = {}
    for role, role_weights in weights.items():
        network = build_network(config, load_encoder=False)
        try:
            load_state_dict_checked(network, role_weights, f"{path} ({role})")
        except CheckpointError as err:
            if not stored:
                raise
            raise CheckpointError(
                f"{err}. The network was built from the configuration stored in the checkpoint; {_PASS_CONFIG}"
            ) from err
        networks[role] = network
    return CheckpointNetworks(config, networks)

"""From a stage checkpoint to its networks: the one path used by training (stage-2 initialisation, testing a
checkpoint), inference and the tests.

Weights always come from the checkpoint (read safely, strictly, keys named on a mismatch); the network is built
from the given configuration, or else from the one the checkpoint stores (its ``hyper_parameters``, upgraded
from this project's earlier layout where needed). Paths stored in a checkpoint (the authors' pretrained encoder,
their data) are never read.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal, NamedTuple

from desed_task.experiment.builders import build_network
from desed_task.experiment.config import ConfigError, resolve_config
from desed_task.nnet import CRNN, CheckpointError, load_state_dict_checked, read_checkpoint, stage_state_dict

Role = Literal["student", "teacher"]


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
    if config is None:
        config = checkpoint_config(checkpoint, path)
    networks = {}
    for role, role_weights in weights.items():
        network = build_network(config, load_encoder=False)
        load_state_dict_checked(network, role_weights, f"{path} ({role})")
        networks[role] = network
    return CheckpointNetworks(config, networks)

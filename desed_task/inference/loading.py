"""From a stage checkpoint (and optionally a configuration) to the detector's parts.

Entry-point glue: the network comes from ``experiment.networks.networks_from_checkpoint``, the CRNN's front-end,
label encoder and median windows from the same configuration (the checkpoint's own unless one is given).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from desed_task.data.label_encoder import LabelEncoder
from desed_task.experiment.builders import build_label_encoder, build_sed_frontend
from desed_task.experiment.config import load_config, resolve_config
from desed_task.experiment.networks import networks_from_checkpoint
from desed_task.features import SEDFrontend
from desed_task.nnet import CRNN


@dataclass
class DetectorParts:
    network: CRNN
    sed_frontend: SEDFrontend
    label_encoder: LabelEncoder
    median_window: int | Sequence[int]


def _config(config: str | Path | Mapping | None) -> dict | None:
    if config is None:
        return None
    if isinstance(config, Mapping):
        return resolve_config(dict(config), source="the given configuration")
    return load_config(config)


def detector_parts(
    path: str | Path,
    config: str | Path | Mapping | None = None,
    model: Literal["teacher", "student"] = "teacher",
) -> DetectorParts:
    """Network (weights of ``model`` loaded strictly), CRNN front-end, label encoder and median windows."""
    resolved, networks = networks_from_checkpoint(path, _config(config), roles=(model,))
    return DetectorParts(
        networks[model], build_sed_frontend(resolved), build_label_encoder(resolved),
        resolved["training"]["median_window"],
    )

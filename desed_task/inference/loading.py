"""From a stage checkpoint (and optionally a configuration) to the detector's parts.

The network comes from ``desed_task.config.checkpoint.networks_from_checkpoint`` and is bundled with the
CRNN's front-end and label encoder of the same configuration (the checkpoint's own unless one is given) into a
``SEDModel``; the median windows come from that configuration too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from desed_task.config.files import load_config, resolve_config
from desed_task.config.checkpoint import networks_from_checkpoint
from desed_task.nnet.sed_model import SEDModel
from desed_task.nnet.sed_model_builder import build_sed_model


@dataclass
class DetectorParts:
    model: SEDModel
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
    """The ``SEDModel`` of the ``model`` network (weights loaded strictly) and the median windows."""
    resolved, networks = networks_from_checkpoint(path, _config(config), roles=(model,))
    return DetectorParts(build_sed_model(resolved, networks[model]), resolved["training"]["median_window"])

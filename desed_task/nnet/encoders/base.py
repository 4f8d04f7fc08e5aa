"""What the CRNN, the training and the inference need from a frame-level encoder: the encoder unit.

An encoder unit is a module ``features (B, n_mels, T_in) → embeddings (B, out_dim, N)`` that also owns
- its front-end (``frontend``: audio → its input features, with ``mel`` and ``scale`` steps so that mixup can
  act in between), and from it its frame rate;
- its parameter grouping for layer-wise learning rates (``layer_groups``, ``layer_group_of``), top group first;
- its checkpoint filter for the published pretrained layouts (``pretrained_state_dict``);
- the attribute name under which the CRNN holds it (``attribute``), part of the published state-dict keys;
- its configuration keys: ``settings_class`` (a ``desed_task.settings.Settings`` dataclass: each constructor
  argument but the front-end, with its default, type and range) and its front-end class's ``settings_class``.
  The ``encoder`` section is then ``name``, ``init``, ``random_init``, the unit's keys and ``frontend``; the
  constructors take their defaults from these dataclasses, so each default is written once.

A new encoder is one file with a subclass (and its settings dataclasses) and one entry in
``desed_task.nnet.encoders.ENCODERS``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import nn

from desed_task.features import MelFrontend
from desed_task.settings import Settings


class FrameEncoder(nn.Module, ABC):
    """Base class of encoder units (see the module docstring)."""

    #: name in the configuration (``encoder.name``) and the registry
    name: ClassVar[str]
    #: attribute of the CRNN holding the unit: its state-dict keys start with ``<attribute>.``
    attribute: ClassVar[str]
    #: where the pretrained weights come from, for the error of a configuration that names none
    pretrained_source: ClassVar[str]
    #: key prefixes of the published pretrained layouts, named when a checkpoint holds none of them
    pretrained_prefixes: ClassVar[tuple[str, ...]]
    #: the front-end class computing the unit's input features, and the number of mel bins it takes
    frontend_class: ClassVar[type[MelFrontend]]
    n_mels: ClassVar[int]
    #: the unit's configuration keys in ``encoder`` (its constructor arguments but the front-end)
    settings_class: ClassVar[type[Settings]]

    def __init__(self, frontend: MelFrontend) -> None:
        super().__init__()
        self.frontend = frontend  # no parameters or persistent buffers: no state-dict keys

    @property
    @abstractmethod
    def out_dim(self) -> int:
        """Size of one output embedding."""

    @property
    @abstractmethod
    def frames_per_output(self) -> int:
        """Front-end frames per output embedding (the patch or pooling size in time)."""

    @property
    def frame_rate(self) -> float:
        """Output embeddings per second of audio."""
        return self.frontend.sample_rate / (self.frontend.hop_length * self.frames_per_output)

    @abstractmethod
    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(B, n_mels, T_in) scaled features → (B, out_dim, N) embeddings."""

    @abstractmethod
    def layer_groups(self) -> list[str]:
        """Names of the parameter groups for layer-wise learning rates, top (closest to the output) first."""

    @abstractmethod
    def layer_group_of(self, name: str) -> int:
        """Index in ``layer_groups()`` of the parameter ``name`` (relative to this module); ValueError if none."""

    @classmethod
    def layer_group_count(cls, **kwargs: Any) -> int:
        """Number of layer groups of the unit built with ``kwargs`` (the values of its ``settings_class``, as the
        configuration's ``encoder`` section gives them): what ``opt.encoder_trainable_layers: all`` stands for.
        This default builds the unit; a large unit says it without building."""
        return len(cls(frontend=cls.frontend_class(), **kwargs).layer_groups())

    @classmethod
    @abstractmethod
    def pretrained_state_dict(cls, state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """This unit's state dict (keys relative to it) from a published pretrained checkpoint's ``state_dict``."""

    def set_trainable_groups(self, k: int) -> None:
        """Train the top ``k`` layer groups and freeze the others (``k = 0``: frozen, as in stage 1)."""
        n = len(self.layer_groups())
        if not 0 <= k <= n:
            raise ValueError(
                f"the encoder has {n} layer groups: the number of trainable ones must lie in [0, {n}], got {k}"
            )
        for name, param in self.named_parameters():
            param.requires_grad_(self.layer_group_of(name) < k)

    def is_frozen(self) -> bool:
        return not any(p.requires_grad for p in self.parameters())

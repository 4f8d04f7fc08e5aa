"""A second encoder unit, for tests only: what a new encoder takes is this one file plus a registry entry.

It shows that the CRNN, the training task, the configuration and inference do not assume FrameATST: its own
front-end (32 mel bins, log compression) and its keys, its own keys (``encoder.width``), its own frame rate (8
front-end frames per embedding), two layer groups and a checkpoint filter for a made-up published layout
(``model.encoder.<key>``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from desed_task.features import MelFrontend, MelSettings
from desed_task.nnet.encoders import FrameEncoder
from desed_task.settings import POSITIVE_INT, Settings, setting


@dataclass(frozen=True)
class ToyFrontendSettings(MelSettings):
    """``encoder.frontend`` of the toy unit."""

    n_fft: int = setting(512, POSITIVE_INT)
    win_length: int = setting(512, POSITIVE_INT)
    hop_length: int = setting(256, POSITIVE_INT)


@dataclass(frozen=True)
class ToySettings(Settings):
    """The toy unit's keys in ``encoder``."""

    width: int = setting(16, POSITIVE_INT)


_FRONTEND, _UNIT = ToyFrontendSettings(), ToySettings()


class ToyFrontend(MelFrontend):
    """Power mel spectrogram, ``log(1 + x)``."""

    settings_class = ToyFrontendSettings

    def __init__(
        self,
        sample_rate: int = 16000,
        n_fft: int = _FRONTEND.n_fft,
        win_length: int = _FRONTEND.win_length,
        hop_length: int = _FRONTEND.hop_length,
        f_min: float = _FRONTEND.f_min,
        f_max: float = _FRONTEND.f_max,
        n_mels: int = 32,
    ) -> None:
        super().__init__(
            sample_rate, n_fft, win_length, hop_length, f_min, f_max, n_mels, torch.hann_window(win_length), power=2.0
        )

    def scale(self, spectrogram: torch.Tensor) -> torch.Tensor:
        return torch.log1p(self._check_spectrogram(spectrogram))


class ToyEncoder(FrameEncoder):
    """A strided convolution over time (8 frames per embedding) and a linear layer on top."""

    name = "toy"
    attribute = "toy_encoder"
    pretrained_source = "toy.ckpt from nowhere"
    pretrained_prefixes = ("model.encoder.",)
    frontend_class = ToyFrontend
    settings_class = ToySettings
    n_mels = 32
    stride = 8

    def __init__(self, frontend: ToyFrontend | None = None, width: int = _UNIT.width) -> None:
        super().__init__(ToyFrontend() if frontend is None else frontend)
        self.embed = nn.Conv1d(self.n_mels, width, kernel_size=self.stride, stride=self.stride)
        self.proj = nn.Linear(width, width)

    @property
    def out_dim(self) -> int:
        return self.proj.out_features

    @property
    def frames_per_output(self) -> int:
        return self.stride

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.embed(features))  # (B, width, N)
        return self.proj(x.transpose(1, 2)).transpose(1, 2)  # (B, width, N)

    def layer_groups(self) -> list[str]:
        return ["proj", "embed"]

    def layer_group_of(self, name: str) -> int:
        for index, group in enumerate(self.layer_groups()):
            if name.startswith(group + "."):
                return index
        raise ValueError(f"toy encoder parameter {name!r} fits no group")

    @classmethod
    def pretrained_state_dict(cls, state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        prefix = cls.pretrained_prefixes[0]
        return {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}

"""The FrameATST encoder unit: ATST-Frame (a ViT on 64-mel × 4-frame patches) with its front-end, layer groups
and the published pretrained checkpoint layouts (docs/recipe.md §2, §4, §5).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch

from desed_task.features import DEFAULT_SAMPLE_RATE, FREQUENCY, MelFrontend, MelSettings
from desed_task.nnet.encoders.atst_transformer import FrameATST
from desed_task.nnet.encoders.base import FrameEncoder
from desed_task.settings import POSITIVE_INT, RATE, Settings, one_of, setting

__all__ = ["ATSTFrontend", "ATSTFrontendSettings", "FrameATSTEncoder", "FrameATSTSettings"]


@dataclass(frozen=True)
class ATSTFrontendSettings(MelSettings):
    """``encoder.frontend`` of FrameATST (its mel bins are the encoder's, not a key; n_fft and win_length:
    ``MelSettings``')."""

    hop_length: int = setting(160, POSITIVE_INT)
    f_min: float = setting(60.0, FREQUENCY)
    f_max: float = setting(7800.0, FREQUENCY)
    top_db: float | None = setting(80.0, (lambda v: v >= 0, "a non-negative number of dB, or null (no floor)"))
    top_db_scope: Literal["batch", "clip"] = setting("batch", one_of("batch", "clip"))


@dataclass(frozen=True)
class FrameATSTSettings(Settings):
    """The FrameATST unit's keys in ``encoder`` (the published ViT-Base by default)."""

    embed_dim: int = setting(768, POSITIVE_INT)
    depth: int = setting(12, (lambda v: v >= 1, "a positive number of blocks"))
    num_heads: int = setting(12, POSITIVE_INT)
    dropout: float = setting(0.0, RATE)
    activation_checkpointing: bool = setting(False)


_FRONTEND = ATSTFrontendSettings()
_N_MELS = 64  # FrameATST's patches are 64 mel bins × 4 frames
_UNIT = FrameATSTSettings()


class ATSTFrontend(MelFrontend):
    """ATST's input features: power mel spectrogram, dB with a ``top_db`` floor, clamped to [-50, 80], then a
    fixed min-max scaling to about [-1, 1].

    Hann (periodic) window, 64 mels over 60–7800 Hz by default. ``top_db_scope="batch"`` takes the floor's
    maximum over the whole (B, n_mels, T) tensor, as torchaudio's ``AmplitudeToDB`` does on a 3-D batch and as the
    original recipe (and the golden data) did; ``"clip"`` takes it per clip, so a clip's features do not depend
    on the rest of its batch.
    """

    settings_class = ATSTFrontendSettings
    amin = 1e-10
    db_min = -79.6482
    db_max = 50.6842

    def __init__(
        self,
        sample_rate: int = DEFAULT_SAMPLE_RATE,
        n_fft: int = _FRONTEND.n_fft,
        win_length: int = _FRONTEND.win_length,
        hop_length: int = _FRONTEND.hop_length,
        f_min: float = _FRONTEND.f_min,
        f_max: float = _FRONTEND.f_max,
        n_mels: int = _N_MELS,
        top_db: float | None = _FRONTEND.top_db,
        top_db_scope: Literal["batch", "clip"] = _FRONTEND.top_db_scope,
    ) -> None:
        window = torch.hann_window(win_length, periodic=True)
        super().__init__(sample_rate, n_fft, win_length, hop_length, f_min, f_max, n_mels, window, power=2.0)
        self.top_db = None if top_db is None else float(top_db)
        self.top_db_scope = top_db_scope

    def scale(self, spectrogram: torch.Tensor) -> torch.Tensor:
        """dB, floor, clamp and fixed min-max scaling: (B, n_mels, T) → (B, n_mels, T) in about [-1, 1]."""
        x = self._check_spectrogram(spectrogram)
        with torch.autocast(device_type=x.device.type, enabled=False):
            x = 10.0 * torch.log10(torch.clamp(x, min=self.amin))  # (B, F, T)
            if self.top_db is not None:
                dims = (0, 1, 2) if self.top_db_scope == "batch" else (1, 2)
                floor = x.amax(dim=dims, keepdim=True) - self.top_db  # (1, 1, 1) or (B, 1, 1)
                x = torch.maximum(x, floor)
            x = x.clamp(-50.0, 80.0)
            return (x - self.db_min) / (self.db_max - self.db_min) * 2.0 - 1.0

    def batch_independent(self) -> "ATSTFrontend":
        if self.top_db_scope == "clip" or self.top_db is None:
            return self
        clip_scoped = copy.deepcopy(self)
        clip_scoped.top_db_scope = "clip"
        return clip_scoped

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, top_db={self.top_db}, top_db_scope={self.top_db_scope!r}"


_BLOCK = re.compile(r"atst\.blocks\.(\d+)\.")
_EMBEDDINGS = ("atst.patch_embed.", "atst.pos_embed", "atst.mask_embed")


def _strip(state_dict: Mapping[str, torch.Tensor], prefix: str, skip: str | None = None) -> dict:
    return {
        key[len(prefix) :]: value
        for key, value in state_dict.items()
        if key.startswith(prefix) and not (skip and key.startswith(skip))
    }


class FrameATSTEncoder(FrameEncoder):
    """ATST-Frame as the CRNN's encoder: (B, 64, T) ATST features → (B, embed_dim, T // 4).

    Defaults are the published ViT-Base (768 wide, 12 blocks of 12 heads). ``dropout`` is the encoder's dropout
    and stochastic-depth rate (the recipe's ``atst_dropout``, 0); ``activation_checkpointing`` recomputes each
    block in the backward pass to save memory. Layer groups, top first: ``norm_frame``, ``block<depth − 1>`` …
    ``block0``, ``embeddings`` (patch embedding, positions, mask token): ``depth + 2`` groups.
    """

    name = "frame_atst"
    attribute = "atst_frame"
    pretrained_source = (
        "atst_as2M.ckpt (ATST-Frame fine-tuned on AudioSet-2M), distributed with the ATST-SED authors' release "
        "(github.com/Audio-WestlakeU/ATST-SED, see its README for the download link)"
    )
    pretrained_prefixes = ("encoder.encoder.", "encoder.encoder.frame_encoder.", "model.teacher.encoder.")
    frontend_class = ATSTFrontend
    settings_class = FrameATSTSettings
    n_mels = _N_MELS
    patch_frames = 4

    def __init__(
        self,
        frontend: ATSTFrontend | None = None,
        embed_dim: int = _UNIT.embed_dim,
        depth: int = _UNIT.depth,
        num_heads: int = _UNIT.num_heads,
        dropout: float = _UNIT.dropout,
        activation_checkpointing: bool = _UNIT.activation_checkpointing,
    ) -> None:
        frontend = ATSTFrontend() if frontend is None else frontend
        if frontend.n_mels != self.n_mels:
            raise ValueError(
                f"FrameATST takes {self.n_mels} mel bins (its patches are 64 × 4), the front-end gives "
                f"{frontend.n_mels}"
            )
        super().__init__(frontend)
        # The published keys are atst_frame.atst.<FrameATST key>: the transformer sits under "atst".
        self.atst = FrameATST(
            embed_dim,
            depth,
            num_heads,
            n_mels=self.n_mels,
            patch_frames=self.patch_frames,
            dropout=dropout,
            drop_path=dropout,
            activation_checkpointing=activation_checkpointing,
        )

    @property
    def out_dim(self) -> int:
        return self.atst.norm_frame.normalized_shape[0]

    @property
    def frames_per_output(self) -> int:
        return self.patch_frames

    @property
    def depth(self) -> int:
        return len(self.atst.blocks)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.atst(features)

    @classmethod
    def layer_group_count(cls, **kwargs: Any) -> int:
        return kwargs["depth"] + 2

    def layer_groups(self) -> list[str]:
        return ["norm_frame"] + [f"block{self.depth - rank}" for rank in range(1, self.depth + 1)] + ["embeddings"]

    def layer_group_of(self, name: str) -> int:
        if name.startswith("atst.norm_frame."):
            return 0
        match = _BLOCK.match(name)
        if match is not None:
            block = int(match.group(1))
            if block >= self.depth:
                raise ValueError(f"parameter {name!r} is in block {block} but the encoder depth is {self.depth}")
            return self.depth - block
        if name.startswith(_EMBEDDINGS):
            return self.depth + 1
        raise ValueError(
            f"encoder parameter {name!r} fits no layer group (norm_frame, blocks.<i>, patch_embed, pos_embed, "
            "mask_embed); extend FrameATSTEncoder.layer_group_of if the encoder gained a layer"
        )

    @classmethod
    def pretrained_state_dict(cls, state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The unit's weights from any of the three published ATST layouts: ``encoder.encoder.frame_encoder.<key>``
        (C2F; its ``teacher_module`` skipped), ``encoder.encoder.<key>`` (AudioSet fine-tuned, ``atst_as2M.ckpt``)
        and ``model.teacher.encoder.<key>`` (self-supervised; ``norm.*`` → ``norm_frame.*``, ``cls_token``
        dropped). Other keys are ignored. An empty result means none of the layouts is present."""
        weights = _strip(state_dict, "encoder.encoder.frame_encoder.")
        if not weights:
            weights = _strip(state_dict, "encoder.encoder.", skip="encoder.encoder.teacher_module.")
        if not weights:
            weights = {
                ("norm_frame." + key[len("norm.") :] if key.startswith("norm.") else key): value
                for key, value in _strip(state_dict, "model.teacher.encoder.").items()
                if key != "cls_token"
            }
        return {f"atst.{key}": value for key, value in weights.items()}

"""The ATST-SED network: a CNN on the SED features and a pretrained encoder on its own features, fused before a
BiGRU (docs/recipe.md §4)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from desed_task.nnet.cnn import CNN
from desed_task.nnet.dropout import Dropout
from desed_task.nnet.encoders.base import FrameEncoder
from desed_task.nnet.rnn import BidirectionalGRU
from desed_task.settings import NON_NEGATIVE_INT, POSITIVE_INT, RATE, Settings, is_int, setting


def _positive_ints(v: Any) -> bool:
    return isinstance(v, (list, tuple)) and len(v) > 0 and all(is_int(x) and x >= 1 for x in v)


def time_pooling(pooling: Sequence[Sequence[int]]) -> int:
    """Output frames are this many CRNN front-end frames: the product of the pooling's time factors."""
    return math.prod(int(pool[0]) for pool in pooling)


@dataclass(frozen=True)
class CRNNSettings(Settings):
    """The CRNN's keys in ``net`` (the recipe's network; the CNN's pooling sets the output frame rate)."""

    n_in_channel: int = setting(1, POSITIVE_INT)
    nb_filters: tuple[int, ...] = setting(
        (16, 32, 64, 128, 128, 128, 128), (_positive_ints, "a list of positive integers")
    )
    pooling: tuple[tuple[int, int], ...] = setting(
        ((2, 2), (2, 2), (1, 2), (1, 2), (1, 2), (1, 2), (1, 2)),
        (
            lambda v: isinstance(v, (list, tuple)) and len(v) > 0 and all(_positive_ints(p) and len(p) == 2 for p in v),
            "a list of [time, freq] pairs of positive integers",
        ),
    )
    kernel_size: int = setting(3, POSITIVE_INT)
    padding: int = setting(1, NON_NEGATIVE_INT)
    cnn_dropout: float = setting(0.5, RATE)
    n_rnn_cell: int = setting(128, POSITIVE_INT)
    rnn_layers: int = setting(2, POSITIVE_INT)
    rnn_dropout: float = setting(0.0, RATE)
    dropout: float = setting(0.5, RATE)


_NET = CRNNSettings()


class CRNN(nn.Module):
    """forward(sed_feats (B, 128, 626), encoder_feats (B, 64, 1001)) → strong (B, C, 156), weak (B, C).

    ``encoder`` is an encoder unit (``desed_task.nnet.encoders``), held under its own attribute name so that the
    state-dict keys are the published ones (``atst_frame.atst.*`` for FrameATST). Its output is average-pooled in
    time to the CNN's frames and concatenated after the CNN features.
    """

    def __init__(
        self,
        encoder: FrameEncoder,
        n_classes: int = 10,
        n_in_channel: int = _NET.n_in_channel,
        nb_filters: Sequence[int] = _NET.nb_filters,
        pooling: Sequence[Sequence[int]] = _NET.pooling,
        kernel_size: int = _NET.kernel_size,
        padding: int = _NET.padding,
        cnn_dropout: float = _NET.cnn_dropout,
        n_rnn_cell: int = _NET.n_rnn_cell,
        rnn_layers: int = _NET.rnn_layers,
        rnn_dropout: float = _NET.rnn_dropout,
        dropout: float = _NET.dropout,
    ) -> None:
        super().__init__()
        if not isinstance(encoder, FrameEncoder):
            raise TypeError(f"CRNN needs an encoder unit (a FrameEncoder), got {type(encoder).__name__}")
        # Registration order = the published state-dict key order.
        self.cnn = CNN(n_in_channel, nb_filters, pooling, kernel_size, padding, cnn_dropout)
        self.rnn = BidirectionalGRU(self.cnn.out_channels, n_rnn_cell, rnn_layers, rnn_dropout)
        self.dropout = Dropout(dropout)
        self.dense = nn.Linear(2 * n_rnn_cell, n_classes)
        self.dense_softmax = nn.Linear(2 * n_rnn_cell, n_classes)
        self.cat_tf = nn.Linear(self.cnn.out_channels + encoder.out_dim, self.cnn.out_channels)
        if hasattr(self, encoder.attribute) or encoder.attribute == "encoder":
            raise ValueError(f"encoder attribute {encoder.attribute!r} is taken by the CRNN; give the unit another")
        self._encoder_attribute = encoder.attribute
        self.add_module(encoder.attribute, encoder)
        self.time_pooling = time_pooling(pooling)

    @property
    def encoder(self) -> FrameEncoder:
        return getattr(self, self._encoder_attribute)

    def train(self, mode: bool = True) -> "CRNN":
        """Like nn.Module.train (and returning self, unlike the original); a frozen encoder stays in eval mode."""
        super().train(mode)
        if mode and self.encoder.is_frozen():
            self.encoder.eval()
        return self

    def forward(self, sed_feats: torch.Tensor, encoder_feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.cnn(sed_feats.transpose(1, 2).unsqueeze(1))  # (B, C_cnn, T', F') from (B, 1, T, F)
        b, c, t, f = x.shape
        if f != 1:
            raise ValueError(
                f"the CNN leaves {f} frequency bins (expected 1): net.pooling must reduce the {sed_feats.shape[1]} "
                "mel bins to one"
            )
        x = x.squeeze(-1).transpose(1, 2)  # (B, T', C_cnn)
        embeddings = self.encoder(encoder_feats)  # (B, D, N)
        embeddings = F.adaptive_avg_pool1d(embeddings, t).transpose(1, 2)  # (B, T', D)
        x = self.cat_tf(torch.cat((x, embeddings), dim=-1))  # (B, T', C_cnn)
        x = self.dropout(self.rnn(x))  # (B, T', 2·H)
        strong = torch.sigmoid(self.dense(x).float())  # (B, T', classes)
        attention = torch.softmax(self.dense_softmax(x).float(), dim=-1).clamp(1e-7, 1.0)
        weak = (strong * attention).sum(dim=1) / attention.sum(dim=1)  # (B, classes)
        return strong.transpose(1, 2), weak

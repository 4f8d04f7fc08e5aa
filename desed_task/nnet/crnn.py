"""The ATST-SED network: CNN on the SED features, FrameATST on the ATST features, fused before a BiGRU (SPEC §4)."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from desed_task.nnet.cnn import CNN
from desed_task.nnet.dropout import Dropout
from desed_task.nnet.frame_atst import FrameATST
from desed_task.nnet.rnn import BidirectionalGRU


class ATSTFrame(nn.Module):
    """Holds the encoder under the published key prefix ``atst_frame.atst.``."""

    def __init__(self, atst: FrameATST) -> None:
        super().__init__()
        self.atst = atst

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.atst(x)


class CRNN(nn.Module):
    """forward(sed_feats (B, 128, 626), atst_feats (B, 64, 1001)) → strong (B, C, 156), weak (B, C)."""

    def __init__(
        self,
        n_classes: int = 10,
        n_in_channel: int = 1,
        nb_filters: Sequence[int] = (16, 32, 64, 128, 128, 128, 128),
        pooling: Sequence[Sequence[int]] = ((2, 2), (2, 2), (1, 2), (1, 2), (1, 2), (1, 2), (1, 2)),
        kernel_size: int = 3,
        padding: int = 1,
        cnn_dropout: float = 0.5,
        n_rnn_cell: int = 128,
        rnn_layers: int = 2,
        rnn_dropout: float = 0.0,
        dropout: float = 0.5,
        atst_embed_dim: int = 768,
        atst_depth: int = 12,
        atst_num_heads: int = 12,
        atst_dropout: float = 0.0,
        atst_activation_checkpointing: bool = False,
    ) -> None:
        super().__init__()
        # Registration order = the published state-dict key order.
        self.cnn = CNN(n_in_channel, nb_filters, pooling, kernel_size, padding, cnn_dropout)
        self.rnn = BidirectionalGRU(self.cnn.out_channels, n_rnn_cell, rnn_layers, rnn_dropout)
        self.dropout = Dropout(dropout)
        self.dense = nn.Linear(2 * n_rnn_cell, n_classes)
        self.dense_softmax = nn.Linear(2 * n_rnn_cell, n_classes)
        self.cat_tf = nn.Linear(self.cnn.out_channels + atst_embed_dim, self.cnn.out_channels)
        self.atst_frame = ATSTFrame(
            FrameATST(atst_embed_dim, atst_depth, atst_num_heads, dropout=atst_dropout, drop_path=atst_dropout,
                      activation_checkpointing=atst_activation_checkpointing)
        )

    @property
    def encoder(self) -> FrameATST:
        return self.atst_frame.atst

    def _encoder_frozen(self) -> bool:
        return not any(p.requires_grad for p in self.encoder.parameters())

    def train(self, mode: bool = True) -> "CRNN":
        """Like nn.Module.train (and returning self, unlike the original); a frozen encoder stays in eval mode."""
        super().train(mode)
        if mode and self._encoder_frozen():
            self.encoder.eval()
        return self

    def forward(self, sed_feats: torch.Tensor, atst_feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.cnn(sed_feats.transpose(1, 2).unsqueeze(1))  # (B, C_cnn, T', F') from (B, 1, T, F)
        b, c, t, f = x.shape
        if f != 1:
            raise ValueError(
                f"the CNN leaves {f} frequency bins (expected 1): net.pooling must reduce the {sed_feats.shape[1]} "
                "mel bins to one"
            )
        x = x.squeeze(-1).transpose(1, 2)  # (B, T', C_cnn)
        embeddings = self.encoder(atst_feats)  # (B, D, N)
        embeddings = F.adaptive_avg_pool1d(embeddings, t).transpose(1, 2)  # (B, T', D)
        x = self.cat_tf(torch.cat((x, embeddings), dim=-1))  # (B, T', C_cnn)
        x = self.dropout(self.rnn(x))  # (B, T', 2·H)
        strong = torch.sigmoid(self.dense(x).float())  # (B, T', classes)
        attention = torch.softmax(self.dense_softmax(x).float(), dim=-1).clamp(1e-7, 1.0)
        weak = (strong * attention).sum(dim=1) / attention.sum(dim=1)  # (B, classes)
        return strong.transpose(1, 2), weak

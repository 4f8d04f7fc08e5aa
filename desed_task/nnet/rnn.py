"""The CRNN's recurrent part."""

from __future__ import annotations

import torch
from torch import nn


class BidirectionalGRU(nn.Module):
    """Batch-first bidirectional GRU: (B, T, n_in) → (B, T, 2·n_hidden)."""

    def __init__(self, n_in: int, n_hidden: int, num_layers: int = 2, dropout: float = 0.0) -> None:
        super().__init__()
        self.rnn = nn.GRU(n_in, n_hidden, num_layers=num_layers, bidirectional=True, batch_first=True, dropout=dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rnn(x)[0]

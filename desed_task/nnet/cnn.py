"""The CRNN's convolutional front (docs/recipe.md §4): 7 blocks of conv → BatchNorm → context gating → dropout →
pool."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from desed_task.nnet.dropout import Dropout


def _channels_last(x: torch.Tensor) -> torch.Tensor:
    """``x`` in channels-last memory, with strides that say so even for one channel.

    With a single channel both layouts are the same memory and ``contiguous(memory_format=channels_last)`` may keep
    the plain strides; oneDNN then runs the first convolution on its plain-layout path, about 10× slower on a CPU
    at batch 1 than the channels-last kernel that the strides (H·W, 1, W, 1) select.
    """
    if x.shape[1] != 1:
        return x.contiguous(memory_format=torch.channels_last)
    b, _, h, w = x.shape
    return x.contiguous().view(b, h, w, 1).permute(0, 3, 1, 2)


class ContextGating(nn.Module):
    """``x · sigmoid(Linear(x))`` with the linear layer acting on channels."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.linear = nn.Linear(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = self.linear(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)  # (B, C, T, F)
        return x * torch.sigmoid(gate)


class CNN(nn.Module):
    """(B, in_channels, T, F) → (B, nb_filters[-1], T / Π pool_t, F / Π pool_f).

    BatchNorm keeps the recipe's eps 1e-3 and momentum 0.99 (published checkpoints were trained with them).
    """

    def __init__(
        self,
        n_in_channel: int = 1,
        nb_filters: Sequence[int] = (16, 32, 64, 128, 128, 128, 128),
        pooling: Sequence[Sequence[int]] = ((2, 2), (2, 2), (1, 2), (1, 2), (1, 2), (1, 2), (1, 2)),
        kernel_size: int = 3,
        padding: int = 1,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        if len(nb_filters) != len(pooling):
            raise ValueError(
                f"net.nb_filters has {len(nb_filters)} entries but net.pooling has {len(pooling)}: "
                "give one pooling (time, freq) per convolution block"
            )
        for i, pool in enumerate(pooling):
            if len(pool) != 2 or any(int(p) < 1 for p in pool):
                raise ValueError(f"net.pooling[{i}] is {list(pool)}: give a (time, freq) pair of positive integers")
        self.cnn = nn.Sequential()
        channels = n_in_channel
        for i, (filters, pool) in enumerate(zip(nb_filters, pooling)):
            self.cnn.add_module(f"conv{i}", nn.Conv2d(channels, filters, kernel_size, padding=padding))
            self.cnn.add_module(f"batchnorm{i}", nn.BatchNorm2d(filters, eps=1e-3, momentum=0.99))
            self.cnn.add_module(f"cg{i}", ContextGating(filters))
            self.cnn.add_module(f"dropout{i}", Dropout(dropout))
            self.cnn.add_module(f"pooling{i}", nn.AvgPool2d(tuple(pool)))
            channels = filters
        self.out_channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Channels-last throughout: the context gating's linear layer then reads its (B, T, F, C) view without a
        # copy and every element-wise pass runs on dense memory.
        x = _channels_last(x)
        for layer in self.cnn:
            x = layer(x)
            if isinstance(layer, nn.Conv2d):
                x = x.contiguous(memory_format=torch.channels_last)  # a no-op where the convolution kept the layout
        return x

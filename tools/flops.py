"""FLOPs of the network, counted analytically from the shapes its layers see.

Convolutions, linear layers, attention products and GRU gates count 2 FLOPs per multiply-add; element-wise work is
not counted. The benchmark compares this count with the device's best large float32 GEMM.
"""

from __future__ import annotations

import torch
from torch import nn

from desed_task.nnet import CRNN
from desed_task.nnet.encoders.atst_transformer import Attention


def _gru_flops(gru: nn.GRU, batch: int, steps: int) -> int:
    """3 gates, each an input and a hidden product, per step, layer and direction."""
    directions = 2 if gru.bidirectional else 1
    total = 0
    for layer in range(gru.num_layers):
        n_in = gru.input_size if layer == 0 else gru.hidden_size * directions
        total += directions * batch * steps * 3 * 2 * (n_in + gru.hidden_size) * gru.hidden_size
    return total


def network_flops(net: CRNN, sed_feats: torch.Tensor, encoder_feats: torch.Tensor) -> int:
    """FLOPs of one forward pass of ``net`` on these inputs, counted from the shapes its layers see."""
    counts: list[int] = []

    def hook(module: nn.Module, inputs: tuple, output) -> None:
        x = inputs[0]
        if isinstance(module, nn.Linear):
            counts.append(2 * (x.numel() // module.in_features) * module.in_features * module.out_features)
        elif isinstance(module, nn.Conv2d):
            kernel = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
            counts.append(2 * output.numel() * kernel)
        elif isinstance(module, nn.GRU):
            batch, steps = (x.shape[0], x.shape[1]) if module.batch_first else (x.shape[1], x.shape[0])
            counts.append(_gru_flops(module, batch, steps))
        elif isinstance(module, Attention):
            b, n, d = x.shape
            counts.append(2 * 2 * b * n * n * d)  # q·kᵀ and attention·v over all heads

    kinds = (nn.Linear, nn.Conv2d, nn.GRU, Attention)
    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, kinds)]
    try:
        with torch.inference_mode():
            net(sed_feats, encoder_feats)
    finally:
        for handle in handles:
            handle.remove()
    return sum(counts)

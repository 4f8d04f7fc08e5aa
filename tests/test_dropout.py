"""The fast CPU dropout: nn.Dropout's semantics with a mask drawn from 16-bit slices of random words."""

from __future__ import annotations

import pytest
import torch

from desed_task.nnet.dropout import Dropout, keep_mask


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.1, 1 / 3])
def test_keep_mask_probability_and_lanes(keep):
    torch.manual_seed(0)
    mask = keep_mask((250_000, 4), keep)  # column j = lane j of each 64-bit word
    assert mask.dtype == torch.bool and mask.shape == (250_000, 4)
    lane_means = mask.float().mean(0)
    assert torch.allclose(lane_means, torch.full((4,), keep), atol=4e-3), lane_means  # ~4 standard errors
    lanes = mask.float() - lane_means
    correlation = (lanes[:, 0] * lanes[:, 3]).mean() / (keep * (1 - keep))
    assert abs(correlation) < 1e-2  # the slices of one word are independent


def test_keep_mask_edges_and_odd_sizes():
    assert keep_mask((3, 5, 7), 1.0).all()
    assert not keep_mask((3, 5, 7), 0.0).any()
    with pytest.raises(ValueError, match="keep probability"):
        keep_mask((2,), 1.5)


def test_seeded_masks_repeat():
    torch.manual_seed(3)
    first = keep_mask((1000,), 0.5)
    torch.manual_seed(3)
    assert torch.equal(first, keep_mask((1000,), 0.5))
    assert not torch.equal(first, keep_mask((1000,), 0.5))


def test_dropout_scales_survivors_and_passes_gradients_through_the_mask():
    torch.manual_seed(0)
    x = torch.rand(64, 32, 16) + 0.5
    x.requires_grad_(True)
    drop = Dropout(0.25).train()
    y = drop(x)
    kept = y != 0
    assert 0.7 < kept.float().mean() < 0.8
    assert torch.allclose(y[kept], x.detach()[kept] / 0.75)
    y.sum().backward()
    assert torch.allclose(x.grad, kept.float() / 0.75)


def test_dropout_identity_in_eval_and_at_zero_and_zeros_at_one():
    x = torch.randn(4, 8)
    assert torch.equal(Dropout(0.5).eval()(x), x)
    assert torch.equal(Dropout(0.0).train()(x), x)
    assert torch.equal(Dropout(1.0).train()(x), torch.zeros_like(x))
    with pytest.raises(ValueError, match="dropout probability"):
        Dropout(-0.1)


def test_dropout_keeps_a_channels_last_layout():
    torch.manual_seed(0)
    x = torch.randn(2, 8, 6, 5).contiguous(memory_format=torch.channels_last)
    y = Dropout(0.5).train()(x)
    assert y.is_contiguous(memory_format=torch.channels_last)
    kept = y != 0
    assert torch.allclose(y[kept], 2 * x[kept])

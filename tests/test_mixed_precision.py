"""bf16 autocast keeps the golden network outputs within 1e-2 and returns float32 scores."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from desed_task.nnet import CRNN, FrameATSTEncoder
from golden_weights import CRNN_KEYS_TSV, recipe_state_dict


@pytest.mark.slow
def test_bf16_autocast_changes_golden_outputs_by_less_than_1e_2(golden):
    net = CRNN(FrameATSTEncoder()).eval()
    net.load_state_dict(recipe_state_dict(CRNN_KEYS_TSV))
    sed, atst = (torch.from_numpy(golden[k][:1]) for k in ("sed_feat", "atst_feat"))
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        strong, weak = net(sed, atst)
    assert strong.dtype == weak.dtype == torch.float32
    diff_strong = np.abs(strong.numpy() - golden["strong"][:1]).max()
    diff_weak = np.abs(weak.numpy() - golden["weak"][:1]).max()
    assert diff_strong < 1e-2 and diff_weak < 1e-2, (diff_strong, diff_weak)
    assert diff_strong > 0  # autocast really ran in bf16

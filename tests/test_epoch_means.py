"""EpochMeans: clip-weighted validation means (the DDP merge is exercised by test_ddp.py)."""

from __future__ import annotations

import pytest

from desed_task.training.epoch_means import EpochMeans


def test_means_weight_each_batch_by_its_clips():
    means = EpochMeans()
    means.add("loss", 1.0, 3)
    means.add("loss", 4.0, 1)  # a short last batch must not count as much as a full one
    means.add("other", 2.0, 2)
    assert means.means() == {"loss": pytest.approx(7.0 / 4), "other": pytest.approx(2.0)}


def test_names_without_clips_are_left_out_and_clear_resets():
    means = EpochMeans()
    means.add("empty", 5.0, 0)
    assert means.means() == {}
    means.add("loss", 1.0, 2)
    means.clear()
    assert means.means() == {}

"""The validation/test score buffer: de-duplication of padded shards, per-subset selection."""

from __future__ import annotations

import torch

from desed_task.training.score_buffer import ScoreBuffer


def _add(buffer: ScoreBuffer, clip_ids: list[str], subsets: list[str], value: float) -> None:
    n = len(clip_ids)
    buffer.add(clip_ids, subsets, torch.full((n, 2, 3), value), torch.full((n, 2), value), torch.zeros(n, 2))


def test_a_clip_in_two_subsets_is_kept_in_both_and_repeats_within_a_subset_are_dropped():
    buffer = ScoreBuffer()
    _add(buffer, ["y", "x"], ["strong_val", "strong_val"], 1.0)
    _add(buffer, ["x", "x"], ["weak_val", "strong_val"], 2.0)  # x again: once in another subset, once repeated
    merged = buffer.gathered()
    assert list(zip(merged.subsets, merged.clip_ids)) == [("strong_val", "x"), ("strong_val", "y"), ("weak_val", "x")]
    strong_val = merged.select("strong_val")
    assert strong_val.clip_ids == ["x", "y"]
    assert strong_val.strong_array()[0, 0, 0] == 1.0  # the first copy of a repeated clip is kept
    assert merged.select("weak_val").weak[0][0] == 2.0

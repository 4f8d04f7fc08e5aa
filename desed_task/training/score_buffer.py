"""Collects clip scores over an epoch and gathers them from every process before metrics are computed."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from desed_task.training.distributed import gather_from_all_ranks


@dataclass
class ScoreBuffer:
    """Per-clip frame scores (C, T) and clip scores (C,) of one model, with each clip's subset and targets."""

    clip_ids: list[str] = field(default_factory=list)
    subsets: list[str] = field(default_factory=list)
    strong: list[np.ndarray] = field(default_factory=list)
    weak: list[np.ndarray] = field(default_factory=list)
    weak_targets: list[np.ndarray] = field(default_factory=list)

    def add(
        self,
        clip_ids: list[str],
        subsets: list[str],
        strong: torch.Tensor,
        weak: torch.Tensor,
        weak_targets: torch.Tensor,
    ) -> None:
        """Add a batch: strong (B, C, T), weak (B, C), weak_targets (B, C)."""
        self.clip_ids.extend(clip_ids)
        self.subsets.extend(subsets)
        self.strong.extend(strong.detach().float().cpu().numpy())
        self.weak.extend(weak.detach().float().cpu().numpy())
        self.weak_targets.extend(weak_targets.detach().float().cpu().numpy())

    def gathered(self) -> "ScoreBuffer":
        """All processes' clips, each (subset, clip) once, ordered by subset then clip id.

        The distributed sampler pads the ranks' shares with repeated clips, hence the de-duplication; it keys on
        the subset too, because one recording may sit in two validation subsets (AudioSet clips do).
        """
        parts = gather_from_all_ranks(self)
        merged: dict[tuple[str, str], tuple] = {}
        for part in parts:
            for row in zip(part.clip_ids, part.subsets, part.strong, part.weak, part.weak_targets):
                merged.setdefault((row[1], row[0]), row)
        out = ScoreBuffer()
        for key in sorted(merged):
            clip_id, subset, strong, weak, targets = merged[key]
            out.clip_ids.append(clip_id)
            out.subsets.append(subset)
            out.strong.append(strong)
            out.weak.append(weak)
            out.weak_targets.append(targets)
        return out

    def select(self, subset: str) -> "ScoreBuffer":
        """The clips of one subset."""
        out = ScoreBuffer()
        for row in zip(self.clip_ids, self.subsets, self.strong, self.weak, self.weak_targets):
            if row[1] == subset:
                for values, item in zip((out.clip_ids, out.subsets, out.strong, out.weak, out.weak_targets), row):
                    values.append(item)
        return out

    def strong_array(self) -> np.ndarray:
        """(N, C, T)"""
        return np.stack(self.strong) if self.strong else np.zeros((0, 0, 0), dtype=np.float32)

    def clear(self) -> None:
        for values in (self.clip_ids, self.subsets, self.strong, self.weak, self.weak_targets):
            values.clear()

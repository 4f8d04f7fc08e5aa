"""Which items of a training batch belong to which part of the loss (SPEC §1: strong, weak, unlabeled)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

STRONG_SUBSETS = frozenset({"strong_real", "synth", "synth_val", "strong_val", "test"})
WEAK_SUBSETS = frozenset({"weak", "weak_val"})
UNLABELED_SUBSETS = frozenset({"unlabeled", "eval"})


@dataclass(frozen=True)
class BatchParts:
    """Index tensors of the strong, weak and unlabeled items of a batch."""

    strong: torch.Tensor
    weak: torch.Tensor
    unlabeled: torch.Tensor

    @classmethod
    def from_subsets(cls, subsets: Sequence[str], device: torch.device | str = "cpu") -> "BatchParts":
        unknown = set(subsets) - STRONG_SUBSETS - WEAK_SUBSETS - UNLABELED_SUBSETS
        if unknown:
            raise ValueError(f"batch holds items of unknown subsets {sorted(unknown)}")

        def where(names: frozenset) -> torch.Tensor:
            return torch.tensor([i for i, s in enumerate(subsets) if s in names], dtype=torch.long, device=device)

        return cls(where(STRONG_SUBSETS), where(WEAK_SUBSETS), where(UNLABELED_SUBSETS))

    def named(self) -> list[tuple[str, torch.Tensor]]:
        """The non-empty parts, in loss order."""
        parts = [("strong", self.strong), ("weak", self.weak), ("unlabeled", self.unlabeled)]
        return [(name, index) for name, index in parts if index.numel() > 0]

    def mask(self, part: str, batch_size: int) -> torch.Tensor:
        index = getattr(self, part)
        mask = torch.zeros(batch_size, dtype=torch.bool, device=index.device)
        mask[index] = True
        return mask

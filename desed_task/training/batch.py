"""Which items of a training batch belong to which part of the loss (docs/recipe.md §1: strong, weak, unlabeled)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

STRONG_SUBSETS = frozenset({"strong_real", "synth", "synth_val", "strong_val", "test"})
WEAK_SUBSETS = frozenset({"weak", "weak_val"})
UNLABELED_SUBSETS = frozenset({"unlabeled", "eval"})
# Extra labelled training subsets (data.extra_strong / data.extra_weak) are named "<prefix><name>".
EXTRA_STRONG_PREFIX = "strong_extra/"
EXTRA_WEAK_PREFIX = "weak_extra/"


def loss_part(subset: str) -> str | None:
    """``strong``, ``weak`` or ``unlabeled``: which part of the loss a subset's clips belong to (None: unknown)."""
    if subset in STRONG_SUBSETS or subset.startswith(EXTRA_STRONG_PREFIX):
        return "strong"
    if subset in WEAK_SUBSETS or subset.startswith(EXTRA_WEAK_PREFIX):
        return "weak"
    if subset in UNLABELED_SUBSETS:
        return "unlabeled"
    return None


@dataclass(frozen=True)
class BatchParts:
    """Index tensors of the strong, weak and unlabeled items of a batch."""

    strong: torch.Tensor
    weak: torch.Tensor
    unlabeled: torch.Tensor

    @classmethod
    def from_subsets(cls, subsets: Sequence[str], device: torch.device | str = "cpu") -> "BatchParts":
        parts = [loss_part(s) for s in subsets]
        unknown = {s for s, part in zip(subsets, parts) if part is None}
        if unknown:
            raise ValueError(f"batch holds items of unknown subsets {sorted(unknown)}")

        def where(name: str) -> torch.Tensor:
            return torch.tensor([i for i, p in enumerate(parts) if p == name], dtype=torch.long, device=device)

        return cls(where("strong"), where("weak"), where("unlabeled"))

    def named(self) -> list[tuple[str, torch.Tensor]]:
        """The non-empty parts, in loss order."""
        parts = [("strong", self.strong), ("weak", self.weak), ("unlabeled", self.unlabeled)]
        return [(name, index) for name, index in parts if index.numel() > 0]

    def mask(self, part: str, batch_size: int) -> torch.Tensor:
        index = getattr(self, part)
        mask = torch.zeros(batch_size, dtype=torch.bool, device=index.device)
        mask[index] = True
        return mask

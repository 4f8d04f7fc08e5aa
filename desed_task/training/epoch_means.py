"""Clip-weighted means of per-batch values over an epoch, combined across processes before they are used."""

from __future__ import annotations

from desed_task.training.distributed import gather_from_all_ranks


class EpochMeans:
    """Accumulates ``value`` × ``count`` per name; ``means()`` is the same on every process under DDP.

    Validation losses feed the stage-1 checkpoint objective, so every rank must see the mean over all ranks'
    clips (a rank's own share would let ranks disagree on the best checkpoint).
    """

    def __init__(self) -> None:
        self._sums: dict[str, tuple[float, int]] = {}

    def add(self, name: str, value: float, count: int) -> None:
        """Add the mean ``value`` of a batch of ``count`` clips."""
        total, n = self._sums.get(name, (0.0, 0))
        self._sums[name] = (total + float(value) * count, n + int(count))

    def means(self) -> dict[str, float]:
        """name → mean over all clips added on all processes (a rank that saw no clip of a name adds nothing)."""
        merged: dict[str, tuple[float, int]] = {}
        for part in gather_from_all_ranks(self._sums):
            for name, (total, n) in part.items():
                old_total, old_n = merged.get(name, (0.0, 0))
                merged[name] = (old_total + total, old_n + n)
        return {name: total / n for name, (total, n) in sorted(merged.items()) if n}

    def clear(self) -> None:
        self._sums.clear()

"""Batches composed of fixed numbers of clips from each training subset, sharded across processes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Sampler


class ConcatBatchSampler(Sampler[list[int]]):
    """Batches of ``batch_sizes[i]`` items of subset ``i``, in subset order, as indices into the ConcatDataset
    of the subsets.

    Each subset is drawn in its own random order (reshuffled every epoch via :meth:`set_epoch`); an epoch ends
    when the first subset runs out: ``min(n_i // b_i)`` batches. Under distributed training the orders are the
    same on every process (seeded by ``seed + epoch``) and rank ``r`` takes every ``world_size``-th item from
    position ``r``, so processes see disjoint clips and N processes see N times the data per step.
    With ``drop_last=False`` the epoch lasts ``min(ceil(n_i / b_i))`` batches and a subset that runs out in
    the last batch is topped up from the start of its order, keeping the batch composition fixed.
    """

    def __init__(
        self,
        subset_sizes: Sequence[int],
        batch_sizes: Sequence[int],
        shuffle: bool = True,
        seed: int = 42,
        rank: int = 0,
        world_size: int = 1,
        drop_last: bool = True,
    ) -> None:
        if len(subset_sizes) != len(batch_sizes):
            raise ValueError(
                f"{len(subset_sizes)} subsets but {len(batch_sizes)} batch sizes; training.batch_size needs one "
                "number per subset [strong_real, synth, weak, unlabeled]"
            )
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not valid for world_size {world_size}")
        if any(b < 1 for b in batch_sizes):
            raise ValueError(f"batch sizes must be >= 1, got {list(batch_sizes)}")
        self.subset_sizes = [int(n) for n in subset_sizes]
        self.batch_sizes = [int(b) for b in batch_sizes]
        self.shuffle = shuffle
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.drop_last = drop_last
        self.epoch = 0
        self.shard_sizes = [n // world_size for n in self.subset_sizes]
        too_small = [
            f"subset {i} holds {n} clips ({s} per process) for a batch of {b}"
            for i, (n, s, b) in enumerate(zip(self.subset_sizes, self.shard_sizes, self.batch_sizes))
            if s < b
        ]
        if too_small:
            raise ValueError(
                "training subsets are smaller than their batch share: "
                + "; ".join(too_small)
                + ". Lower training.batch_size or add data."
            )
        self.offsets = [sum(self.subset_sizes[:i]) for i in range(len(self.subset_sizes))]

    def set_epoch(self, epoch: int) -> None:
        """Reshuffle for ``epoch`` (call it on every process with the same value)."""
        self.epoch = epoch

    def __len__(self) -> int:
        if self.drop_last:
            return min(s // b for s, b in zip(self.shard_sizes, self.batch_sizes))
        return min(-(-s // b) for s, b in zip(self.shard_sizes, self.batch_sizes))

    def _shards(self) -> list[list[int]]:
        """This process's items of each subset, in draw order, as ConcatDataset indices."""
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        shards = []
        for size, shard_size, offset in zip(self.subset_sizes, self.shard_sizes, self.offsets):
            order = torch.randperm(size, generator=generator) if self.shuffle else torch.arange(size)
            mine = order[self.rank :: self.world_size][:shard_size]
            shards.append((mine + offset).tolist())
        return shards

    def __iter__(self) -> Iterator[list[int]]:
        shards = self._shards()
        for step in range(len(self)):
            batch = []
            for shard, size in zip(shards, self.batch_sizes):
                start = step * size
                batch.extend(shard[(start + k) % len(shard)] for k in range(size))
            yield batch

"""Data loaders for the trainer, made once the process's rank is known (distributed sharding)."""

from __future__ import annotations

import lightning.pytorch as pl
import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset, DistributedSampler

from desed_task.data import ConcatBatchSampler, collate_clips


class ReshuffleEachEpoch(pl.Callback):
    """Gives the training batch sampler the epoch at each epoch's start, so that every epoch draws new batches.

    Lightning calls ``set_epoch`` only on a loader's sampler and on its batch sampler's sampler; the
    ConcatBatchSampler is the batch sampler itself, so without this every epoch would repeat epoch 0's batches.
    The loader's iterator for epochs after the first is made after this hook.
    """

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        sampler = getattr(trainer.train_dataloader, "batch_sampler", None)
        if isinstance(sampler, ConcatBatchSampler):
            sampler.set_epoch(trainer.current_epoch)


class SEDDataModule(pl.LightningDataModule):
    """Training batches hold ``batch_sizes[i]`` clips of subset i; under DDP each rank draws its own shard.

    Validation and test sets are split across ranks without shuffling; the task gathers every rank's scores
    before computing metrics.
    """

    def __init__(
        self,
        train_sets: list[Dataset] | None = None,
        val_sets: list[Dataset] | None = None,
        test_set: Dataset | None = None,
        batch_sizes: list[int] | None = None,
        batch_size_val: int = 24,
        num_workers: int = 0,
        seed: int = 42,
    ) -> None:
        super().__init__()
        self.train_sets = train_sets
        self.val_sets = val_sets
        self.test_set = test_set
        self.batch_sizes = batch_sizes
        self.batch_size_val = batch_size_val
        self.num_workers = num_workers
        self.seed = seed

    def _rank(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def train_dataloader(self) -> DataLoader:
        rank, world_size = self._rank()
        sampler = ConcatBatchSampler(
            [len(s) for s in self.train_sets],
            self.batch_sizes,
            shuffle=True,
            seed=self.seed,
            rank=rank,
            world_size=world_size,
        )
        # A resumed run builds its loader (and its workers prefetch) before any epoch hook: start at its epoch.
        sampler.set_epoch(self.trainer.current_epoch if self.trainer is not None else 0)
        return DataLoader(
            ConcatDataset(self.train_sets),
            batch_sampler=sampler,
            num_workers=self.num_workers,
            collate_fn=collate_clips,
            persistent_workers=self.num_workers > 0,
            generator=torch.Generator().manual_seed(self.seed),
        )

    def _eval_loader(self, dataset: Dataset) -> DataLoader:
        rank, world_size = self._rank()
        sampler = (
            DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=False) if world_size > 1 else None
        )
        return DataLoader(
            dataset,
            batch_size=self.batch_size_val,
            sampler=sampler,
            shuffle=False,
            num_workers=self.num_workers,
            collate_fn=collate_clips,
        )

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader(ConcatDataset(self.val_sets))

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader(self.test_set)

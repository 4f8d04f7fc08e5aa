"""The training loader through a Lightning Trainer: every epoch draws new batches, a resumed run its epoch's."""

from __future__ import annotations

import lightning.pytorch as pl
import pytest
import torch
from torch.utils.data import Dataset

from desed_task.data import ConcatBatchSampler
from desed_task.experiment.datamodule import ReshuffleEachEpoch, SEDDataModule


class Clips(Dataset):
    def __init__(self, name: str, n: int) -> None:
        self.name, self.n = name, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> dict:
        return {
            "audio": torch.zeros(4),
            "labels": torch.zeros(1, 2),
            "clip_id": f"{self.name}{index}",
            "subset": self.name,
        }


class RecordBatches(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)
        self.seen: dict[int, list[list[str]]] = {}

    def training_step(self, batch, batch_idx):
        self.seen.setdefault(self.current_epoch, []).append(batch["clip_ids"])
        return self.layer(batch["audio"]).sum()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.0)


def _fit(callbacks: list, epochs: int = 3) -> dict[int, list[list[str]]]:
    data = SEDDataModule(train_sets=[Clips("a", 8), Clips("b", 12)], batch_sizes=[2, 3], seed=7)
    model = RecordBatches()
    trainer = pl.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,
        callbacks=callbacks,
    )
    trainer.fit(model, datamodule=data)
    return model.seen


def _expected(epoch: int) -> list[list[str]]:
    sampler = ConcatBatchSampler([8, 12], [2, 3], seed=7)
    sampler.set_epoch(epoch)
    names = [f"a{i}" for i in range(8)] + [f"b{i}" for i in range(12)]
    return [[names[i] for i in batch] for batch in sampler]


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_every_epoch_draws_the_batches_of_its_own_seed():
    seen = _fit([ReshuffleEachEpoch()])
    assert [seen[e] for e in range(3)] == [_expected(e) for e in range(3)]
    assert seen[0] != seen[1] != seen[2]


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_without_the_callback_lightning_repeats_the_first_epoch():
    """Why ReshuffleEachEpoch exists: Lightning does not call set_epoch on a batch sampler."""
    seen = _fit([])
    assert seen[0] == seen[1] == seen[2]


def test_a_loader_made_by_a_resumed_trainer_starts_at_its_epoch():
    data = SEDDataModule(train_sets=[Clips("a", 8), Clips("b", 12)], batch_sizes=[2, 3], seed=7)
    data.trainer = type("ResumedTrainer", (), {"current_epoch": 5, "global_rank": 0, "world_size": 1})()
    assert data.train_dataloader().batch_sampler.epoch == 5

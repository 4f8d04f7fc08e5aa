"""Gradient accumulation: k batches of b clips per optimiser step train like one batch of k·b clips.

Schedules, the consistency weight, the EMA update and the stage-1 EMA warm-up all advance per optimiser step.
The equality needs what does not see the whole batch at once to be switched off: BatchNorm runs on its running
statistics (frozen), the ATST top_db floor is taken per clip, dropout is 0 and the random augmentations (mixup,
frequency warping, whose draws depend on the batch's size) are off.
"""

from __future__ import annotations

import copy

import lightning.pytorch as pl
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from desed_task.data import LabelEncoder
from desed_task.features import SEDFrontend
from desed_task.nnet import CRNN, FrameATSTEncoder
from desed_task.training.module import SEDTask, Stage2SEDTask
from desed_task.training.options import TaskOptions

SUBSETS = ["strong_real", "synth", "weak", "weak", "unlabeled", "unlabeled"]
N_SAMPLES = 32000  # 2 s clips


def _micro_batches(n: int) -> list[dict]:
    g = torch.Generator().manual_seed(7)
    batches = []
    for _ in range(n):
        labels = torch.zeros(len(SUBSETS), 10, 31)
        labels[:2, :, 5:20] = (torch.rand(2, 10, 1, generator=g) > 0.6).float()
        labels[2:4, :, 0] = (torch.rand(2, 10, generator=g) > 0.6).float()
        batches.append(
            {
                "audio": 0.1 * torch.randn(len(SUBSETS), N_SAMPLES, generator=g),
                "labels": labels,
                "subsets": list(SUBSETS),
            }
        )
    return batches


def _joined(batches: list[dict], k: int) -> list[dict]:
    """Every k consecutive batches as one."""
    out = []
    for i in range(0, len(batches), k):
        group = batches[i : i + k]
        out.append(
            {
                "audio": torch.cat([b["audio"] for b in group]),
                "labels": torch.cat([b["labels"] for b in group]),
                "subsets": [s for b in group for s in b["subsets"]],
            }
        )
    return out


class FreezeBatchNorm(pl.Callback):
    """BatchNorm layers on their running statistics in every training step."""

    def on_train_batch_start(self, trainer, task, batch, batch_idx) -> None:
        for module in task.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.eval()


class Record(pl.Callback):
    def __init__(self) -> None:
        self.lrs: list[list[float]] = []

    def on_before_optimizer_step(self, trainer, task, optimizer) -> None:
        self.lrs.append([g["lr"] for g in optimizer.param_groups])


def _train(stage: int, net: CRNN, batches: list[dict], accumulate: int, tmp_path) -> tuple[SEDTask, Record]:
    student = copy.deepcopy(net)
    student.encoder.set_trainable_groups(4 if stage == 2 else 0)
    options = TaskOptions(
        n_epochs=4,
        n_epochs_warmup=1,
        consistency_weight_max=2.0 if stage == 1 else 70.0,
        ema_factor=0.999,
        ema_warmup=stage == 1,
        mixup_prob=0.0,
        freq_warp_prob=0.0,
        cnn_lr=1e-3,
        rnn_lr=2e-3,
        encoder_lr=1e-3,
        encoder_trainable_layers=4 if stage == 2 else 0,
        cosine=stage == 2,
    )
    cls = Stage2SEDTask if stage == 2 else SEDTask
    encoder = LabelEncoder([str(i) for i in range(10)], audio_len=2.0, frame_hop=256, net_pooling=4)
    task = cls(student, SEDFrontend(), encoder, options, tmp_path)
    record = Record()
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=4,
        accumulate_grad_batches=accumulate,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        callbacks=[FreezeBatchNorm(), record],
    )
    trainer.fit(task, train_dataloaders=DataLoader(batches, batch_size=None))
    return task, record


@pytest.mark.slow
@pytest.mark.parametrize("stage", [1, 2])
def test_accumulated_batches_train_like_one_large_batch(stage, tmp_path):
    torch.manual_seed(0)
    encoder = FrameATSTEncoder(embed_dim=16, depth=2, num_heads=2)
    encoder.frontend = encoder.frontend.batch_independent()  # the top_db floor per clip, not per batch
    net = CRNN(encoder, nb_filters=(8, 8, 8, 8, 8, 8, 8), n_rnn_cell=16, rnn_layers=1, cnn_dropout=0.0, dropout=0.0)
    k, micro = 2, _micro_batches(6)
    accumulated, acc_record = _train(stage, net, micro, k, tmp_path / "accumulated")
    joined, joined_record = _train(stage, net, _joined(micro, k), 1, tmp_path / "joined")
    assert accumulated.trainer.global_step == joined.trainer.global_step == 4 * 3  # optimiser steps
    torch.testing.assert_close(torch.tensor(acc_record.lrs), torch.tensor(joined_record.lrs), rtol=1e-9, atol=0)
    assert accumulated.rampup_steps == joined.rampup_steps == 3  # ramp-up in optimiser steps
    for role in ("sed_student", "sed_teacher"):
        ours, reference = getattr(accumulated, role).state_dict(), getattr(joined, role).state_dict()
        initial = net.state_dict()
        for key, value in reference.items():
            if not value.is_floating_point():
                continue
            # Relative to how far the tensor moved: float noise of the gradient sums shows through Adam's
            # normalisation, most where gradients are tiny (dense_softmax: the golden file marks its bias noisy).
            moved = (value - initial[key]).abs().max().item()
            bound = (5e-2 if key.startswith("dense_softmax.") else 1e-3) * moved + 1e-7
            assert (ours[key] - value).abs().max().item() <= bound, f"{role}.{key}"
        assert any(not torch.equal(ours[key], initial[key]) for key in ours if key.endswith("weight"))

"""Module modes in every training step, under a real Lightning Trainer.

Stage 1 freezes the encoder (no gradient): it runs in eval mode in every step, in student and teacher, as the
original's ``atst_frame.eval()``; the CNN and RNN train. Stage 2 trains the encoder: every part of both networks
is in train mode. Validation runs everything in eval mode and leaves the training modes as they were.
"""

from __future__ import annotations

import lightning.pytorch as pl
import pytest

from conftest import tiny_config
from desed_task.experiment.pipeline import run_experiment

pytestmark = pytest.mark.slow

PARTS = ("encoder", "cnn", "rnn")


def _modes(task) -> dict[str, bool]:
    """``training`` of each part of student and teacher, and of every module inside the encoders."""
    modes = {}
    for role, net in (("student", task.sed_student), ("teacher", task.sed_teacher)):
        for part in PARTS:
            modes[f"{role}.{part}"] = getattr(net, part).training
        inner = {m.training for m in net.encoder.modules()}
        modes[f"{role}.encoder.*"] = inner.pop() if len(inner) == 1 else None  # None: mixed modes inside
    return modes


class _RecordModes(pl.Callback):
    def __init__(self) -> None:
        self.train_steps: list[dict[str, bool]] = []
        self.validation: list[dict[str, bool]] = []

    def on_train_batch_start(self, trainer, task, batch, batch_idx):
        self.train_steps.append(_modes(task))

    def on_validation_batch_start(self, trainer, task, batch, batch_idx, dataloader_idx=0):
        self.validation.append(_modes(task))


@pytest.mark.parametrize("stage", [1, 2])
def test_modes_at_the_first_step_and_after_a_validation(tiny_dataset, trained_checkpoint, tmp_path, stage):
    overrides = {"training.n_epochs": 2, "training.validation_interval": 1, "training.limit_train_batches": 1}
    if stage == 2:
        overrides["training.init_checkpoint"] = str(trained_checkpoint)
    record = _RecordModes()
    run_experiment(tiny_config(tiny_dataset, stage, **overrides), tmp_path, run_test=False, extra_callbacks=[record])
    encoder_trains = stage == 2
    expected = {}
    for role in ("student", "teacher"):
        expected.update(
            {
                f"{role}.encoder": encoder_trains,
                f"{role}.encoder.*": encoder_trains,
                f"{role}.cnn": True,
                f"{role}.rnn": True,
            }
        )
    assert len(record.train_steps) == 2 and record.validation  # step 1, then the first step after a validation
    for step, modes in enumerate(record.train_steps, start=1):
        assert modes == expected, f"step {step}"
    assert all(not any(modes.values()) for modes in record.validation)

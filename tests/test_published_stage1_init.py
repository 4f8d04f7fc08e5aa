"""Stage 2 starts from the authors' published stage-1 checkpoint (Stage_1.ckpt) as ``training.init_checkpoint``.

The checkpoint is built in the published layout (``published_checkpoint.py``), with ``hyper_parameters`` in the
original code's YAML layout and the authors' local paths: stage 2 reads only its weights.
"""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch

from conftest import CONFS_DIR
from desed_task.config.files import load_config
from desed_task.experiment.pipeline import run_experiment
from published_checkpoint import write_published_checkpoint
from rescoring import rescored

pytestmark = pytest.mark.slow

ORIGINAL_HPARAMS = {  # the original code's YAML layout, as its checkpoints store it
    "training": {
        "batch_size": [12, 12, 24, 48],
        "n_epochs": 200,
        "n_epochs_warmup": 50,
        "const_max": 2,
        "self_sup_loss": "mse",
        "mixup": "soft",
        "ema_factor": 0.999,
        "accumulate_batches": 1,
    },
    "feats": {
        "n_mels": 128,
        "n_filters": 2048,
        "hop_length": 256,
        "n_window": 2048,
        "sample_rate": 16000,
        "f_min": 0,
        "f_max": 8000,
    },
    "net": {"nclass": 10, "n_RNN_cell": 128, "rnn_layers": 2, "embedding_size": 64, "dropout": 0.5},
    "ultra": {"atst_init": "/home/authors/pretrained/atst_as2M.ckpt", "atst_dropout": 0.0},
    "data": {"strong_folder": "/home/authors/dcase/strong_label_real_16k"},
    "log_dir": "./exp/stage1",
}


def published_stage1_checkpoint(golden: dict, path) -> dict[str, dict[str, torch.Tensor]]:
    return write_published_checkpoint(golden, path, ORIGINAL_HPARAMS)


class CaptureStart(pl.Callback):
    def on_train_start(self, trainer, task) -> None:
        self.weights = {
            role: {k: v.clone() for k, v in getattr(task, role).state_dict().items()}
            for role in ("sed_student", "sed_teacher")
        }


def test_stage2_starts_from_the_published_stage1_checkpoint(tiny_dataset, training_step_golden, tmp_path):
    path = tmp_path / "Stage_1.ckpt"
    nets = published_stage1_checkpoint(training_step_golden, path)
    network = training_step_golden["common"]["network"]
    config = load_config(
        CONFS_DIR / "stage2.yaml",
        {
            "data.root": str(tiny_dataset),
            "training.init_checkpoint": str(path),
            "net.atst_embed_dim": network["atst_embed_dim"],
            "net.atst_num_heads": network["atst_num_heads"],
            "training.batch_size": [1, 1, 1, 1],
            "training.batch_size_val": 4,
            "training.num_workers": 0,
            "training.n_epochs": 1,
            "training.n_epochs_warmup": 1,
            "training.enable_progress_bar": False,
            "training.n_test_thresholds": 5,
        },
    )
    capture = CaptureStart()
    metrics = run_experiment(config, tmp_path / "exp", fast_dev_run=True, extra_callbacks=[capture])
    for role, expected in nets.items():  # student from sed_student, teacher from sed_teacher, exactly
        started = capture.weights[role]
        assert set(started) == set(expected)
        assert all(torch.equal(started[key], value) for key, value in expected.items()), role
    again = rescored(Path(metrics["experiment_dir"]) / "test" / "teacher", tiny_dataset)
    assert metrics["teacher/psds1_sed_scores_eval"] == pytest.approx(again["psds1_sed_scores_eval"], abs=1e-6)

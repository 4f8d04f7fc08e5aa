"""Stage checkpoints in the layout the ATST-SED authors published (Stage_1.ckpt, Stage2_wo_ext.ckpt), built here.

A Lightning checkpoint whose ``state_dict`` holds ``sed_student.<key>`` and ``sed_teacher.<key>`` for every key of
the published CRNN (the encoder at width 64 to stay small, as in the training-step golden file), the top-level
``sed_student`` / ``sed_teacher`` dicts, optimiser and callback states, and ``hyper_parameters`` in the original
code's YAML layout with the authors' local paths.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch

from golden_weights import recipe_tensor

AUTHORS = "/home/authors"
ORIGINAL_STAGE2_HPARAMS = {  # the original code's YAML layout (DCASE 2023 baseline fork), as checkpoints store it
    "training": {
        "batch_size": [24, 24, 48, 48],
        "batch_size_val": 24,
        "const_max": 70,
        "n_epochs_warmup": 10,
        "num_workers": 8,
        "n_epochs": 250,
        "early_stop_patience": 250,
        "accumulate_batches": 1,
        "gradient_clip": 0.0,
        "median_window": [6, 20, 7, 4, 7, 6, 6, 6, 6, 6],
        "val_thresholds": [0.5],
        "n_test_thresholds": 50,
        "ema_factor": 0.999,
        "self_sup_loss": "mse",
        "backend": "dp",
        "validation_interval": 1,
        "weak_split": 0.9,
        "seed": 42,
        "deterministic": False,
        "precision": 32,
        "mixup": "soft",
        "obj_metric_synth_type": "intersection",
        "enable_progress_bar": True,
    },
    "scaler": {"statistic": "instance", "normtype": "minmax", "dims": [1, 2], "savepath": "./scaler.ckpt"},
    "data": {
        "synth_folder": f"{AUTHORS}/dcase/dataset/audio/train/synthetic21_train/soundscapes_16k/",
        "synth_tsv": f"{AUTHORS}/dcase/dataset/metadata/train/synthetic21_train/soundscapes.tsv",
        "strong_folder": f"{AUTHORS}/dcase/dataset/audio/train/strong_label_real_16k/",
        "weak_folder": f"{AUTHORS}/dcase/dataset/audio/train/weak_16k/",
        "test_folder": f"{AUTHORS}/dcase/dataset/audio/validation/validation_16k/",
        "test_tsv": f"{AUTHORS}/dcase/dataset/metadata/validation/validation.tsv",
        "audio_max_len": 10,
        "fs": 16000,
        "net_subsample": 4,
    },
    "opt": {"lr": 0.001},
    "feats": {
        "n_mels": 128,
        "n_filters": 2048,
        "hop_length": 256,
        "n_window": 2048,
        "sample_rate": 16000,
        "f_min": 0,
        "f_max": 8000,
    },
    "net": {
        "dropout": 0.5,
        "rnn_layers": 2,
        "n_in_channel": 1,
        "nclass": 10,
        "attention": True,
        "n_RNN_cell": 128,
        "activation": "cg",
        "rnn_type": "BGRU",
        "kernel_size": [3, 3, 3, 3, 3, 3, 3],
        "padding": [1, 1, 1, 1, 1, 1, 1],
        "stride": [1, 1, 1, 1, 1, 1, 1],
        "nb_filters": [16, 32, 64, 128, 128, 128, 128],
        "pooling": [[2, 2], [2, 2], [1, 2], [1, 2], [1, 2], [1, 2], [1, 2]],
        "dropout_recurrent": 0,
        "use_embeddings": False,
        "embedding_size": 64,
        "embedding_type": "frame",
        "aggregation_type": "pool1d",
    },
    "ultra": {
        "atst_init": f"{AUTHORS}/pretrained/atst_as2M.ckpt",
        "model_init": f"{AUTHORS}/exp/stage1/Stage_1.ckpt",
        "atst_dropout": 0.0,
    },
    "log_dir": "./exp/stage2",
}


def original_hparams(**sections) -> dict:
    """``ORIGINAL_STAGE2_HPARAMS`` with some sections' keys replaced, e.g. ``net={"activation": "relu"}``."""
    hparams = copy.deepcopy(ORIGINAL_STAGE2_HPARAMS)
    for section, values in sections.items():
        hparams[section].update(values)
    return hparams


def write_published_checkpoint(golden: dict, path: Path, hparams: dict) -> dict[str, dict[str, torch.Tensor]]:
    """Write a published-layout checkpoint with the golden weight recipe (width-64 encoder, every published key);
    returns the weights by role (``sed_student``, ``sed_teacher``)."""
    stage = golden["stages"]["1"]
    keys = stage["params"]["keys"] + stage["buffers"]["keys"]
    shapes = stage["params"]["shapes"] + stage["buffers"]["shapes"]
    nets = {
        role: {key: recipe_tensor(key, tuple(shape), salt) for key, shape in zip(keys, shapes)}
        for role, salt in (("sed_student", ""), ("sed_teacher", "teacher:"))
    }
    state_dict = {f"{role}.{key}": value for role, weights in nets.items() for key, value in weights.items()}
    torch.save(
        {
            "epoch": 199,
            "global_step": 59_800,
            "pytorch-lightning_version": "1.9.0",
            "state_dict": state_dict,
            **nets,
            "loops": {"fit_loop": {"epoch_progress": {"total": {"ready": 200, "completed": 199}}}},
            "callbacks": {
                "ModelCheckpoint{'monitor': 'val/obj_metric', 'mode': 'min'}": {
                    "best_model_score": torch.tensor(0.41),
                    "best_model_path": f"{AUTHORS}/exp/epoch=189.ckpt",
                }
            },
            "optimizer_states": [
                {
                    "state": {0: {"step": torch.tensor(59_800.0), "exp_avg": torch.zeros(3)}},
                    "param_groups": [{"lr": 1e-3, "params": [0]}],
                }
            ],
            "lr_schedulers": [{"step_num": 59_800}],
            "hparams_name": "kwargs",
            "hyper_parameters": hparams,
        },
        path,
    )
    return nets

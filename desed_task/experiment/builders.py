"""Maps validated configuration sections onto the library's constructors (the entry points' glue)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from typing import TYPE_CHECKING

from torch.utils.data import Dataset

from desed_task.data import (
    LabelEncoder,
    StrongSet,
    UnlabeledSet,
    WeakSet,
    weak_split,
)
from desed_task.experiment.config import ATST_CHECKPOINT_HELP, ConfigError
from desed_task.features import ATSTFrontend, SEDFrontend
from desed_task.nnet import CRNN, load_pretrained_atst
from desed_task.training.batch import EXTRA_STRONG_PREFIX, EXTRA_WEAK_PREFIX
from desed_task.training.options import EvaluationReference, TaskOptions

if TYPE_CHECKING:
    from desed_task.training.module import SEDTask

log = logging.getLogger(__name__)


def build_label_encoder(config: dict) -> LabelEncoder:
    data, feats = config["data"], config["feats"]
    return LabelEncoder(
        config["data"]["classes"],
        audio_len=data["audio_max_len"],
        frame_hop=feats["hop_length"],
        net_pooling=data["net_subsample"],
        sample_rate=data["fs"],
    )


def build_frontends(config: dict) -> tuple[SEDFrontend, ATSTFrontend]:
    return SEDFrontend(**config["feats"]), ATSTFrontend(**config["atst_feats"])


def build_network(config: dict, load_encoder: bool = True) -> CRNN:
    """The CRNN of ``net``; with ``load_encoder`` the encoder comes from ``ultra.atst_init`` (or is random where
    the config asks with ``ultra.atst_random_init``). Without it the caller loads a whole stage checkpoint."""
    ultra = config["ultra"]
    net = CRNN(
        n_classes=len(config["data"]["classes"]),
        **config["net"],
        atst_dropout=ultra["atst_dropout"],
        atst_activation_checkpointing=ultra["activation_checkpointing"],
    )
    if load_encoder:
        if ultra["atst_init"]:
            load_pretrained_atst(net.encoder, ultra["atst_init"])
        elif not ultra["atst_random_init"]:
            raise ConfigError(f"ultra.atst_init is not set. {ATST_CHECKPOINT_HELP}")
    return net


def task_options(config: dict, references: dict[str, EvaluationReference]) -> TaskOptions:
    training, opt = config["training"], config["opt"]
    return TaskOptions(
        n_epochs=training["n_epochs"],
        n_epochs_warmup=training["n_epochs_warmup"],
        const_max=training["const_max"],
        ema_factor=training["ema_factor"],
        ema_warmup=training["ema_warmup"],
        mixup_prob=training["mixup_prob"],
        mixup_alpha=training["mixup_alpha"],
        freq_warp_prob=training["freq_warp_prob"],
        median_window=training["median_window"],
        n_test_thresholds=training["n_test_thresholds"],
        lr=opt["lr"],
        cnn_lr=opt["cnn_lr"],
        rnn_lr=opt["rnn_lr"],
        tfm_lr=opt["tfm_lr"],
        tfm_lr_scale=opt["tfm_lr_scale"],
        tfm_trainable_layers=opt["tfm_trainable_layers"],
        betas=tuple(opt["betas"]),
        cosine=opt["cosine"],
        min_lr_scale=opt["min_lr_scale"],
        seed=training["seed"],
        references=references,
    )


def build_task(
    config: dict,
    output_dir: str | Path,
    student: CRNN,
    teacher: CRNN | None = None,
    references: dict[str, EvaluationReference] | None = None,
) -> "SEDTask":
    from desed_task.training.module import SEDTask, Stage2SEDTask  # Lightning: imported only to train or test

    sed_frontend, atst_frontend = build_frontends(config)
    cls = Stage2SEDTask if config["training"]["stage"] == 2 else SEDTask
    return cls(
        student=student,
        teacher=teacher,
        sed_frontend=sed_frontend,
        atst_frontend=atst_frontend,
        encoder=build_label_encoder(config),
        options=task_options(config, references or {}),
        output_dir=output_dir,
        config=config,
    )


# ---------------------------------------------------------------- data
def _required(data: dict, key: str) -> str:
    if not data.get(key):
        raise ConfigError(f"data.{key} is not set; point it at your data (see docs/data.md)")
    return data[key]


def _dataset_kwargs(config: dict) -> dict:
    data = config["data"]
    return {
        "sample_rate": data["fs"],
        "clip_duration": data["audio_max_len"],
        "on_missing": data["on_missing"],
        "on_sample_rate": data["on_sample_rate"],
    }


@dataclass
class TrainSets:
    """The training subsets (in sampler order) with their batch shares, the validation sets and references."""

    train: list[Dataset]
    batch_sizes: list[int]
    val: list[Dataset]
    references: dict[str, EvaluationReference]


def _strong_set(config, encoder, folder_key, tsv_key, subset, random_crop):
    data = config["data"]
    return StrongSet(
        _required(data, folder_key), _required(data, tsv_key), encoder, subset,
        random_crop=random_crop, **_dataset_kwargs(config),
    )


def _reference(dataset: StrongSet, dur_path: str) -> EvaluationReference:
    return EvaluationReference(dataset.ground_truth, dataset.durations(dur_path))


def build_train_sets(config: dict, encoder: LabelEncoder) -> TrainSets:
    """Training subsets [strong_real, synth, weak, unlabeled, extra strong…, extra weak…] and validation
    [weak_val, synth_val, strong_val]. Extra subsets train exactly like strong_real or weak, with their own
    batch share; validation and test do not use them."""
    data, training = config["data"], config["training"]
    kwargs = _dataset_kwargs(config)
    weak_df = pd.read_csv(_required(data, "weak_tsv"), sep="\t")
    weak_train_df, weak_val_df = weak_split(weak_df, training["weak_split"], training["seed"])
    train = [
        _strong_set(config, encoder, "strong_folder", "strong_tsv", "strong_real", True),
        _strong_set(config, encoder, "synth_folder", "synth_tsv", "synth", True),
        WeakSet(_required(data, "weak_folder"), weak_train_df, encoder, "weak", **kwargs),
        UnlabeledSet(_required(data, "unlabeled_folder"), encoder, "unlabeled", **kwargs),
    ]
    batch_sizes = list(training["batch_size"])
    for extra in data["extra_strong"]:
        train.append(StrongSet(extra["folder"], extra["tsv"], encoder, EXTRA_STRONG_PREFIX + extra["name"], **kwargs))
        batch_sizes.append(extra["batch_size"])
    for extra in data["extra_weak"]:
        train.append(WeakSet(extra["folder"], extra["tsv"], encoder, EXTRA_WEAK_PREFIX + extra["name"], **kwargs))
        batch_sizes.append(extra["batch_size"])
    synth_val = _strong_set(config, encoder, "synth_val_folder", "synth_val_tsv", "synth_val", False)
    strong_val = _strong_set(config, encoder, "strong_val_folder", "strong_val_tsv", "strong_val", False)
    weak_val = WeakSet(data["weak_folder"], weak_val_df, encoder, "weak_val", random_crop=False, **kwargs)
    references = {
        "synth_val": _reference(synth_val, _required(data, "synth_val_dur")),
        "strong_val": _reference(strong_val, _required(data, "strong_val_dur")),
    }
    return TrainSets(train, batch_sizes, [weak_val, synth_val, strong_val], references)


def build_test_set(config: dict, encoder: LabelEncoder) -> tuple[Dataset, dict[str, EvaluationReference]]:
    """The dev-test set (DESED real validation) and its reference."""
    test = _strong_set(config, encoder, "test_folder", "test_tsv", "test", False)
    return test, {"test": _reference(test, _required(config["data"], "test_dur"))}


def build_eval_set(config: dict, encoder: LabelEncoder) -> Dataset:
    """Evaluation mode: every clip of ``data.eval_folder``, scored without ground truth."""
    return UnlabeledSet(
        _required(config["data"], "eval_folder"), encoder, "eval", random_crop=False, **_dataset_kwargs(config)
    )

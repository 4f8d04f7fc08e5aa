"""The datasets of an experiment from the configuration's ``data`` section (docs/data.md)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from torch.utils.data import Dataset

from desed_task.data import LabelEncoder, StrongSet, UnlabeledSet, WeakSet, weak_split
from desed_task.data.folder import DataError
from desed_task.data.tables import events_by_clip
from desed_task.config.files import ConfigError
from desed_task.training.batch import EXTRA_STRONG_PREFIX, EXTRA_WEAK_PREFIX
from desed_task.training.options import EvaluationReference


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


def _strong_set(config, label_encoder, folder_key, tsv_key, subset, scored):
    """A strongly labelled set: a scored one (validation, test) is read whole and in order, a training one cropped
    at random and checked for NaN samples as it is read (``StrongSet``'s ``check_samples``)."""
    data = config["data"]
    return StrongSet(
        _required(data, folder_key),
        _required(data, tsv_key),
        label_encoder,
        subset,
        random_crop=not scored,
        check_samples=scored,
        **_dataset_kwargs(config),
    )


def _reference(dataset: StrongSet, data: dict, key: str) -> EvaluationReference:
    """The ground truth and durations that PSDS scores ``dataset`` against (``data.<key>_tsv``, ``_dur``).

    A table whose clips hold no event is refused here: PSDS would score nothing, come out 0.0 at every validation
    and let the checkpoint objective pick an arbitrary epoch (or report a meaningless test result).
    """
    if not any(events_by_clip(dataset.ground_truth).values()):
        raise DataError(
            f"{dataset.subset}: none of the {len(dataset)} clips of data.{key}_tsv ({data[f'{key}_tsv']}) that "
            "have audio holds an event, so PSDS has nothing to score; give it a strongly labelled table with events"
        )
    return EvaluationReference(dataset.ground_truth, dataset.durations(_required(data, f"{key}_dur")))


def build_train_sets(config: dict, label_encoder: LabelEncoder) -> TrainSets:
    """Training subsets [strong_real, synth, weak, unlabeled, extra strong…, extra weak…] and validation
    [weak_val, synth_val, strong_val]. Extra subsets train exactly like strong_real or weak, with their own
    batch share; validation and test do not use them."""
    data, training = config["data"], config["training"]
    kwargs = _dataset_kwargs(config)
    weak_df = pd.read_csv(_required(data, "weak_tsv"), sep="\t")
    weak_train_df, weak_val_df = weak_split(weak_df, training["weak_split"], training["seed"])
    train = [
        _strong_set(config, label_encoder, "strong_folder", "strong_tsv", "strong_real", False),
        _strong_set(config, label_encoder, "synth_folder", "synth_tsv", "synth", False),
        WeakSet(_required(data, "weak_folder"), weak_train_df, label_encoder, "weak", **kwargs),
        UnlabeledSet(_required(data, "unlabeled_folder"), label_encoder, "unlabeled", **kwargs),
    ]
    batch_sizes = list(training["batch_size"])
    for extra in data["extra_strong"]:
        subset = EXTRA_STRONG_PREFIX + extra["name"]
        train.append(StrongSet(extra["folder"], extra["tsv"], label_encoder, subset, **kwargs))
        batch_sizes.append(extra["batch_size"])
    for extra in data["extra_weak"]:
        train.append(WeakSet(extra["folder"], extra["tsv"], label_encoder, EXTRA_WEAK_PREFIX + extra["name"], **kwargs))
        batch_sizes.append(extra["batch_size"])
    val, references = build_val_sets(config, label_encoder, weak_val_df)
    return TrainSets(train, batch_sizes, val, references)


def build_val_sets(
    config: dict, label_encoder: LabelEncoder, weak_val_df: pd.DataFrame | None = None
) -> tuple[list[Dataset], dict[str, EvaluationReference]]:
    """Validation [weak_val, synth_val, strong_val] and the references of the two strongly labelled ones."""
    data, training = config["data"], config["training"]
    if weak_val_df is None:
        weak_df = pd.read_csv(_required(data, "weak_tsv"), sep="\t")
        weak_val_df = weak_split(weak_df, training["weak_split"], training["seed"])[1]
    synth_val = _strong_set(config, label_encoder, "synth_val_folder", "synth_val_tsv", "synth_val", True)
    strong_val = _strong_set(config, label_encoder, "strong_val_folder", "strong_val_tsv", "strong_val", True)
    weak_val = WeakSet(
        data["weak_folder"],
        weak_val_df,
        label_encoder,
        "weak_val",
        random_crop=False,
        check_samples=True,
        **_dataset_kwargs(config),
    )
    references = {
        "synth_val": _reference(synth_val, data, "synth_val"),
        "strong_val": _reference(strong_val, data, "strong_val"),
    }
    return [weak_val, synth_val, strong_val], references


def build_test_set(config: dict, label_encoder: LabelEncoder) -> tuple[Dataset, dict[str, EvaluationReference]]:
    """The dev-test set (DESED real validation) and its reference."""
    test = _strong_set(config, label_encoder, "test_folder", "test_tsv", "test", True)
    return test, {"test": _reference(test, config["data"], "test")}


def build_eval_set(config: dict, label_encoder: LabelEncoder) -> Dataset:
    """Evaluation mode: every clip of ``data.eval_folder``, scored without ground truth."""
    return UnlabeledSet(
        _required(config["data"], "eval_folder"),
        label_encoder,
        "eval",
        random_crop=False,
        check_samples=True,
        **_dataset_kwargs(config),
    )

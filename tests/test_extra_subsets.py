"""Extra labelled training subsets (the ATST-SED README's "external set"): data.extra_strong / data.extra_weak."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from conftest import tiny_config
from desed_task.data import DataError
from desed_task.experiment.builders import build_label_encoder
from desed_task.experiment.dataset_builders import build_train_sets
from desed_task.config.files import ConfigError
from desed_task.experiment.datamodule import SEDDataModule
from desed_task.training.batch import BatchParts


def _extra_tables(dataset: Path, tmp_path: Path, missing: bool = False) -> tuple[Path, Path]:
    """An extra strong table over the synthetic training clips and an extra weak table over the weak clips."""
    strong = pd.read_csv(dataset / "metadata/train/synthetic21_train/soundscapes.tsv", sep="\t")
    weak = pd.read_csv(dataset / "metadata/train/weak.tsv", sep="\t")
    if missing:
        strong = pd.concat(
            [strong, pd.DataFrame([{"filename": "gone.wav", "onset": 0.0, "offset": 1.0, "event_label": "Dog"}])]
        )
    strong_tsv, weak_tsv = tmp_path / "extra_strong.tsv", tmp_path / "extra_weak.tsv"
    strong.to_csv(strong_tsv, sep="\t", index=False)
    weak.to_csv(weak_tsv, sep="\t", index=False)
    return strong_tsv, weak_tsv


def _config(dataset: Path, tmp_path: Path, missing: bool = False, **overrides) -> dict:
    strong_tsv, weak_tsv = _extra_tables(dataset, tmp_path, missing)
    extra_strong = [
        {
            "name": "audioset_extra",
            "folder": "audio/train/synthetic21_train/soundscapes_16k",
            "tsv": str(strong_tsv),
            "batch_size": 3,
        }
    ]
    extra_weak = [{"name": "weak_extra", "folder": "audio/train/weak_16k", "tsv": str(weak_tsv), "batch_size": 1}]
    return tiny_config(dataset, 1, **{"data.extra_strong": extra_strong, "data.extra_weak": extra_weak, **overrides})


def test_extra_subsets_join_every_batch_in_their_loss_part(tiny_dataset, tmp_path):
    config = _config(tiny_dataset, tmp_path)
    assert config["data"]["extra_strong"][0]["folder"] == str(
        tiny_dataset / "audio/train/synthetic21_train/soundscapes_16k"
    )
    sets = build_train_sets(config, build_label_encoder(config))
    assert sets.batch_sizes == [2, 2, 2, 2, 3, 1]
    assert [s.subset for s in sets.train][4:] == ["strong_extra/audioset_extra", "weak_extra/weak_extra"]
    assert [s.subset for s in sets.val] == ["weak_val", "synth_val", "strong_val"]  # validation unaffected
    datamodule = SEDDataModule(sets.train, sets.val, batch_sizes=sets.batch_sizes, num_workers=0)
    batch = next(iter(datamodule.train_dataloader()))
    subsets = batch["subsets"]
    assert subsets.count("strong_extra/audioset_extra") == 3 and subsets.count("weak_extra/weak_extra") == 1
    parts = BatchParts.from_subsets(subsets)
    assert parts.strong.numel() == 2 + 2 + 3 and parts.weak.numel() == 2 + 1 and parts.unlabeled.numel() == 2
    extra = subsets.index("strong_extra/audioset_extra")
    assert batch["labels"][extra].sum() > 0  # strong frame targets, as strong_real clips carry


def test_missing_extra_files_follow_on_missing(tiny_dataset, tmp_path):
    config = _config(tiny_dataset, tmp_path, missing=True)
    with pytest.warns(UserWarning, match="gone.wav"):
        sets = build_train_sets(config, build_label_encoder(config))
    assert "gone" not in sets.train[4].clip_ids
    config = _config(tiny_dataset, tmp_path, missing=True, **{"data.on_missing": "error"})
    with pytest.raises(DataError, match="gone.wav"):
        build_train_sets(config, build_label_encoder(config))


@pytest.mark.parametrize(
    "entry,message",
    [
        ({"name": "x", "folder": "a", "tsv": "b"}, "exactly the keys"),
        ({"name": "x", "folder": "a", "tsv": "b", "batch_size": 0}, "batch_size must be a positive integer"),
        ({"name": "", "folder": "a", "tsv": "b", "batch_size": 2}, "name must be a non-empty name"),
        ("audio/extra", "exactly the keys"),
    ],
)
def test_bad_extra_entries_are_named(tiny_dataset, entry, message):
    with pytest.raises(ConfigError, match=r"data\.extra_strong\[0\].*" + message):
        tiny_config(tiny_dataset, 1, **{"data.extra_strong": [entry]})
    with pytest.raises(ConfigError, match="must be a list"):
        tiny_config(tiny_dataset, 1, **{"data.extra_weak": {"name": "x"}})

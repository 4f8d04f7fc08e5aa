"""The synthetic DESED-format generator: layout the configs expect, metadata, loading, determinism, sounds."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import yaml

from desed_task.data import DESED_CLASSES, LabelEncoder, StrongSet, UnlabeledSet, WeakSet, read_durations
from desed_task.data.sounds import SOUNDS, background, make_sound
from desed_task.data.synthetic import PRESETS, SUBSETS, synth_clip

ROOT = Path(__file__).resolve().parents[1]


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_configured_path_exists(tiny_dataset):
    data = yaml.safe_load((ROOT / "confs" / "stage1.yaml").read_text())["data"]
    keys = [k for k in data if k.endswith(("_folder", "_tsv", "_dur")) and data[k]]
    assert len(keys) >= 16
    for key in keys:
        assert (tiny_dataset / data[key]).exists(), key


def test_metadata_and_audio(tiny_dataset):
    sizes = PRESETS["tiny"]
    assert min(sizes[k] for k in ("synth_train", "strong_train", "weak", "unlabeled")) >= 8
    assert min(sizes[k] for k in ("synth_val", "strong_val", "test")) >= 4
    for subset in SUBSETS:
        if subset.labels != "strong":
            continue
        table = pd.read_csv(tiny_dataset / subset.tsv, sep="\t")
        assert list(table.columns) == ["filename", "onset", "offset", "event_label"]
        assert table["filename"].nunique() == sizes[subset.key]
        assert table.groupby("filename").size().between(1, 3).all()
        length = table["offset"] - table["onset"]
        assert length.between(0.3, 9.0).all() and table["onset"].ge(0).all() and table["offset"].le(10).all()
        assert set(table["event_label"]) <= set(DESED_CLASSES)
        if subset.durations:
            durations = read_durations(tiny_dataset / subset.durations)
            assert set(durations["filename"]) == set(table["filename"]) and (durations["duration"] == 10).all()
        info = sf.info(str(tiny_dataset / subset.audio / table["filename"].iloc[0]))
        assert (info.samplerate, info.frames, info.channels) == (16000, 160000, 1)
    weak = pd.read_csv(tiny_dataset / "metadata/train/weak.tsv", sep="\t")
    assert len(weak) == sizes["weak"] and weak["event_labels"].str.len().gt(0).all()
    assert len(list((tiny_dataset / "audio/train/unlabel_in_domain_16k").glob("*.wav"))) == sizes["unlabeled"]
    train = pd.read_csv(tiny_dataset / "metadata/train/audioset_strong_train.tsv", sep="\t")
    val = pd.read_csv(tiny_dataset / "metadata/validation/audioset_strong_val.tsv", sep="\t")
    assert not set(train["filename"]) & set(val["filename"])  # one shared folder, split by tsv


def test_output_loads_through_the_datasets_without_warnings(tiny_dataset):
    encoder = LabelEncoder(DESED_CLASSES)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sets = [
            StrongSet(tiny_dataset / s.audio, tiny_dataset / s.tsv, encoder, s.key)
            for s in SUBSETS
            if s.labels == "strong"
        ]
        sets.append(
            WeakSet(tiny_dataset / "audio/train/weak_16k", tiny_dataset / "metadata/train/weak.tsv", encoder, "weak")
        )
        sets.append(UnlabeledSet(tiny_dataset / "audio/train/unlabel_in_domain_16k", encoder, "unlabeled"))
        for dataset in sets:
            item = dataset[0]
            assert item["audio"].shape == (160000,) and item["audio"].abs().max() > 0.1
            if dataset.subset != "unlabeled":
                assert item["labels"].sum() > 0


def test_script_is_deterministic_for_a_seed(tiny_dataset, tmp_path, capsys):
    out = tmp_path / "again"
    assert _script("make_synthetic_desed").main(["--out", str(out), "--preset", "tiny", "--seed", "0", "--quiet"]) == 0
    assert "data.root" in capsys.readouterr().out
    for path in sorted(tiny_dataset.rglob("*")):
        if path.is_file():
            assert (out / path.relative_to(tiny_dataset)).read_bytes() == path.read_bytes(), path
    first, _ = synth_clip(np.random.default_rng(1), 10, real=True)
    assert not np.array_equal(first, synth_clip(np.random.default_rng(2), 10, real=True)[0])


def test_more_labels_than_sound_types_cycle():
    rng = np.random.default_rng(0)
    seen = {cls for _ in range(40) for _, _, cls in synth_clip(rng, 12, real=False)[1]}
    assert seen == set(range(12))
    a = make_sound(10, np.random.default_rng(5), 8000, 16000)
    np.testing.assert_array_equal(a, make_sound(0, np.random.default_rng(5), 8000, 16000))


def _features(x: np.ndarray) -> np.ndarray:
    """Relative log energies in 24 log-spaced bands plus the spread of the frame energy (time structure)."""
    frames = x[: len(x) // 512 * 512].reshape(-1, 512) * np.hanning(512)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2  # (frames, 257)
    edges = np.unique(np.geomspace(2, 257, 25).astype(int))
    bands = np.log(np.stack([power[:, a:b].sum(1) for a, b in zip(edges[:-1], edges[1:])], 1) + 1e-8)
    return np.concatenate([bands.mean(0) - bands.mean(), [np.log(power.sum(1) + 1e-8).std()]])


def test_each_class_sounds_recognisably_different():
    """A nearest-centroid classifier on crude spectral features tells the 10 sound types apart."""
    rng = np.random.default_rng(0)
    sr = 16000
    examples = {
        c: [_features(make_sound(c, rng, sr, sr) + 0.05 * background(rng, sr, sr, 0.7)) for _ in range(6)]
        for c in range(len(SOUNDS))
    }
    centroids = {c: np.mean(x[:3], axis=0) for c, x in examples.items()}
    hits = [
        min(centroids, key=lambda k: np.linalg.norm(f - centroids[k])) == c for c, x in examples.items() for f in x[3:]
    ]
    assert np.mean(hits) >= 0.9


def test_unknown_preset():
    from desed_task.data import make_synthetic_desed

    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        make_synthetic_desed("/nonexistent", preset="huge")


@pytest.mark.parametrize("seconds", [0.3, 1.0, 2.7])
def test_sounds_fill_their_labelled_extent(seconds):
    """Repeated units (beeps, barks, syllables) start at the onset and end at the offset, no silent tail."""
    sr = 16000
    n = int(seconds * sr)
    rng = np.random.default_rng(4)
    for index in range(len(SOUNDS)):
        active = np.flatnonzero(np.abs(make_sound(index, rng, n, sr)) > 0.01)
        assert active[0] < 0.02 * sr and active[-1] > n - 0.06 * sr, SOUNDS[index].__name__

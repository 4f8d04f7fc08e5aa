"""Datasets on small generated folders: items, missing/unusable files, sample rates, crops, weak split, loaders."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
from torch.utils.data import DataLoader

from desed_task.data import (
    DESED_CLASSES,
    DataError,
    DataWarning,
    LabelEncoder,
    StrongSet,
    UnlabeledSet,
    WeakSet,
    collate_clips,
    weak_split,
)
from desed_task.experiment.run import user_message

SR = 16000
ENCODER = LabelEncoder(DESED_CLASSES)


def _wav(path: Path, seconds: float = 1.0, sr: int = SR, channels: int = 1, fmt: str = "PCM_16") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    noise = np.random.default_rng(len(path.name)).uniform(-0.3, 0.3, (int(seconds * sr), channels))
    sf.write(path, noise.astype(np.float32), sr, subtype=fmt)
    return path


def _strong_tsv(path: Path, rows: list[tuple]) -> Path:
    pd.DataFrame(rows, columns=["filename", "onset", "offset", "event_label"]).to_csv(path, sep="\t", index=False)
    return path


@pytest.fixture
def strong_folder(tmp_path) -> tuple[Path, Path]:
    folder = tmp_path / "audio"
    _wav(folder / "Yabc_30.000_40.000.wav", 10.0)
    _wav(folder / "b.wav", 4.0, channels=2)
    _wav(folder / "c.flac", 2.0)  # the tsv says c.wav: found by stem
    tsv = _strong_tsv(
        tmp_path / "strong.tsv",
        [
            ("Yabc_30.000_40.000.wav", 0.5, 2.0, "Dog"),
            ("Yabc_30.000_40.000.wav", 1.0, 9.5, "Speech"),
            ("b.wav", 0.0, 1.0, "Cat"),
            ("c.wav", None, None, None),
        ],
    )
    return folder, tsv


def test_strong_items(strong_folder):
    folder, tsv = strong_folder
    dataset = StrongSet(folder, tsv, ENCODER, "strong_real", random_crop=False)
    assert dataset.clip_ids == ["Yabc_30.000_40.000", "b", "c"] and dataset.missing == []
    item = dataset[0]
    assert set(item) == {"audio", "labels", "clip_id", "subset"}
    assert item["audio"].shape == (160000,) and item["audio"].dtype == torch.float32
    assert item["labels"].shape == (10, 156) and item["labels"].dtype == torch.float32
    assert item["clip_id"] == "Yabc_30.000_40.000" and item["subset"] == "strong_real"
    expected = ENCODER.encode_strong([(0.5, 2.0, "Dog"), (1.0, 9.5, "Speech")])
    np.testing.assert_array_equal(item["labels"].numpy(), expected)
    short = dataset[1]["audio"]
    assert short.shape == (160000,) and short[4 * SR :].abs().max() == 0  # zero-padded at the end
    assert dataset[2]["labels"].sum() == 0  # the clip listed without events


def test_clip_ids_follow_the_evaluation_rule(strong_folder, tmp_path):
    """A tsv may name DESED clips without the extension: ``Y.._30.000_40.000`` keeps its ``.000`` part."""
    folder, _ = strong_folder
    tsv = _strong_tsv(tmp_path / "bare.tsv", [("Yabc_30.000_40.000", 0.5, 2.0, "Dog"), ("b", 0.0, 1.0, "Cat")])
    dataset = StrongSet(folder, tsv, ENCODER, "strong_val", random_crop=False)
    assert dataset.clip_ids == ["Yabc_30.000_40.000", "b"]
    np.testing.assert_array_equal(dataset[0]["labels"].numpy(), ENCODER.encode_strong([(0.5, 2.0, "Dog")]))
    durations = pd.DataFrame({"filename": ["Yabc_30.000_40.000.wav", "b.wav", "c.wav"], "duration": 10.0})
    assert dataset.durations(durations)["filename"].tolist() == ["Yabc_30.000_40.000.wav", "b.wav"]


def test_missing_clips_reported_once_skipped_and_left_out_of_ground_truth(strong_folder, tmp_path):
    folder, _ = strong_folder
    rows = [(f"gone_{i}.wav", 0.0, 1.0, "Dog") for i in range(7)] + [("b.wav", 0.0, 1.0, "Cat")]
    tsv = _strong_tsv(tmp_path / "val.tsv", rows)
    with pytest.warns(DataWarning) as record:
        dataset = StrongSet(folder, tsv, ENCODER, "strong_val", random_crop=False)
    messages = [str(w.message) for w in record if issubclass(w.category, DataWarning)]
    assert len(messages) == 1
    assert "7 of 8 clips listed in" in messages[0] and "val.tsv" in messages[0]
    assert "gone_0.wav, gone_1.wav" in messages[0] and "..." in messages[0]
    assert len(dataset) == 1 and len(dataset.missing) == 7
    assert dataset.ground_truth["filename"].tolist() == ["b.wav"]
    durations = pd.DataFrame({"filename": [r[0] for r in rows], "duration": 10.0})
    assert dataset.durations(durations)["filename"].tolist() == ["b.wav"]
    with pytest.raises(DataError, match=r"7 of 8 clips .* data.on_missing: skip"):
        StrongSet(folder, tsv, ENCODER, "strong_val", on_missing="error")


def test_absent_and_empty_folders(tmp_path, strong_folder):
    _, tsv = strong_folder
    with pytest.raises(FileNotFoundError, match=r"synth: audio folder .*nowhere does not exist"):
        StrongSet(tmp_path / "nowhere", tsv, ENCODER, "synth")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"unlabeled: audio folder .*empty holds no .wav/.flac files"):
        UnlabeledSet(tmp_path / "empty", ENCODER, "unlabeled")
    other = tmp_path / "other"
    _wav(other / "z.wav")
    with pytest.warns(DataWarning), pytest.raises(DataError, match="none of the 3 clips"):
        StrongSet(other, tsv, ENCODER, "synth")


def test_unusable_audio_is_named(strong_folder, tmp_path):
    folder, tsv = strong_folder
    sf.write(folder / "b.wav", np.zeros((0, 1), np.float32), SR)  # a header without samples
    (folder / "c.flac").write_bytes(b"\x00" * 100)
    with pytest.warns(DataWarning, match=r"2 unusable audio file\(s\): .*b.wav holds no samples.*c.flac"):
        dataset = StrongSet(folder, tsv, ENCODER, "synth")
    assert dataset.clip_ids == ["Yabc_30.000_40.000"] and dataset.unreadable == ["b.wav", "c.wav"]
    assert dataset.ground_truth["filename"].unique().tolist() == ["Yabc_30.000_40.000.wav"]
    with pytest.raises(DataError, match="b.wav"):
        StrongSet(folder, tsv, ENCODER, "synth", on_missing="error")


def test_other_sample_rate_resampled_with_one_warning_or_error(tmp_path):
    folder = tmp_path / "audio"
    for i in range(3):
        _wav(folder / f"hi_{i}.wav", 2.0, sr=44100, channels=2)
    _wav(folder / "ok.wav", 2.0)
    with pytest.warns(DataWarning) as record:
        dataset = UnlabeledSet(folder, ENCODER, "unlabeled", random_crop=False)
    messages = [str(w.message) for w in record if issubclass(w.category, DataWarning)]
    assert len(messages) == 1 and "3 clip(s) are not at 16000 Hz" in messages[0] and "44100 Hz" in messages[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no further warning per item
        audio = dataset[0]["audio"]
    assert audio.shape == (160000,) and audio[: 2 * SR].abs().max() > 0 and audio[2 * SR + 10 :].abs().max() == 0
    with pytest.raises(DataError, match=r"resample_folder.py .* --sr 16000"):
        UnlabeledSet(folder, ENCODER, "unlabeled", on_sample_rate="error")


def test_random_crop_moves_the_labels_with_the_audio(tmp_path):
    folder = tmp_path / "audio"
    folder.mkdir()
    n = 13 * SR
    sf.write(folder / "long.wav", (np.arange(n) / n).astype(np.float32), SR, subtype="FLOAT")  # value = time
    events = [(1.0, 3.0, "Dog"), (9.0, 12.5, "Speech"), (12.8, 13.0, "Cat")]
    tsv = _strong_tsv(tmp_path / "s.tsv", [("long.wav", *e) for e in events])
    dataset = StrongSet(folder, tsv, ENCODER, "synth", random_crop=True)
    offsets = set()
    for _ in range(6):
        item = dataset[0]
        offset = round(float(item["audio"][0]) * n) / SR
        offsets.add(offset)
        shifted = [
            (max(a - offset, 0), min(b - offset, 10.0), c) for a, b, c in events if b - offset > 0 > a - offset - 10
        ]
        np.testing.assert_array_equal(item["labels"].numpy(), ENCODER.encode_strong(shifted))
    assert len(offsets) > 1 and all(0 <= o <= 3.0 for o in offsets)
    fixed = StrongSet(folder, tsv, ENCODER, "test", random_crop=False)[0]
    assert float(fixed["audio"][0]) == 0.0 and fixed["labels"][DESED_CLASSES.index("Cat")].sum() == 0


def test_weak_and_unlabeled_items(tmp_path):
    folder = tmp_path / "weak"
    _wav(folder / "w1.wav")
    _wav(folder / "w2.wav")
    table = pd.DataFrame({"filename": ["w1.wav", "w2.wav"], "event_labels": ["Dog,Speech", "Cat"]})
    weak = WeakSet(folder, table, ENCODER, "weak")
    labels = weak[0]["labels"]
    assert labels[:, 0].tolist() == ENCODER.encode_weak(["Dog", "Speech"]).tolist()
    assert labels[:, 1:].sum() == 0 and weak[1]["subset"] == "weak"
    unlabeled_dir = tmp_path / "unlabeled"
    _wav(unlabeled_dir / "a.wav")
    _wav(unlabeled_dir / "sub" / "b.flac")
    (unlabeled_dir / "notes.txt").write_text("not audio")
    (unlabeled_dir / "._a.wav").write_bytes(b"macOS resource fork")
    unlabeled = UnlabeledSet(unlabeled_dir, ENCODER, "unlabeled")
    assert unlabeled.clip_ids == ["a", "sub/b"]  # a clip id keeps its folder
    assert unlabeled[1]["labels"].abs().sum() == 0 and unlabeled[1]["audio"].shape == (160000,)


def test_weak_split_is_the_recipe_draw():
    df = pd.DataFrame({"filename": [f"{i}.wav" for i in range(50)], "event_labels": "Dog"})
    train, val = weak_split(df, 0.9, 42)
    expected = df.sample(frac=0.9, random_state=42)
    assert train["filename"].tolist() == expected["filename"].tolist()
    assert sorted(val["filename"]) == sorted(set(df["filename"]) - set(expected["filename"]))
    assert len(train) == 45 and len(val) == 5 and train.index.tolist() == list(range(45))


def test_dataloader_workers_and_errors_that_name_the_file(strong_folder):
    folder, tsv = strong_folder
    dataset = StrongSet(folder, tsv, ENCODER, "synth")
    loader = DataLoader(dataset, batch_size=2, num_workers=2, collate_fn=collate_clips)
    batches = list(loader)
    assert batches[0]["audio"].shape == (2, 160000) and batches[0]["labels"].shape == (2, 10, 156)
    assert batches[0]["subsets"] == ["synth", "synth"] and batches[1]["clip_ids"] == ["c"]
    stopping = StrongSet(folder, tsv, ENCODER, "synth", on_missing="error")
    scored = StrongSet(folder, tsv, ENCODER, "test", random_crop=False, check_samples=True)
    (folder / "b.wav").unlink()  # vanished after the datasets were built
    with pytest.raises(DataError, match="test: audio file not found: .*b.wav; the file changed .* restore the file"):
        scored[1]  # its ground truth holds the clip: no other clip may stand in for it
    with pytest.raises(DataError, match="synth: audio file not found: .*b.wav .*data.on_missing: skip") as err:
        list(DataLoader(stopping, batch_size=2, num_workers=1, collate_fn=collate_clips))
    assert (
        user_message(err.value) == f"synth: audio file not found: {folder / 'b.wav'} (set data.on_missing: "
        "skip to leave such files out)"
    )  # the one line of the training CLI
    with pytest.warns(DataWarning, match="b.wav; another clip of the set is read in its place"):
        assert [dataset[i]["clip_id"] for i in range(3)] == ["Yabc_30.000_40.000", "c", "c"]


def _nan_wav(path: Path, value: float = float("nan")) -> Path:
    audio = np.random.default_rng(0).uniform(-0.3, 0.3, 3 * SR).astype(np.float32)
    audio[SR] = value
    sf.write(path, audio, SR, subtype="FLOAT")
    return path


def _truncated_wav(path: Path) -> Path:
    full = path.read_bytes()
    path.write_bytes(full[: len(full) // 2])
    return path


def _checksums(folder: Path) -> dict[str, int]:
    return {p.name: hash(p.read_bytes()) for p in sorted(folder.iterdir())}


# (name, how b.wav is spoilt, on_missing, scored set, where it shows: "build" or "read", words in the message)
SPOILT_CLIPS = [
    ("truncated training clip skipped", _truncated_wav, "skip", False, "build", "b.wav is truncated"),
    ("truncated training clip stops", _truncated_wav, "error", False, "build", "b.wav is truncated"),
    ("truncated scored clip skipped", _truncated_wav, "skip", True, "build", "b.wav is truncated"),
    ("NaN training clip skipped", _nan_wav, "skip", False, "read", "b.wav holds NaN or infinite samples"),
    ("NaN training clip stops", _nan_wav, "error", False, "read", "b.wav holds NaN or infinite samples"),
    ("inf training clip skipped", lambda p: _nan_wav(p, float("inf")), "skip", False, "read", "the first at 1.000 s"),
    ("NaN scored clip skipped", _nan_wav, "skip", True, "build", "b.wav holds NaN or infinite samples"),
    ("NaN scored clip stops", _nan_wav, "error", True, "build", "b.wav holds NaN or infinite samples"),
]


@pytest.mark.parametrize(
    "spoil, on_missing, scored, where, words", [c[1:] for c in SPOILT_CLIPS], ids=[c[0] for c in SPOILT_CLIPS]
)
def test_a_spoilt_clip_follows_on_missing(strong_folder, spoil, on_missing, scored, where, words):
    """Truncated files are found from their headers when a set is built; NaN/inf samples when a training set
    reads the clip, or when a scored set is built. Either way the file is named and its samples never come out."""
    folder, tsv = strong_folder
    spoil(folder / "b.wav")
    before = _checksums(folder)
    kwargs = {"on_missing": on_missing, "random_crop": not scored, "check_samples": scored}
    if where == "build" and on_missing == "error":
        with pytest.raises(DataError, match=f"{words}.*data.on_missing: skip"):
            StrongSet(folder, tsv, ENCODER, "synth", **kwargs)
        assert _checksums(folder) == before
        return
    with warnings.catch_warnings(record=True) as built:
        warnings.simplefilter("always")
        dataset = StrongSet(folder, tsv, ENCODER, "synth", **kwargs)
    if where == "build":
        assert any(words in str(w.message) for w in built) and dataset.unreadable == ["b.wav"]
        assert dataset.clip_ids == ["Yabc_30.000_40.000", "c"] and "b.wav" not in set(dataset.ground_truth.filename)
    elif on_missing == "error":
        with pytest.raises(DataError, match=f"synth: .*{words}.*data.on_missing: skip"):
            dataset[1]
    else:
        with pytest.warns(DataWarning, match=f"{words}.*another clip of the set is read in its place"):
            item = dataset[1]
        assert item["clip_id"] == "c" and torch.isfinite(item["audio"]).all()
        np.testing.assert_array_equal(item["labels"].numpy(), dataset[2]["labels"].numpy())
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # once per file: the clip is not read again
            assert dataset[1]["clip_id"] == "c"
    assert _checksums(folder) == before

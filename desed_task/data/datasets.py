"""Datasets of strongly labelled, weakly labelled and unlabeled DESED clips (docs/recipe.md §1).

Every item is a dict ``{"audio": (samples,), "labels": (C, n_frames), "clip_id": str, "subset": str}``:
strong clips carry frame targets, weak clips their clip labels in frame 0 only, unlabeled clips zeros.

Files follow ``on_missing`` when they are missing, unreadable, empty or truncated (found from their headers when a
set is built) and when they hold NaN or infinite samples. Those show only when the samples are decoded: a set that
is scored (``check_samples=True``) decodes every file once when it is built, so that such a clip leaves its
ground truth like a missing one; a training set finds them when it reads the clip, and then stops (``error``) or
gives the next usable clip in its place (``skip``), warning once per file and process, so that they never reach
the loss.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from desed_task.data.audio import AudioError, fit_length, load_audio, shift_events
from desed_task.data.folder import (
    CheckedClips,
    DataError,
    DataWarning,
    OnMissing,
    OnSampleRate,
    check_clips,
    list_audio,
)
from desed_task.data.label_encoder import LabelEncoder
from desed_task.data.tables import (
    TableSource,
    clip_id_of,
    describe,
    events_by_clip,
    read_durations,
    read_strong,
    read_weak,
    split_weak_labels,
)


class _ClipSet(Dataset):
    """Shared loading: checked file list, mono float32 at ``sample_rate``, exactly ``clip_duration`` seconds."""

    def __init__(
        self,
        folder: str | Path,
        encoder: LabelEncoder,
        subset: str,
        sample_rate: int,
        clip_duration: float,
        random_crop: bool,
        on_missing: OnMissing,
        on_sample_rate: OnSampleRate,
        check_samples: bool,
    ) -> None:
        self.folder = Path(folder)
        self.encoder = encoder
        self.subset = subset
        self.sample_rate = int(sample_rate)
        self.clip_duration = float(clip_duration)
        self.n_samples = int(round(self.clip_duration * self.sample_rate))
        self.random_crop = random_crop
        self.on_missing = on_missing
        self.on_sample_rate = on_sample_rate
        self.check_samples = check_samples
        self._names: list[str] = []
        self._paths: list[Path] = []
        self.clip_ids: list[str] = []
        self.missing: list[str] = []
        self.unreadable: list[str] = []
        self._unusable: set[int] = set()  # clips found unusable when read (in this process)

    def _check(self, filenames: list[str], files: list[Path], source: str) -> CheckedClips:
        checked = check_clips(
            filenames,
            files,
            self.folder,
            self.subset,
            source,
            self.sample_rate,
            self.on_missing,
            self.on_sample_rate,
            read_samples=self.check_samples,
        )
        self._names, self._paths = checked.names, checked.paths
        self.clip_ids = [clip_id_of(name) for name in checked.names]
        self.missing, self.unreadable = checked.missing, checked.unreadable
        return checked

    def __len__(self) -> int:
        return len(self._names)

    def _usable_index(self, index: int) -> tuple[int, np.ndarray]:
        """``index`` and its audio, or under ``on_missing="skip"`` the next clip that can be read in place of one
        that cannot (named in a warning, once per file and process); ``DataError`` under ``"error"``."""
        for step in range(len(self)):
            candidate = (index + step) % len(self)
            if candidate in self._unusable:
                continue
            try:
                return candidate, load_audio(self._paths[candidate], self.sample_rate)[0]
            except AudioError as error:
                if self.check_samples and self.on_missing == "skip":  # it was usable when the set was built
                    raise DataError(
                        f"{self.subset}: {error}; the file changed after the set was built, and a scored "
                        "clip cannot leave its ground truth then: restore the file"
                    ) from error
                if self.on_missing == "error":
                    raise DataError(
                        f"{self.subset}: {error} (set data.on_missing: skip to leave such files out)"
                    ) from error
                self._unusable.add(candidate)
                warnings.warn(
                    f"{self.subset}: {error}; another clip of the set is read in its place", DataWarning, stacklevel=2
                )
        raise DataError(f"{self.subset}: none of the {len(self)} clips in {self.folder} can be read")

    def _load(self, index: int) -> tuple[int, torch.Tensor, float]:
        """The index of the clip read (``index``, or the one read in its place), its (n_samples,) audio and the
        crop offset in seconds."""
        index, audio = self._usable_index(index)
        audio, offset = fit_length(audio, self.n_samples, self.random_crop)
        return index, torch.from_numpy(np.ascontiguousarray(audio)), offset / self.sample_rate

    def _item(self, index: int, audio: torch.Tensor, labels: np.ndarray) -> dict:
        return {
            "audio": audio,
            "labels": torch.from_numpy(labels),
            "clip_id": self.clip_ids[index],
            "subset": self.subset,
        }

    def durations(self, durations: TableSource) -> pd.DataFrame:
        """The rows of a durations table (``filename duration``) whose clips this dataset holds."""
        table = read_durations(durations)
        present = set(self.clip_ids)
        return table[table["filename"].map(clip_id_of).isin(present)].reset_index(drop=True)


class StrongSet(_ClipSet):
    """Clips with strong labels (``filename onset offset event_label``); a cropped clip's events move with it.

    ``ground_truth`` holds the metadata rows of the clips that are present (the evaluation scores those).
    """

    def __init__(
        self,
        folder: str | Path,
        tsv: TableSource,
        encoder: LabelEncoder,
        subset: str,
        sample_rate: int = 16000,
        clip_duration: float = 10.0,
        random_crop: bool = True,
        on_missing: OnMissing = "skip",
        on_sample_rate: OnSampleRate = "resample",
        check_samples: bool = False,
    ) -> None:
        super().__init__(
            folder, encoder, subset, sample_rate, clip_duration, random_crop, on_missing, on_sample_rate, check_samples
        )
        table = read_strong(tsv, encoder.labels)
        filenames = list(dict.fromkeys(table["filename"]))
        self._check(filenames, list_audio(self.folder, subset), describe(tsv))
        self.ground_truth = table[table["filename"].isin(set(self._names))].reset_index(drop=True)
        events = events_by_clip(self.ground_truth)
        self._events = [events[clip_id] for clip_id in self.clip_ids]

    def __getitem__(self, index: int) -> dict:
        index, audio, offset = self._load(index)
        events = shift_events(self._events[index], offset, self.clip_duration)
        return self._item(index, audio, self.encoder.encode_strong(events))


class WeakSet(_ClipSet):
    """Clips with clip-level labels (``filename event_labels``); the labels sit in frame 0 of the targets."""

    def __init__(
        self,
        folder: str | Path,
        tsv: TableSource,
        encoder: LabelEncoder,
        subset: str,
        sample_rate: int = 16000,
        clip_duration: float = 10.0,
        random_crop: bool = True,
        on_missing: OnMissing = "skip",
        on_sample_rate: OnSampleRate = "resample",
        check_samples: bool = False,
    ) -> None:
        super().__init__(
            folder, encoder, subset, sample_rate, clip_duration, random_crop, on_missing, on_sample_rate, check_samples
        )
        table = read_weak(tsv, encoder.labels).drop_duplicates(subset="filename")
        labels = dict(zip(table["filename"], table["event_labels"]))
        self._check(list(labels), list_audio(self.folder, subset), describe(tsv))
        self._weak = [encoder.encode_weak(split_weak_labels(labels[name])) for name in self._names]

    def __getitem__(self, index: int) -> dict:
        index, audio, _ = self._load(index)
        targets = np.zeros((self.encoder.n_classes, self.encoder.n_frames), dtype=np.float32)  # (C, T)
        targets[:, 0] = self._weak[index]
        return self._item(index, audio, targets)


class UnlabeledSet(_ClipSet):
    """Every .wav/.flac file under ``folder`` (recursively, sorted), with all-zero targets."""

    def __init__(
        self,
        folder: str | Path,
        encoder: LabelEncoder,
        subset: str,
        sample_rate: int = 16000,
        clip_duration: float = 10.0,
        random_crop: bool = True,
        on_missing: OnMissing = "skip",
        on_sample_rate: OnSampleRate = "resample",
        check_samples: bool = False,
    ) -> None:
        super().__init__(
            folder, encoder, subset, sample_rate, clip_duration, random_crop, on_missing, on_sample_rate, check_samples
        )
        files = list_audio(self.folder, subset)
        self._check([p.relative_to(self.folder).as_posix() for p in files], files, str(self.folder))

    def __getitem__(self, index: int) -> dict:
        index, audio, _ = self._load(index)
        return self._item(index, audio, np.zeros((self.encoder.n_classes, self.encoder.n_frames), dtype=np.float32))


def weak_split(df: pd.DataFrame, weak_split: float = 0.9, seed: int = 42) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training and validation parts of the weak table, as the recipe draws them (``DataFrame.sample``)."""
    train = df.sample(frac=weak_split, random_state=seed)
    val = df.drop(train.index).reset_index(drop=True)
    return train.reset_index(drop=True), val


def collate_clips(items: list[dict]) -> dict:
    """Stack dataset items: audio (B, samples), labels (B, C, T), clip ids and subsets as lists."""
    return {
        "audio": torch.stack([item["audio"] for item in items]),  # (B, samples)
        "labels": torch.stack([item["labels"] for item in items]),  # (B, C, T)
        "clip_ids": [item["clip_id"] for item in items],
        "subsets": [item["subset"] for item in items],
    }

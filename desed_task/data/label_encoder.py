"""DESED label encoding: events in seconds <-> frame-level targets of the network's output rate (docs/recipe.md §3)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

DESED_CLASSES: tuple[str, ...] = (
    "Alarm_bell_ringing",
    "Blender",
    "Cat",
    "Dishes",
    "Dog",
    "Electric_shaver_toothbrush",
    "Frying",
    "Running_water",
    "Speech",
    "Vacuum_cleaner",
)

EventRows = pd.DataFrame | Iterable[tuple[float, float, str]]


class LabelEncoder:
    """Maps events to (classes, n_frames) targets (``evaluation.decoding`` turns frame scores back into events).

    One output frame spans ``frame_hop * net_pooling / sample_rate`` seconds (0.064 s for DESED), and a clip
    of ``audio_len`` seconds has ``int(int(audio_len * sample_rate / frame_hop) / net_pooling)`` frames (156).
    An event covers frames ``int(onset_frame)`` up to but excluding ``ceil(offset_frame)``.
    """

    def __init__(
        self,
        labels: Sequence[str],
        audio_len: float = 10.0,
        frame_hop: int = 256,
        net_pooling: int = 4,
        sample_rate: int = 16000,
    ) -> None:
        labels = list(labels)
        if not labels:
            raise ValueError("LabelEncoder needs at least one class label (data.classes is empty)")
        duplicates = sorted({x for x in labels if labels.count(x) > 1})
        if duplicates:
            raise ValueError(f"class labels must be unique; repeated: {duplicates}")
        self.labels = labels
        self.audio_len = float(audio_len)
        self.frame_hop = int(frame_hop)
        self.net_pooling = int(net_pooling)
        self.sample_rate = int(sample_rate)
        self.n_frames = int(int(self.audio_len * self.sample_rate / self.frame_hop) / self.net_pooling)
        self._index = {label: i for i, label in enumerate(labels)}

    @property
    def n_classes(self) -> int:
        return len(self.labels)

    def index_of(self, label: str) -> int:
        """Row of ``label`` in the targets; a clear error for a label outside the class list."""
        try:
            return self._index[label]
        except KeyError:
            raise KeyError(f"unknown event label {label!r}; the class list is {self.labels}") from None

    def time_to_frame(self, time: float) -> float:
        """Output frame (fractional) of a time in seconds, clipped to [0, n_frames]."""
        frame = time * self.sample_rate / self.frame_hop / self.net_pooling
        return float(np.clip(frame, 0, self.n_frames))

    def frame_to_time(self, frame: float) -> float:
        """Time in seconds of an output frame boundary, clipped to [0, audio_len]."""
        time = frame * self.net_pooling * self.frame_hop / self.sample_rate
        return float(np.clip(time, 0, self.audio_len))

    def timestamps(self) -> np.ndarray:
        """The n_frames + 1 frame boundaries in seconds (score-table timestamps)."""
        return np.array([self.frame_to_time(f) for f in range(self.n_frames + 1)], dtype=np.float64)

    def encode_strong(self, events: EventRows) -> np.ndarray:
        """(C, n_frames) float32 0/1 targets from a DataFrame (onset, offset, event_label) or (onset, offset,
        label) rows; rows with an empty label (clips without events) are ignored."""
        if isinstance(events, pd.DataFrame):
            rows = zip(events["onset"], events["offset"], events["event_label"])
        else:
            rows = events
        targets = np.zeros((self.n_classes, self.n_frames), dtype=np.float32)  # (C, T)
        for onset, offset, label in rows:
            if not isinstance(label, str) or not label:
                continue
            start = int(self.time_to_frame(float(onset)))
            stop = int(math.ceil(self.time_to_frame(float(offset))))
            targets[self.index_of(label), start:stop] = 1.0
        return targets

    def encode_weak(self, labels: Iterable[str]) -> np.ndarray:
        """(C,) float32 clip-level targets."""
        targets = np.zeros(self.n_classes, dtype=np.float32)
        for label in labels:
            targets[self.index_of(label)] = 1.0
        return targets

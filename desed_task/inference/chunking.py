"""Cutting a recording of any length into the network's fixed-length chunks, and merging their scores
(docs/recipe.md §7).

The network sees chunks of exactly ``chunk_samples`` (10 s); chunk ``k`` starts at ``k · hop_samples`` and the
last one is zero-padded, like a short training clip. The hop is a whole number of output frames (0.064 s for
DESED), so every chunk's frames fall exactly on one global frame grid: output frame ``f`` of chunk ``k`` is
global frame ``k · hop_frames + f``. Where chunks overlap, their frame scores are averaged before any
thresholding (the original OR-ed hard decisions of chunks instead).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from desed_task.inference.inference_error import InferenceError


@dataclass(frozen=True)
class ChunkGrid:
    """Chunk and frame geometry in samples of the model's sample rate."""

    chunk_samples: int  # samples per chunk (160000 for 10 s at 16 kHz)
    chunk_frames: int  # output frames per chunk (156)
    frame_samples: int  # samples per output frame (hop 256 · pooling 4 = 1024)
    hop_frames: int  # chunk hop in output frames

    def __post_init__(self) -> None:
        if min(self.chunk_samples, self.chunk_frames, self.frame_samples, self.hop_frames) < 1:
            raise ValueError(f"chunk grid sizes must be positive, got {self}")
        if self.hop_frames > self.chunk_frames:
            raise InferenceError(
                f"the hop ({self.hop_frames} frames) is longer than a chunk ({self.chunk_frames} frames): parts of "
                "the recording would never be scored; choose a hop of at most the chunk duration"
            )

    @classmethod
    def from_seconds(
        cls, hop: float, chunk_duration: float, sample_rate: int, frame_samples: int, chunk_frames: int
    ) -> "ChunkGrid":
        """A grid with ``hop`` seconds rounded to whole output frames (3 s → 47 frames = 3.008 s at DESED rates)."""
        if not hop > 0:
            raise InferenceError(f"the chunk hop must be positive (seconds), got {hop}")
        frame_duration = frame_samples / sample_rate
        hop_frames = max(1, round(hop / frame_duration))
        return cls(
            chunk_samples=int(round(chunk_duration * sample_rate)),
            chunk_frames=chunk_frames,
            frame_samples=frame_samples,
            hop_frames=hop_frames,
        )

    @property
    def hop_samples(self) -> int:
        return self.hop_frames * self.frame_samples

    def n_chunks(self, n_samples: int) -> int:
        """Chunks needed to cover ``n_samples``: starts ``0, hop, …`` until a chunk reaches the end."""
        if n_samples <= self.chunk_samples:
            return 1
        return 1 + math.ceil((n_samples - self.chunk_samples) / self.hop_samples)

    def n_frames(self, n_samples: int) -> int:
        """Global output frames of a recording: those that start inside it and that some chunk scores."""
        scored = (self.n_chunks(n_samples) - 1) * self.hop_frames + self.chunk_frames
        return min(math.ceil(n_samples / self.frame_samples), scored)

    def timestamps(self, n_samples: int, sample_rate: int) -> np.ndarray:
        """(T + 1,) frame boundaries in seconds, the last one clipped to the recording's end."""
        bounds = np.arange(self.n_frames(n_samples) + 1) * self.frame_samples / sample_rate
        return np.minimum(bounds, n_samples / sample_rate)


class ChunkStream:
    """Chunks (``chunk_samples``,) float32 from a stream of mono blocks, holding at most a chunk and a block.

    After iteration, ``n_samples`` is the length of the whole stream.
    """

    def __init__(self, blocks: Iterable[np.ndarray], grid: ChunkGrid) -> None:
        self.blocks = blocks
        self.grid = grid
        self.n_samples = 0

    def __iter__(self) -> Iterator[np.ndarray]:
        chunk, hop = self.grid.chunk_samples, self.grid.hop_samples
        buffer = np.zeros(0, dtype=np.float32)  # samples from the next chunk's start on
        yielded = 0
        self.n_samples = 0
        for block in self.blocks:
            self.n_samples += len(block)
            buffer = np.concatenate([buffer, np.asarray(block, dtype=np.float32)])
            while len(buffer) >= chunk:
                yield buffer[:chunk].copy()
                yielded += 1
                buffer = buffer[hop:]
        if self.n_samples == 0:
            return
        # A last, zero-padded chunk unless the previous one already reached the end.
        if yielded == 0 or len(buffer) > chunk - hop:
            yield np.pad(buffer, (0, chunk - len(buffer)))


class OverlapAverage:
    """Average of chunk frame scores on the global frame grid; grows with the recording (C floats per frame)."""

    def __init__(self, n_classes: int, grid: ChunkGrid) -> None:
        self.grid = grid
        self.sums = np.zeros((n_classes, 4 * grid.chunk_frames), dtype=np.float64)  # (C, capacity)
        self.counts = np.zeros(4 * grid.chunk_frames, dtype=np.int64)  # (capacity,)
        self.n_chunks = 0

    def add(self, scores: np.ndarray) -> None:
        """Scores (C, chunk_frames) of the next chunk in order."""
        if scores.shape != (self.sums.shape[0], self.grid.chunk_frames):
            raise ValueError(
                f"chunk scores must be (classes={self.sums.shape[0]}, frames={self.grid.chunk_frames}), "
                f"got {scores.shape}"
            )
        start = self.n_chunks * self.grid.hop_frames
        stop = start + self.grid.chunk_frames
        if stop > self.counts.shape[0]:
            capacity = max(stop, 2 * self.counts.shape[0])
            self.sums = np.pad(self.sums, ((0, 0), (0, capacity - self.sums.shape[1])))
            self.counts = np.pad(self.counts, (0, capacity - self.counts.shape[0]))
        self.sums[:, start:stop] += scores
        self.counts[start:stop] += 1
        self.n_chunks += 1

    def result(self, n_frames: int) -> np.ndarray:
        """Averaged scores (C, n_frames) float32 of the first ``n_frames`` global frames."""
        counts = self.counts[:n_frames]
        if n_frames > len(self.counts) or (counts == 0).any():
            raise ValueError(f"frames 0..{n_frames - 1} are not all covered by the {self.n_chunks} chunks added")
        return (self.sums[:, :n_frames] / counts).astype(np.float32)

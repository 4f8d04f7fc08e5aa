"""Recordings as streams of mono blocks at the model's sample rate: files are read and resampled block by block,
so memory does not grow with the recording's length.

Channels are averaged (as in training, docs/recipe.md §1) and other sample rates are converted with soxr "HQ" — the
resampler of the recipe — streamed, which gives the same samples as resampling the whole signal at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch

from desed_task.data.audio import RESAMPLE_QUALITY, AudioError, audio_info

BLOCK_SECONDS = 10.0


def _resampled(blocks: Iterator[np.ndarray], orig_sr: int, target_sr: int) -> Iterator[np.ndarray]:
    """Mono blocks (n,) at ``orig_sr`` → mono float32 blocks at ``target_sr``."""
    if orig_sr == target_sr:
        yield from blocks
        return
    stream = soxr.ResampleStream(orig_sr, target_sr, 1, dtype="float32", quality=RESAMPLE_QUALITY)
    for block in blocks:
        out = stream.resample_chunk(block, last=False)
        if len(out):
            yield out
    tail = stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
    if len(tail):
        yield tail


def _checked(block: np.ndarray, where: str) -> np.ndarray:
    if not np.isfinite(block).all():
        raise AudioError(
            f"{where} holds NaN or infinite samples: the recording itself is faulty; replace those samples "
            "(e.g. by zeros) or leave it out"
        )
    return block


def file_blocks(path: str | Path, sample_rate: int, block_seconds: float = BLOCK_SECONDS) -> Iterator[np.ndarray]:
    """Mono float32 blocks of an audio file (any format soundfile reads) at ``sample_rate``.

    Raises :class:`AudioError` naming the file when it is missing, unreadable or empty (before any block).
    """
    info = audio_info(path)  # AudioError for a missing, unreadable or empty file
    return _resampled(_file_mono_blocks(Path(path), info.sample_rate, block_seconds), info.sample_rate, sample_rate)


def _file_mono_blocks(path: Path, file_sr: int, block_seconds: float) -> Iterator[np.ndarray]:
    block_frames = max(1, int(block_seconds * file_sr))
    try:
        with sf.SoundFile(str(path)) as handle:
            while True:
                block = handle.read(block_frames, dtype="float32", always_2d=True)  # (n, channels)
                if not len(block):
                    return
                yield _checked(block.mean(axis=1), str(path))  # (n,)
    except (sf.LibsndfileError, RuntimeError, OSError) as error:
        raise AudioError(
            f"cannot decode audio file {path}: {error}; the file is damaged or truncated: copy or download it again"
        ) from error


def as_channels_first(waveform: np.ndarray | torch.Tensor) -> np.ndarray:
    """A waveform (samples,) or (channels, samples) as a float32 (channels, samples) array, checked."""
    if isinstance(waveform, torch.Tensor):
        waveform = waveform.detach().to("cpu", torch.float32).numpy()
    array = np.asarray(waveform)
    if not np.issubdtype(array.dtype, np.floating):
        raise TypeError(
            f"waveform must hold floating-point samples in [-1, 1], got dtype {array.dtype}; "
            "convert integer PCM with x / 32768 (16 bit) first"
        )
    if array.ndim == 1:
        array = array[None]  # (1, samples)
    if array.ndim != 2:
        raise ValueError(f"waveform must be (samples,) or (channels, samples), got shape {array.shape}")
    if array.size == 0:
        raise AudioError("the waveform holds no samples; nothing to detect in an empty recording")
    if array.shape[0] > array.shape[1]:
        raise ValueError(
            f"waveform of shape {array.shape} has more channels than samples: pass (channels, samples), "
            "e.g. transpose what soundfile.read returns"
        )
    return array.astype(np.float32, copy=False)


def waveform_blocks(
    waveform: np.ndarray | torch.Tensor, orig_sr: int, sample_rate: int, block_seconds: float = BLOCK_SECONDS
) -> Iterator[np.ndarray]:
    """Mono float32 blocks at ``sample_rate`` of an in-memory waveform (samples,) or (channels, samples)."""
    if not (isinstance(orig_sr, (int, np.integer)) and orig_sr > 0):
        raise ValueError(f"sample_rate must be a positive integer (Hz) for a waveform, got {orig_sr!r}")
    array = as_channels_first(waveform)  # (channels, samples)
    step = max(1, int(block_seconds * orig_sr))
    mono = (_checked(array[:, i : i + step].mean(axis=0), "the waveform") for i in range(0, array.shape[1], step))
    return _resampled(mono, int(orig_sr), sample_rate)

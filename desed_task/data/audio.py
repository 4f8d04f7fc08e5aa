"""Audio I/O for the datasets: any channel count to mono float32, resampling with soxr HQ, crop or pad."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch

AUDIO_EXTENSIONS = (".wav", ".flac")
RESAMPLE_QUALITY = "HQ"  # soxr's "high quality": librosa's default resampler, which the original recipe used


class AudioError(RuntimeError):
    """An audio file that cannot be used (unreadable, empty); the message names the file."""


@dataclass(frozen=True)
class AudioInfo:
    sample_rate: int
    frames: int
    channels: int

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate


def find_audio_files(folder: str | Path) -> list[Path]:
    """Every .wav/.flac file under ``folder``, recursively and sorted; hidden files (macOS ``._x.wav`` resource
    forks, partial downloads) are not audio clips and are left out."""
    return sorted(
        p for p in Path(folder).rglob("*")
        if p.suffix.lower() in AUDIO_EXTENSIONS and not p.name.startswith(".") and p.is_file()
    )


def audio_info(path: str | Path) -> AudioInfo:
    """Header of an audio file; :class:`AudioError` naming the file when it is unreadable or holds no samples."""
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError) as error:
        raise AudioError(f"cannot read audio file {path}: {error}; re-download or remove it") from error
    if info.frames <= 0:
        raise AudioError(f"audio file {path} holds no samples; re-download or remove it")
    return AudioInfo(int(info.samplerate), int(info.frames), int(info.channels))


def resample(audio: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample along the first axis ((samples,) or (samples, channels)) with soxr HQ; float32 out."""
    if orig_sr == target_sr:
        return audio.astype(np.float32, copy=False)
    return soxr.resample(audio, orig_sr, target_sr, quality=RESAMPLE_QUALITY).astype(np.float32, copy=False)


def load_audio(path: str | Path, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """(samples,) float32 mono (mean over channels) and its sample rate; resampled when ``sample_rate`` is given.

    PCM of any width, float WAV and FLAC all come back as float32 in [-1, 1] (float files as stored).
    """
    try:
        audio, sr = sf.read(str(path), dtype="float32", always_2d=True)  # (samples, channels)
    except (sf.LibsndfileError, RuntimeError, OSError) as error:
        raise AudioError(f"cannot read audio file {path}: {error}; re-download or remove it") from error
    if audio.shape[0] == 0:
        raise AudioError(f"audio file {path} holds no samples; re-download or remove it")
    mono = audio.mean(axis=1)  # (samples,)
    if sample_rate is not None and sr != sample_rate:
        mono = resample(mono, sr, sample_rate)
        sr = sample_rate
    return np.ascontiguousarray(mono, dtype=np.float32), sr


def fit_length(audio: np.ndarray, n_samples: int, random_crop: bool) -> tuple[np.ndarray, int]:
    """Zero-pad at the end or crop to exactly ``n_samples``; returns the audio and the crop offset in samples.

    A random crop draws its offset from torch's global generator, which DataLoader seeds per worker.
    """
    length = audio.shape[0]
    if length < n_samples:
        return np.pad(audio, (0, n_samples - length)), 0
    offset = 0
    if length > n_samples and random_crop:
        offset = int(torch.randint(0, length - n_samples + 1, ()).item())
    return audio[offset:offset + n_samples], offset


def shift_events(
    events: list[tuple[float, float, str]], offset: float, duration: float
) -> list[tuple[float, float, str]]:
    """Events moved by a crop starting at ``offset`` seconds, clipped to [0, duration]; vanished ones dropped."""
    shifted = []
    for onset, end, label in events:
        onset, end = max(onset - offset, 0.0), min(end - offset, duration)
        if onset < end:
            shifted.append((onset, end, label))
    return shifted

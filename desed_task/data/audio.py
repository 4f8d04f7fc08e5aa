"""Audio I/O for the datasets and inference: any channel count to mono float32, resampling with soxr HQ, crop or
pad, and the checks that tell an unusable file from a usable one before any work is done on it."""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch

AUDIO_EXTENSIONS = (".wav", ".flac")
# What libsndfile reads, for folders given to inference (datasets keep to WAV and FLAC).
READABLE_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".w64", ".rf64")
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


def find_audio_files(folder: str | Path, extensions: Iterable[str] = AUDIO_EXTENSIONS) -> list[Path]:
    """Every file with one of ``extensions`` under ``folder``, recursively and sorted; hidden files (macOS
    ``._x.wav`` resource forks, partial downloads) are not audio clips and are left out."""
    suffixes = {e.lower() for e in extensions}
    return sorted(
        p
        for p in Path(folder).rglob("*")
        if p.suffix.lower() in suffixes and not p.name.startswith(".") and p.is_file()
    )


def open_error(path: str | Path, error: Exception) -> AudioError:
    """The error for a file that libsndfile cannot open, with advice that fits why."""
    path = Path(path)
    if not path.exists():
        return AudioError(f"audio file not found: {path}")
    if path.is_dir():
        return AudioError(f"{path} is a folder, not an audio file")
    return AudioError(
        f"cannot read audio file {path}: {error}; it is damaged or not in a format libsndfile reads "
        "(WAV, FLAC, OGG, ...): re-download or convert it, or remove it"
    )


def audio_info(path: str | Path) -> AudioInfo:
    """Header of an audio file; :class:`AudioError` naming the file when it is unreadable or holds no samples."""
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError) as error:
        raise open_error(path, error) from error
    if info.frames <= 0:
        raise AudioError(f"audio file {path} holds no samples (an empty recording); remove it or leave it out")
    return AudioInfo(int(info.samplerate), int(info.frames), int(info.channels))


def wav_declared_bytes(path: str | Path) -> tuple[int, int] | None:
    """(bytes the RIFF WAV header announces for its ``data`` chunk, bytes the file holds after it), or None for
    other files and for headers written without a length (streamed WAV: 0 or 0xFFFFFFFF).

    libsndfile quietly shortens a WAV whose data chunk is cut off (an interrupted copy or download) to what is
    there, so its frame count cannot reveal the truncation; the header can.
    """
    with open(path, "rb") as handle:
        head = handle.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        size = Path(path).stat().st_size
        while True:
            chunk = handle.read(8)
            if len(chunk) < 8:
                return None
            chunk_id, chunk_size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if chunk_id == b"data":
                if chunk_size in (0, 0xFFFFFFFF):
                    return None
                return chunk_size, size - handle.tell()
            handle.seek(chunk_size + (chunk_size & 1), 1)  # chunks are padded to an even size


def check_header(path: str | Path) -> AudioInfo:
    """:func:`audio_info`, and for a WAV file its length against the header's: reads the header only, so it is
    cheap enough for every file of a dataset. :class:`AudioError` names a truncated file."""
    info = audio_info(path)
    try:
        declared = wav_declared_bytes(path)
    except OSError as error:
        raise open_error(path, error) from error
    if declared is not None and declared[1] < declared[0]:
        announced, held = declared
        raise AudioError(
            f"audio file {path} is truncated: its header announces {announced} bytes of samples but the file "
            f"holds {held} ({100.0 * held / announced:.0f} %); the copy or download was cut short: copy or "
            "download it again"
        )
    return info


def nonfinite_error(path: str | Path, first: float) -> AudioError:
    """The error for a file holding NaN or infinite samples, the first at ``first`` seconds."""
    return AudioError(
        f"audio file {path} holds NaN or infinite samples (the first at {first:.3f} s): the file itself is faulty "
        "(a float recording with invalid values), so downloading it again will not help; replace those samples "
        "(e.g. by zeros) in the program that wrote it, or leave the file out"
    )


def check_audio_file(path: str | Path, block_seconds: float = 5.0) -> AudioInfo:
    """Read a whole file once and return its header, or raise :class:`AudioError` with advice that fits the
    problem: missing, a folder, unreadable, empty, truncated (data shorter than the header says, or a decoder
    error part-way) or holding NaN/infinite samples (a damaged float file: re-downloading would not help).
    """
    info = check_header(path)
    block = max(1, int(block_seconds * info.sample_rate))
    read = 0
    with sf.SoundFile(str(path)) as handle:
        while True:
            try:
                samples = handle.read(block, dtype="float32", always_2d=True)  # (n, channels)
            except (sf.LibsndfileError, RuntimeError, OSError) as error:
                raise AudioError(
                    f"cannot decode audio file {path} after {read / info.sample_rate:.2f} s: {error}; the file is "
                    "damaged or truncated: copy or download it again"
                ) from error
            if not len(samples):
                break
            bad = ~np.isfinite(samples).all(axis=1)  # (n,)
            if bad.any():
                raise nonfinite_error(path, (read + int(np.argmax(bad))) / info.sample_rate)
            read += len(samples)
    if read < info.frames:
        raise AudioError(
            f"audio file {path} is truncated: its header announces {info.duration:.2f} s but it holds "
            f"{read / info.sample_rate:.2f} s; the copy or download was cut short: copy or download it again"
        )
    return info


def resample(audio: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample along the first axis ((samples,) or (samples, channels)) with soxr HQ; float32 out."""
    if orig_sr == target_sr:
        return audio.astype(np.float32, copy=False)
    return soxr.resample(audio, orig_sr, target_sr, quality=RESAMPLE_QUALITY).astype(np.float32, copy=False)


def load_audio(path: str | Path, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """(samples,) float32 mono (mean over channels) and its sample rate; resampled when ``sample_rate`` is given.

    PCM of any width, float WAV and FLAC all come back as float32 in [-1, 1] (float files as stored). A file with
    NaN or infinite samples is an :class:`AudioError`: they would reach the loss as NaN.
    """
    try:
        audio, sr = sf.read(str(path), dtype="float32", always_2d=True)  # (samples, channels)
    except (sf.LibsndfileError, RuntimeError, OSError) as error:
        raise open_error(path, error) from error
    if audio.shape[0] == 0:
        raise AudioError(f"audio file {path} holds no samples (an empty recording); remove it or leave it out")
    bad = ~np.isfinite(audio).all(axis=1)  # (samples,)
    if bad.any():
        raise nonfinite_error(path, int(np.argmax(bad)) / sr)
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
    return audio[offset : offset + n_samples], offset


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

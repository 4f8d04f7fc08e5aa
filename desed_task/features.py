"""Mel front-ends in plain torch (no torchaudio): the base of every feature stream, and the CRNN's stream.

A front-end turns a 16 kHz waveform into a mel spectrogram (``mel``), then log-compresses and scales it
(``scale``); the two steps are apart because mixup acts between them. The numbers match torchaudio's
``MelSpectrogram`` and ``AmplitudeToDB`` (HTK mel scale, no filter normalisation, STFT with ``center=True`` and
reflect padding; golden tests). Autocast is disabled inside both steps: features are float32 whatever the
training precision.

``SEDFrontend`` feeds the CRNN (docs/recipe.md §2): Hamming (symmetric) window, magnitude, 128 mels over
0–8 kHz, then ``20·log10`` and a per-clip min-max scaling to [0, 1]. Each encoder unit brings its own front-end
(``desed_task.nnet.encoders``). Each front-end class declares its configuration keys (``settings_class``, a
``MelSettings``), and its constructor's defaults are that dataclass's.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from desed_task.settings import POSITIVE_INT, Settings, SettingsError, setting

__all__ = [
    "DEFAULT_SAMPLE_RATE",
    "FREQUENCY",
    "MelFrontend",
    "MelSettings",
    "SEDFrontend",
    "SEDFrontendSettings",
    "hz_to_mel",
    "mel_filterbank",
    "mel_to_hz",
]

#: the sample rate of every stream unless ``data.fs`` says otherwise (DESED's 16 kHz)
DEFAULT_SAMPLE_RATE = 16000
FREQUENCY = (lambda v: v >= 0, "a non-negative frequency in Hz")


@dataclass(frozen=True)
class MelSettings(Settings):
    """The keys every mel front-end takes (its sample rate is ``data.fs`` and an encoder's front-end has the
    encoder's mel bins: neither is a key of its own)."""

    n_fft: int = setting(1024, POSITIVE_INT)
    win_length: int = setting(1024, POSITIVE_INT)
    hop_length: int = setting(256, POSITIVE_INT)
    f_min: float = setting(0.0, FREQUENCY)
    f_max: float = setting(8000.0, FREQUENCY)

    @classmethod
    def check_together(cls, section: Mapping[str, Any], where: str, context: Mapping[str, Any]) -> None:
        """The window fits the FFT; the mel band lies under the Nyquist frequency of ``data.fs``."""
        if section["win_length"] > section["n_fft"]:
            raise SettingsError(
                f"{where}.win_length ({section['win_length']}) must not exceed {where}.n_fft ({section['n_fft']})"
            )
        fs = context.get("data", {}).get("fs", DEFAULT_SAMPLE_RATE)
        if not section["f_min"] < section["f_max"] <= fs / 2:
            raise SettingsError(
                f"{where}.f_min ({section['f_min']}) and f_max ({section['f_max']}) must satisfy "
                f"f_min < f_max <= data.fs / 2 ({fs / 2:g} Hz)"
            )


@dataclass(frozen=True)
class SEDFrontendSettings(MelSettings):
    """``net.frontend``: the CRNN stream's front-end (hop and mel band: ``MelSettings``')."""

    n_fft: int = setting(2048, POSITIVE_INT)
    win_length: int = setting(2048, POSITIVE_INT)
    n_mels: int = setting(128, POSITIVE_INT)


_SED = SEDFrontendSettings()


def hz_to_mel(freq: float) -> float:
    """Frequency in Hz → mel on the HTK scale: ``2595·log10(1 + f/700)``."""
    return 2595.0 * math.log10(1.0 + freq / 700.0)


def mel_to_hz(mels: torch.Tensor) -> torch.Tensor:
    """Mel (HTK scale) → frequency in Hz, element-wise."""
    return 700.0 * (10.0 ** (mels / 2595.0) - 1.0)


def mel_filterbank(n_freqs: int, f_min: float, f_max: float, n_mels: int, sample_rate: int) -> torch.Tensor:
    """Triangular mel filters without normalisation, as a (n_freqs, n_mels) float32 matrix.

    ``n_mels + 2`` points equally spaced on the HTK mel scale between ``f_min`` and ``f_max`` are mapped back
    to Hz; filter ``m`` rises linearly (in Hz) from point ``m`` to ``m + 1`` and falls to point ``m + 2``,
    peaking at 1. Computed in float32 in the same order as torchaudio's ``melscale_fbanks``.
    """
    if not 0.0 <= f_min < f_max <= sample_rate / 2:
        raise ValueError(
            f"mel filterbank needs 0 <= f_min < f_max <= sample_rate / 2, got f_min={f_min}, f_max={f_max}, "
            f"sample_rate={sample_rate}"
        )
    all_freqs = torch.linspace(0, sample_rate // 2, n_freqs)  # (n_freqs,)
    m_pts = torch.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2)
    f_pts = mel_to_hz(m_pts)  # (n_mels + 2,)
    f_diff = f_pts[1:] - f_pts[:-1]  # (n_mels + 1,)
    slopes = f_pts.unsqueeze(0) - all_freqs.unsqueeze(1)  # (n_freqs, n_mels + 2)
    down = -slopes[:, :-2] / f_diff[:-1]  # (n_freqs, n_mels)
    up = slopes[:, 2:] / f_diff[1:]  # (n_freqs, n_mels)
    return torch.clamp(torch.minimum(down, up), min=0.0)


def _as_float32(x: torch.Tensor, what: str) -> torch.Tensor:
    if not torch.is_floating_point(x):
        raise TypeError(f"{what} must be a floating-point tensor, got dtype {x.dtype}; convert it with .float()")
    return x.to(torch.float32)


class MelFrontend(nn.Module, ABC):
    """Waveform → mel spectrogram (torchaudio ``MelSpectrogram`` semantics); subclasses add ``scale``."""

    #: the configuration keys of the front-end and their defaults (all constructor arguments but the sample rate)
    settings_class: ClassVar[type[MelSettings]] = MelSettings

    def __init__(
        self,
        sample_rate: int,
        n_fft: int,
        win_length: int,
        hop_length: int,
        f_min: float,
        f_max: float,
        n_mels: int,
        window: torch.Tensor,
        power: float,
    ) -> None:
        super().__init__()
        if win_length > n_fft:
            raise ValueError(f"win_length ({win_length}) must not exceed n_fft ({n_fft})")
        if hop_length <= 0:
            raise ValueError(f"hop_length must be positive, got {hop_length}")
        self.sample_rate = int(sample_rate)
        self.n_fft = int(n_fft)
        self.win_length = int(win_length)
        self.hop_length = int(hop_length)
        self.f_min = float(f_min)
        self.f_max = float(f_max)
        self.n_mels = int(n_mels)
        self.power = float(power)
        # Non-persistent: they follow .to(device) but stay out of state dicts (checkpoint format, docs/recipe.md §4).
        self.register_buffer("window", window.to(torch.float32), persistent=False)  # (win_length,)
        fb = mel_filterbank(self.n_fft // 2 + 1, self.f_min, self.f_max, self.n_mels, self.sample_rate)
        self.register_buffer("fb", fb, persistent=False)  # (n_fft // 2 + 1, n_mels)

    def _check_audio(self, audio: torch.Tensor) -> torch.Tensor:
        if audio.dim() not in (1, 2):
            raise ValueError(
                f"audio must be (samples,) or (batch, samples), got shape {tuple(audio.shape)}; "
                "mix multi-channel audio down to mono first"
            )
        audio = _as_float32(audio, "audio")
        if audio.dim() == 1:
            audio = audio.unsqueeze(0)  # (1, samples)
        pad = self.n_fft // 2
        if audio.shape[-1] <= pad:
            raise ValueError(
                f"audio has {audio.shape[-1]} samples, but the reflect padding of the STFT (n_fft={self.n_fft}) "
                f"needs more than {pad}; zero-pad short clips (the recipe pads to 10 s)"
            )
        if audio.device != self.fb.device:
            raise RuntimeError(
                f"audio is on {audio.device} but the front-end is on {self.fb.device}; move one with .to(device)"
            )
        return audio

    def mel(self, audio: torch.Tensor) -> torch.Tensor:
        """Mel spectrogram: audio (B, samples) or (samples,) → (B, n_mels, T), float32."""
        audio = self._check_audio(audio)  # (B, samples)
        with torch.autocast(device_type=audio.device.type, enabled=False):
            spec = torch.stft(
                audio,
                n_fft=self.n_fft,
                hop_length=self.hop_length,
                win_length=self.win_length,
                window=self.window.to(torch.float32),
                center=True,
                pad_mode="reflect",
                normalized=False,
                onesided=True,
                return_complex=True,
            )  # (B, n_fft // 2 + 1, T)
            if self.power == 2.0:  # |X|² as re² + im²: a third of the time of abs() then squaring
                re_im = torch.view_as_real(spec)
                spec = torch.addcmul(re_im[..., 0] * re_im[..., 0], re_im[..., 1], re_im[..., 1])
            else:
                spec = spec.abs() if self.power == 1.0 else spec.abs().pow(self.power)
            return torch.matmul(spec.transpose(-1, -2), self.fb.to(torch.float32)).transpose(-1, -2)  # (B, n_mels, T)

    def _check_spectrogram(self, spectrogram: torch.Tensor) -> torch.Tensor:
        if spectrogram.dim() != 3 or spectrogram.shape[1] != self.n_mels:
            raise ValueError(
                f"spectrogram must be (batch, {self.n_mels}, frames) as returned by mel(), "
                f"got shape {tuple(spectrogram.shape)}"
            )
        return _as_float32(spectrogram, "spectrogram")

    @abstractmethod
    def scale(self, spectrogram: torch.Tensor) -> torch.Tensor:
        """Log compression and scaling of a ``mel`` output: (B, n_mels, T) → (B, n_mels, T)."""

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """Features: audio (B, samples) or (samples,) → (B, n_mels, T), float32."""
        return self.scale(self.mel(audio))

    def batch_independent(self) -> "MelFrontend":
        """A front-end whose features of a clip do not depend on the other clips of its batch (inference cuts a
        recording into chunks that are batched together). This one already scales clip by clip."""
        return self

    def extra_repr(self) -> str:
        return (
            f"sample_rate={self.sample_rate}, n_fft={self.n_fft}, win_length={self.win_length}, "
            f"hop_length={self.hop_length}, f_min={self.f_min}, f_max={self.f_max}, n_mels={self.n_mels}, "
            f"power={self.power}"
        )


class SEDFrontend(MelFrontend):
    """CRNN stream: magnitude mel spectrogram, ``20·log10`` clamped to [-50, 80], per-clip min-max to [0, 1]."""

    settings_class = SEDFrontendSettings
    amin = 1e-5
    eps = 1e-8

    def __init__(
        self,
        sample_rate: int = DEFAULT_SAMPLE_RATE,
        n_fft: int = _SED.n_fft,
        win_length: int = _SED.win_length,
        hop_length: int = _SED.hop_length,
        f_min: float = _SED.f_min,
        f_max: float = _SED.f_max,
        n_mels: int = _SED.n_mels,
    ) -> None:
        window = torch.hamming_window(win_length, periodic=False)
        super().__init__(sample_rate, n_fft, win_length, hop_length, f_min, f_max, n_mels, window, power=1.0)

    def scale(self, spectrogram: torch.Tensor) -> torch.Tensor:
        """Log and per-clip min-max scaling: (B, n_mels, T) → (B, n_mels, T) in [0, 1]."""
        x = self._check_spectrogram(spectrogram)
        with torch.autocast(device_type=x.device.type, enabled=False):
            x = (20.0 * torch.log10(torch.clamp(x, min=self.amin))).clamp(-50.0, 80.0)  # (B, F, T)
            lo = x.amin(dim=(1, 2), keepdim=True)  # (B, 1, 1)
            hi = x.amax(dim=(1, 2), keepdim=True)  # (B, 1, 1)
            return (x - lo) / (hi - lo + self.eps)

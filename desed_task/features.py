"""Mel front-ends in plain torch (no torchaudio): the base of every feature stream, and the CRNN's stream.

A front-end turns a 16 kHz waveform into a mel spectrogram (``mel``), then log-compresses and scales it
(``scale``); the two steps are apart because mixup acts between them. The numbers match torchaudio's
``MelSpectrogram`` and ``AmplitudeToDB`` (HTK mel scale, no filter normalisation, STFT with ``center=True`` and
reflect padding; golden tests). Autocast is disabled inside both steps: features are float32 whatever the
training precision.

``SEDFrontend`` feeds the CRNN (docs/recipe.md §2): Hamming (symmetric) window, magnitude, 128 mels over
0–8 kHz, then ``20·log10`` and a per-clip min-max scaling to [0, 1]. Each encoder unit brings its own front-end
(``desed_task.nnet.encoders``).
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch
from torch import nn

__all__ = ["MelFrontend", "SEDFrontend", "hz_to_mel", "mel_filterbank", "mel_to_hz"]


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

    amin = 1e-5
    eps = 1e-8

    def __init__(
        self,
        sample_rate: int = 16000,
        n_fft: int = 2048,
        win_length: int = 2048,
        hop_length: int = 256,
        f_min: float = 0.0,
        f_max: float = 8000.0,
        n_mels: int = 128,
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

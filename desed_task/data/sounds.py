"""Synthetic sound types for the DESED-format generator: one recognisable sound per class index.

Each type differs from the others in spectrum and time structure (tonal beeps, low harmonic hum, pitch
chirps, clicks, bark-like bursts, high buzz, crackle, modulated band noise, formant-like voices, steady noise),
so that a small model can learn to detect and localise them. Every generator returns float64 audio of unit RMS.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.fft import irfft, next_fast_len, rfft, rfftfreq
from scipy.signal import lfilter

Generator = np.random.Generator
SoundFn = Callable[[Generator, int, int], np.ndarray]
TABLE = 2048


def _unit_rms(x: np.ndarray) -> np.ndarray:
    return x / (np.sqrt(np.mean(x**2)) + 1e-12)


def shaped_noise(rng: Generator, n: int, sr: int, gain: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """White noise coloured by a magnitude response ``gain(freqs_hz)`` (applied in the frequency domain)."""
    size = next_fast_len(n, real=True)
    spectrum = rfft(rng.standard_normal(size))
    spectrum *= gain(rfftfreq(size, 1.0 / sr))
    return _unit_rms(irfft(spectrum, size)[:n])


def band(lo: float, hi: float, edge: float = 0.25) -> Callable[[np.ndarray], np.ndarray]:
    """A band-pass magnitude response with soft (raised-cosine, ``edge`` octaves) edges."""

    def gain(f: np.ndarray) -> np.ndarray:
        octaves = np.log2(np.maximum(f, 1.0))
        low = np.clip((octaves - np.log2(lo)) / edge + 0.5, 0, 1)
        high = np.clip((np.log2(hi) - octaves) / edge + 0.5, 0, 1)
        return np.sin(0.5 * np.pi * low) ** 2 * np.sin(0.5 * np.pi * high) ** 2

    return gain


def wavetable(amplitudes: np.ndarray, phases: np.ndarray | None = None) -> np.ndarray:
    """One period (TABLE samples) of ``sum_k a_k sin(2 pi k t + phase_k)``, harmonics k = 1..K (K < TABLE / 2)."""
    phases = np.zeros(len(amplitudes)) if phases is None else phases
    spectrum = np.zeros(TABLE // 2 + 1, dtype=np.complex128)
    # irfft of (TABLE / 2) a e^{i phi} at bin k is a cos(2 pi k t + phi); sin is cos shifted by -pi/2
    spectrum[1 : len(amplitudes) + 1] = amplitudes * np.exp(1j * (phases - np.pi / 2)) * TABLE / 2
    return np.fft.irfft(spectrum, TABLE)


def oscillate(table: np.ndarray, f0: np.ndarray | float, n: int, sr: int) -> np.ndarray:
    """Read ``table`` at the instantaneous fundamental ``f0`` (Hz, scalar or (n,))."""
    phase = np.cumsum(np.broadcast_to(np.asarray(f0, dtype=np.float64), (n,))) / sr
    return table[((phase % 1.0) * TABLE).astype(np.int64) % TABLE]


def harmonic_amplitudes(f0: float, sr: int, rolloff: float, f_max: float | None = None) -> np.ndarray:
    f_max = min(f_max or sr / 2, 0.45 * sr)
    k = np.arange(1, max(int(f_max // f0), 1) + 1)
    return k ** (-rolloff)


def plan_units(
    rng: Generator, n: int, sr: int, length: tuple[float, float], gap: Callable[[], float]
) -> list[tuple[int, int]]:
    """(start, length) of repeated units (beeps, barks, syllables) filling ``n`` samples: the first starts at 0,
    gaps are stretched so that the last one ends at ``n``, which keeps the labelled event and the sound aligned."""
    units, pos = [], 0
    shortest = max(int(length[0] * sr), 1)
    while not units or n - pos >= shortest:  # no unit cut shorter than the shortest one
        size = min(max(int(rng.uniform(*length) * sr), 1), n - pos)
        units.append((pos, size))
        pos += size + int(gap() * sr)
    slack = n - sum(units[-1])
    if len(units) == 1:
        return [(0, n)]
    return [(start + slack * i // (len(units) - 1), size) for i, (start, size) in enumerate(units)]


def gate(
    rng: Generator, n: int, sr: int, on: tuple[float, float], off: tuple[float, float], ramp: float = 0.005
) -> np.ndarray:
    """0/1 on-off pattern (random on/off lengths) from the first to the last sample, with short linear ramps."""
    env = np.zeros(n)
    for start, size in plan_units(rng, n, sr, on, lambda: rng.uniform(*off)):
        env[start : start + size] = 1.0
    r = max(int(ramp * sr), 1)
    csum = np.concatenate([np.zeros(r), np.cumsum(env)])
    return (csum[r:] - csum[:-r]) / r  # moving average over r samples


def smooth_random(rng: Generator, n: int, sr: int, rate_hz: float) -> np.ndarray:
    """A slowly varying random curve in [0, 1] (interpolated noise at ``rate_hz`` knots per second)."""
    knots = max(int(n / sr * rate_hz), 1) + 2
    values = rng.uniform(0, 1, knots)
    return np.interp(np.linspace(0, knots - 1, n), np.arange(knots), values)


def _edges(x: np.ndarray, sr: int, ramp: float = 0.01) -> np.ndarray:
    """Short fades at both ends so an event starts and stops without a click."""
    r = min(int(ramp * sr), len(x) // 2)
    if r > 0:
        fade = np.linspace(0, 1, r)
        x[:r] *= fade
        x[-r:] *= fade[::-1]
    return x


def alarm_beeps(rng: Generator, n: int, sr: int) -> np.ndarray:
    f0 = rng.uniform(700, 1400)
    table = wavetable(np.array([1.0, 0.0, 0.5, 0.0, 0.25]))  # odd harmonics: a bright beep
    beep = (rng.uniform(0.08, 0.2), rng.uniform(0.06, 0.15))
    return oscillate(table, f0, n, sr) * gate(rng, n, sr, (beep[0], beep[0] * 1.1), (beep[1], beep[1] * 1.1))


def blender_hum(rng: Generator, n: int, sr: int) -> np.ndarray:
    f0 = rng.uniform(90, 180) * (1 + 0.03 * (smooth_random(rng, n, sr, 2) - 0.5))
    tone = oscillate(wavetable(harmonic_amplitudes(180, sr, 1.0, 2500)), f0, n, sr)
    noise = shaped_noise(rng, n, sr, band(200, 3000))
    am = 1 + 0.4 * np.sin(2 * np.pi * rng.uniform(8, 15) * np.arange(n) / sr)
    return _unit_rms(tone) * am + 0.5 * noise


def cat_chirps(rng: Generator, n: int, sr: int) -> np.ndarray:
    out = np.zeros(n)
    table = wavetable(harmonic_amplitudes(1000, sr, 1.5, 6000))
    for pos, length in plan_units(rng, n, sr, (0.3, 0.8), lambda: rng.uniform(0.05, 0.2)):
        base, peak = rng.uniform(400, 600), rng.uniform(750, 1000)
        contour = base + (peak - base) * np.sin(np.pi * np.linspace(0, 1, length)) ** 0.7
        envelope = np.sin(np.pi * np.linspace(0, 1, length)) ** 0.5
        out[pos : pos + length] = oscillate(table, contour, length, sr) * envelope
    return out


def dishes_clicks(rng: Generator, n: int, sr: int) -> np.ndarray:
    out = np.zeros(n)
    t = np.arange(int(0.3 * sr)) / sr
    last = max(n - int(0.05 * sr), 0)  # a click at both ends of the event
    times = [0, last] + list(rng.integers(0, n, max(int(n / sr * rng.uniform(8, 16)), 1)))
    for start in times:
        freqs = rng.uniform(2000, 7000, 3)
        ring = sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 6.3)) for f in freqs)
        ring *= np.exp(-t / rng.uniform(0.05, 0.12)) * rng.uniform(0.5, 1.0)
        stop = min(start + len(t), n)
        out[start:stop] += ring[: stop - start]
    return out


def dog_barks(rng: Generator, n: int, sr: int) -> np.ndarray:
    out = np.zeros(n)
    table = wavetable(harmonic_amplitudes(600, sr, 0.8, 4000))
    for pos, length in plan_units(rng, n, sr, (0.15, 0.3), lambda: rng.uniform(0.08, 0.25)):
        t = np.arange(length) / sr
        f0 = rng.uniform(350, 600) * (1 - 0.35 * t / max(t[-1], 1e-3))
        bark = oscillate(table, f0, length, sr) + 0.6 * shaped_noise(rng, length, sr, band(500, 2000))
        out[pos : pos + length] = bark * np.minimum(t / 0.01, 1) * np.exp(-t / 0.15)
    return out


def shaver_buzz(rng: Generator, n: int, sr: int) -> np.ndarray:
    f0 = rng.uniform(150, 300)
    amplitudes = harmonic_amplitudes(f0, sr, 0.3)
    amplitudes[(np.arange(1, len(amplitudes) + 1) * f0) < 2000] = 0.0  # only the harmonics above 2 kHz
    return oscillate(wavetable(amplitudes), f0 * (1 + 0.01 * smooth_random(rng, n, sr, 3)), n, sr)


def frying_crackle(rng: Generator, n: int, sr: int) -> np.ndarray:
    impulses = np.zeros(n)
    count = int(n / sr * rng.uniform(200, 500))
    impulses[rng.integers(0, n, count)] = rng.pareto(2.0, count) * rng.choice([-1, 1], count)
    crackle = lfilter([1.0, -2.0, 1.0], [1.0, 0.3], impulses)  # second difference: a high-pass click
    return _unit_rms(crackle) + 0.3 * shaped_noise(rng, n, sr, band(4000, 7500))


def water_band_noise(rng: Generator, n: int, sr: int) -> np.ndarray:
    lo = rng.uniform(1200, 1800)
    noise = shaped_noise(rng, n, sr, band(lo, lo * rng.uniform(2.5, 3.5)))
    return noise * (0.4 + smooth_random(rng, n, sr, rng.uniform(4, 8)))


FORMANTS = np.array([[730, 1090, 2440], [270, 2290, 3010], [300, 870, 2240], [530, 1840, 2480], [570, 840, 2410]])


def speech_voice(rng: Generator, n: int, sr: int) -> np.ndarray:
    out = np.zeros(n)
    pitch = rng.uniform(100, 240)
    pauses = lambda: rng.choice([rng.uniform(0.01, 0.05), rng.uniform(0.1, 0.3)], p=[0.8, 0.2])  # noqa: E731
    for pos, length in plan_units(rng, n, sr, (0.12, 0.3), pauses):
        f0 = pitch * rng.uniform(0.85, 1.2)
        k = np.arange(1, int(4000 // f0) + 1) * f0
        formants = FORMANTS[rng.integers(len(FORMANTS))] * rng.uniform(0.9, 1.1)
        envelope = sum(1 / (1 + ((k - f) / (0.1 * f)) ** 2) for f in formants) * k**-0.5
        syllable = oscillate(wavetable(envelope), np.linspace(f0, f0 * rng.uniform(0.9, 1.05), length), length, sr)
        out[pos : pos + length] = syllable * np.sin(np.pi * np.linspace(0, 1, length)) ** 0.6
    return out


def vacuum_noise(rng: Generator, n: int, sr: int) -> np.ndarray:
    noise = shaped_noise(rng, n, sr, lambda f: band(150, 6000)(f) / np.sqrt(np.maximum(f, 150) / 150))
    whine = rng.uniform(1000, 3000)
    tone = oscillate(wavetable(np.array([1.0, 0.3])), whine, n, sr)
    return noise + 0.4 * _unit_rms(tone)


SOUNDS: tuple[SoundFn, ...] = (
    alarm_beeps,
    blender_hum,
    cat_chirps,
    dishes_clicks,
    dog_barks,
    shaver_buzz,
    frying_crackle,
    water_band_noise,
    speech_voice,
    vacuum_noise,
)
# Typical event lengths (seconds) per sound type, within the 0.3–9 s range of the generator.
DURATIONS: tuple[tuple[float, float], ...] = (
    (0.5, 6.0),
    (1.0, 9.0),
    (0.4, 2.5),
    (0.3, 2.0),
    (0.3, 2.0),
    (1.0, 9.0),
    (2.0, 9.0),
    (1.0, 9.0),
    (0.5, 4.0),
    (2.0, 9.0),
)


def make_sound(index: int, rng: Generator, n: int, sr: int) -> np.ndarray:
    """``n`` samples of sound type ``index % 10``, unit RMS, with short fades at both ends."""
    return _edges(_unit_rms(SOUNDS[index % len(SOUNDS)](rng, n, sr)), sr)


def background(rng: Generator, n: int, sr: int, tilt: float) -> np.ndarray:
    """Unit-RMS background noise: white noise plus its low-passed version, darker as ``tilt`` goes 0 → 1."""
    white = rng.standard_normal(n)
    dark = lfilter([1.0], [1.0, -0.97], white)  # one-pole low-pass, ~80 Hz corner at 16 kHz
    return _unit_rms((1 - tilt) * white + tilt * 0.1 * dark)

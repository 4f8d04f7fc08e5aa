"""A synthetic dataset in the DESED folder layout: every audio folder and metadata file the configs expect.

Clips are 10 s at 16 kHz: background noise plus 1–3 events of distinct synthetic sound types (one per class,
see :mod:`desed_task.data.sounds`) at random onsets, durations (0.3–9 s) and levels, overlapping at times.
Output is deterministic for a seed. ``tiny`` takes seconds (tests), ``demo`` feeds the CPU demo.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import soundfile as sf

from desed_task.data.label_encoder import DESED_CLASSES
from desed_task.data.sounds import DURATIONS, background, make_sound

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
CLIP_SECONDS = 10.0

# Clips per subset and preset; tune here.
PRESETS: dict[str, dict[str, int]] = {
    "tiny": {
        "synth_train": 8,
        "strong_train": 8,
        "weak": 10,
        "unlabeled": 8,
        "synth_val": 4,
        "strong_val": 4,
        "test": 4,
    },
    "demo": {
        "synth_train": 300,
        "strong_train": 150,
        "weak": 150,
        "unlabeled": 300,
        "synth_val": 60,
        "strong_val": 40,
        "test": 100,
    },
}


@dataclass(frozen=True)
class Subset:
    """Where a subset's audio and metadata go, and what metadata it gets."""

    key: str
    audio: str
    labels: Literal["strong", "weak", "none"]
    tsv: str | None = None
    durations: str | None = None
    real: bool = True  # "real" subsets get YouTube-like names and a different background than synthetic ones


SUBSETS = (
    Subset(
        "synth_train",
        "audio/train/synthetic21_train/soundscapes_16k",
        "strong",
        "metadata/train/synthetic21_train/soundscapes.tsv",
        real=False,
    ),
    Subset("strong_train", "audio/train/strong_label_real_16k", "strong", "metadata/train/audioset_strong_train.tsv"),
    Subset("weak", "audio/train/weak_16k", "weak", "metadata/train/weak.tsv"),
    Subset("unlabeled", "audio/train/unlabel_in_domain_16k", "none"),
    Subset(
        "synth_val",
        "audio/validation/synthetic21_validation/soundscapes_16k",
        "strong",
        "metadata/validation/synthetic21_validation/soundscapes.tsv",
        "metadata/validation/synthetic21_validation/durations.tsv",
        real=False,
    ),
    Subset(
        "strong_val",
        "audio/train/strong_label_real_16k",
        "strong",
        "metadata/validation/audioset_strong_val.tsv",
        "metadata/validation/audioset_strong_val_dur.tsv",
    ),
    Subset(
        "test",
        "audio/validation/validation_16k",
        "strong",
        "metadata/validation/validation.tsv",
        "metadata/validation/validation_durations.tsv",
    ),
)


def _clip_name(rng: np.random.Generator, subset: Subset, index: int) -> str:
    if not subset.real:
        return f"{index}.wav"
    alphabet = np.array(list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"))
    start = int(rng.integers(0, 300))
    return f"Y{''.join(rng.choice(alphabet, 11))}_{start:.3f}_{start + CLIP_SECONDS:.3f}.wav"


def synth_clip(
    rng: np.random.Generator, n_classes: int, real: bool
) -> tuple[np.ndarray, list[tuple[float, float, int]]]:
    """(samples,) float32 clip and its events (onset, offset, class index), onsets sorted."""
    n = int(CLIP_SECONDS * SAMPLE_RATE)
    tilt = rng.uniform(0.6, 1.0) if real else rng.uniform(0.2, 0.6)
    mix = background(rng, n, SAMPLE_RATE, tilt) * 0.01
    events = []
    n_events = int(rng.integers(1, 4))
    for cls in rng.choice(n_classes, size=min(n_events, n_classes), replace=False):
        low, high = DURATIONS[cls % len(DURATIONS)]
        duration = round(float(rng.uniform(low, high)), 3)
        onset = round(float(rng.uniform(0, CLIP_SECONDS - duration)), 3)
        start, length = int(onset * SAMPLE_RATE), int(duration * SAMPLE_RATE)
        snr_db = rng.uniform(6, 24)
        mix[start : start + length] += make_sound(int(cls), rng, length, SAMPLE_RATE) * 0.01 * 10 ** (snr_db / 20)
        events.append((onset, round(onset + duration, 3), int(cls)))
    mix *= rng.uniform(0.3, 0.9) / (np.abs(mix).max() + 1e-9)
    return mix.astype(np.float32), sorted(events)


def make_synthetic_desed(
    out_dir: str | Path,
    preset: Literal["tiny", "demo"] = "demo",
    seed: int = 0,
    labels: Sequence[str] = DESED_CLASSES,
    progress: bool = True,
) -> Path:
    """Write the synthetic dataset under ``out_dir`` (audio/ and metadata/ as in DESED); returns ``out_dir``.

    Set ``data.root`` of a configuration to the returned folder. Class ``i`` of ``labels`` gets sound type
    ``i % 10``. Files already there are overwritten.
    """
    from tqdm.auto import tqdm

    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    labels = list(labels)
    if not labels:
        raise ValueError("make_synthetic_desed needs at least one class label")
    out_dir = Path(out_dir)
    sizes = PRESETS[preset]
    rng = np.random.default_rng(seed)
    used: set[str] = set()
    bar = tqdm(total=sum(sizes.values()), desc=f"synthetic DESED ({preset})", unit="clip", disable=not progress)
    for subset in SUBSETS:
        folder = out_dir / subset.audio
        folder.mkdir(parents=True, exist_ok=True)
        strong_rows, weak_rows, duration_rows = [], [], []
        for index in range(sizes[subset.key]):
            name = _clip_name(rng, subset, index)
            while (folder / name).as_posix() in used:  # strong train and validation share a folder
                name = _clip_name(rng, subset, index)
            used.add((folder / name).as_posix())
            audio, events = synth_clip(rng, len(labels), subset.real)
            sf.write(folder / name, audio, SAMPLE_RATE, subtype="PCM_16")
            strong_rows += [(name, onset, offset, labels[cls]) for onset, offset, cls in events]
            weak_rows.append((name, ",".join(labels[c] for c in sorted({cls for _, _, cls in events}))))
            duration_rows.append((name, CLIP_SECONDS))
            bar.update()
        _write_metadata(out_dir, subset, strong_rows, weak_rows, duration_rows)
    bar.close()
    log.info("synthetic DESED (%s, seed %d) written to %s", preset, seed, out_dir)
    return out_dir


def _write_metadata(out_dir: Path, subset: Subset, strong_rows: list, weak_rows: list, duration_rows: list) -> None:
    if subset.tsv is not None:
        path = out_dir / subset.tsv
        path.parent.mkdir(parents=True, exist_ok=True)
        if subset.labels == "strong":
            table = pd.DataFrame(strong_rows, columns=["filename", "onset", "offset", "event_label"])
        else:
            table = pd.DataFrame(weak_rows, columns=["filename", "event_labels"])
        table.to_csv(path, sep="\t", index=False, float_format="%.3f")
    if subset.durations is not None:
        path = out_dir / subset.durations
        path.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(duration_rows, columns=["filename", "duration"]).to_csv(
            path, sep="\t", index=False, float_format="%.3f"
        )

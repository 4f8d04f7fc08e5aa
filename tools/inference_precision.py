"""bf16 against float32 inference, measured where users run it: end-to-end speed of
``SoundEventDetector`` at batch 1 and 8, and what bf16 does to a trained model's scores and PSDS.

Speed is measured on a full-size network with random weights (the arithmetic does not depend on the weights):
one recording of ``n_chunks`` × 10 s cut with a 10 s hop, so that every chunk is one clip and batch 8 is one
forward pass of 8 clips; resampling, both front-ends, the network, merging and decoding all count. The two
precisions alternate round by round and each keeps its best round, so a busy moment on a shared machine cannot
favour either. The scores of a checkpoint are compared on a folder of recordings: the largest score difference
and PSDS1/PSDS2 of both precisions against a ground truth.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from desed_task.data import DESED_CLASSES, LabelEncoder
from desed_task.data.tables import clip_id_of
from desed_task.features import SEDFrontend
from desed_task.inference.detector import SoundEventDetector
from desed_task.inference.precision import autocast, native_bf16
from desed_task.nnet import CRNN, SEDModel

SAMPLE_RATE = 16000
CLIP_SECONDS = 10.0


def full_size_network() -> CRNN:
    """The recipe's stage-2 network (``confs/stage2.yaml``) with random weights."""
    from desed_task.experiment.builders import build_network
    from tools.stage2_step import stage2_config

    return build_network(stage2_config())


def full_size_detector(precision: str, batch_size: int, network: CRNN) -> SoundEventDetector:
    """A detector of ``network`` with the DESED classes and a 10 s hop, so that every chunk is one clip."""
    model = SEDModel(network, SEDFrontend(), LabelEncoder(DESED_CLASSES))
    return SoundEventDetector(
        model, median_window=7, hop=CLIP_SECONDS, batch_size=batch_size, device="cpu", precision=precision
    )


def clips_per_second(
    make_detector: Callable[[str, int], SoundEventDetector],
    batches: Sequence[int] = (1, 8),
    n_chunks: int = 8,
    rounds: int = 3,
    precisions: Sequence[str] = ("fp32", "bf16"),
) -> dict[str, float]:
    """Best end-to-end clips/s of each precision at each batch: ``{"fp32_bs1": .., "bf16_bs1": .., ...}``."""
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal(int(n_chunks * CLIP_SECONDS * SAMPLE_RATE))).astype(np.float32)
    detectors = {(p, b): make_detector(p, b) for p in precisions for b in batches}
    for detector in detectors.values():  # warm-up: oneDNN picks and caches its kernels on the first calls
        detector(audio[: int(CLIP_SECONDS * SAMPLE_RATE) * detector.batch_size], sample_rate=SAMPLE_RATE)
    best = {key: 0.0 for key in detectors}
    for _ in range(rounds):
        for key, detector in detectors.items():
            start = time.perf_counter()
            detector(audio, sample_rate=SAMPLE_RATE)
            best[key] = max(best[key], n_chunks / (time.perf_counter() - start))
    return {f"{p}_bs{b}": value for (p, b), value in best.items()}


def network_profile(precision: str, network: CRNN, top: int = 8, batch: int = 1) -> list[dict[str, Any]]:
    """The ``top`` operators of one forward of ``network`` by self CPU time (torch profiler), in ``precision``:
    where bf16 gains or loses against float32."""
    from torch.profiler import ProfilerActivity, profile

    detector = full_size_detector(precision, batch, network)
    audio = torch.from_numpy(
        (0.1 * np.random.default_rng(0).standard_normal((batch, int(CLIP_SECONDS * SAMPLE_RATE)))).astype(np.float32)
    )
    with torch.inference_mode():
        sed, encoder = detector.sed_frontend(audio), detector.encoder_frontend(audio)
        with autocast(detector.device, detector.precision):
            detector.network(sed, encoder)  # warm-up
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                detector.network(sed, encoder)
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events)
    return [
        {"op": e.key, "self_ms": e.self_cpu_time_total / 1e3, "share": e.self_cpu_time_total / total, "calls": e.count}
        for e in events[:top]
    ]


def score_folder(detector: SoundEventDetector, files: Sequence[Path]) -> dict[str, pd.DataFrame]:
    """Score tables of ``files`` after the checkpoint's median filter (what the test stage scores PSDS on), keyed
    by clip id, in the layout sed_scores_eval reads."""
    return {clip_id_of(path.name): detector(path).score_table() for path in files}


def compare_checkpoint_scores(
    checkpoint: str | Path,
    audio_folder: str | Path,
    ground_truth: str | Path,
    durations: str | Path,
    model: str = "teacher",
) -> dict[str, Any]:
    """PSDS1/PSDS2 of a checkpoint's ``model`` on ``audio_folder`` in float32 and bf16 (median-filtered scores, as
    the test stage scores them), and the largest difference between their frame scores."""
    from desed_task.evaluation.psds import psds_sed_scores_eval

    files = sorted(Path(audio_folder).glob("*.wav"))
    if not files:
        raise FileNotFoundError(f"no .wav files in {audio_folder}")
    tables = {
        p: score_folder(SoundEventDetector.from_checkpoint(checkpoint, model=model, device="cpu", precision=p), files)
        for p in ("fp32", "bf16")
    }
    max_diff = max(
        float(np.abs(tables["fp32"][c].to_numpy() - tables["bf16"][c].to_numpy()).max()) for c in tables["fp32"]
    )
    out: dict[str, Any] = {"clips": len(files), "max_score_diff": max_diff}
    for precision, scores in tables.items():
        for key, value in psds_sed_scores_eval(scores, ground_truth, durations).items():
            out[f"{key}_{precision}"] = value
    for key in ("psds1", "psds2"):
        out[f"delta_{key}"] = out[f"{key}_bf16"] - out[f"{key}_fp32"]
    return out


def measure(
    checkpoint: str | Path | None = None,
    audio_folder: str | Path | None = None,
    ground_truth: str | Path | None = None,
    durations: str | Path | None = None,
    rounds: int = 3,
    n_chunks: int = 8,
    profile_top: int = 0,
) -> dict[str, Any]:
    """Speed of both precisions on the full-size network (and, with ``profile_top``, each precision's costliest
    operators) and, given a checkpoint and a test set, its scores."""
    native, why = native_bf16(torch.device("cpu"))
    results: dict[str, Any] = {"native_bf16": native, "why": why, "threads": torch.get_num_threads()}
    network = full_size_network()  # one network for every precision and batch: the same weights are timed
    speed = clips_per_second(partial(full_size_detector, network=network), n_chunks=n_chunks, rounds=rounds)
    results["clips_per_s"] = speed
    results["speedup"] = {f"bs{b}": speed[f"bf16_bs{b}"] / speed[f"fp32_bs{b}"] for b in (1, 8)}
    if profile_top:
        results["profile_bs1"] = {p: network_profile(p, network, profile_top) for p in ("fp32", "bf16")}
    if checkpoint is not None:
        results["scores"] = compare_checkpoint_scores(checkpoint, audio_folder, ground_truth, durations)
    return results

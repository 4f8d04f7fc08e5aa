"""``python -m desed_task.inference``: detect sound events in recordings with a trained checkpoint.

All inputs are checked and every recording is processed before anything is written, so a failure leaves no
half-written table or plots behind; the exit code is 0 on success, 1 on an error, 2 on a usage error.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

log = logging.getLogger("desed_task.inference")

DESCRIPTION = """\
Detect sound events in audio files of any length, sample rate and channel count with an ATST-SED checkpoint.
Each recording is cut into 10 s chunks (one every --hop seconds, the last zero-padded), scored with the
features and network of training, the chunks' frame scores averaged where they overlap, median-filtered
per class and thresholded into events. Events of all files go into one DESED-format table
(filename, onset, offset, event_label; seconds)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m desed_task.inference", description=DESCRIPTION)
    parser.add_argument("audio", nargs="+", type=Path, metavar="AUDIO",
                        help="audio files (WAV, FLAC, OGG, ... anything libsndfile reads)")
    parser.add_argument("--checkpoint", required=True, type=Path, metavar="CKPT",
                        help="stage checkpoint written by training (train/train_stage1.py or train_stage2.py)")
    parser.add_argument("--config", type=Path, metavar="YAML",
                        help="training configuration to build the network from (default: the one stored in the "
                             "checkpoint); its classes, features, net and median windows are used")
    parser.add_argument("--model", choices=("teacher", "student"), default="teacher",
                        help="which network of the checkpoint to use (default: teacher)")
    parser.add_argument("--tsv", type=Path, metavar="OUT.tsv",
                        help="write the events of all files to this tab-separated file (default: print them)")
    parser.add_argument("--plot", type=Path, metavar="OUT.png",
                        help="write a PNG per file: log-mel spectrogram above the event roll; with several files "
                             "each gets OUT_<file stem>.png")
    parser.add_argument("--threshold", default="0.5", metavar="T",
                        help="score threshold: one value for all classes or one per class, comma-separated in "
                             "class order (default: 0.5)")
    parser.add_argument("--hop", type=float, default=3.0, metavar="SECONDS",
                        help="hop between the starts of consecutive 10 s chunks, at most 10; rounded to whole "
                             "output frames of 0.064 s (default: 3)")
    parser.add_argument("--batch-size", type=int, default=8, metavar="N",
                        help="chunks processed together; memory grows with it, not with the recording (default: 8)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default=None,
                        help="where the network runs (default: cuda when available, else cpu)")
    parser.add_argument("--quiet", action="store_true", help="only errors on stderr, no progress")
    return parser


def _thresholds(text: str) -> list[float]:
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        raise ValueError(f"--threshold must be a number or comma-separated numbers, got {text!r}") from None
    return values


def _unique_names(paths: Sequence[Path]) -> list[str]:
    """File names for the table: the base name, or the path as given where two inputs share a base name."""
    names = [path.name for path in paths]
    return [str(path) if names.count(path.name) > 1 else path.name for path in paths]


def plot_paths(plot: Path, audio: Sequence[Path]) -> list[Path]:
    """One PNG per input: ``plot`` itself for one file, ``<plot stem>_<audio stem>.png`` for several."""
    if len(audio) == 1:
        return [plot]
    stems = [path.stem for path in audio]
    out = []
    for i, stem in enumerate(stems):
        name = stem if stems.count(stem) == 1 else f"{stem}_{i + 1}"
        out.append(plot.with_name(f"{plot.stem}_{name}{plot.suffix or '.png'}"))
    return out


def write_table_atomically(table: pd.DataFrame, path: Path) -> None:
    """The tsv appears complete or not at all (written under a temporary name, then renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".tsv", prefix=f".{path.stem}.", dir=path.parent)
    os.close(fd)
    try:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.3f")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _check_inputs(audio: Sequence[Path]) -> list[str]:
    from desed_task.data.audio import AudioError, audio_info

    problems = []
    for path in audio:
        try:
            audio_info(path)
        except AudioError as err:
            problems.append(str(err) if path.exists() else f"audio file not found: {path}")
    return problems


def run(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from desed_task.data.audio import AudioError
    from desed_task.experiment.config import ConfigError
    from desed_task.inference.detector import SoundEventDetector
    from desed_task.inference.plot import plot_detection
    from desed_task.nnet import CheckpointError

    problems = _check_inputs(args.audio)
    if problems:
        for problem in problems:
            log.error("error: %s", problem)
        log.error("nothing written: fix or leave out the files above")
        return 1
    try:
        import torch

        if args.device == "cuda" and not torch.cuda.is_available():
            raise ValueError("--device cuda was asked for but no CUDA device is available; use --device cpu")
        detector = SoundEventDetector.from_checkpoint(
            args.checkpoint, config=args.config, model=args.model, device=args.device,
            threshold=_thresholds(args.threshold), hop=args.hop, batch_size=args.batch_size,
        )
        names = _unique_names(args.audio)
        detections = []
        progress = tqdm(list(zip(args.audio, names)), desc="detecting", unit="file",
                        disable=args.quiet or len(args.audio) < 2)
        for path, name in progress:
            detections.append(detector(path, filename=name, keep_spectrogram=args.plot is not None))
    except (AudioError, CheckpointError, ConfigError, ValueError, TypeError) as err:
        log.error("error: %s", err)
        log.error("nothing written")
        return 1

    columns = ["filename", "onset", "offset", "event_label"]
    table = pd.concat([d.events[columns] for d in detections], ignore_index=True) if detections else None
    if args.tsv is not None:
        write_table_atomically(table, args.tsv)
        log.info("%d events in %d files written to %s", len(table), len(detections), args.tsv)
    else:
        table.to_csv(sys.stdout, sep="\t", index=False, float_format="%.3f")
    if args.plot is not None:
        for detection, path in zip(detections, plot_paths(args.plot, args.audio)):
            plot_detection(detection, path)
            log.info("plot written to %s", path)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.batch_size < 1:
        build_parser().error(f"--batch-size must be at least 1, got {args.batch_size}")
    logging.basicConfig(level=logging.ERROR if args.quiet else logging.INFO, format="%(message)s", stream=sys.stderr)
    return run(args)

"""``python -m desed_task.inference``: detect sound events in recordings with a trained checkpoint.

Order of work: every output path is checked, the checkpoint (and post-processing parameters) loaded, every input
read once and checked, then the recordings are scored and all outputs written together at the end (temporary
files renamed into place), so a failure leaves no half-written table or plot behind. A user error (a bad path,
file, option or checkpoint) is one line on stderr and exit status 2; anything else is a bug and keeps its
traceback. Exit status 3: ``--keep_going`` skipped unusable files, the others' results were written. 130: an
interrupt (SIGINT, SIGTERM); the temporary files are removed and nothing is written.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from desed_task.command_parser import CommandParser

log = logging.getLogger("desed_task.inference")

EXIT_USER_ERROR = 2
EXIT_SKIPPED = 3
COLUMNS = ["filename", "onset", "offset", "event_label"]

DESCRIPTION = """\
Detect sound events in audio files of any length, sample rate and channel count with an ATST-SED checkpoint.
Each recording is cut into 10 s chunks (one every --hop seconds, the last zero-padded), scored with the
features and network of training, the chunks' frame scores averaged where they overlap, median-filtered
per class and thresholded into events (or decoded with tuned --postprocess parameters). Events of all files go
into one DESED-format table (filename, onset, offset, event_label; seconds).

Outputs are checked before any work: an output that is (or would overwrite, or holds) an input is refused.

exit status: 0 success; 2 a user error (bad path, file, option, checkpoint or parameter file, or an output
that overlaps an input), one line on stderr and nothing written; 3 --keep_going skipped unusable files (listed
on stderr), the rest was written; 130 interrupted (SIGINT, SIGTERM), one line on stderr and nothing written."""


def _thresholds(text: str) -> list[float]:
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"a number or comma-separated numbers, got {text!r}") from None


def _positive_int(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"a whole number of at least 1, got {text!r}")
    return int(text)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"a positive number of seconds, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="python -m desed_task.inference",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "audio",
        nargs="+",
        type=Path,
        metavar="AUDIO",
        help="audio files (WAV, FLAC, OGG, ... anything libsndfile reads) or folders, searched "
        "recursively for audio files (taken in sorted order)",
    )
    parser.add_argument(
        "--checkpoint",
        required=True,
        type=Path,
        metavar="CKPT",
        help="stage checkpoint written by training (train/train_stage1.py or train_stage2.py)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        metavar="YAML",
        help="training configuration to build the network from (default: the one stored in the "
        "checkpoint); its classes, features, net and median windows are used",
    )
    parser.add_argument(
        "--model",
        choices=("teacher", "student"),
        default="teacher",
        help="which network of the checkpoint to use (default: teacher)",
    )
    parser.add_argument(
        "--tsv",
        type=Path,
        metavar="OUT.tsv",
        help="write the events of all files to this tab-separated file (default: print them)",
    )
    parser.add_argument(
        "--plot",
        type=Path,
        metavar="OUT.png",
        help="write a PNG per file: log-mel spectrogram above the event roll; with several files "
        "each gets OUT_<file name>.png",
    )
    parser.add_argument(
        "--threshold",
        type=_thresholds,
        default=[0.5],
        metavar="T",
        help="threshold: one value for all classes or one per class, comma-separated in class "
        "order (default: 0.5); on frame scores, or on box confidences with cSEBB parameters",
    )
    parser.add_argument(
        "--postprocess",
        type=Path,
        metavar="PARAMS.json",
        help="decode with tuned parameters written by python -m desed_task.postprocess tune: "
        "median windows per class replace the checkpoint's, or cSEBB boxes are thresholded "
        "on their confidence (needs the optional package sebbs: "
        "pip install --no-deps 'sebbs==1.0.2')",
    )
    parser.add_argument(
        "--hop",
        type=_positive_float,
        default=3.0,
        metavar="SECONDS",
        help="hop between the starts of consecutive 10 s chunks, at most 10; rounded to whole "
        "output frames of 0.064 s (default: 3)",
    )
    parser.add_argument(
        "--batch_size",
        "--batch-size",
        type=_positive_int,
        default=8,
        metavar="N",
        help="chunks processed together; memory grows with it, not with the recording (default: 8)",
    )
    parser.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default=None,
        help="where the network runs (default: cuda when available, else cpu)",
    )
    parser.add_argument(
        "--precision",
        choices=("fp32", "bf16", "auto"),
        default="auto",
        help="the network's arithmetic: fp32, bf16 (autocast; features stay float32), or auto: "
        "bf16 where the device has native bf16 (CUDA GPUs with bf16, CPUs with AVX512-BF16 or "
        "AMX), else fp32 (default: auto; docs/inference.md)",
    )
    parser.add_argument(
        "--keep_going",
        "--keep-going",
        action="store_true",
        help="skip unusable audio files instead of stopping: the others are processed and "
        "written, the skipped ones listed at the end, and the exit status is 3",
    )
    parser.add_argument("--quiet", action="store_true", help="only errors on stderr, no progress")
    return parser


def plot_paths(plot: Path, names: Sequence[str]) -> list[Path]:
    """One PNG per input: ``plot`` itself for one file, ``<plot stem>_<name>.png`` for several (the table name
    without its extension, folders joined by ``_``; a number added where that still collides)."""
    if len(names) == 1:
        return [plot]
    stems = [os.path.splitext(str(name))[0].replace("/", "_") for name in names]
    out = []
    for i, stem in enumerate(stems):
        name = stem if stems.count(stem) == 1 else f"{stem}_{i + 1}"
        out.append(plot.with_name(f"{plot.stem}_{name}{plot.suffix or '.png'}"))
    return out


def _outputs(args: argparse.Namespace, names: Sequence[str]) -> list[tuple[Path, str]]:
    outputs = [] if args.tsv is None else [(args.tsv, "the --tsv table")]
    if args.plot is not None:
        outputs += [(path, "the --plot picture") for path in plot_paths(args.plot, names)]
    return outputs


def _inputs(args: argparse.Namespace, files: Sequence[Path]) -> list[tuple[Path, str]]:
    """Every path the command reads: the audio (files and the folders given), checkpoint, configuration and
    post-processing parameters."""
    inputs = [(path, "audio folder" if path.is_dir() else "audio file") for path in args.audio]
    inputs += [(path, "audio file") for path in files]
    inputs += [
        (path, flag)
        for path, flag in (
            (args.checkpoint, "--checkpoint"),
            (args.config, "--config"),
            (args.postprocess, "--postprocess"),
        )
        if path is not None
    ]
    return inputs


def _detector(args: argparse.Namespace):
    import torch

    from desed_task.inference.detector import SoundEventDetector
    from desed_task.inference.inference_error import InferenceError

    if args.device == "cuda" and not torch.cuda.is_available():
        raise InferenceError("--device cuda was asked for but no CUDA device is available; use --device cpu")
    detector = SoundEventDetector.from_checkpoint(
        args.checkpoint,
        config=args.config,
        model=args.model,
        device=args.device,
        threshold=args.threshold,
        hop=args.hop,
        batch_size=args.batch_size,
        precision=args.precision,
        postprocess=args.postprocess,
    )
    log.info("precision: %s (%s) on %s", detector.precision, detector.precision_reason, detector.device)
    log.info("decoding: %s", detector.decoder.description)
    return detector


def run(args: argparse.Namespace) -> int:
    """Check, load, score and write; raises the project's errors for user errors (see ``main``)."""
    import pandas as pd
    from tqdm.auto import tqdm

    from desed_task.data.audio import AudioError
    from desed_task.inference.recordings import check_inputs, expand_inputs, table_names
    from desed_task.inference.plot import detection_figure, save_png
    from desed_task.output_files import AtomicOutputs, check_separate

    files, folder_problems = expand_inputs(args.audio)
    names = table_names(files)
    outputs = _outputs(args, names)
    check_separate(outputs, _inputs(args, files))
    with AtomicOutputs(outputs) as written:
        detector = _detector(args)
        problems = check_inputs(files)
        bad = [*folder_problems, *problems.values()]
        good = [(f, n) for f, n in zip(files, names) if f not in problems]
        if bad and (not args.keep_going or not good):
            if len(bad) == 1:
                advice = "" if args.keep_going else " (fix it or leave it out, or pass --keep_going to skip it)"
                log.error("error: %s; nothing written%s", bad[0], advice)
                return EXIT_USER_ERROR
            for problem in bad:
                log.error("error: %s", problem)
            advice = "" if args.keep_going else " (fix them or leave them out, or pass --keep_going to skip them)"
            log.error("error: %d unusable inputs; nothing written%s", len(bad), advice)
            return EXIT_USER_ERROR
        plots = dict(zip(files, plot_paths(args.plot, names))) if args.plot is not None else {}
        tables = []
        progress = tqdm(good, desc="detecting", unit="file", disable=args.quiet or len(good) < 2)
        for path, name in progress:
            try:
                detection = detector(path, filename=name, keep_spectrogram=path in plots)
            except AudioError as error:
                if not args.keep_going:
                    raise
                bad.append(str(error))
                continue
            tables.append(detection.events[COLUMNS])
            if path in plots:
                figure = detection_figure(detection)
                written.write(plots[path], lambda temporary: save_png(figure, temporary))
        table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=COLUMNS)
        if args.tsv is not None:
            written.write(
                args.tsv, lambda temporary: table.to_csv(temporary, sep="\t", index=False, float_format="%.3f")
            )
    if args.tsv is None:
        table.to_csv(sys.stdout, sep="\t", index=False, float_format="%.3f")
    done = len(tables)
    log.info("%d events in %d file(s)%s", len(table), done, f" written to {args.tsv}" if args.tsv else "")
    if bad:
        for problem in bad:
            log.error("skipped: %s", problem)
        log.error(
            "error: %d unusable input(s) skipped (--keep_going); the results of the other %d written", len(bad), done
        )
        return EXIT_SKIPPED
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    from desed_task.data.audio import AudioError
    from desed_task.config.files import ConfigError
    from desed_task.inference.inference_error import InferenceError
    from desed_task.nnet import CheckpointError
    from desed_task.output_files import EXIT_INTERRUPTED, Interrupted, OutputError, handle_interrupts
    from desed_task.postprocess.postprocess_errors import MissingExtraError, PostprocessError

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.ERROR if args.quiet else logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        with handle_interrupts():
            return run(args)
    except (
        AudioError,
        CheckpointError,
        ConfigError,
        InferenceError,
        OutputError,
        PostprocessError,
        MissingExtraError,
    ) as error:
        log.error("error: %s; nothing written", error)
        return EXIT_USER_ERROR
    except Interrupted as stop:
        log.error("interrupted by %s; nothing written (temporary files removed)", stop.signal_name)
        return EXIT_INTERRUPTED

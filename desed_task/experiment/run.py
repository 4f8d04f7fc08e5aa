"""Command line of ``train/train_stage1.py`` and ``train/train_stage2.py``: train, resume, test, evaluate.

A user's mistake (a bad configuration value, a missing data path or checkpoint, a table or audio file that can't
be used) stops the command with one line on stderr and exit status 2, before anything is written where the
configuration and the paths can be checked up front. Anything else is a bug of this program and keeps its
traceback (exit status 1): only this project's own error classes are caught, never ValueError or TypeError.
SIGINT or SIGTERM stops the run with exit status 130 and one line naming the ``last.ckpt`` to resume from; an
interrupted test stage leaves no half ``test/`` folder.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from pathlib import Path
from typing import Any, NoReturn, Sequence

import yaml

from desed_task.command_parser import CommandParser
from desed_task.data.audio import AudioError
from desed_task.data.folder import DataError
from desed_task.data.tables import TableError
from desed_task.config.files import ConfigError, read_yaml, resolve_yaml, yaml_problem
from desed_task.experiment.flag_checks import check_log_dir, check_mode_flags, check_resume_checkpoint
from desed_task.experiment.paths import check_paths, run_mode
from desed_task.experiment.metrics_table import format_metrics_table
from desed_task.experiment.resume import resolve_resume, resume_hint
from desed_task.nnet.checkpoints import CheckpointError
from desed_task.output_files import EXIT_INTERRUPTED, Interrupted, OutputError, handle_interrupts

log = logging.getLogger("desed_task")

STAGE2_OVERRIDES = {
    "lr": (
        "opt.encoder_lr",
        float,
        "maximum learning rate of the encoder's top group (opt.encoder_lr); lower groups decay by opt.encoder_lr_scale",
    ),
    "tfm_lr_scale": (
        "opt.encoder_lr_scale",
        float,
        "layer-wise learning-rate decay of the encoder (opt.encoder_lr_scale)",
    ),
    "loss_weight": (
        "training.consistency_weight_max",
        float,
        "maximum consistency-loss weight (training.consistency_weight_max)",
    ),
    "warmup": ("training.n_epochs_warmup", int, "ramp-up length in epochs (training.n_epochs_warmup)"),
    "ema": ("training.ema_factor", float, "teacher EMA factor (training.ema_factor)"),
}


# This project's error classes for what the user can fix, each with the label of its one-line message.
USER_ERRORS: tuple[tuple[type[Exception], str], ...] = (
    (ConfigError, "configuration error"),
    (CheckpointError, "checkpoint error"),
    (TableError, "data error"),
    (DataError, "data error"),
    (AudioError, "data error"),
    (OutputError, "output error"),
)
EXIT_USER_ERROR = 2


_EXPONENT_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def parse_setting(text: str) -> tuple[str, Any]:
    """``--set KEY=VALUE``: the dotted key and the value read as YAML (``10`` an integer, ``1e-3`` a number,
    ``[4, 4, 8, 8]`` a list, ``null`` None, ``bf16-mixed`` a string)."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key or not all(key.split(".")):
        raise argparse.ArgumentTypeError(
            f"expected KEY=VALUE with a dotted key, e.g. training.n_epochs=10, got {text!r}"
        )
    if _EXPONENT_NUMBER.fullmatch(value.strip()):
        return key, float(value)  # YAML 1.1 (PyYAML) reads 1e-3 as a string
    try:
        return key, yaml.safe_load(value)
    except yaml.YAMLError as err:
        raise argparse.ArgumentTypeError(f"{key}: the value {value!r} is not valid YAML: {yaml_problem(err)}") from None


def build_parser(stage: int, default_conf: str | Path | None = None) -> argparse.ArgumentParser:
    """The stage's flags; ``--conf_file`` defaults to ``default_conf`` (the training scripts pass the
    ``confs/stageN.yaml`` beside them), and is required without one."""
    parser = CommandParser(
        description=f"ATST-SED stage {stage}: train the mean-teacher SED model, or test/evaluate a checkpoint. "
        "A configuration, data or checkpoint error stops it with one line and exit status 2. "
        "At most one of the *_from_checkpoint flags: each chooses what the run does.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    if default_conf is None:
        parser.add_argument("--conf_file", required=True, help="YAML configuration (see confs/)")
    else:
        parser.add_argument("--conf_file", default=str(default_conf), help="YAML configuration (see confs/)")
    parser.add_argument(
        "--log_dir",
        default=f"./exp/stage{stage}",
        help="experiment folder: TensorBoard logs, checkpoints, scores and metrics go below it",
    )
    parser.add_argument(
        "--gpus", default="0,", help="'0,' = first GPU, '0,1' = two GPUs (DDP); empty or 'cpu' = run on the CPU"
    )
    parser.add_argument(
        "--resume_from_checkpoint",
        default=None,
        help="continue an interrupted run from this Lightning checkpoint (weights of student and "
        "teacher, optimiser, scheduler and step), in a new version_N folder; 'last' = the "
        "last.ckpt of the newest version_N under --log_dir that has one (written at the end "
        "of every training epoch)",
    )
    parser.add_argument(
        "--test_from_checkpoint",
        default=None,
        help="skip training: test this checkpoint (published or ours) on data.test_* of the config",
    )
    parser.add_argument(
        "--eval_from_checkpoint",
        default=None,
        help="skip training: score every clip of data.eval_folder with this checkpoint (no metrics)",
    )
    parser.add_argument(
        "--validate_from_checkpoint",
        default=None,
        help="skip training: score the validation sets with this checkpoint and write their raw score "
        "folders under <experiment>/validation/ (for python -m desed_task.postprocess tune)",
    )
    parser.add_argument(
        "--postprocess",
        default=None,
        metavar="PARAMS.json",
        help="override training.postprocess: also test with these tuned post-processing parameters "
        "(python -m desed_task.postprocess tune) and report their metrics beside the recipe's",
    )
    parser.add_argument(
        "--fast_dev_run",
        action="store_true",
        help="one training, validation and test batch to check the set-up; writes no checkpoint and no TensorBoard log",
    )
    parser.add_argument(
        "--num_nodes",
        type=int,
        default=None,
        help="override training.num_nodes: machines taking part in DDP training, each running "
        "one process per device of --gpus (launch with torchrun or SLURM: docs/training.md)",
    )
    parser.add_argument(
        "--accm_grad",
        type=int,
        default=None,
        help="override training.accumulate_batches: one optimiser step per N batches (gradient "
        "accumulation for small GPUs; schedules count optimiser steps)",
    )
    parser.add_argument(
        "--set",
        dest="settings",
        action="append",
        type=parse_setting,
        default=[],
        metavar="KEY=VALUE",
        help="set any configuration key, e.g. --set training.n_epochs=10 --set "
        "encoder.frontend.top_db=null (repeatable; the value is read as YAML and replaces the "
        "file's; a flag that names a key, such as --accm_grad, is applied after it)",
    )
    if stage == 2:
        for flag, (_, kind, help_text) in STAGE2_OVERRIDES.items():
            parser.add_argument(f"--{flag}", type=kind, default=None, help=f"override {help_text}")
    return parser


def parse_devices(gpus: str | None) -> tuple[str, list[int] | int]:
    """'0,' → ("gpu", [0]); '0,1' → ("gpu", [0, 1]); '' / 'cpu' / None → ("cpu", 1)."""
    text = (gpus or "").strip().lower()
    if text in ("", "cpu", "none"):
        return "cpu", 1
    try:
        ids = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as err:
        raise ConfigError(f"--gpus {gpus!r}: expected GPU indices like '0,' or '0,1', or 'cpu'") from err
    return "gpu", ids


def check_gpus_visible(ids: list[int], visible: int) -> None:
    """Stop with a message saying what to pass where ``--gpus`` asks for GPUs that torch does not see."""
    if visible == 0:
        raise ConfigError(
            f"--gpus asks for CUDA GPU(s) {ids} (the default is '0,') but torch sees none (CPU-only torch, or no "
            "driver): pass --gpus cpu to run on the CPU"
        )
    missing = [i for i in ids if not 0 <= i < visible]
    if missing:
        raise ConfigError(
            f"--gpus asks for GPU(s) {missing} but torch sees {visible} (indices 0 to {visible - 1}; "
            "CUDA_VISIBLE_DEVICES renumbers them)"
        )


def user_message(err: Exception) -> str:
    """The error's message on one line. An error raised in a DataLoader worker process comes back with the
    worker's traceback in its message (``Caught DataError in DataLoader worker process 0. Original Traceback
    ...``): only its own last line is kept."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].startswith("Caught ") and "DataLoader worker" in lines[0]:
        name = f"{type(err).__module__}.{type(err).__qualname__}: "
        return lines[-1][len(name) :] if lines[-1].startswith(name) else lines[-1]
    return " ".join(lines)


def _stop(err: Exception) -> NoReturn:
    """One line on stderr, exit status 2: the user's error, not the program's."""
    label = next(label for kind, label in USER_ERRORS if isinstance(err, kind))
    message = user_message(err)
    sys.stderr.write(f"{label}: {message}\n")
    raise SystemExit(EXIT_USER_ERROR)


def check_stage(user: dict, conf_file: str | Path, stage: int) -> None:
    """The stage comes from the script: a configuration (``user``: the file ``conf_file`` as ``read_yaml`` gives
    it, its ``base:`` files included) whose ``training.stage`` names the other stage is refused rather than
    silently overridden; one without the key takes the script's."""
    training = user.get("training")
    written = training.get("stage") if isinstance(training, dict) else None  # a malformed section: resolve_yaml's
    if written is not None and written != stage:
        raise ConfigError(
            f"{conf_file}: training.stage is {written!r} but this is train_stage{stage}.py: run the script of the "
            f"configuration's stage, or set training.stage: {stage}"
        )


def _overrides(args: argparse.Namespace, stage: int) -> dict:
    overrides = dict(args.settings)
    if overrides.get("training.stage", stage) != stage:
        raise ConfigError(
            f"--set training.stage={overrides['training.stage']!r}: this is train_stage{stage}.py: "
            f"run the script of stage {overrides['training.stage']!r}"
        )
    overrides["training.stage"] = stage
    if args.accm_grad is not None:
        overrides["training.accumulate_batches"] = args.accm_grad
    if args.num_nodes is not None:
        overrides["training.num_nodes"] = args.num_nodes
    if args.postprocess is not None:
        overrides["training.postprocess"] = args.postprocess
    if stage == 2:
        for flag, (dotted, _, _) in STAGE2_OVERRIDES.items():
            if getattr(args, flag) is not None:
                overrides[dotted] = getattr(args, flag)
    return overrides


def _checkpoint_flags(args: argparse.Namespace) -> dict[str, str | None]:
    """The four checkpoint flags by name, as given (after ``resolve_resume``: with ``last`` resolved)."""
    return {
        "--resume_from_checkpoint": args.resume_from_checkpoint,
        "--test_from_checkpoint": args.test_from_checkpoint,
        "--eval_from_checkpoint": args.eval_from_checkpoint,
        "--validate_from_checkpoint": args.validate_from_checkpoint,
    }


def _check_inputs(args: argparse.Namespace, stage: int) -> tuple[dict, tuple[str, list[int] | int], list[Path]]:
    """The configuration, devices and configuration files read (the YAML and its ``base:`` files), after every
    input of the run was checked (nothing written yet); ``--resume_from_checkpoint last`` is replaced by the path
    it names."""
    files: list[Path] = []
    user = read_yaml(Path(args.conf_file), files=files)
    check_stage(user, args.conf_file, stage)
    check_mode_flags(_checkpoint_flags(args))
    check_log_dir(args.log_dir)
    config = resolve_yaml(user, args.conf_file, _overrides(args, stage), overrides_from="--set")
    devices = parse_devices(args.gpus)
    if devices[0] == "gpu":
        import torch

        check_gpus_visible(devices[1], torch.cuda.device_count())
    args.resume_from_checkpoint = resolve_resume(args.resume_from_checkpoint, args.log_dir)
    checkpoints = _checkpoint_flags(args)
    mode = run_mode(args.test_from_checkpoint, args.eval_from_checkpoint, args.validate_from_checkpoint)
    check_paths(config, mode, checkpoints)
    if args.resume_from_checkpoint is not None:
        check_resume_checkpoint(args.resume_from_checkpoint, config)
    return config, devices, files


def main(stage: int, argv: Sequence[str] | None = None, default_conf: str | Path | None = None) -> dict:
    """Run a stage from the command line; returns the test metrics (empty when no test ran).

    User errors exit with status 2 and one line on stderr (see the module docstring).
    """
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser(stage, default_conf).parse_args(argv)
    errors = tuple(kind for kind, _ in USER_ERRORS)
    try:
        config, devices, files = _check_inputs(args, stage)
        from desed_task.experiment.pipeline import run_experiment

        with handle_interrupts():
            metrics = run_experiment(
                config,
                log_dir=args.log_dir,
                devices=devices,
                resume_from=args.resume_from_checkpoint,
                test_from=args.test_from_checkpoint,
                eval_from=args.eval_from_checkpoint,
                validate_from=args.validate_from_checkpoint,
                fast_dev_run=args.fast_dev_run,
                config_files=files,
            )
    except errors as err:
        _stop(err)
    except Interrupted as stop:
        sys.stderr.write(f"interrupted by {stop.signal_name}; {resume_hint(args.log_dir)}\n")
        raise SystemExit(EXIT_INTERRUPTED) from None
    model_metrics = {k: v for k, v in metrics.items() if k.startswith(("student/", "teacher/"))}
    if model_metrics:
        print(format_metrics_table(model_metrics, title="test metrics"))
    print(f"experiment folder: {metrics['experiment_dir']}")
    return metrics

"""Time and peak memory of stage-2 training steps, run by Lightning exactly as training runs them.

The task is built as the pipeline builds it (``resolve_config`` of ``confs/stage2.yaml``, ``build_network``,
``build_task``: a ``Stage2SEDTask``) with a random encoder (``encoder.random_init``), and a real ``Trainer`` runs
a few steps on synthetic in-memory batches of 10 s clips with the four training subsets in the recipe's order and
the stated sizes. Every step does what a training step does: front-ends, mixup of both streams, frequency warping,
student forward and backward, teacher forward, interpolation consistency, the optimiser step with the parameter
groups, the scheduler and the teacher's EMA (``on_before_optimizer_step``). Mixup and frequency warping are forced
on every step (``training.mixup_prob`` and ``training.freq_warp_prob`` 1.0; the recipe draws them with
probability 0.5 and 0.5), so every timed step is the costliest kind.

A step is timed from Lightning's ``on_train_batch_start`` to ``on_train_batch_end`` (the device synchronised at
both), after warm-up steps that are not timed; the host-to-device copy of the batch comes before
``on_train_batch_start`` and is not included. Peak memory: on a GPU the allocator's peak over the timed steps
(``torch.cuda.max_memory_allocated``); on a CPU the process's peak resident size (``ru_maxrss``), which includes
Python, torch and Lightning (``rss_before_mb`` gives their share), hence measurements run in a fresh process
(``python -m tools.stage2_step``; ``run_stage2_step`` starts one).
"""

from __future__ import annotations

import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

import torch

from desed_task.command_parser import CommandParser
from desed_task.experiment.run import parse_setting
from desed_task.output_files import write_text
from tools import REPO_ROOT
from tools.timing import describe_device, synchronize
from desed_task.training.compute import float32_matmul_precision

PAPER_BATCH = (24, 24, 48, 48)
SUBSETS = ("strong_real", "synth", "weak", "unlabeled")  # the order of training.batch_size
RECIPE = REPO_ROOT / "confs" / "stage2.yaml"
SAMPLES = 160000  # 10 s at 16 kHz
Precision = Literal["32", "bf16-mixed", "16-mixed"]
# A network small enough for tests and dry runs (seconds per step on a CPU); the numbers it gives mean nothing.
TINY_NETWORK = {
    "encoder.embed_dim": 64,
    "encoder.depth": 1,
    "encoder.num_heads": 2,
    "net.nb_filters": [4, 4, 8, 8, 8, 8, 8],
    "net.n_rnn_cell": 16,
    "net.rnn_layers": 1,
    "opt.encoder_trainable_layers": 3,  # all groups of a 1-block encoder, as the recipe's 14 are all of ViT-Base's
}


def peak_rss_mb() -> float:
    """The process's peak resident size in MB (``ru_maxrss`` is in kB on Linux, in bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def stage2_config(
    batch_sizes: tuple[int, int, int, int] = PAPER_BATCH,
    precision: Precision = "32",
    activation_checkpointing: bool = False,
    overrides: dict[str, Any] | None = None,
    recipe: Path = RECIPE,
) -> dict:
    """The recipe's stage-2 configuration (or another stage's YAML, ``recipe``) with a random encoder, the given
    batch and precision, and mixup and frequency warping on every step. ``overrides`` maps dotted keys to values
    (e.g. a smaller encoder)."""
    from desed_task.config.files import read_yaml, resolve_config, set_dotted

    user = read_yaml(recipe)
    values = {
        "training.batch_size": list(batch_sizes),
        "training.precision": precision,
        "training.mixup_prob": 1.0,
        "training.freq_warp_prob": 1.0,
        "training.num_workers": 0,
        "encoder.init": None,
        "encoder.random_init": True,
        "encoder.activation_checkpointing": activation_checkpointing,
        **(overrides or {}),
    }
    for dotted, value in values.items():
        set_dotted(user, dotted, value)
    return resolve_config(user, source=f"{recipe} (benchmark)")


def synthetic_batch(batch_sizes: tuple[int, ...], classes: int, frames: int, seed: int = 0) -> dict:
    """A collated training batch of 10 s clips of noise: strong subsets with one event each, weak clips with
    their clip labels in frame 0, unlabeled clips without labels (the layout of ``collate_clips``)."""
    generator = torch.Generator().manual_seed(seed)
    n = sum(batch_sizes)
    subsets = [name for name, size in zip(SUBSETS, batch_sizes) for _ in range(size)]
    labels = torch.zeros(n, classes, frames)  # (B, C, T)
    for i, subset in enumerate(subsets):
        cls = int(torch.randint(classes, (1,), generator=generator))
        if subset == "weak":
            labels[i, cls, 0] = 1.0
        elif subset != "unlabeled":
            start = int(torch.randint(frames // 2, (1,), generator=generator))
            labels[i, cls, start : start + frames // 4] = 1.0
    return {
        "audio": 0.1 * torch.randn(n, SAMPLES, generator=generator),  # (B, samples)
        "labels": labels,
        "clip_ids": [f"clip_{i}" for i in range(n)],
        "subsets": subsets,
    }


class _Repeat(torch.utils.data.Dataset):
    """The same collated batch ``length`` times (a loader with ``batch_size=None`` yields it as it is)."""

    def __init__(self, batch: dict, length: int) -> None:
        self.batch, self.length = batch, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        return self.batch


def _step_timer(warmup: int, device: torch.device):
    import lightning.pytorch as pl

    class StepTimer(pl.Callback):
        """Seconds of each training step after ``warmup`` steps; resets the CUDA peak at the first timed step."""

        def __init__(self) -> None:
            self.seconds: list[float] = []
            self._start = 0.0

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
            if batch_idx == warmup and device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            synchronize(device)
            self._start = time.perf_counter()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
            synchronize(device)
            if batch_idx >= warmup:
                self.seconds.append(time.perf_counter() - self._start)

    return StepTimer()


def measure_stage2_step(
    config: dict, device: Literal["cpu", "cuda"] = "cpu", devices: int = 1, warmup: int = 1, steps: int = 3
) -> dict[str, Any]:
    """Train ``warmup + steps`` stage-2 steps with a Lightning ``Trainer`` and report the timed steps.

    ``devices`` > 1 trains with DDP as training does (``pipeline.distributed_strategy``; the process must have been
    started by ``torch.distributed.run``); every process then trains on the whole stated batch, and the numbers
    are rank 0's.
    """
    import lightning.pytorch as pl

    from desed_task.experiment.builders import build_label_encoder, build_network, build_task
    from desed_task.experiment.pipeline import distributed_strategy

    rss_before = peak_rss_mb()
    pl.seed_everything(config["training"]["seed"], verbose=False)
    student = build_network(config)
    student.encoder.set_trainable_groups(config["opt"]["encoder_trainable_layers"])
    parameters = sum(p.numel() for p in student.parameters())
    batch_sizes = tuple(config["training"]["batch_size"])
    encoder = build_label_encoder(config)
    batch = synthetic_batch(batch_sizes, encoder.n_classes, encoder.n_frames)
    loader = torch.utils.data.DataLoader(_Repeat(batch, warmup + steps), batch_size=None, collate_fn=_same)
    torch_device = (
        torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0))) if device == "cuda" else torch.device("cpu")
    )
    timer = _step_timer(warmup, torch_device)
    with tempfile.TemporaryDirectory() as folder:
        task = build_task(config, folder, student)
        trainer = pl.Trainer(
            accelerator="gpu" if device == "cuda" else "cpu",
            devices=devices,
            strategy=distributed_strategy(config["training"]["backend"], devices),
            precision=config["training"]["precision"],
            max_epochs=1,
            max_steps=warmup + steps,
            limit_val_batches=0,
            num_sanity_val_steps=0,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            use_distributed_sampler=False,
            default_root_dir=folder,
            callbacks=[timer],
        )
        with float32_matmul_precision(config["training"]["matmul_precision"]):
            trainer.fit(task, train_dataloaders=loader)
    if device == "cuda":
        peak, kind = torch.cuda.max_memory_allocated(torch_device) / 2**20, "cuda_max_memory_allocated"
    else:
        peak, kind = peak_rss_mb(), "process_peak_rss"
    seconds = timer.seconds
    return {
        "device": describe_device(torch_device),
        "devices": devices,
        "precision": config["training"]["precision"],
        "batch_sizes": list(batch_sizes),
        "batch": sum(batch_sizes),
        "activation_checkpointing": config["encoder"]["activation_checkpointing"],
        **{key: config["training"][key] for key in ("matmul_precision", "compile", "adam_impl")},
        "encoder": {k: config["encoder"][k] for k in ("embed_dim", "depth", "num_heads")},
        "parameters": parameters,
        "mixup_prob": config["training"]["mixup_prob"],
        "freq_warp_prob": config["training"]["freq_warp_prob"],
        "warmup_steps": warmup,
        "step_seconds": seconds,
        "step_s_median": statistics.median(seconds) if seconds else None,
        "step_s_min": min(seconds) if seconds else None,
        "peak_memory_mb": peak,
        "peak_memory_kind": kind,
        "rss_before_mb": rss_before,
        "global_rank": trainer.global_rank,
    }


def _same(batch: dict) -> dict:
    return batch


def build_parser() -> CommandParser:
    """The command line's parser (snake_case flags; the hyphenated spelling of each is an alias)."""
    parser = CommandParser(
        prog="python -m tools.stage2_step",
        description="Time stage-2 training steps (Lightning Trainer, recipe's task, random encoder, synthetic "
        "10 s clips, mixup and frequency warping on every step) and write time and peak memory as JSON. "
        "Run from the repository root (tools/ is not part of the installed package).",
    )
    parser.add_argument("--json", type=Path, required=True, help="where to write the result")
    parser.add_argument(
        "--recipe",
        type=Path,
        default=RECIPE,
        help="the stage's YAML (default: confs/stage2.yaml; confs/stage1.yaml times stage 1's step)",
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="device to train on")
    parser.add_argument(
        "--devices",
        type=int,
        default=1,
        help="number of devices; > 1 trains with DDP and must be started by torch.distributed.run",
    )
    parser.add_argument(
        "--batch",
        type=int,
        nargs=4,
        default=list(PAPER_BATCH),
        metavar=("STRONG", "SYNTH", "WEAK", "UNLABELED"),
        help="clips of each subset per step",
    )
    parser.add_argument(
        "--precision", choices=("32", "bf16-mixed", "16-mixed"), default="32", help="Lightning precision of the trainer"
    )
    parser.add_argument(
        "--activation_checkpointing",
        "--activation-checkpointing",
        action="store_true",
        help="recompute the encoder's blocks in the backward pass (encoder.activation_checkpointing)",
    )
    parser.add_argument("--warmup", type=int, default=1, help="steps run before timing (not timed)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        type=parse_setting,
        metavar="KEY=VALUE",
        help="configuration override, e.g. encoder.depth=2 (repeatable)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Command line: measure stage-2 steps and write the result as JSON (exit 3 when the device ran out of memory,
    with ``"status": "out_of_memory"`` in the JSON)."""
    import json
    import logging

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    config = stage2_config(
        tuple(args.batch), args.precision, args.activation_checkpointing, dict(args.overrides), args.recipe
    )
    try:
        result = {"status": "ok", **measure_stage2_step(config, args.device, args.devices, args.warmup, args.steps)}
        code = 0
    except torch.cuda.OutOfMemoryError as err:
        result = {
            "status": "out_of_memory",
            "error": str(err).splitlines()[0],
            "peak_memory_mb": torch.cuda.max_memory_allocated() / 2**20,
            "batch_sizes": args.batch,
            "precision": args.precision,
            "activation_checkpointing": args.activation_checkpointing,
        }
        code = 3
    if result.get("global_rank", 0) == 0 and int(os.environ.get("RANK", 0)) == 0:
        write_text(args.json, json.dumps(result, indent=2) + "\n", "--json")
    return code


if __name__ == "__main__":
    sys.exit(main())

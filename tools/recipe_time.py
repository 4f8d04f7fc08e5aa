"""How long the full recipe (stage 1, then stage 2, each trained, validated and tested) takes on a device,
projected from measured parts (docs/performance.md, "Projected run time of the recipe").

For each stage, from its YAML (``confs/stage1.yaml``, ``confs/stage2.yaml``: ``n_epochs``, ``validation_interval``,
``batch_size``, ``batch_size_val``, ``num_workers``, ``weak_split``, ``precision``):

- training steps: ``n_epochs`` x the sampler's batches per epoch for DESED's subset sizes (``DESED_SIZES``) x the
  step time of ``stage2_step`` (Lightning Trainer, the stage's task at its batch, a random encoder; mixup and
  frequency warping forced on every step, so the projection errs on the long side);
- data loading: the real DataModule's training loader (``num_workers`` of the YAML, at most the CPU count) on a
  DESED-format folder. On a CPU the workers share the cores with training, so their time adds to the step's; on a
  GPU they overlap it, and only what exceeds the step counts (the data does not keep up);
- epoch overhead: the loader's first batch of an epoch, and the checkpoint Lightning writes every epoch
  (``last.ckpt``: student, teacher, Adam's state); logging runs inside the timed steps;
- validation (every ``validation_interval`` epochs): the forward passes of student and teacher over the validation
  clips at ``batch_size_val``, and the scoring of both models as ``EvaluationSteps`` scores them (median filter,
  score tables, PSDS1/PSDS2 with sed_scores_eval) on the synthetic validation (a table of 2,500 clips made from the
  DESED real validation's events) and on the strong real validation's ground truth (AudioSet, 373 clips);
- test (once, the best checkpoint): forward passes over the DESED real validation (1,168 clips) and the test
  stage's scoring (``eval_timing.time_test_stage``: score files, PSDS with both libraries, F1, detections).

The original ATST-SED code's run is projected from ours by scaling the training-step part by the ratio of the
original's step time to ours measured on one H200 (``ORIGINAL_STEP_RATIO``); its other parts are taken as ours.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from tools import REPO_ROOT
from tools.stage2_step import TINY_NETWORK

RECIPES = {1: REPO_ROOT / "confs" / "stage1.yaml", 2: REPO_ROOT / "confs" / "stage2.yaml"}
TESTS_DATA = REPO_ROOT / "tests" / "data"
REAL_VALIDATION = (
    TESTS_DATA / "desed_validation" / "validation.tsv",
    TESTS_DATA / "desed_validation" / "validation_durations.tsv",
)
STRONG_VALIDATION = (
    TESTS_DATA / "audioset_strong_split" / "audioset_strong_val.tsv",
    TESTS_DATA / "audioset_strong_split" / "audioset_strong_val_dur.tsv",
)

# Clips of each DESED subset. strong_real (3,000) and strong_val (373): the AudioSet split of
# /work/shared/reference/audioset_strong_split (tests/data/audioset_strong_split), distinct file names;
# test (1,168): DESED's real validation metadata (tests/data/desed_validation/validation_durations.tsv);
# synth (10,000 soundscapes of synthetic21_train), weak (1,578 rows of weak.tsv), unlabeled (14,412 in-domain
# clips) and synth_val (2,500 soundscapes of synthetic21_validation): DESED's metadata as distributed for DCASE
# 2021 task 4.
DESED_SIZES = {
    "strong_real": 3000,
    "synth": 10000,
    "weak": 1578,
    "unlabeled": 14412,
    "synth_val": 2500,
    "strong_val": 373,
    "test": 1168,
}
# Sizes of a smoke run: every part runs, in seconds; the numbers mean nothing.
SMOKE_SIZES = {"strong_real": 8, "synth": 8, "weak": 10, "unlabeled": 8, "synth_val": 24, "strong_val": 12, "test": 12}
# The original ATST-SED code's student forward + backward + teacher forward at batch 144 over ours, on one H200:
# 249 / 137 ms in bf16-mixed, 727 / 642 ms in float32.
ORIGINAL_STEP_RATIO = {"bf16-mixed": 249 / 137, "32": 727 / 642}
MODELS = 2  # student and teacher are scored at every validation and test


def steps_per_epoch(sizes: dict[str, int], batch: list[int], weak_split: float) -> int:
    """Batches per epoch the recipe's sampler gives: ``min(n_i // b_i)`` over the four training subsets, the weak
    subset holding ``weak_split`` of the weak table (``DataFrame.sample(frac=...)`` rounds)."""
    from desed_task.data.sampler import ConcatBatchSampler

    weak_train = round(sizes["weak"] * weak_split)
    subsets = [sizes["strong_real"], sizes["synth"], weak_train, sizes["unlabeled"]]
    return len(ConcatBatchSampler(subsets, batch, shuffle=False))


@dataclass(frozen=True)
class Setup:
    """What is measured: device, precision, sizes, network overrides and the steps of each timing."""

    device: str
    precision: str | None  # None: each stage's YAML
    sizes: dict[str, int]
    overrides: dict[str, Any]
    timed_batch: list[int] | None  # the batch a step is timed at (scaled to the YAML's by clip count); None: YAML's
    warmup: int
    steps: int
    loader_batches: int
    data_root: str | None  # a DESED-format folder; None: the synthetic generator's tiny preset

    @classmethod
    def for_run(
        cls,
        device: str,
        smoke: bool,
        precision: str | None,
        data_root: str | None,
        timed_batch: list[int] | None = None,
    ) -> "Setup":
        if smoke:
            return cls(device, precision, dict(SMOKE_SIZES), dict(TINY_NETWORK), [1, 1, 1, 1], 1, 1, 2, data_root)
        return cls(device, precision, dict(DESED_SIZES), {}, timed_batch, 1, 3, 8, data_root)


def stage_config(stage: int, setup: Setup) -> dict:
    """The stage's YAML as ``stage2_step`` runs it (random encoder, the setup's network overrides), at the YAML's
    batch and in the YAML's precision unless the setup names one."""
    from desed_task.config.files import read_yaml
    from tools.stage2_step import stage2_config

    training = read_yaml(RECIPES[stage]).get("training", {})
    base = read_yaml(RECIPES[1])["training"]
    batch = training.get("batch_size", base["batch_size"])
    precision = setup.precision or training.get("precision", base["precision"])
    return stage2_config(tuple(batch), precision, overrides=setup.overrides, recipe=RECIPES[stage])


def training_step(stage: int, config: dict, setup: Setup) -> dict[str, Any]:
    """Median seconds of the stage's training step (a fresh process: ``stage2_process.run_stage2_step``), timed
    at ``setup.timed_batch`` when given and scaled to the stage's batch by the clip count."""
    from tools.stage2_process import run_stage2_step

    batch = list(config["training"]["batch_size"])
    timed = setup.timed_batch or batch
    run = run_stage2_step(
        device=setup.device,
        batch=tuple(timed),
        precision=config["training"]["precision"],
        overrides=setup.overrides,
        warmup=setup.warmup,
        steps=setup.steps,
        recipe=RECIPES[stage],
    )
    if run.get("status") != "ok":
        raise RuntimeError(f"stage-{stage} step measurement failed: {run.get('output_tail') or run}")
    # A step's work grows with its clips; a smaller timed batch is scaled to the stage's by their count.
    scale = sum(batch) / sum(timed)
    return {
        "step_s": run["step_s_median"] * scale,
        "timed_batch": timed,
        "timed_step_s": run["step_s_median"],
        "device_name": run["device"],
        "peak_memory_mb": run["peak_memory_mb"],
    }


def loader_timing(stage: int, config: dict, setup: Setup, root: Path) -> dict[str, Any]:
    """Clips per second of the DataModule's training loader on the DESED-format folder ``root`` (the first batch
    of each epoch left out) and the wait for a later epoch's first batch (workers already running).

    The loader has the YAML's workers (at most the CPU count) and the stage's batch shares, shrunk to what the
    folder's subsets hold."""
    from desed_task.experiment.builders import build_label_encoder
    from desed_task.config.files import load_config
    from desed_task.experiment.datamodule import SEDDataModule
    from desed_task.experiment.dataset_builders import build_train_sets

    data_config = load_config(RECIPES[stage], {"data.root": str(root)})
    sets = build_train_sets(data_config, build_label_encoder(data_config))
    sizes = [len(s) for s in sets.train[:4]]
    batch = [max(1, min(b, n // 2)) for b, n in zip(config["training"]["batch_size"], sizes)]
    workers = min(data_config["training"]["num_workers"], os.cpu_count() or 1)  # the YAML's, not the step's 0
    module = SEDDataModule(sets.train[:4], batch_sizes=batch, num_workers=workers, seed=config["training"]["seed"])
    loader = module.train_dataloader()
    clips, steady_s, batches, first_batch_s = 0, 0.0, 0, None
    epoch = 0
    while batches < setup.loader_batches or first_batch_s is None:
        loader.batch_sampler.set_epoch(epoch)
        last = time.perf_counter()
        for index, batch_data in enumerate(loader):
            now = time.perf_counter()
            if index == 0:
                if epoch > 0:
                    first_batch_s = now - last
            else:
                clips += batch_data["audio"].shape[0]
                steady_s += now - last
                batches += 1
            last = now
            if batches >= setup.loader_batches and first_batch_s is not None:
                break
        epoch += 1
    return {
        "clips_per_s": clips / steady_s,
        "epoch_first_batch_s": first_batch_s,
        "workers": workers,
        "loader_batch": batch,
        "batches_timed": batches,
    }


def checkpoint_seconds(config: dict) -> float:
    """Seconds to write a checkpoint of the stage's task: student, teacher and Adam's two moments."""
    from desed_task.experiment.builders import build_network

    student = build_network(config, load_encoder=False)
    teacher = {k: v.clone() for k, v in student.state_dict().items()}
    trainable = [p for p in student.parameters() if p.requires_grad]
    adam = {i: {"exp_avg": torch.zeros_like(p), "exp_avg_sq": torch.zeros_like(p)} for i, p in enumerate(trainable)}
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        torch.save(
            {"sed_student": student.state_dict(), "sed_teacher": teacher, "optimizer": adam}, Path(folder) / "last.ckpt"
        )
        return time.perf_counter() - start


def forward_seconds_per_clip(config: dict, device: str) -> float:
    """Seconds per clip of one model's validation forward (front-ends and network) at ``batch_size_val``, in the
    stage's precision."""
    from desed_task.experiment.builders import build_network
    from desed_task.features import SEDFrontend
    from tools.benchmark import inference

    torch_device = torch.device(device)
    net = build_network(config, load_encoder=False).to(torch_device).eval()
    batch = config["training"]["batch_size_val"]
    precision = config["training"]["precision"]
    times = inference(
        net, SEDFrontend().to(torch_device), net.encoder.frontend, torch_device, batch, precision, repeats=2
    )
    return times["end_to_end_s"] / batch


def synthetic_validation_table(clips: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Ground truth and durations of ``clips`` synthetic-validation clips: the DESED real validation's clips in
    turn, renamed ``synth_<i>.wav`` (events and event density of DESED annotations)."""
    from desed_task.data.tables import read_durations, read_events

    truth = read_events(REAL_VALIDATION[0], "ground truth")
    names = sorted(read_durations(REAL_VALIDATION[1])["filename"])
    rows, durations = [], []
    for i in range(clips):
        source = names[i % len(names)]
        events = truth[truth["filename"] == source]
        rows.append(events.assign(filename=f"synth_{i}.wav"))
        durations.append({"filename": f"synth_{i}.wav", "duration": 10.0})
    return pd.concat(rows, ignore_index=True), pd.DataFrame(durations)


def _first_clips(table: tuple[Path, Path], clips: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    from desed_task.data.tables import read_durations, read_events

    durations = read_durations(table[1]).sort_values("filename").head(clips)
    truth = read_events(table[0], "ground truth")
    return truth[truth["filename"].isin(durations["filename"])], durations


def validation_scoring_seconds(sizes: dict[str, int], median_window: int | list[int]) -> float:
    """Seconds of one validation's scoring of both models, as ``EvaluationSteps._validation_metrics`` scores them:
    median filter, score tables and sed_scores_eval's PSDS1/PSDS2 on each scored validation subset."""
    from desed_task.evaluation import median_filter_scores, psds_sed_scores_eval, score_dataframes
    from tools.eval_timing import synthetic_test_set

    subsets = [synthetic_validation_table(sizes["synth_val"]), _first_clips(STRONG_VALIDATION, sizes["strong_val"])]
    total = 0.0
    for truth, durations in subsets:
        scored = synthetic_test_set(truth, durations)
        encoder = scored.label_encoder
        for model in scored.scores:
            start = time.perf_counter()
            smoothed = median_filter_scores(scored.scores[model], median_window)
            tables = score_dataframes(smoothed, scored.clip_ids, encoder.labels, encoder.timestamps())
            psds_sed_scores_eval(tables, truth, durations)
            total += time.perf_counter() - start
    return total


def test_scoring_seconds(sizes: dict[str, int], n_thresholds: int) -> float:
    """Seconds of the test stage's scoring of both models (``eval_timing.time_test_stage``) on the first
    ``sizes["test"]`` clips of the DESED real validation."""
    from tools.eval_timing import synthetic_test_set, time_test_stage

    truth, durations = _first_clips(REAL_VALIDATION, sizes["test"])
    return time_test_stage(synthetic_test_set(truth, durations), n_thresholds=n_thresholds)["total_s"]


def measure_stage(stage: int, setup: Setup, data_root: Path, scoring: dict[str, float]) -> dict[str, Any]:
    """Every measured input of one stage's projection (``scoring``: the validation and test scoring seconds,
    measured once for both stages, which score the same sizes)."""
    config = stage_config(stage, setup)
    training = config["training"]
    measured: dict[str, Any] = {
        "stage": stage,
        "precision": training["precision"],
        "batch_size": list(training["batch_size"]),
        "batch_size_val": training["batch_size_val"],
        "n_epochs": training["n_epochs"],
        "validation_interval": training["validation_interval"],
        "weak_split": training["weak_split"],
        "steps_per_epoch": steps_per_epoch(DESED_SIZES, training["batch_size"], training["weak_split"]),
    }
    measured.update(training_step(stage, config, setup))
    measured["loader"] = loader_timing(stage, config, setup, data_root)
    measured["checkpoint_s"] = checkpoint_seconds(config)
    measured["forward_s_per_clip"] = forward_seconds_per_clip(config, setup.device)
    measured.update(scoring)
    return measured


def stage_parts(measured: dict[str, Any], sizes: dict[str, int], device: str) -> list[dict[str, Any]]:
    """The stage's parts in minutes, from its measured inputs."""
    stage, epochs = measured["stage"], measured["n_epochs"]
    steps = epochs * measured["steps_per_epoch"]
    validations = epochs // measured["validation_interval"]
    loader_step_s = sum(measured["batch_size"]) / measured["loader"]["clips_per_s"]
    # A CPU's loader workers take the training's cores; a GPU's run beside it and cost only what they lag behind.
    data_wait_s = loader_step_s if device == "cpu" else max(0.0, loader_step_s - measured["step_s"])
    weak_val = sizes["weak"] - round(sizes["weak"] * measured["weak_split"])
    val_clips = sizes["synth_val"] + sizes["strong_val"] + weak_val
    seconds = {
        "training steps": steps * measured["step_s"],
        "data loading": steps * data_wait_s,
        "epoch overhead": epochs * (measured["loader"]["epoch_first_batch_s"] + measured["checkpoint_s"]),
        "validation forward": validations * MODELS * val_clips * measured["forward_s_per_clip"],
        "validation scoring": validations * measured["validation_scoring_s"],
        "test": MODELS * sizes["test"] * measured["forward_s_per_clip"] + measured["test_scoring_s"],
    }
    return [{"stage": stage, "part": part, "min": s / 60} for part, s in seconds.items()]


def _data_root(setup: Setup, folder: Path) -> Path:
    if setup.data_root is not None:
        return Path(setup.data_root)
    from desed_task.data import make_synthetic_desed

    make_synthetic_desed(folder, preset="tiny", seed=0, progress=False)
    return folder


def project_recipe(setup: Setup) -> dict[str, Any]:
    """Measure both stages and project the recipe's run: ``total_min``, ``parts`` (stage, part, min), the
    measured inputs and the original code's projection."""
    with tempfile.TemporaryDirectory() as folder:
        root = _data_root(setup, Path(folder))
        stage2 = stage_config(2, setup)["training"]
        scoring = {
            "validation_scoring_s": validation_scoring_seconds(setup.sizes, stage2["median_window"]),
            "test_scoring_s": test_scoring_seconds(setup.sizes, stage2["n_test_thresholds"]),
        }
        stages = [measure_stage(stage, setup, root, scoring) for stage in (1, 2)]
    parts = [part for measured in stages for part in stage_parts(measured, setup.sizes, setup.device)]
    total = sum(part["min"] for part in parts)
    step_min = sum(p["min"] for p in parts if p["part"] == "training steps")
    ratios = {m["stage"]: ORIGINAL_STEP_RATIO.get(m["precision"]) for m in stages}
    original = None
    if all(ratios.values()):
        extra = sum((ratios[p["stage"]] - 1) * p["min"] for p in parts if p["part"] == "training steps")
        original = {
            "total_min": total + extra,
            "step_ratio": ratios,
            "speedup": (total + extra) / total,
            "how": "our training-step minutes x the original's step time over ours measured on one H200 "
            "(249/137 ms bf16-mixed, 727/642 ms float32); every other part taken as ours",
        }
    return {
        "setup": asdict(setup),
        "device": stages[0]["device_name"],
        "total_min": total,
        "training_steps_min": step_min,
        "parts": parts,
        "measured": stages,
        "original_projection": original,
    }


def format_table(result: dict[str, Any]) -> str:
    """Stage x part with minutes and share of the total, then the total (and the original's projection)."""
    total = result["total_min"]
    lines = [f"{'stage':<6} {'part':<20} {'minutes':>10} {'share':>7}"]
    for part in result["parts"]:
        lines.append(f"{part['stage']:<6} {part['part']:<20} {part['min']:>10.1f} {part['min'] / total:>7.1%}")
    lines.append(f"{'total':<27} {total:>10.1f} {1:>7.0%}  ({total / 60:.1f} h)")
    original = result["original_projection"]
    if original:
        lines.append(
            f"original code (projected from its step time): {original['total_min']:.1f} min, "
            f"{original['speedup']:.2f}x ours"
        )
    return "\n".join(lines)

"""The stage-2 step benchmark: the recipe's task, run by a Lightning Trainer with every training hook."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tools.stage2_process import stage2_step_command
from tools.stage2_step import (
    PAPER_BATCH,
    SUBSETS,
    TINY_NETWORK,
    build_parser,
    main,
    measure_stage2_step,
    stage2_config,
    synthetic_batch,
)


def test_stage2_config_is_the_recipe_with_a_random_encoder_and_augmentation_on_every_step():
    config = stage2_config(PAPER_BATCH, "bf16-mixed", activation_checkpointing=True)
    training = config["training"]
    assert training["stage"] == 2 and training["batch_size"] == list(PAPER_BATCH)
    assert training["precision"] == "bf16-mixed"
    assert training["mixup_prob"] == 1.0 and training["freq_warp_prob"] == 1.0
    # confs/stage2.yaml
    assert training["consistency_weight_max"] == 70 and config["opt"]["encoder_trainable_layers"] == 14
    assert config["encoder"]["random_init"] and config["encoder"]["activation_checkpointing"]
    assert config["encoder"]["embed_dim"] == 768 and config["encoder"]["depth"] == 12  # ViT-Base


def test_synthetic_batch_has_the_subsets_in_order_and_their_label_layouts():
    batch = synthetic_batch((2, 1, 3, 2), classes=10, frames=156)
    assert batch["audio"].shape == (8, 160000) and batch["labels"].shape == (8, 10, 156)
    assert batch["subsets"] == ["strong_real"] * 2 + ["synth"] + ["weak"] * 3 + ["unlabeled"] * 2
    assert set(batch["subsets"]) == set(SUBSETS)
    labels = batch["labels"]
    assert (labels[:3].sum(dim=(1, 2)) == 39).all()  # one event of a quarter of the frames
    assert (labels[3:6, :, 0].sum(dim=1) == 1).all() and labels[3:6, :, 1:].sum() == 0  # clip label in frame 0
    assert labels[6:].sum() == 0


def test_flags_are_snake_case_with_the_hyphenated_spellings_as_aliases(capsys):
    base = ["--json", "out.json", "--set", "encoder.depth=2"]
    snake = build_parser().parse_args([*base, "--activation_checkpointing"])
    hyphen = build_parser().parse_args([*base, "--activation-checkpointing"])
    assert vars(snake) == vars(hyphen) and snake.activation_checkpointing is True
    assert snake.overrides == [("encoder.depth", 2)]
    command = stage2_step_command(Path("out.json"), activation_checkpointing=True)
    assert command[1:3] == ["-m", "tools.stage2_step"] and "--activation_checkpointing" in command
    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args([*base, "--set", "depth"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1 and "expected KEY=VALUE" in err, err


def _count_calls(monkeypatch, cls: type, name: str) -> list[int]:
    calls: list[int] = []
    original = getattr(cls, name)

    def counted(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, name, counted)
    return calls


@pytest.mark.slow
def test_every_step_runs_mixup_warping_the_ema_hook_the_optimiser_and_the_scheduler(monkeypatch):
    from desed_task.training.draws import AugmentationDraws
    from desed_task.training.module import Stage2SEDTask
    from desed_task.training.scheduler import RampUpCosineLR

    ema = _count_calls(monkeypatch, Stage2SEDTask, "on_before_optimizer_step")
    warps = _count_calls(monkeypatch, Stage2SEDTask, "_warp_parts")
    mixups = _count_calls(monkeypatch, AugmentationDraws, "mixup")
    schedules = _count_calls(monkeypatch, RampUpCosineLR, "step")
    config = stage2_config((1, 1, 1, 1), overrides=TINY_NETWORK)
    result = measure_stage2_step(config, warmup=1, steps=2)
    assert len(ema) == 3  # warm-up and timed steps
    assert len(warps) == 2 * 3  # student and teacher inputs, every step
    assert len(mixups) == 3 * 3  # strong, weak and unlabeled parts, every step
    assert len(schedules) >= 3
    assert len(result["step_seconds"]) == 2 and result["step_s_median"] > 0
    assert result["peak_memory_kind"] == "process_peak_rss" and result["peak_memory_mb"] >= result["rss_before_mb"]
    assert result["batch_sizes"] == [1, 1, 1, 1] and result["mixup_prob"] == 1.0


@pytest.mark.slow
def test_command_line_writes_the_measurement(tmp_path):
    out = tmp_path / "step.json"
    sets = [f"--set={key}={json.dumps(value)}" for key, value in TINY_NETWORK.items()]
    assert (
        main(["--json", str(out), "--batch", "1", "1", "1", "1", "--steps", "1", "--precision", "bf16-mixed", *sets])
        == 0
    )
    result = json.loads(out.read_text())
    assert result["status"] == "ok" and result["precision"] == "bf16-mixed" and result["encoder"]["depth"] == 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("precision", ["32", "bf16-mixed"])
def test_tiny_stage2_step_on_cuda(precision):
    config = stage2_config((1, 1, 1, 1), precision, overrides=TINY_NETWORK)
    result = measure_stage2_step(config, device="cuda", warmup=1, steps=2)
    assert result["peak_memory_kind"] == "cuda_max_memory_allocated" and result["peak_memory_mb"] > 0
    assert len(result["step_seconds"]) == 2


def test_ddp_looks_for_unused_parameters_because_stage2_trains_mask_embed():
    from desed_task.experiment.builders import build_label_encoder, build_network, build_task
    from desed_task.experiment.pipeline import distributed_strategy
    from desed_task.training.batch import BatchParts

    assert distributed_strategy("auto", 2) == distributed_strategy("ddp", 1) == "ddp_find_unused_parameters_true"
    assert distributed_strategy("auto", 1) == "auto" and distributed_strategy("fsdp", 2) == "fsdp"
    config = stage2_config((1, 1, 1, 1), overrides=TINY_NETWORK)
    student = build_network(config)
    student.encoder.set_trainable_groups(config["opt"]["encoder_trainable_layers"])
    task = build_task(config, "unused", student)
    encoder = build_label_encoder(config)
    batch = synthetic_batch((1, 1, 1, 1), encoder.n_classes, encoder.n_frames)
    task.training_loss(batch["audio"], batch["labels"], BatchParts.from_subsets(batch["subsets"])).total.backward()
    unused = [n for n, p in task.sed_student.named_parameters() if p.requires_grad and p.grad is None]
    assert unused == ["atst_frame.atst.mask_embed"]

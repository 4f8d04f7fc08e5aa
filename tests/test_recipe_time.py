"""The recipe's wall-clock projection: sampler arithmetic at DESED's sizes, how parts add up, and a smoke run of
the command (tiny network and sizes) whose JSON has every part of both stages."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from tools.recipe_time import (
    DESED_SIZES,
    REAL_VALIDATION,
    REPO_ROOT,
    STRONG_VALIDATION,
    stage_parts,
    steps_per_epoch,
    synthetic_validation_table,
)

PARTS = ["training steps", "data loading", "epoch overhead", "validation forward", "validation scoring", "test"]


def test_steps_per_epoch_at_desed_sizes_are_set_by_the_weak_subset():
    # weak: round(1578 * 0.9) = 1420 clips; 1420 // 48 = 29 (stage 2), 1420 // 24 = 59 (stage 1)
    assert steps_per_epoch(DESED_SIZES, [24, 24, 48, 48], 0.9) == 29
    assert steps_per_epoch(DESED_SIZES, [12, 12, 24, 48], 0.9) == 59
    assert steps_per_epoch(DESED_SIZES, [12, 12, 1, 100], 0.9) == 144  # then the unlabeled one: 14412 // 100


def test_desed_sizes_agree_with_the_metadata_in_tests_data():
    def clips(path):
        return pd.read_csv(path, sep="\t")["filename"].nunique()

    assert clips(REAL_VALIDATION[1]) == DESED_SIZES["test"]
    assert clips(STRONG_VALIDATION[1]) == DESED_SIZES["strong_val"]
    assert clips(REPO_ROOT / "tests/data/audioset_strong_split/audioset_strong_train.tsv") == DESED_SIZES["strong_real"]


def test_synthetic_validation_table_repeats_the_real_validation_events():
    truth, durations = synthetic_validation_table(30)
    assert list(durations["filename"]) == [f"synth_{i}.wav" for i in range(30)]
    assert set(truth["filename"]) <= set(durations["filename"]) and len(truth) > 30


def _measured(step_s: float, clips_per_s: float) -> dict:
    return {
        "stage": 2,
        "n_epochs": 10,
        "steps_per_epoch": 3,
        "validation_interval": 5,
        "weak_split": 0.9,
        "batch_size": [1, 1, 2, 2],
        "step_s": step_s,
        "loader": {"clips_per_s": clips_per_s, "epoch_first_batch_s": 0.5},
        "checkpoint_s": 1.5,
        "forward_s_per_clip": 0.1,
        "validation_scoring_s": 6.0,
        "test_scoring_s": 30.0,
    }


def test_parts_follow_the_epochs_validations_and_the_device():
    sizes = {"weak": 10, "synth_val": 20, "strong_val": 9, "test": 50}
    cpu = {p["part"]: p["min"] * 60 for p in stage_parts(_measured(2.0, 3.0), sizes, "cpu")}
    assert list(cpu) == PARTS
    assert cpu["training steps"] == pytest.approx(10 * 3 * 2.0)
    assert cpu["data loading"] == pytest.approx(10 * 3 * 6 / 3.0)  # a CPU's workers take the training's cores
    assert cpu["epoch overhead"] == pytest.approx(10 * (0.5 + 1.5))
    assert cpu["validation forward"] == pytest.approx(2 * 2 * (20 + 9 + 1) * 0.1)  # 2 validations, 2 models
    assert cpu["validation scoring"] == pytest.approx(2 * 6.0)
    assert cpu["test"] == pytest.approx(2 * 50 * 0.1 + 30.0)
    gpu = {p["part"]: p["min"] * 60 for p in stage_parts(_measured(2.0, 3.0), sizes, "cuda")}
    assert gpu["data loading"] == pytest.approx(0.0)  # 2 s to load a batch beside a 2 s step: it keeps up
    slow_loader = {p["part"]: p["min"] * 60 for p in stage_parts(_measured(2.0, 2.0), sizes, "cuda")}
    assert slow_loader["data loading"] == pytest.approx(10 * 3 * (3.0 - 2.0))  # only the lag counts


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("recipe_time") / "recipe_time.json"
    done = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "scripts" / "recipe_time.py"),
            "--device",
            "cpu",
            "--smoke",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text()), done.stdout


@pytest.mark.slow
def test_smoke_run_writes_every_part_of_both_stages_and_their_sum(smoke):
    result, printed = smoke
    assert [(p["stage"], p["part"]) for p in result["parts"]] == [(s, part) for s in (1, 2) for part in PARTS]
    assert all(p["min"] >= 0 for p in result["parts"])
    assert result["total_min"] == pytest.approx(sum(p["min"] for p in result["parts"]))
    assert result["total_min"] > 0
    stage1, stage2 = result["measured"]
    assert stage1["n_epochs"] == 200 and stage2["n_epochs"] == 250  # from confs/stage1.yaml, confs/stage2.yaml
    assert stage1["validation_interval"] == stage2["validation_interval"] == 10
    for measured in (stage1, stage2):
        assert measured["step_s"] > 0 and measured["loader"]["clips_per_s"] > 0
        assert measured["loader"]["workers"] == min(8, os.cpu_count())  # the YAML's num_workers, at most the CPUs
        assert measured["checkpoint_s"] > 0 and measured["validation_scoring_s"] > 0
        assert measured["test_scoring_s"] > 0 and measured["forward_s_per_clip"] > 0
    original = result["original_projection"]
    assert original["total_min"] > result["total_min"]  # float32: the original's steps are 1.13x ours
    assert "total" in printed and "original code" in printed


def test_bad_output_path_is_a_user_error_and_nothing_runs(tmp_path):
    out = tmp_path / "missing" / "r.json"
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "recipe_time.py"), "--device", "cpu", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0 and "--json" in done.stderr
    assert not out.parent.exists()
    recipe = REPO_ROOT / "confs" / "stage2.yaml"
    before = recipe.read_text()
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "recipe_time.py"), "--device", "cpu", "--json", str(recipe)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "reads" in done.stderr and recipe.read_text() == before

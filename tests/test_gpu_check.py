"""scripts/gpu_check.sh --dry_run: the GPU check's whole plan on the CPU with tiny sizes, one JSON out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from desed_task.config.files import load_config
from tools.cli_runs import compare_tests, write_conf

ROOT = Path(__file__).parents[1]


@pytest.mark.slow
def test_dry_run_writes_one_json_with_every_part(tmp_path):
    out = tmp_path / "gpu_check.json"
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    env.pop("DESED_TASK_RUN_VERSION", None)
    done = subprocess.run(
        [str(ROOT / "scripts" / "gpu_check.sh"), str(out), "--dry-run"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    results = json.loads(out.read_text())
    assert results["dry_run"] is True and results["plan"]["device"] == "cpu"
    assert {"python", "torch", "gpus", "commit"} <= set(results["environment"])
    assert results["cuda_tests"]["status"] == "ok" and results["cuda_tests"]["tests"] >= 1
    benchmark = results["benchmark"]
    assert benchmark["status"] == "ok"
    assert benchmark["inference_network_s_bs1"] > 0 and benchmark["inference_network_s_bs1_bf16"] > 0
    runs = results["stage2_paper_batch"]
    assert [(r["precision"], r["activation_checkpointing"]) for r in runs[:3]] == [
        ("bf16-mixed", False),
        ("bf16-mixed", True),
        ("32", False),
    ]
    for run in runs:
        assert run["status"] == "ok", run
        assert run["batch_sizes"] == [1, 1, 1, 1] and len(run["step_seconds"]) == 1
        assert run["peak_memory_mb"] > 0 and run["encoder"]["depth"] == 1
    ddp = results["ddp"]
    assert ddp["status"] == "ok" and ddp["devices"] == 2, ddp
    cli = results["cli_runs"]
    assert cli["status"] == "ok", cli
    assert cli["data"]["command"].startswith("python scripts/make_synthetic_desed.py")
    assert [run["precision"] for run in cli["runs"]] == ["32", "bf16-mixed"]
    for run in cli["runs"]:
        commands = run["commands"]
        assert list(commands) == ["stage1", "stage2", "stage2_test_from_checkpoint"]
        assert commands["stage1"]["command"].startswith("python train/train_stage1.py --conf_file")
        assert "--test_from_checkpoint" in commands["stage2_test_from_checkpoint"]["command"]
        assert all(c["status"] == "ok" and c["wall_s"] > 0 for c in commands.values()), commands
        assert isinstance(run["stage2_teacher_psds1"], float)
        assert run["test_from_checkpoint"]["same_numbers"] is True, run["test_from_checkpoint"]
        assert run["test_from_checkpoint"]["n_metrics"] > 0
    assert cli["test_from_checkpoint_same_numbers"] is True
    assert results["parts"] == ["cuda_tests", "benchmark", "stage2_paper_batch", "ddp", "cli_runs", "recipe_time"]
    recipe = results["recipe_time"]
    assert recipe["status"] == "ok", recipe
    assert recipe["setup"]["device"] == "cpu" and recipe["total_min"] > 0
    assert recipe["total_min"] == pytest.approx(sum(part["min"] for part in recipe["parts"]))
    assert results["elapsed_s"] > 0
    assert "results in" in done.stdout and "test from checkpoint same" in done.stdout


def test_comparing_the_two_tests_finds_a_changed_metric():
    trained = {"teacher/psds1": 0.25, "student/event_f1": float("nan"), "energy_kwh": 1.0, "best_checkpoint": "b"}
    assert compare_tests(trained, {**trained, "energy_kwh": 2.0})["same_numbers"] is True
    changed = compare_tests(trained, {**trained, "teacher/psds1": 0.5})
    assert changed["same_numbers"] is False and changed["differing"] == ["teacher/psds1"]
    assert changed["max_abs_diff"] == 0.25
    missing = {k: v for k, v in trained.items() if k != "teacher/psds1"}
    assert compare_tests(trained, missing)["differing"] == ["teacher/psds1"]
    assert compare_tests({}, {})["same_numbers"] is False  # nothing compared is no evidence


def test_command_line_configuration_builds_on_the_demo_one(tmp_path):
    conf = write_conf(
        tmp_path / "stage2.yaml",
        2,
        tmp_path / "data",
        "bf16-mixed",
        {"training.n_epochs": 1},
        init_checkpoint="/ckpt/best.ckpt",
    )
    config = load_config(conf)
    assert config["training"]["stage"] == 2 and config["training"]["precision"] == "bf16-mixed"
    assert config["training"]["n_epochs"] == 1 and config["training"]["init_checkpoint"] == "/ckpt/best.ckpt"
    assert config["data"]["root"] == str(tmp_path / "data")


def test_unknown_part_is_refused(tmp_path):
    done = subprocess.run(
        [str(ROOT / "scripts" / "gpu_check.sh"), str(tmp_path / "x.json"), "--parts", "cli"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHON": sys.executable},
    )
    assert done.returncode == 2 and "invalid choice: 'cli'" in done.stderr
    assert not (tmp_path / "x.json").exists()


def test_help_names_the_usage():
    done = subprocess.run([str(ROOT / "scripts" / "gpu_check.sh"), "--help"], capture_output=True, text=True)
    assert done.returncode == 2 and "--dry_run" in done.stdout and "OUT.json" in done.stdout

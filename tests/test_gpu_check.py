"""scripts/gpu_check.sh --dry-run: the GPU check's whole plan on the CPU with tiny sizes, one JSON out."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


@pytest.mark.slow
def test_dry_run_writes_one_json_with_every_part(tmp_path):
    out = tmp_path / "gpu_check.json"
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    env.pop("DESED_TASK_RUN_VERSION", None)
    done = subprocess.run([str(ROOT / "scripts" / "gpu_check.sh"), str(out), "--dry-run"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
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
        ("bf16-mixed", False), ("bf16-mixed", True), ("32", False)]
    for run in runs:
        assert run["status"] == "ok", run
        assert run["batch_sizes"] == [1, 1, 1, 1] and len(run["step_seconds"]) == 1
        assert run["peak_memory_mb"] > 0 and run["encoder"]["depth"] == 1
    ddp = results["ddp"]
    assert ddp["status"] == "ok" and ddp["devices"] == 2, ddp
    recipe = results["recipe_time"]
    assert recipe["status"] == "ok", recipe
    assert recipe["setup"]["device"] == "cpu" and recipe["total_min"] > 0
    assert recipe["total_min"] == pytest.approx(sum(part["min"] for part in recipe["parts"]))
    assert results["elapsed_s"] > 0
    assert "results in" in done.stdout


def test_help_names_the_usage():
    done = subprocess.run([str(ROOT / "scripts" / "gpu_check.sh"), "--help"], capture_output=True, text=True)
    assert done.returncode == 2 and "--dry-run" in done.stdout and "OUT.json" in done.stdout

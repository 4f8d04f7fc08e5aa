"""The README's performance table, rendered from the benchmark's JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tools.performance_table import TABLE_END, TABLE_START, render_table, replace_table, table_rows

RESULTS = {
    "device": "Some CPU, AVX512, native bf16, 2 threads",
    "matmul_gflops": 186.04,
    "network_gflops_per_clip": 46.71,
    "inference_network_s_bs1": 0.297,
    "inference_limit_fraction_bs1": 0.846,
    "inference_network_s_bs1_bf16": 0.21,
    "inference_rtf_bs1": 0.0329,
    "inference_clips_per_s_bs1": 3.04,
    "inference_rtf_bs1_bf16": 0.025,
    "inference_clips_per_s_bs1_bf16": 4.0,
    "inference_clips_per_s_bs16": 2.95,
    "inference_clips_per_s_bs16_bf16": 3.9,
    "train_batch_sizes": [1, 1, 2, 2],
    "train_batch": 6,
    "train_step_s": 9.5,
    "peak_memory_mb": 4096.0,
    "train_step_s_bf16": 7.25,
    "peak_memory_mb_bf16": 3584.0,
    "peak_memory_kind": "process_peak_rss",
    "data_clips_per_s": 1246.3,
    "test_scoring_clips": 1168,
    "test_scoring_s": 61.0,
    "test_scoring_metrics_s": 40.0,
}
GPU_RUN = {
    "status": "ok",
    "precision": "bf16-mixed",
    "activation_checkpointing": False,
    "peak_memory_mb": 40960.0,
    "step_s_median": 0.81,
    "device": "NVIDIA H200",
}


def test_rows_state_each_measurement_with_its_units():
    table = dict(table_rows(RESULTS))
    assert table["matmul limit (float32)"] == "186.0 GFLOP/s"
    inference = next(v for k, v in table.items() if k.startswith("inference of a 10 s clip"))
    assert "0.297 s (84.6 % of the matmul limit)" in inference and "bf16 autocast 0.210 s" in inference
    train = next(v for k, v in table.items() if k.startswith("stage-2 training step, batch [1, 1, 2, 2] (6 clips)"))
    assert train == "float32 9.50 s, peak RSS 4.0 GiB; bf16-mixed 7.25 s, peak RSS 3.5 GiB"
    assert table["data loading (1 process)"] == "1,246 clips/s"
    assert table["test-stage scoring of 1,168 clips, student and teacher"].startswith("61.0 s, of which metrics 40.0 s")


def test_the_paper_batch_memory_is_claimed_only_from_a_gpu_measurement():
    label, value = table_rows(RESULTS)[-1]
    assert "paper's batch" in label and value.startswith("not in this benchmark's JSON")
    dry = {"dry_run": True, "stage2_paper_batch": [GPU_RUN]}
    assert table_rows(RESULTS, dry)[-1][1].startswith("not in this benchmark's JSON")
    oom = {"dry_run": False, "stage2_paper_batch": [{**GPU_RUN, "status": "out_of_memory"}]}
    assert table_rows(RESULTS, oom)[-1][1].startswith("not in this benchmark's JSON")
    label, value = table_rows(RESULTS, {"dry_run": False, "stage2_paper_batch": [GPU_RUN]})[-1]
    assert label.endswith("NVIDIA H200") and value == "40.0 GiB and 0.81 s per step without checkpointing"


def test_rows_are_left_out_for_what_the_json_lacks():
    rows = dict(table_rows({"device": "cpu", "matmul_gflops": 100.0}))
    assert list(rows)[:2] == ["device", "matmul limit (float32)"] and len(rows) == 3  # and the GPU row


def test_replace_table_swaps_only_the_generated_block():
    readme = f"# Title\n\nbefore\n{TABLE_START}\n| old |\n{TABLE_END}\nafter\n"
    new = replace_table(readme, render_table(RESULTS))
    assert new.startswith("# Title\n\nbefore\n" + TABLE_START) and new.endswith(TABLE_END + "\nafter\n")
    assert "| old |" not in new and "| matmul limit (float32) | 186.0 GFLOP/s |" in new
    assert replace_table(new, render_table(RESULTS)) == new
    with pytest.raises(ValueError, match="no generated table"):
        replace_table("# no markers\n", render_table(RESULTS))


def test_script_replaces_the_table_in_a_readme(tmp_path):
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps(RESULTS))
    readme = tmp_path / "README.md"
    readme.write_text(f"x\n{TABLE_START}\n{TABLE_END}\n")
    root = Path(__file__).parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run(
        [sys.executable, str(root / "scripts" / "performance_table.py"), str(bench), "--readme", str(readme)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "| data loading (1 process) | 1,246 clips/s |" in readme.read_text()

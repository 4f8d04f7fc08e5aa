"""The GPU check (``scripts/gpu_check.sh``): one plan that fits in 10 minutes on one GPU, one JSON out.

1. the CUDA tests (``pytest -k cuda``: the tests whose names say cuda; they are skipped without a GPU);
2. ``scripts/benchmark.py --device cuda`` (matmul limit, inference in both precisions, data loading);
3. stage 2 at the paper's batch [24, 24, 48, 48] with the full-size network (ViT-Base encoder): bf16-mixed
   without and with activation checkpointing, then float32 (an out-of-memory error is recorded, not fatal), each
   a few Lightning steps in a fresh process (``stage2_step``): step time and peak memory;
4. with two GPUs visible, a DDP smoke test: two processes, bf16-mixed, the paper's batch split over them;
5. the README's command lines on the synthetic demo data in float32 and bf16-mixed (``cli_runs``): stage 1,
   stage 2, and stage 2's test from its checkpoint, each command's wall time, the stage-2 teacher's PSDS1 and
   whether the test from the checkpoint repeats the test at the end of training;
6. ``scripts/recipe_time.py --device cuda --precision bf16-mixed`` (``recipe_time``): the full recipe's projected
   wall clock (last, so that a hard stop cuts only it).

``dry_run`` runs the same plan on the CPU with tiny sizes (small network, batch [1, 1, 1, 1], 2 steps; the DDP
test with two CPU processes over gloo; the command lines on the tiny synthetic set, one short epoch each;
``recipe_time.py --smoke``), so that the plan itself can be tested on a machine without a GPU. The JSON is
rewritten after every part, so a part that runs out of time leaves the others' results; the command lines start
no command past ``Plan.stop_s``.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from desed_task.output_files import write_text
from tools import REPO_ROOT, checkout_env
from tools.cli_runs import CliPlan, cli_runs
from tools.stage2_process import run_stage2_step
from tools.stage2_step import PAPER_BATCH, TINY_NETWORK

PARTS = ("cuda_tests", "benchmark", "stage2_paper_batch", "ddp", "cli_runs", "recipe_time")

# The command lines' sizes: the demo recipe shortened to fit the check on a GPU (validation once per stage, at
# its end), and one short epoch of a one-block encoder on the tiny set for the dry run.
GPU_CLI = CliPlan(
    "demo",
    "0,",
    stage1={"training.n_epochs": 6, "training.validation_interval": 6, "training.num_workers": 4},
    stage2={"training.n_epochs": 4, "training.validation_interval": 4, "training.num_workers": 4},
)
_TINY_RUN = {
    "training.batch_size": [2, 2, 2, 2],
    "training.batch_size_val": 4,
    "training.num_workers": 0,
    "training.n_epochs": 1,
    "training.validation_interval": 1,
    "training.limit_train_batches": 2,
    "training.n_test_thresholds": 5,
    "training.enable_progress_bar": False,
    "encoder.embed_dim": 32,
    "encoder.depth": 1,
    "net.n_rnn_cell": 16,
}
DRY_RUN_CLI = CliPlan(
    "tiny", "cpu", stage1=_TINY_RUN, stage2={**_TINY_RUN, "opt.encoder_trainable_layers": 3}, command_timeout_s=120.0
)


@dataclass(frozen=True)
class Plan:
    """Sizes and time limits of the check (seconds per part)."""

    device: str
    batch: tuple[int, int, int, int]
    warmup: int
    steps: int
    overrides: dict[str, Any] = field(default_factory=dict)
    benchmark_args: tuple[str, ...] = ()
    tests_timeout: float = 150.0
    benchmark_timeout: float = 180.0
    stage2_timeout: float = 100.0
    cli: CliPlan = GPU_CLI
    stop_s: float = 575.0  # no command line starts later (scripts/gpu_check.sh stops everything at 590 s)
    recipe_time_args: tuple[str, ...] = ()
    recipe_time_timeout: float = 240.0

    @classmethod
    def for_run(cls, dry_run: bool) -> "Plan":
        if dry_run:
            return cls(
                "cpu",
                (1, 1, 1, 1),
                1,
                1,
                dict(TINY_NETWORK),
                ("--smoke", "--no_train", "--no_test_scoring"),
                stage2_timeout=120.0,
                cli=DRY_RUN_CLI,
                recipe_time_args=("--smoke",),
                recipe_time_timeout=300.0,
            )
        return cls(
            "cuda",
            PAPER_BATCH,
            2,
            5,
            {},
            ("--window", "5", "--no_train", "--no_test_scoring"),
            recipe_time_args=("--precision", "bf16-mixed"),
        )


def environment() -> dict[str, Any]:
    import torch

    def output(command: list[str]) -> str | None:
        try:
            done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() or None if done.returncode == 0 else None

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
        "nvidia_smi": output(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"]),
        "cpu_count": os.cpu_count(),
        "commit": output(["git", "rev-parse", "HEAD"]),
    }


def _tail(text: str, n: int = 3000) -> str:
    return text[-n:]


def cuda_tests(timeout: float) -> dict[str, Any]:
    """``pytest -k cuda`` on the test suite, with counts from its JUnit report."""
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "junit.xml"
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-k",
            "cuda",
            "-p",
            "no:cacheprovider",
            f"--junitxml={report}",
            str(REPO_ROOT / "tests"),
        ]
        try:
            done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"status": "timeout", "timeout_s": timeout}
        counts: dict[str, Any] = {}
        if report.is_file():
            suite = ElementTree.parse(report).getroot()
            suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
            counts = {key: int(suite.get(key, 0)) for key in ("tests", "failures", "errors", "skipped")}
            counts["names"] = [case.get("name") for case in suite.iter("testcase")]
    ok = done.returncode in (0, 5)  # 5: nothing selected
    return {
        "status": "ok" if ok else "failed",
        "returncode": done.returncode,
        **counts,
        "output_tail": _tail(done.stdout + done.stderr, 1500),
    }


def benchmark(plan: Plan) -> dict[str, Any]:
    """``scripts/benchmark.py`` on the plan's device; its JSON, or why there is none."""
    return _json_script("benchmark", plan.device, plan.benchmark_args, plan.benchmark_timeout)


def recipe_time(plan: Plan) -> dict[str, Any]:
    """``scripts/recipe_time.py`` on the plan's device; its JSON, or why there is none."""
    return _json_script("recipe_time", plan.device, plan.recipe_time_args, plan.recipe_time_timeout)


def _json_script(name: str, device: str, args: tuple[str, ...], timeout: float) -> dict[str, Any]:
    """``scripts/<name>.py --device DEVICE --json OUT ARGS`` in a fresh process; its JSON with status ``ok``, or the
    time-out, or its exit status and the tail of its output."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / f"{name}.json"
        command = [
            sys.executable,
            str(REPO_ROOT / "scripts" / f"{name}.py"),
            "--device",
            device,
            "--json",
            str(out),
            *args,
        ]
        try:
            done = subprocess.run(
                command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout, env=checkout_env()
            )
        except subprocess.TimeoutExpired:
            return {"status": "timeout", "timeout_s": timeout}
        if done.returncode == 0 and out.is_file():
            return {"status": "ok", **json.loads(out.read_text())}
    return {"status": "error", "returncode": done.returncode, "output_tail": _tail(done.stdout + done.stderr)}


def stage2_runs(plan: Plan) -> list[dict[str, Any]]:
    """bf16-mixed without and with activation checkpointing, then float32 (with checkpointing too if float32
    alone runs out of memory)."""
    runs = []
    for precision, checkpointing in (("bf16-mixed", False), ("bf16-mixed", True), ("32", False)):
        runs.append(_stage2(plan, precision, checkpointing))
    if runs[-1]["status"] == "out_of_memory":
        runs.append(_stage2(plan, "32", True))
    return runs


def _stage2(
    plan: Plan, precision: str, checkpointing: bool, devices: int = 1, batch: tuple[int, ...] | None = None
) -> dict[str, Any]:
    run = run_stage2_step(
        timeout=plan.stage2_timeout,
        device=plan.device,
        devices=devices,
        batch=batch or plan.batch,
        precision=precision,
        activation_checkpointing=checkpointing,
        overrides=plan.overrides,
        warmup=plan.warmup,
        steps=plan.steps,
    )
    return {"precision": precision, "activation_checkpointing": checkpointing, "devices": devices, **run}


def ddp_smoke(plan: Plan, dry_run: bool) -> dict[str, Any]:
    """Two processes with DDP (two GPUs, or two CPU processes in a dry run), bf16-mixed, the batch split in two."""
    import torch

    if not dry_run and torch.cuda.device_count() < 2:
        return {"status": "skipped", "reason": f"{torch.cuda.device_count()} GPU(s) visible, DDP needs 2"}
    half = tuple(max(1, size // 2) for size in plan.batch)
    return _stage2(plan, "bf16-mixed", False, devices=2, batch=half)


def run_check(out: Path, dry_run: bool = False, parts: tuple[str, ...] = PARTS) -> dict[str, Any]:
    """Run the named parts of the plan (all by default, in the order of ``PARTS``), rewriting ``out`` after
    each; returns the results."""
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise ValueError(f"unknown part(s) {unknown}: the parts are {', '.join(PARTS)}")
    plan = Plan.for_run(dry_run)
    start = time.perf_counter()
    results: dict[str, Any] = {
        "dry_run": dry_run,
        "plan": asdict(plan),
        "parts": [p for p in PARTS if p in parts],
        "environment": environment(),
    }

    def save(key: str, value: Any) -> None:
        results[key] = value
        results["elapsed_s"] = time.perf_counter() - start
        write_text(out, json.dumps(results, indent=2) + "\n", "the GPU check's results")

    runs = {
        "cuda_tests": lambda: cuda_tests(plan.tests_timeout),
        "benchmark": lambda: benchmark(plan),
        "stage2_paper_batch": lambda: stage2_runs(plan),
        "ddp": lambda: ddp_smoke(plan, dry_run),
        "cli_runs": lambda: _cli_runs(plan, start),
        "recipe_time": lambda: recipe_time(plan),
    }
    for part in results["parts"]:
        save(part, runs[part]())
    return results


def _cli_runs(plan: Plan, start: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        return cli_runs(plan.cli, Path(folder), deadline=start + plan.stop_s)

"""The README's command lines end to end on the synthetic demo data, per training precision (a GPU-check part).

For each precision, each command a fresh process: ``scripts/make_synthetic_desed.py`` (once), then
``train/train_stage1.py``, ``train/train_stage2.py`` from stage 1's best checkpoint, and ``train/train_stage2.py
--test_from_checkpoint`` on stage 2's best checkpoint, all with validation on. The configurations are small YAML
files built on ``confs/demo_stage*.yaml`` (``base:``) that set the data folder, the precision and the plan's
sizes. Recorded: each command's wall time, the stage-2 teacher's PSDS1, and whether the test from the checkpoint
gives the numbers of the test at the end of training (the same checkpoint, so it should, to the last digit).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from desed_task.config.files import set_dotted
from tools import REPO_ROOT, checkout_env

OUTPUT_TAIL = 2000  # characters of a failed command's output kept in the result
MIN_COMMAND_S = 10.0  # a command is not started with less time than this left before the check's stop
PSDS1 = "teacher/psds1_sed_scores_eval"


@dataclass(frozen=True)
class CliPlan:
    """Dataset preset, ``--gpus``, the precisions and the YAML overrides of each stage (dotted keys)."""

    preset: str
    gpus: str
    stage1: dict[str, Any] = field(default_factory=dict)
    stage2: dict[str, Any] = field(default_factory=dict)
    precisions: tuple[str, ...] = ("32", "bf16-mixed")
    command_timeout_s: float = 150.0


def write_conf(
    path: Path,
    stage: int,
    data_root: Path,
    precision: str,
    overrides: dict[str, Any],
    init_checkpoint: str | None = None,
) -> Path:
    """A configuration on ``confs/demo_stage{stage}.yaml`` with the data folder, precision and overrides set."""
    user: dict[str, Any] = {"base": str(REPO_ROOT / "confs" / f"demo_stage{stage}.yaml")}
    values = {"data.root": str(data_root), "training.precision": precision, **overrides}
    if init_checkpoint is not None:
        values["training.init_checkpoint"] = init_checkpoint
    for dotted, value in values.items():
        set_dotted(user, dotted, value)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(user, sort_keys=False))
    return path


def run_command(command: list[str], timeout: float) -> dict[str, Any]:
    """Run one command line; its status (``ok``, ``error``, ``timeout``), wall time and, on failure, output."""
    env = checkout_env()
    shown = [
        str(Path(part).relative_to(REPO_ROOT)) if part.startswith(str(REPO_ROOT)) else part for part in command[1:]
    ]
    result: dict[str, Any] = {"command": " ".join(["python", *shown])}
    start = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {**result, "status": "timeout", "timeout_s": timeout, "wall_s": time.perf_counter() - start}
    result.update(status="ok" if done.returncode == 0 else "error", wall_s=time.perf_counter() - start)
    if done.returncode != 0:
        result.update(returncode=done.returncode, output_tail=(done.stdout + done.stderr)[-OUTPUT_TAIL:])
    return result


def experiment_metrics(log_dir: Path) -> dict[str, Any]:
    """``metrics.json`` of the one experiment folder a command wrote under ``log_dir``."""
    found = sorted(log_dir.glob("version_*/metrics.json"))
    if len(found) != 1:
        raise RuntimeError(f"expected one experiment with metrics.json under {log_dir}, found {len(found)}")
    return json.loads(found[0].read_text())


def compare_tests(trained: dict[str, Any], tested: dict[str, Any]) -> dict[str, Any]:
    """The test metrics of student and teacher after training against those of the test from the checkpoint."""
    keys = sorted(k for k in trained if k.startswith(("student/", "teacher/")))
    differing = [k for k in keys if not _same(trained[k], tested.get(k))]
    numbers = [k for k in keys if _finite(trained[k]) and _finite(tested.get(k))]
    diff = max((abs(tested[k] - trained[k]) for k in numbers), default=None)
    return {
        "same_numbers": bool(keys) and not differing,
        "n_metrics": len(keys),
        "differing": differing,
        "max_abs_diff": diff,
    }


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _same(a: Any, b: Any) -> bool:
    """Equal, with NaN equal to NaN (an undefined metric is undefined in both tests)."""
    nan = isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)
    return nan or a == b


class _Clock:
    """The time left before the check's stop; a command's timeout never runs past it."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline

    def timeout(self, limit: float) -> float | None:
        left = self.deadline - time.perf_counter()
        return min(limit, left) if left >= MIN_COMMAND_S else None


def _step(runs: dict[str, Any], name: str, command: list[str], clock: _Clock, limit: float) -> bool:
    timeout = clock.timeout(limit)
    if timeout is None:
        runs[name] = {"status": "skipped", "reason": "no time left before the check's stop"}
        return False
    runs[name] = run_command(command, timeout)
    return runs[name]["status"] == "ok"


def precision_run(plan: CliPlan, precision: str, data: Path, work: Path, clock: _Clock) -> dict[str, Any]:
    """Stage 1, stage 2 and the test from stage 2's checkpoint in one precision; stops at the first failure."""
    folder = work / f"precision_{precision}"
    runs: dict[str, Any] = {}
    result: dict[str, Any] = {"precision": precision, "commands": runs}

    def train(stage: int, conf: Path, log_dir: str, *extra: str) -> list[str]:
        script = REPO_ROOT / "train" / f"train_stage{stage}.py"
        return [
            sys.executable,
            str(script),
            "--conf_file",
            str(conf),
            "--log_dir",
            str(folder / log_dir),
            "--gpus",
            plan.gpus,
            *extra,
        ]

    conf1 = write_conf(folder / "stage1.yaml", 1, data, precision, plan.stage1)
    if not _step(runs, "stage1", train(1, conf1, "stage1"), clock, plan.command_timeout_s):
        return {**result, "status": runs["stage1"]["status"]}
    stage1 = experiment_metrics(folder / "stage1")
    conf2 = write_conf(
        folder / "stage2.yaml",
        2,
        data,
        precision,
        plan.stage2,
        init_checkpoint=stage1["best_checkpoint"] or stage1["last_checkpoint"],
    )
    if not _step(runs, "stage2", train(2, conf2, "stage2"), clock, plan.command_timeout_s):
        return {**result, "status": runs["stage2"]["status"]}
    stage2 = experiment_metrics(folder / "stage2")
    result["stage2_teacher_psds1"] = stage2.get(PSDS1)
    checkpoint = stage2["best_checkpoint"] or stage2["last_checkpoint"]
    command = train(2, conf2, "stage2_test", "--test_from_checkpoint", checkpoint)
    if not _step(runs, "stage2_test_from_checkpoint", command, clock, plan.command_timeout_s):
        return {**result, "status": runs["stage2_test_from_checkpoint"]["status"]}
    result["test_from_checkpoint"] = compare_tests(stage2, experiment_metrics(folder / "stage2_test"))
    return {**result, "status": "ok"}


def cli_runs(plan: CliPlan, work: Path, deadline: float) -> dict[str, Any]:
    """The part's result: the dataset command, then one entry per precision (``deadline``: perf_counter time
    after which no command runs)."""
    clock = _Clock(deadline)
    data = work / f"synthetic_{plan.preset}"
    steps: dict[str, Any] = {}
    command = [
        sys.executable,
        str(REPO_ROOT / "scripts" / "make_synthetic_desed.py"),
        "--out",
        str(data),
        "--preset",
        plan.preset,
        "--quiet",
    ]
    if not _step(steps, "make_synthetic_desed", command, clock, plan.command_timeout_s):
        return {"status": steps["make_synthetic_desed"]["status"], "data": steps["make_synthetic_desed"]}
    runs = [precision_run(plan, precision, data, work, clock) for precision in plan.precisions]
    ok = all(run["status"] == "ok" for run in runs)
    same = all(run.get("test_from_checkpoint", {}).get("same_numbers") for run in runs)
    return {
        "status": "ok" if ok else "failed",
        "data": steps["make_synthetic_desed"],
        "runs": runs,
        "test_from_checkpoint_same_numbers": ok and same,
    }

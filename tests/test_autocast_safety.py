"""Losses and metrics under autocast: CUDA's autocast refuses ``binary_cross_entropy`` (and ``nn.BCELoss``,
which calls it), where CPU autocast lets it run. Here the CPU is made to refuse it as CUDA does, and both stages
run fit (with validation) and test through a real Lightning Trainer in float32 and in bf16-mixed.

The module has no predict step; fit, validation and test are its steps.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from conftest import tiny_config
from rescoring import rescored
from desed_task.experiment.pipeline import run_experiment
from desed_task.training.float32 import in_float32

# The functions of torch.nn.functional that CUDA autocast refuses to run (torch's autocast "banned" list).
CUDA_AUTOCAST_BANNED = ("binary_cross_entropy",)


class RefusedUnderAutocast(RuntimeError):
    """Raised by a guarded function called while autocast is enabled for its input's device."""


@pytest.fixture
def autocast_refusal(monkeypatch) -> Counter:
    """Each banned function raises when autocast is on for its input's device type; counts the allowed calls."""
    calls: Counter = Counter()
    for name in CUDA_AUTOCAST_BANNED:
        original = getattr(F, name)

        def guarded(input: torch.Tensor, *args, _name: str = name, _original=original, **kwargs):
            if torch.is_autocast_enabled(input.device.type):
                raise RefusedUnderAutocast(
                    f"torch.nn.functional.{_name} and its nn module are unsafe to autocast "
                    f"(autocast is on for {input.device.type!r}; CUDA autocast refuses this call)"
                )
            calls[_name] += 1
            return _original(input, *args, **kwargs)

        monkeypatch.setattr(F, name, guarded)
    return calls


def test_the_guard_refuses_under_autocast_and_allows_outside(autocast_refusal):
    pred, target = torch.full((2, 3), 0.5), torch.ones(2, 3)
    with torch.autocast("cpu", dtype=torch.bfloat16), pytest.raises(RefusedUnderAutocast, match="unsafe to autocast"):
        F.binary_cross_entropy(pred, target)
    with torch.autocast("cpu", dtype=torch.bfloat16), pytest.raises(RefusedUnderAutocast):
        torch.nn.BCELoss()(pred, target)
    assert F.binary_cross_entropy(pred, target).item() == pytest.approx(0.6931, abs=1e-4)
    assert autocast_refusal["binary_cross_entropy"] == 1


def test_in_float32_casts_and_disables_autocast_inside_only():
    pred = torch.full((2, 3), 0.25, dtype=torch.bfloat16, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        with in_float32(pred, torch.ones(2, 3)) as (p, target):
            assert not torch.is_autocast_enabled("cpu")
            assert p.dtype == target.dtype == torch.float32
            loss = F.mse_loss(p, target)
        assert torch.is_autocast_enabled("cpu")
    assert loss.dtype == torch.float32
    loss.backward()
    assert pred.grad is not None and pred.grad.dtype == torch.bfloat16


def test_in_float32_needs_a_tensor():
    with pytest.raises(ValueError, match="at least one tensor"), in_float32():
        pass


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_in_float32_on_cuda_disables_cuda_autocast_and_refuses_mixed_devices(autocast_refusal):
    pred, target = torch.full((2, 3), 0.5, device="cuda"), torch.ones(2, 3, device="cuda")
    with torch.autocast("cuda", dtype=torch.bfloat16):
        with in_float32(pred, target) as (p, t):
            assert F.binary_cross_entropy(p, t).dtype == torch.float32
        with pytest.raises(RefusedUnderAutocast):
            F.binary_cross_entropy(pred, target)
    with pytest.raises(ValueError, match="different device types"), in_float32(pred, torch.ones(1)):
        pass


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["32", "bf16-mixed"])
@pytest.mark.parametrize("stage", [1, 2])
def test_fit_validation_and_test_run_where_autocast_refuses_bce(
    tiny_dataset, trained_checkpoint, tmp_path, autocast_refusal, stage, precision
):
    overrides = {"training.precision": precision, "training.limit_train_batches": 2}
    if stage == 2:
        overrides.update({"training.init_checkpoint": str(trained_checkpoint), "training.mixup_prob": 1.0})
    metrics = run_experiment(tiny_config(tiny_dataset, stage, **overrides), tmp_path)
    # 2 training steps × (strong + weak BCE), and the validation losses of both models
    assert autocast_refusal["binary_cross_entropy"] > 2 * 2
    again = rescored(Path(metrics["experiment_dir"]) / "test" / "teacher", tiny_dataset)
    assert metrics["teacher/psds1_sed_scores_eval"] == pytest.approx(again["psds1_sed_scores_eval"], abs=1e-6)
    assert metrics["best_checkpoint"] is not None

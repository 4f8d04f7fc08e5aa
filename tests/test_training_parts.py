"""EMA, lr schedule, consistency weight and parameter groups (golden), and loss-function behaviour (docs/recipe.md §5).

The loss values themselves are checked term by term against the original's training steps in
``test_training_step_golden.py``; the tests here cover what those steps do not: precision, gradients, errors.
"""

from __future__ import annotations

import copy
import math
import warnings
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch import nn

from desed_task.training.ema import ema_update, warmup_ema_alpha
from desed_task.training.losses import ict_consistency, stage1_loss, stage2_consistency, stage2_supervised
from desed_task.nnet import CRNN, FrameATSTEncoder
from desed_task.training.param_groups import param_groups
from desed_task.training.scheduler import RampUpCosineLR, consistency_weight, exp_rampup


# ---------------------------------------------------------------------------------------------------- EMA
def _tiny_net() -> nn.Module:
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))


def test_ema_update_averages_parameters_and_leaves_buffers():
    student = _tiny_net()
    teacher = copy.deepcopy(student)
    for p in teacher.parameters():
        p.requires_grad_(False)
    with torch.no_grad():
        for p in student.parameters():
            p.add_(torch.randn_like(p))
        student[1].running_mean.fill_(5.0)
    before_t = [p.clone() for p in teacher.parameters()]
    buffers_before = {k: v.clone() for k, v in teacher.named_buffers()}
    ema_update(teacher, student, 0.9)
    for t_new, t_old, s in zip(teacher.parameters(), before_t, student.parameters()):
        torch.testing.assert_close(t_new, 0.9 * t_old + 0.1 * s, rtol=0, atol=1e-7)
        assert t_new.grad_fn is None and not t_new.requires_grad
    for key, value in teacher.named_buffers():
        assert torch.equal(value, buffers_before[key]), key


def test_ema_update_alpha_zero_copies_and_rejects_foreign_teacher():
    student, teacher = _tiny_net(), _tiny_net()
    ema_update(teacher, student, 0.0)
    for t, s in zip(teacher.parameters(), student.parameters()):
        assert torch.equal(t, s)
    with pytest.raises(ValueError, match="copy of the student"):
        ema_update(nn.Sequential(nn.Linear(3, 4)), student, 0.5)
    with pytest.raises(ValueError, match="alpha"):
        ema_update(teacher, student, 1.5)


def test_warmup_ema_alpha_matches_the_original_per_scheduler_step(training_step_golden):
    """Stage 1's EMA factor at the scheduler's step counter (1, 2, 3) as the original computed it; capped later."""
    for expected in training_step_golden["stages"]["1"]["expected_steps"]:
        step = expected["scheduler_step_num_during_step"]
        assert abs(warmup_ema_alpha(step, 0.999) - expected["ema_alpha"]) <= 1e-12
    assert warmup_ema_alpha(100_000) == 0.999
    assert warmup_ema_alpha(100_000, max_alpha=0.99) == 0.99
    with pytest.raises(ValueError, match="non-negative"):
        warmup_ema_alpha(-1)


# ---------------------------------------------------------------------------------------------- schedule
def _optimizer(n_groups: int = 2) -> torch.optim.Optimizer:
    groups = [{"params": [nn.Parameter(torch.zeros(1))], "lr": 1.0} for _ in range(n_groups)]
    return torch.optim.Adam(groups)


def _scheduler(block: dict, cosine: bool, optimizer=None) -> RampUpCosineLR:
    return RampUpCosineLR(
        optimizer or _optimizer(len(block["max_lrs"])),
        max_lrs=block["max_lrs"],
        rampup_steps=block["rampup_length"],
        total_steps=block["tot_steps"],
        exponent=block["exponent"],
        min_lr_scale=block["min_lr_scaler"],
        cosine=cosine,
    )


@pytest.mark.parametrize("key,cosine", [("stage2_cos_down", True), ("stage1_no_cos", False)])
def test_scheduler_matches_golden(recipe_golden, key, cosine):
    block = recipe_golden[key]
    scheduler = _scheduler(block, cosine)
    optimizer = scheduler.optimizer
    for i, row in enumerate(block["rows"]):
        np.testing.assert_allclose(scheduler.get_last_lr(), row["lrs"], rtol=1e-6, atol=0, err_msg=f"row {i}")
        np.testing.assert_allclose([g["lr"] for g in optimizer.param_groups], row["lrs"], rtol=1e-6, atol=0)
        ramp = exp_rampup(row["step_num"], block["rampup_length"], block["exponent"])
        assert ramp == pytest.approx(row["scaling_factor"], rel=1e-6)
        optimizer.step()
        scheduler.step()


def test_scheduler_resume_continues_the_schedule(recipe_golden):
    block = recipe_golden["stage2_cos_down"]
    full = _scheduler(block, cosine=True)
    part = _scheduler(block, cosine=True)
    for _ in range(60):
        full.optimizer.step()
        full.step()
        part.optimizer.step()
        part.step()
    state = part.state_dict()
    resumed = _scheduler({**block, "rampup_length": 1, "tot_steps": 7}, cosine=True)  # settings come from state
    resumed.load_state_dict(state)
    for _ in range(5):
        full.optimizer.step()
        full.step()
        resumed.optimizer.step()
        resumed.step()
        assert resumed.get_last_lr() == full.get_last_lr()
    assert resumed.get_last_lr() == pytest.approx(block["rows"][65]["lrs"], rel=1e-6)


def test_scheduler_checks_arguments_and_degenerate_cosine():
    with pytest.raises(ValueError, match="one max lr per group"):
        RampUpCosineLR(_optimizer(2), max_lrs=[1e-3], rampup_steps=5, total_steps=10)
    with pytest.warns(UserWarning, match="no room for the cosine"):
        scheduler = RampUpCosineLR(_optimizer(1), max_lrs=[1e-3], rampup_steps=4, total_steps=4)
    for _ in range(10):
        scheduler.optimizer.step()
        scheduler.step()
    assert scheduler.get_last_lr() == [pytest.approx(1e-3)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert RampUpCosineLR(_optimizer(1), [2e-3], 0, 10, cosine=False).get_last_lr() == [pytest.approx(2e-3)]
        no_ramp = RampUpCosineLR(_optimizer(1), [2e-3], 0, 10).get_last_lr()  # step 1 is already decaying
    assert no_ramp == [pytest.approx(2e-3 * (0.1 + 0.45 * (1 + math.cos(math.pi / 10))))]


def test_consistency_weight_matches_the_original_per_scheduler_step(training_step_golden):
    """The weight at the scheduler's step counter, for both stages' maximum, over the ramp-up and at its end."""
    rampup = training_step_golden["common"]["epoch_len"] * training_step_golden["common"]["n_epochs_warmup"]
    for stage in ("1", "2"):
        const_max = training_step_golden["stages"][stage]["config"]["training.const_max"]
        for expected in training_step_golden["stages"][stage]["expected_steps"]:
            weight = consistency_weight(expected["scheduler_step_num_during_step"], rampup, const_max)
            assert weight == pytest.approx(expected["consistency_weight"], rel=1e-6)
    assert consistency_weight(rampup + 5, rampup, 2.0) == 2.0  # constant after the ramp-up
    assert exp_rampup(3, 0) == 1.0  # no ramp-up
    with pytest.raises(ValueError):
        exp_rampup(-1, 10)


# ------------------------------------------------------------------------------------------ param groups
@pytest.fixture(scope="module")
def golden_width_crnn():
    """The recipe's CRNN with a 12-block encoder of width 64: the published parameter names, small tensors."""
    return CRNN(FrameATSTEncoder(embed_dim=64, depth=12, num_heads=4))


def _fresh(net: CRNN) -> CRNN:
    net = copy.deepcopy(net)
    net.requires_grad_(True)
    return net


def test_stage2_param_groups_match_golden(recipe_golden, golden_width_crnn):
    golden = recipe_golden["stage2_param_groups"]
    opt = golden["opt"]
    net = _fresh(golden_width_crnn)
    net.encoder.set_trainable_groups(opt["tfm_trainable_layers"])
    groups = param_groups(
        net,
        cnn_lr=opt["cnn_lr"],
        rnn_lr=opt["rnn_lr"],
        encoder_lr=opt["tfm_lr"],
        encoder_lr_scale=opt["tfm_lr_scale"],
        encoder_trainable_layers=opt["tfm_trainable_layers"],
    )
    assert len(groups) == len(golden["groups"]) == 16
    by_name = dict(net.named_parameters())
    for group, expected in zip(groups, golden["groups"]):
        assert group["lr"] == pytest.approx(expected["lr"], rel=1e-12)
        assert group["param_names"] == expected["params"]
        assert all(p is by_name[n] for p, n in zip(group["params"], group["param_names"], strict=True))
    assigned = [n for g in groups for n in g["param_names"]]
    assert sorted(assigned) == sorted(by_name)
    torch.optim.Adam(groups)  # valid optimiser groups


def test_encoder_trainable_groups_select_the_top_groups(golden_width_crnn):
    net = _fresh(golden_width_crnn)
    net.encoder.set_trainable_groups(3)
    trainable = {n for n, p in net.named_parameters() if p.requires_grad and n.startswith("atst_frame.")}
    assert trainable == {
        n
        for n, _ in net.named_parameters()
        if n.startswith(("atst_frame.atst.norm_frame.", "atst_frame.atst.blocks.11.", "atst_frame.atst.blocks.10."))
    }
    assert all(p.requires_grad for n, p in net.named_parameters() if not n.startswith("atst_frame."))
    groups = param_groups(net, 1e-3, 1e-3, 2e-4, 0.5, 3)
    assert [g["name"] for g in groups] == ["cnn", "rnn", "encoder.norm_frame", "encoder.block11", "encoder.block10"]
    assert groups[-1]["lr"] == pytest.approx(2e-4 * 0.25)
    net.encoder.atst.mask_embed.requires_grad_(True)
    with pytest.raises(ValueError, match="mask_embed.*encoder group embeddings, below the top 3"):
        param_groups(net, 1e-3, 1e-3, 2e-4, 0.5, 3)
    with pytest.raises(ValueError, match=r"layer groups: the number of trainable ones must lie in \[0, 14\]"):
        net.encoder.set_trainable_groups(15)


def test_stage1_groups_leave_the_frozen_encoder_out(golden_width_crnn):
    net = _fresh(golden_width_crnn)
    with pytest.raises(ValueError, match="atst_frame.atst.mask_embed"):
        param_groups(net, cnn_lr=1e-3, rnn_lr=2e-3)  # stage 1 with a trainable encoder
    net.encoder.set_trainable_groups(0)
    net.cnn.cnn.conv0.weight.requires_grad_(False)  # a frozen CNN parameter is simply left out
    groups = param_groups(net, cnn_lr=1e-3, rnn_lr=2e-3)
    assert [(g["name"], g["lr"], len(g["params"])) for g in groups] == [("cnn", 1e-3, 41), ("rnn", 2e-3, 22)]
    assert groups[1]["param_names"][-2:] == ["cat_tf.weight", "cat_tf.bias"]


def test_unknown_parameter_names_are_reported(golden_width_crnn):
    net = _fresh(golden_width_crnn)
    net.post_norm = nn.LayerNorm(4)
    net.encoder.set_trainable_groups(0)
    with pytest.raises(ValueError, match="post_norm.weight"):
        param_groups(net, 1e-3, 1e-3)
    net = _fresh(golden_width_crnn)
    net.encoder.atst.cls_token = nn.Parameter(torch.zeros(1))
    with pytest.raises(ValueError, match="cls_token"):
        param_groups(net, 1e-3, 1e-3, 1e-3, 0.5, 14)


def test_groups_follow_the_encoder_units_own_layer_groups():
    """A second encoder unit brings its own groups; the grouping code does not know it."""
    from toy_encoder import ToyEncoder

    net = CRNN(ToyEncoder(), nb_filters=(4,) * 7, n_rnn_cell=4)
    net.encoder.set_trainable_groups(2)
    groups = param_groups(net, 1e-3, 1e-3, 1e-2, 0.1, 2)
    named = [(g["name"], g["lr"]) for g in groups][2:]
    assert named == [("encoder.proj", 1e-2), ("encoder.embed", pytest.approx(1e-3))]
    assert sorted(n for g in groups for n in g["param_names"]) == sorted(n for n, _ in net.named_parameters())
    net.encoder.set_trainable_groups(0)
    assert sum(len(g["params"]) for g in param_groups(net, 1e-3, 1e-3)) == sum(
        1 for n, _ in net.named_parameters() if not n.startswith("toy_encoder.")
    )


# ---------------------------------------------------------------------------------------------- losses
@dataclass
class _Mix:
    coef: float
    perm: torch.Tensor


@pytest.fixture
def predictions():
    """Batch of 4 (items 0-1 strong, 2 weak, 3 unlabeled), 2 classes, 3 frames."""
    g = torch.Generator().manual_seed(1)
    strong_s = torch.rand(4, 2, 3, generator=g) * 0.8 + 0.1
    weak_s = torch.rand(4, 2, generator=g) * 0.8 + 0.1
    strong_t = torch.rand(4, 2, 3, generator=g)
    weak_t = torch.rand(4, 2, generator=g)
    strong_y = (torch.rand(4, 2, 3, generator=g) > 0.5).float()
    weak_y = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    strong_mask = torch.tensor([True, True, False, False])
    weak_mask = torch.tensor([False, False, True, False])
    return strong_s, weak_s, strong_t, weak_t, strong_y, weak_y, strong_mask, weak_mask


def test_ict_rejects_a_permutation_of_another_part_size(predictions):
    strong_s, weak_s, strong_t, weak_t = predictions[:4]
    with pytest.raises(ValueError, match="permutation"):
        ict_consistency(strong_s, weak_s, strong_t, weak_t, [(torch.tensor([0, 1]), _Mix(0.5, torch.tensor([0])))], 1)


def test_losses_float32_under_bf16_autocast(predictions):
    strong_s, weak_s, strong_t, weak_t, strong_y, weak_y, sm, wm = predictions
    low = [t.to(torch.bfloat16) for t in (strong_s, weak_s, strong_t, weak_t)]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        terms = stage1_loss(*low, strong_y, weak_y, sm, wm, 2.0)
        ict = ict_consistency(*low, [(torch.tensor([0, 1, 2, 3]), _Mix(0.6, torch.tensor([3, 2, 1, 0])))], 2.0)
    reference = stage1_loss(*[t.float() for t in low], strong_y, weak_y, sm, wm, 2.0)
    assert terms.total.dtype == torch.float32 and ict.total.dtype == torch.float32
    assert terms.total.item() == pytest.approx(reference.total.item(), rel=1e-6)


def test_gradient_reaches_the_student_only(predictions):
    strong_s, weak_s, strong_t, weak_t, strong_y, weak_y, sm, wm = predictions
    student = [strong_s.clone().requires_grad_(), weak_s.clone().requires_grad_()]
    teacher = [strong_t.clone().requires_grad_(), weak_t.clone().requires_grad_()]
    parts = [(torch.tensor([0, 1]), _Mix(0.3, torch.tensor([1, 0]))), (torch.tensor([2, 3]), None)]
    for terms in (
        stage1_loss(*student, *teacher, strong_y, weak_y, sm, wm, 1.0),
        stage2_supervised(*student, strong_y, weak_y, sm, wm).with_consistency(
            stage2_consistency(*student, *teacher, 1.0)
        ),
        stage2_supervised(*student, strong_y, weak_y, sm, wm).with_consistency(
            ict_consistency(*student, *teacher, parts, 1.0)
        ),
    ):
        assert all(not v.requires_grad for v in terms.logged().values())
        terms.total.backward()
        assert all(t.grad is not None and t.grad.abs().sum() > 0 for t in student)
        assert all(t.grad is None for t in teacher)
        for t in student:
            t.grad = None


def test_empty_part_and_bad_masks(predictions):
    strong_s, weak_s, strong_t, weak_t, strong_y, weak_y, sm, wm = predictions
    none = torch.zeros(4, dtype=torch.bool)
    terms = stage2_supervised(strong_s, weak_s, strong_y, weak_y, sm, none)
    assert terms.supervised_weak.item() == 0.0 and torch.isfinite(terms.total)
    with pytest.raises(ValueError, match="strong_mask"):
        stage1_loss(strong_s, weak_s, strong_t, weak_t, strong_y, weak_y, sm.long(), wm, 1.0)

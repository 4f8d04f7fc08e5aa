"""Three optimiser steps of each stage, step for step as the original ATST-SED code computed them.

``tests/data/golden/training_step_golden.json`` holds what the original trainers computed under a real Lightning
Trainer: a small encoder (12 blocks of width 64), 4 s clips made from stored noise seeds and tones, weights from
the golden recipe, and a stored random plan (mixup coins, coefficients and permutations, frequency-warp bands).
Here the same inputs go through our own LightningModule under a real Trainer, with the plan injected at our own
draw sites (``AugmentationDraws``), and every stored number is compared within the file's tolerances: loss terms,
the consistency weight, learning rates before and after each scheduler step, the EMA factor, per-tensor update
norms and sums of student and teacher, gradient norms, BatchNorm statistics, and the order of the EMA update
(the teacher must average in the student of the step's forward pass, not the updated one).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from desed_task.augment import MixupParams, WarpBand, warp_band_height
from desed_task.data import LabelEncoder
from desed_task.features import SEDFrontend
from desed_task.nnet import CRNN, FrameATSTEncoder
from desed_task.training.module import SEDTask, Stage2SEDTask
from desed_task.training.options import TaskOptions
from golden_weights import recipe_tensor

STAGES = ("1", "2")


# ------------------------------------------------------------------------------------------------ inputs
def clip_audio(clip: dict, n_samples: int, sample_rate: int) -> torch.Tensor:
    """Noise plus three gated tones, float64 arithmetic then float32 (the file's input recipe)."""
    g = torch.Generator().manual_seed(clip["noise_seed"])
    t = torch.arange(n_samples, dtype=torch.float64) / sample_rate
    audio = 0.02 * torch.randn(n_samples, generator=g, dtype=torch.float64)
    for tone in clip["tones"]:
        env = ((t >= tone["onset_s"]) & (t < tone["onset_s"] + tone["duration_s"])).double()
        audio = audio + tone["amp"] * env * torch.sin(2 * math.pi * tone["f0_hz"] * t)
    return audio.float()


def clip_labels(clip: dict, n_classes: int, n_frames: int) -> torch.Tensor:
    """(classes, frames): strong events as frame ranges, weak tags in frame 0, unlabeled all zero."""
    labels = torch.zeros(n_classes, n_frames)
    for label, onset, offset in clip.get("strong_events", []):
        labels[label, onset:offset] = 1.0
    for label in clip.get("weak_tags", []):
        labels[label, 0] = 1.0
    return labels


def golden_batches(golden: dict, stage: str) -> list[dict]:
    common = golden["common"]
    batches = []
    for step in golden["stages"][stage]["inputs"]["steps"]:
        clips = step["clips"]
        audio = torch.stack([clip_audio(c, common["n_samples"], common["sample_rate"]) for c in clips])
        labels = torch.stack([clip_labels(c, len(common["classes"]), common["n_out_frames"]) for c in clips])
        batches.append(
            {
                "audio": audio,
                "labels": labels,
                "subsets": [c["subset"] for c in clips],
                "clip_ids": [f"step{step['step']}_clip{c['index']}" for c in clips],
            }
        )
    return batches


def salted_state_dict(keys: list[str], shapes: list[list[int]], salt: str = "") -> dict[str, torch.Tensor]:
    return {key: recipe_tensor(key, tuple(shape), salt) for key, shape in zip(keys, shapes)}


# ------------------------------------------------------------------------------------------ the random plan
class PlannedDraws:
    """Returns the golden plan's stored draws where ``AugmentationDraws`` would draw, and records the calls."""

    def __init__(self, steps: list[dict]) -> None:
        self.plans = [s["plan"] for s in steps]
        self.step = -1
        self.calls: list[tuple] = []

    @property
    def plan(self) -> dict:
        return self.plans[self.step]

    def mixup_applies(self, prob: float) -> bool:
        self.step += 1  # the mixup coin is the first draw of every step
        assert prob == 0.5
        self.calls.append(("mixup_coin",))
        return self.plan["mixup_applied"]

    def freq_warp_applies(self, prob: float) -> bool:
        assert prob == 0.5
        self.calls.append(("freq_warp_coin",))
        return self.plan["freq_warp_applied"]

    def mixup(self, part: str, size: int, alpha: float) -> MixupParams:
        drawn = self.plan["mixup"][part]
        assert alpha == 0.2 and size == len(drawn["perm"])
        self.calls.append(("mixup", part))
        return MixupParams(coef=drawn["coef"], perm=torch.tensor(drawn["perm"], dtype=torch.long))

    def warp_band(self, part: str, role: str, n_freq: int, min_ratio: float, max_ratio: float) -> WarpBand:
        drawn = self.plan["freq_warp"][f"{part}/{role}"]
        height = warp_band_height(drawn["u"], n_freq, min_ratio, max_ratio)
        assert height == drawn["height"], "our band height formula differs from the original's"
        self.calls.append(("warp", part, role))
        return WarpBand(start=drawn["start"], height=height)

    def get_state(self) -> torch.Tensor:
        return torch.zeros(1)


# ------------------------------------------------------------------------------------------------ the run
@dataclass
class StepRecord:
    terms: object = None
    consistency_weight: float = float("nan")
    ema_alpha: float | None = None
    outputs: dict = field(default_factory=dict)
    lr_used: list[float] = field(default_factory=list)
    lr_after: list[float] = field(default_factory=list)
    group_keys: list[list[str]] = field(default_factory=list)
    grad_l2: dict[str, float] = field(default_factory=dict)
    before: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    after: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    buffers: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)


def _params(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in net.named_parameters()}


class Recorder(pl.Callback):
    """Snapshots around every optimiser step; stops after the first epoch (the golden's three steps)."""

    def __init__(self, records: list[StepRecord]) -> None:
        self.records = records

    def on_train_batch_start(self, trainer, task, batch, batch_idx) -> None:
        self.records.append(StepRecord())
        self.records[-1].before = {"student": _params(task.sed_student), "teacher": _params(task.sed_teacher)}

    def on_before_optimizer_step(self, trainer, task, optimizer) -> None:
        record = self.records[-1]
        record.lr_used = [g["lr"] for g in optimizer.param_groups]
        record.group_keys = [list(g["param_names"]) for g in optimizer.param_groups]
        record.grad_l2 = {
            k: p.grad.double().norm().item() for k, p in task.sed_student.named_parameters() if p.grad is not None
        }

    def on_train_batch_end(self, trainer, task, outputs, batch, batch_idx) -> None:
        record = self.records[-1]
        record.lr_after = [g["lr"] for g in trainer.optimizers[0].param_groups]
        record.after = {"student": _params(task.sed_student), "teacher": _params(task.sed_teacher)}
        record.buffers = {
            role: {k: v.detach().clone() for k, v in net.named_buffers()}
            for role, net in (("student", task.sed_student), ("teacher", task.sed_teacher))
        }

    def on_train_epoch_end(self, trainer, task) -> None:
        trainer.should_stop = True


def _record_calls(task: SEDTask, records: list[StepRecord]) -> None:
    """Wrap the instance's loss and EMA-factor methods and hook both networks' outputs (our own code paths)."""
    loss, alpha = task.training_loss, task.ema_alpha

    def training_loss(*args):
        terms = loss(*args)
        records[-1].terms = terms
        records[-1].consistency_weight = task.consistency_weight()
        return terms

    def ema_alpha():
        value = alpha()
        records[-1].ema_alpha = value
        return value

    task.training_loss, task.ema_alpha = training_loss, ema_alpha
    for role, net in (("student", task.sed_student), ("teacher", task.sed_teacher)):
        net.register_forward_hook(
            lambda module, inputs, out, role=role: records[-1].outputs.__setitem__(role, [o.detach() for o in out])
        )


def build_task(golden: dict, stage: str, tmp_path) -> SEDTask:
    common, conf = golden["common"], golden["stages"][stage]["config"]
    network = common["network"]
    params, buffers = golden["stages"][stage]["params"], golden["stages"][stage]["buffers"]

    def crnn() -> CRNN:
        encoder = FrameATSTEncoder(
            embed_dim=network["atst_embed_dim"],
            depth=network["atst_depth"],
            num_heads=network["atst_num_heads"],
            dropout=0.0,
        )
        return CRNN(encoder, n_classes=len(common["classes"]), cnn_dropout=0.0, dropout=0.0)

    student, teacher = crnn(), crnn()
    keys, shapes = params["keys"] + buffers["keys"], params["shapes"] + buffers["shapes"]
    student.load_state_dict(salted_state_dict(keys, shapes), strict=True)
    teacher.load_state_dict(salted_state_dict(keys, shapes, "" if stage == "1" else "teacher:"), strict=True)
    student.encoder.set_trainable_groups(conf["opt.tfm_trainable_layers"])
    options = TaskOptions(
        n_epochs=conf["training.n_epochs"],
        n_epochs_warmup=conf["training.n_epochs_warmup"],
        consistency_weight_max=float(conf["training.const_max"]),
        ema_factor=conf["training.ema_factor"],
        ema_warmup=stage == "1",
        mixup_prob=0.5,
        mixup_alpha=conf["mixup_beta_params"][0],
        freq_warp_prob=0.5 if stage == "2" else 0.0,
        cnn_lr=conf["opt.cnn_lr"],
        rnn_lr=conf["opt.rnn_lr"],
        encoder_lr=conf["opt.tfm_lr"],
        encoder_lr_scale=conf["opt.tfm_lr_scale"],
        encoder_trainable_layers=conf["opt.tfm_trainable_layers"],
        betas=tuple(golden["stages"][stage]["optimizer"]["betas"]),
        cosine=conf["scheduler"]["cos_down"],
        min_lr_scale=conf["scheduler"]["min_lr_scaler"],
    )
    cls = Stage2SEDTask if stage == "2" else SEDTask
    encoder = LabelEncoder(
        common["classes"],
        audio_len=common["clip_seconds"],
        frame_hop=256,
        net_pooling=4,
        sample_rate=common["sample_rate"],
    )
    return cls(student, SEDFrontend(), encoder, options, tmp_path, teacher=teacher)


def run_three_steps(golden: dict, stage: str, tmp_path) -> tuple[SEDTask, list[StepRecord], PlannedDraws]:
    torch.manual_seed(0)
    task = build_task(golden, stage, tmp_path)
    steps = golden["stages"][stage]["inputs"]["steps"]
    task.draws = PlannedDraws(steps)
    records: list[StepRecord] = []
    _record_calls(task, records)
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=golden["common"]["n_epochs"],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        callbacks=[Recorder(records)],
    )
    loader = DataLoader(golden_batches(golden, stage), batch_size=None, shuffle=False)
    trainer.fit(task, train_dataloaders=loader)
    assert len(records) == golden["common"]["n_steps"] == trainer.global_step
    return task, records, task.draws


@pytest.fixture(scope="module", params=STAGES)
def stage_run(request, training_step_golden, tmp_path_factory):
    stage = request.param
    task, records, draws = run_three_steps(training_step_golden, stage, tmp_path_factory.mktemp(f"stage{stage}"))
    return stage, task, records, draws


# ------------------------------------------------------------------------------------------------- checks
def close(ours: float, golden: float, rel: float, abs_: float = 0.0) -> bool:
    return abs(ours - golden) <= max(rel * abs(golden), abs_)


@pytest.mark.slow
def test_inputs_rebuild_the_golden_audio(training_step_golden):
    common = training_step_golden["common"]
    for stage in STAGES:
        for step in training_step_golden["stages"][stage]["inputs"]["steps"]:
            for clip in step["clips"]:
                audio = clip_audio(clip, common["n_samples"], common["sample_rate"])
                check = clip["audio_checksum"]
                assert audio[:4].tolist() == check["first4"]
                assert audio.double().sum().item() == pytest.approx(check["sum"], rel=1e-9, abs=1e-9)
                assert audio.double().norm().item() == pytest.approx(check["l2"], rel=1e-9)
                assert audio.abs().max().item() == check["max_abs"]


def test_initial_weights_follow_the_recipe(training_step_golden):
    for stage in STAGES:
        params = training_step_golden["stages"][stage]["params"]
        for role, salt in (("student", ""), ("teacher", "" if stage == "1" else "teacher:")):
            sums = [t.double().sum().item() for t in salted_state_dict(params["keys"], params["shapes"], salt).values()]
            np.testing.assert_allclose(sums, params["initial_sum"][role], rtol=1e-9, atol=1e-9)


def test_draws_follow_the_plan(stage_run, training_step_golden):
    stage, _, _, draws = stage_run
    assert draws.step == 2  # three steps, one mixup coin each
    for plan in draws.plans:
        assert plan.get("mixup_applied") is not None
    parts = {("mixup", p) for p in ("strong", "weak", "unlabeled")}
    mixed_steps = sum(p["mixup_applied"] for p in draws.plans)
    assert sum(c in parts for c in draws.calls) == 3 * mixed_steps
    if stage == "2":
        warped_steps = sum(p["freq_warp_applied"] for p in draws.plans)
        assert sum(c[0] == "warp" for c in draws.calls) == 6 * warped_steps


def test_loss_terms_weight_and_ema_factor(stage_run, training_step_golden):
    stage, _, records, _ = stage_run
    tol = training_step_golden["tolerances"]
    for k, (record, expected) in enumerate(zip(records, training_step_golden["stages"][stage]["expected_steps"])):
        weighted = expected["loss_weighted"]
        terms = record.terms
        ours = {
            "supervised_strong": terms.supervised_strong.item(),
            "supervised_weak": terms.supervised_weak.item(),
            "consistency_strong": terms.consistency_strong.item(),
            "consistency_weak": terms.consistency_weak.item(),
            "total": terms.total.item(),
        }
        for name, value in ours.items():
            assert close(value, weighted[name], tol["loss_rel"], tol["loss_abs"]), (k, name, value, weighted[name])
        assert close(record.consistency_weight, expected["consistency_weight"], tol["consistency_weight_rel"]), (
            k,
            record.consistency_weight,
            expected["consistency_weight"],
        )
        assert abs(record.ema_alpha - expected["ema_alpha"]) <= tol["ema_alpha_abs"], (k, record.ema_alpha)


def _mixed(x: torch.Tensor, drawn: dict) -> torch.Tensor:
    perm = torch.tensor(drawn["perm"])
    return (drawn["coef"] * x + (1 - drawn["coef"]) * x[perm]).clamp(0, 1)


PART_INDEX = {"strong": [0, 1], "weak": [2, 3], "unlabeled": [4, 5]}


def test_network_outputs_give_the_original_loss_calls(stage_run, training_step_golden):
    """The raw BCE and MSE calls of the original, recomputed from our student's and teacher's outputs."""
    stage, _, records, draws = stage_run
    tol = training_step_golden["tolerances"]
    batches = golden_batches(training_step_golden, stage)
    for k, (record, expected, batch) in enumerate(
        zip(records, training_step_golden["stages"][stage]["expected_steps"], batches)
    ):
        plan = draws.plans[k]
        labels = batch["labels"]
        weak_targets = (labels > 0).any(-1).float()
        mixed_labels, mixed_weak_targets = labels.clone(), weak_targets.clone()
        if plan["mixup_applied"]:
            for part, index in PART_INDEX.items():
                mixed_labels[index] = _mixed(labels[index], plan["mixup"][part])
                mixed_weak_targets[index] = _mixed(weak_targets[index], plan["mixup"][part])
        # Stage 1's teacher sees the mixed input, stage 2's the un-mixed one: each is scored on its input's labels.
        teacher_labels, teacher_weak = (mixed_labels, mixed_weak_targets) if stage == "1" else (labels, weak_targets)
        strong_s, weak_s = record.outputs["student"]
        strong_t, weak_t = record.outputs["teacher"]
        s, w = PART_INDEX["strong"], PART_INDEX["weak"]
        bce = [
            F.binary_cross_entropy(strong_s[s], mixed_labels[s]),
            F.binary_cross_entropy(weak_s[w], mixed_weak_targets[w]),
            F.binary_cross_entropy(strong_t[s], teacher_labels[s]),
            F.binary_cross_entropy(weak_t[w], teacher_weak[w]),
        ]
        original = expected["loss_original"]
        for i, (ours, golden) in enumerate(zip(bce, original["bce_calls"], strict=True)):
            assert close(ours.item(), golden, tol["loss_rel"], tol["loss_abs"]), (k, "bce", i, ours.item(), golden)
        if expected["loss_kind"] == "ict":
            mse = []
            for part, index in PART_INDEX.items():
                mse.append(F.mse_loss(strong_s[index], _mixed(strong_t[index], plan["mixup"][part])))
                mse.append(F.mse_loss(weak_s[index], _mixed(weak_t[index], plan["mixup"][part])))
            golden_mse = original["mse_calls"]
        else:
            mse = [F.mse_loss(strong_s, strong_t), F.mse_loss(weak_s, weak_t)]
            golden_mse = [original["strong_self_sup_loss"], original["weak_self_sup_loss"]]
        for i, (ours, golden) in enumerate(zip(mse, golden_mse, strict=True)):
            assert close(ours.item(), golden, tol["loss_rel"], tol["loss_abs"]), (k, "mse", i, ours.item(), golden)


def test_learning_rates_and_groups(stage_run, training_step_golden):
    stage, _, records, _ = stage_run
    tol = training_step_golden["tolerances"]
    groups = training_step_golden["stages"][stage]["optimizer"]["groups"]
    for k, (record, expected) in enumerate(zip(records, training_step_golden["stages"][stage]["expected_steps"])):
        assert record.group_keys == [g["keys"] for g in groups]
        np.testing.assert_allclose(record.lr_used, expected["lr_used"], rtol=tol["lr_rel"], atol=0, err_msg=str(k))
        np.testing.assert_allclose(record.lr_after, expected["lr_after"], rtol=tol["lr_rel"], atol=0, err_msg=str(k))


def test_student_and_teacher_after_every_step(stage_run, training_step_golden):
    stage, _, records, _ = stage_run
    tol = training_step_golden["tolerances"]
    params = training_step_golden["stages"][stage]["params"]
    initial = records[0].before
    failures = []
    for k, (record, expected) in enumerate(zip(records, params["after_step"])):
        for role in ("student", "teacher"):
            golden = expected[role]
            for j, key in enumerate(params["keys"]):
                if params["noisy"][j]:
                    continue
                n = math.prod(params["shapes"][j])
                diff = (record.after[role][key] - initial[role][key]).double()  # float64 of the float32 difference
                l2, l1 = diff.norm().item(), diff.abs().sum().item()
                change = record.after[role][key].double().sum().item() - params["initial_sum"][role][j]
                golden_change = golden["sum"][j] - params["initial_sum"][role][j]
                if abs(l2 - golden["update_l2"][j]) > tol["update_l2_rel"] * golden["update_l2"][j] + tol[
                    "update_l2_abs_per_sqrt_n"
                ] * math.sqrt(n):
                    failures.append((k, role, key, "update_l2", l2, golden["update_l2"][j]))
                if (
                    abs(l1 - golden["update_l1"][j])
                    > tol["update_l1_rel"] * golden["update_l1"][j] + tol["update_l1_abs_per_n"] * n
                ):
                    failures.append((k, role, key, "update_l1", l1, golden["update_l1"][j]))
                if (
                    abs(change - golden_change)
                    > tol["sum_change_rel_to_update_l1"] * golden["update_l1"][j] + tol["sum_abs_per_n"] * n
                ):
                    failures.append((k, role, key, "sum", change, golden_change))
        for j, key in enumerate(params["keys"]):
            golden_grad = expected["student_grad_l2"][j]
            if golden_grad is None or params["noisy"][j]:
                assert golden_grad is not None or key not in record.grad_l2, key
                continue
            if not close(record.grad_l2[key], golden_grad, tol["grad_l2_rel"]):
                failures.append((k, "student", key, "grad_l2", record.grad_l2[key], golden_grad))
    assert not failures, f"{len(failures)} mismatches, first: {failures[:5]}"
    if stage == "1":  # alpha 0.5 averages two identical models: the teacher has not moved after step 1
        assert all(torch.equal(records[0].after["teacher"][k], initial["teacher"][k]) for k in initial["teacher"])


def test_batchnorm_statistics(stage_run, training_step_golden):
    stage, _, records, _ = stage_run
    tol = training_step_golden["tolerances"]
    buffers = training_step_golden["stages"][stage]["buffers"]
    for k, (record, expected) in enumerate(zip(records, buffers["after_step"])):
        for role in ("student", "teacher"):
            for j, key in enumerate(buffers["keys"]):
                value = record.buffers[role][key].double().sum().item()
                if key.endswith("num_batches_tracked"):
                    assert value == expected[role][j], (k, role, key)
                elif not buffers["noisy"][j]:
                    n = math.prod(buffers["shapes"][j])
                    assert abs(value - expected[role][j]) <= tol["running_var_sum_abs_per_n"] * n, (k, role, key)


def _ulp(x: torch.Tensor) -> torch.Tensor:
    return torch.nextafter(x.abs(), torch.full_like(x, math.inf)) - x.abs()


def test_teacher_averages_the_student_of_the_forward_pass(stage_run):
    """``r = T_k − (α T_{k−1} + (1 − α) S_{k−1})`` is ≈ 0 relative to ``(1 − α)|S_k − S_{k−1}|`` (≈ 1 if the
    teacher had averaged in the updated student)."""
    _, _, records, _ = stage_run
    for k, record in enumerate(records):
        alpha = record.ema_alpha
        ratios = []
        for key, t_new in record.after["teacher"].items():
            t_old, s_old = record.before["teacher"][key], record.before["student"][key]
            s_new = record.after["student"][key]
            residual = (t_new.double() - (alpha * t_old.double() + (1 - alpha) * s_old.double())).abs()
            scale = (1 - alpha) * (s_new.double() - s_old.double()).abs()
            measurable = scale > 20 * _ulp(t_new).double()
            ratios.append((residual[measurable] / scale[measurable]))
        ratios = torch.cat(ratios)
        assert ratios.numel() > 1000
        assert ratios.mean().item() < 0.05, (k, ratios.mean().item())

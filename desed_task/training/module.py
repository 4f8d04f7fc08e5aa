"""The mean-teacher LightningModule of both ATST-SED stages (SPEC §5, §6).

Stage 1 and stage 2 share everything but the training loss and the optimiser: ``SEDTask`` is stage 1 and
``Stage2SEDTask`` overrides exactly those two methods (and the checkpoint-selection objective).
"""
from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Literal

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from desed_task.augment import mix, mix_labels, warp_band
from desed_task.data import LabelEncoder
from desed_task.evaluation import (
    median_filter_scores,
    psds_sed_scores_eval,
    score_dataframes,
    weak_f1_macro,
    write_scores_only,
    write_test_outputs,
)
from desed_task.features import ATSTFrontend, SEDFrontend
from desed_task.nnet import CRNN
from desed_task.training.batch import BatchParts
from desed_task.training.draws import AugmentationDraws
from desed_task.training.ema import ema_update, warmup_ema_alpha
from desed_task.training.epoch_means import EpochMeans
from desed_task.training.options import TaskOptions
from desed_task.training.losses import ict_consistency, stage1_loss, stage2_consistency, stage2_supervised
from desed_task.training.param_groups import stage1_param_groups, stage2_param_groups
from desed_task.training.scheduler import RampUpCosineLR, consistency_weight
from desed_task.training.score_buffer import ScoreBuffer

log = logging.getLogger(__name__)

MODELS = ("student", "teacher")
FREQ_WARP_RATIOS = (0.6, 1.0)  # the warped band spans U(0.6, 1.0) of the mel bins


class SEDTask(pl.LightningModule):
    """Stage 1: frozen encoder, mixup on the CRNN stream, mean-teacher consistency with warm-up EMA."""

    objective_mode: Literal["min", "max"] = "min"

    def __init__(
        self,
        student: CRNN,
        sed_frontend: SEDFrontend,
        atst_frontend: ATSTFrontend,
        encoder: LabelEncoder,
        options: TaskOptions,
        output_dir: str | Path,
        config: dict | None = None,
        teacher: CRNN | None = None,
    ) -> None:
        super().__init__()
        self.sed_student = student
        self.sed_teacher = teacher if teacher is not None else copy.deepcopy(student)
        for param in self.sed_teacher.parameters():
            param.requires_grad_(False)
        self.sed_frontend = sed_frontend
        self.atst_frontend = atst_frontend
        self.encoder = encoder
        self.options = options
        self.output_dir = Path(output_dir)
        self.save_hyperparameters(config or {}, logger=False)
        self.draws = AugmentationDraws(options.seed)
        self._val = {m: ScoreBuffer() for m in MODELS}
        self._test = {m: ScoreBuffer() for m in MODELS}
        self._val_losses = EpochMeans()
        self.test_metrics: dict[str, float] = {}

    # ---------------------------------------------------------------- features and predictions
    def features(self, sed_mel: torch.Tensor, atst_mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Scaled features of both streams from their mel spectrograms."""
        return self.sed_frontend.scale(sed_mel), self.atst_frontend.scale(atst_mel)

    def predict_scores(self, audio: torch.Tensor, model: Literal["student", "teacher"] = "teacher"):
        """Test-time path: waveform (B, samples) → strong (B, C, T), weak (B, C)."""
        net = self.sed_student if model == "student" else self.sed_teacher
        sed_feats, atst_feats = self.features(self.sed_frontend.mel(audio), self.atst_frontend.mel(audio))
        return net(sed_feats, atst_feats)

    def _mixup_parts(self, parts: BatchParts) -> dict[str, object] | None:
        """One mixup draw (coefficient, permutation) per non-empty part, or None when mixup is skipped."""
        if not self.draws.mixup_applies(self.options.mixup_prob):
            return None
        return {
            name: self.draws.mixup(name, index.numel(), self.options.mixup_alpha) for name, index in parts.named()
        }

    @staticmethod
    def _mix_parts(x: torch.Tensor, parts: BatchParts, mixing: dict, labels: bool = False) -> torch.Tensor:
        out = x.clone()
        for name, index in parts.named():
            params = mixing[name]
            out[index] = mix_labels(x[index], params) if labels else mix(x[index], params)
        return out

    @staticmethod
    def _weak_targets(labels: torch.Tensor) -> torch.Tensor:
        """Clip labels (B, C): a class is present when any frame is active (weak clips use frame 0)."""
        return (labels > 0).any(dim=-1).to(labels.dtype)

    @property
    def epoch_len(self) -> int:
        """Optimiser steps per epoch (1 outside a trainer, e.g. when a loss is computed by hand)."""
        trainer = self._trainer
        if trainer is None:
            return 1
        return max(1, int(trainer.estimated_stepping_batches) // max(1, trainer.max_epochs or 1))

    @property
    def rampup_steps(self) -> int:
        return self.options.n_epochs_warmup * self.epoch_len

    @property
    def schedule_step(self) -> int:
        """The scheduler's step counter during the current optimiser step: 1 on the first.

        It is the count that set this step's learning rate; the consistency weight and the stage-1 EMA warm-up
        read it too, as in the original. Lightning's ``global_step`` counts completed optimiser steps (0 during
        the first), so the counter is ``global_step + 1``; with gradient accumulation it stays the same over the
        batches of one optimiser step. A resumed run restores ``global_step``, so the counter continues.
        """
        return self.global_step + 1

    def consistency_weight(self) -> float:
        return consistency_weight(self.schedule_step, self.rampup_steps, self.options.const_max)

    # ---------------------------------------------------------------- training
    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        parts = BatchParts.from_subsets(batch["subsets"], device=self.device)
        terms = self.training_loss(batch["audio"], batch["labels"], parts)
        self.log("train/loss", terms.total, prog_bar=True, batch_size=batch["audio"].shape[0])
        for name, value in terms.logged().items():
            self.log(f"train/{name}", value, batch_size=batch["audio"].shape[0])
        self.log("train/consistency_weight", self.consistency_weight())
        self.log("train/lr", self.optimizers().param_groups[-1]["lr"])
        return terms.total

    def training_loss(self, audio: torch.Tensor, labels: torch.Tensor, parts: BatchParts):
        """Stage 1 (SPEC §5): mixup on the CRNN stream; student and teacher see the same input."""
        sed_mel, atst_mel = self.sed_frontend.mel(audio), self.atst_frontend.mel(audio)
        weak_targets = self._weak_targets(labels)
        mixing = self._mixup_parts(parts)
        if mixing is not None:
            sed_mel = self._mix_parts(sed_mel, parts, mixing)
            labels = self._mix_parts(labels, parts, mixing, labels=True)
            weak_targets = self._mix_parts(weak_targets, parts, mixing, labels=True)
        sed_feats, atst_feats = self.features(sed_mel, atst_mel)
        strong_s, weak_s = self.sed_student(sed_feats, atst_feats)
        with torch.no_grad():
            strong_t, weak_t = self.sed_teacher(sed_feats, atst_feats)
        b = audio.shape[0]
        return stage1_loss(
            strong_s, weak_s, strong_t, weak_t, labels, weak_targets,
            parts.mask("strong", b), parts.mask("weak", b), self.consistency_weight(),
        )

    def ema_alpha(self) -> float:
        if self.options.ema_warmup:
            return warmup_ema_alpha(self.schedule_step, self.options.ema_factor)
        return self.options.ema_factor

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """The teacher averages in the student as it was in this step's forward passes, before the update.

        The original does this in ``on_before_zero_grad`` (after the forward pass, before backward); the student
        is the same until the optimiser steps, so this hook gives the same teacher. It also runs once per
        optimiser step under gradient accumulation, after the last batch of the step, where Lightning calls
        ``on_before_zero_grad`` at the first batch, which would change the teacher between accumulated batches.
        """
        ema_update(self.sed_teacher, self.sed_student, self.ema_alpha())

    def configure_optimizers(self):
        opt = self.options
        groups = stage1_param_groups(self.sed_student.named_parameters(), cnn_lr=opt.cnn_lr, lr=opt.lr)
        return self._optimizer_and_schedule(groups)

    def _optimizer_and_schedule(self, groups: list[dict]):
        opt = self.options
        optimizer = torch.optim.Adam(groups, betas=tuple(opt.betas))
        scheduler = RampUpCosineLR(
            optimizer,
            max_lrs=[g["lr"] for g in groups],
            rampup_steps=self.rampup_steps,
            total_steps=opt.n_epochs * self.epoch_len,
            min_lr_scale=opt.min_lr_scale,
            cosine=opt.cosine,
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    # ---------------------------------------------------------------- validation
    def _predict_batch(self, batch: dict):
        audio = batch["audio"]
        sed_feats, atst_feats = self.features(self.sed_frontend.mel(audio), self.atst_frontend.mel(audio))
        return {m: net(sed_feats, atst_feats) for m, net in (("student", self.sed_student), ("teacher", self.sed_teacher))}

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        parts = BatchParts.from_subsets(batch["subsets"], device=self.device)
        labels = batch["labels"]
        weak_targets = self._weak_targets(labels)
        subsets = batch["subsets"]
        for model, (strong, weak) in self._predict_batch(batch).items():
            strong, weak = strong.float(), weak.float()
            if parts.weak.numel():
                loss = F.binary_cross_entropy(weak[parts.weak], weak_targets[parts.weak])
                self._val_losses.add(f"{model}/weak_loss", loss.item(), parts.weak.numel())
            for subset in ("synth_val", "strong_val"):
                index = torch.tensor([i for i, s in enumerate(subsets) if s == subset], device=self.device)
                if index.numel():
                    loss = F.binary_cross_entropy(strong[index], labels[index])
                    self._val_losses.add(f"{model}/{subset}_strong_loss", loss.item(), index.numel())
            self._val[model].add(batch["clip_ids"], subsets, strong, weak, weak_targets)

    def on_validation_epoch_end(self) -> None:
        metrics = {}
        for name, value in self._val_losses.means().items():
            metrics[f"val/{name}"] = value
        for model in MODELS:
            scores = self._val[model].gathered()
            metrics.update(self._validation_metrics(model, scores))
            self._val[model].clear()
        self._val_losses.clear()
        metrics["val/obj_metric"] = self.validation_objective(metrics)
        self.log_dict(metrics, sync_dist=False)

    def _validation_metrics(self, model: str, scores: ScoreBuffer) -> dict[str, float]:
        out = {}
        weak_part = scores.select("weak_val")
        if weak_part.clip_ids:
            out[f"val/{model}/weak_f1_macro"] = weak_f1_macro(
                np.stack(weak_part.weak), np.stack(weak_part.weak_targets)
            )
        for subset in ("synth_val", "strong_val"):
            part = scores.select(subset)
            reference = self.options.references.get(subset)
            if not part.clip_ids or reference is None:
                continue
            dataframes = self._score_dataframes(part)
            psds = psds_sed_scores_eval(dataframes, reference.ground_truth, reference.durations)
            out[f"val/{model}/{subset}_psds1"] = psds["psds1"]
            out[f"val/{model}/{subset}_psds2"] = psds["psds2"]
        return out

    def validation_objective(self, metrics: dict[str, float]) -> float:
        """Stage 1: mean of the teacher's weak loss and strong-real loss (lower is better)."""
        terms = [metrics.get("val/teacher/weak_loss"), metrics.get("val/teacher/strong_val_strong_loss")]
        terms = [t for t in terms if t is not None]
        return float(np.mean(terms)) if terms else float("inf")

    def _score_dataframes(self, scores: ScoreBuffer, postprocess: bool = True) -> dict[str, pd.DataFrame]:
        strong = scores.strong_array()
        if postprocess:
            strong = median_filter_scores(strong, self.options.median_window)
        return score_dataframes(strong, scores.clip_ids, self.encoder.labels, self.encoder.timestamps())

    # ---------------------------------------------------------------- test and evaluation
    def test_step(self, batch: dict, batch_idx: int) -> None:
        weak_targets = self._weak_targets(batch["labels"])
        for model, (strong, weak) in self._predict_batch(batch).items():
            self._test[model].add(batch["clip_ids"], batch["subsets"], strong.float(), weak.float(), weak_targets)

    def on_test_epoch_end(self) -> None:
        gathered = {m: self._test[m].gathered() for m in MODELS}
        for buffer in self._test.values():
            buffer.clear()
        if self.trainer.global_rank != 0:
            return
        reference = self.options.references.get("test")
        results: dict[str, float] = {}
        for model, scores in gathered.items():
            folder = self.output_dir / model
            raw = self._score_dataframes(scores, postprocess=False)
            smoothed = self._score_dataframes(scores, postprocess=True)
            if reference is None:
                write_scores_only(folder, raw, smoothed)
                continue
            metrics = write_test_outputs(
                folder, raw, smoothed, reference.ground_truth, reference.durations,
                self.encoder.labels, n_thresholds=self.options.n_test_thresholds,
            )
            results.update({f"{model}/{k}": v for k, v in metrics.items()})
        self.test_metrics = results
        if results:
            self.log_dict({f"test/{k}": v for k, v in results.items()}, rank_zero_only=True)

    # ---------------------------------------------------------------- checkpoints
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Published layout (SPEC §4): top-level student/teacher dicts beside Lightning's state_dict, and the
        random states that make a resumed run continue exactly like an uninterrupted one."""
        checkpoint["sed_student"] = self.sed_student.state_dict()
        checkpoint["sed_teacher"] = self.sed_teacher.state_dict()
        checkpoint["rng_states"] = {"torch": torch.get_rng_state(), "augment": self.draws.get_state()}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        states = checkpoint.get("rng_states")
        if states is not None:
            torch.set_rng_state(states["torch"])
            self.draws.set_state(states["augment"])


class Stage2SEDTask(SEDTask):
    """Stage 2: everything trainable with layer-wise learning rates, mixup on both streams with
    interpolation consistency, frequency warping of the ATST stream, teacher on un-mixed inputs."""

    objective_mode: Literal["min", "max"] = "max"

    def training_loss(self, audio: torch.Tensor, labels: torch.Tensor, parts: BatchParts):
        sed_mel, atst_mel = self.sed_frontend.mel(audio), self.atst_frontend.mel(audio)
        weak_targets = self._weak_targets(labels)
        mixing = self._mixup_parts(parts)
        if mixing is not None:
            student_sed = self._mix_parts(sed_mel, parts, mixing)
            student_atst = self._mix_parts(atst_mel, parts, mixing)
            labels = self._mix_parts(labels, parts, mixing, labels=True)
            weak_targets = self._mix_parts(weak_targets, parts, mixing, labels=True)
        else:
            student_sed, student_atst = sed_mel, atst_mel
        sed_s, atst_s = self.features(student_sed, student_atst)
        sed_t, atst_t = self.features(sed_mel, atst_mel)
        if self.draws.freq_warp_applies(self.options.freq_warp_prob):
            atst_s = self._warp_parts(atst_s, parts, "student")
            atst_t = self._warp_parts(atst_t, parts, "teacher")
        strong_s, weak_s = self.sed_student(sed_s, atst_s)
        with torch.no_grad():
            strong_t, weak_t = self.sed_teacher(sed_t, atst_t)
        b = audio.shape[0]
        terms = stage2_supervised(
            strong_s, weak_s, labels, weak_targets, parts.mask("strong", b), parts.mask("weak", b)
        )
        w = self.consistency_weight()
        if mixing is not None:
            ict_parts = [(index, mixing[name]) for name, index in parts.named()]
            consistency = ict_consistency(strong_s, weak_s, strong_t, weak_t, ict_parts, w)
        else:
            consistency = stage2_consistency(strong_s, weak_s, strong_t, weak_t, w)
        return terms.with_consistency(consistency)

    def _warp_parts(self, feats: torch.Tensor, parts: BatchParts, role: str) -> torch.Tensor:
        """Each part's features warped with its own band (SPEC: shared by the part's clips)."""
        out = feats.clone()
        for name, index in parts.named():
            band = self.draws.warp_band(name, role, feats.shape[1], *FREQ_WARP_RATIOS)
            out[index] = warp_band(feats[index], band)
        return out

    def ema_alpha(self) -> float:
        return self.options.ema_factor

    def configure_optimizers(self):
        opt = self.options
        groups = stage2_param_groups(
            self.sed_student.named_parameters(),
            cnn_lr=opt.cnn_lr,
            rnn_lr=opt.rnn_lr,
            tfm_lr=opt.tfm_lr,
            tfm_lr_scale=opt.tfm_lr_scale,
            tfm_trainable_layers=opt.tfm_trainable_layers,
            depth=len(self.sed_student.encoder.blocks),
        )
        return self._optimizer_and_schedule(groups)

    def validation_objective(self, metrics: dict[str, float]) -> float:
        """Stage 2: the teacher's PSDS1 + PSDS2 on synthetic validation (higher is better)."""
        return float(
            metrics.get("val/teacher/synth_val_psds1", 0.0) + metrics.get("val/teacher/synth_val_psds2", 0.0)
        )

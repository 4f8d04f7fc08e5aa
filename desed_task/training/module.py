"""The mean-teacher LightningModule of both ATST-SED stages (docs/recipe.md §5, §6).

The stages differ by configuration (trainable encoder groups and their learning rates, EMA warm-up, schedules,
frequency warping, the checkpoint objective) and by one loss: ``SEDTask.training_loss`` is stage 1's,
``Stage2SEDTask`` overrides it with stage 2's interpolation consistency. Validation and test steps live in
``EvaluationSteps``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import lightning.pytorch as pl
import torch

from desed_task.augment import MixupParams, mix, mix_labels, warp_band
from desed_task.data import LabelEncoder
from desed_task.features import MelFrontend, SEDFrontend
from desed_task.nnet import CRNN
from desed_task.nnet.sed_model import Features, SEDModel
from desed_task.postprocess import Params
from desed_task.training.batch import BatchParts
from desed_task.training.compute import compile_in_place
from desed_task.training.draws import AugmentationDraws
from desed_task.training.ema import ema_update, warmup_ema_alpha
from desed_task.training.evaluation_steps import EvaluationSteps, weak_targets_of
from desed_task.training.losses import ict_consistency, stage1_loss, stage2_consistency, stage2_supervised
from desed_task.training.objectives import OBJECTIVES
from desed_task.training.optimizer import adam
from desed_task.training.options import EvaluationReference, TaskOptions
from desed_task.training.param_groups import param_groups
from desed_task.training.scheduler import RampUpCosineLR, consistency_weight

FREQ_WARP_RATIOS = (0.6, 1.0)  # the warped band spans U(0.6, 1.0) of the mel bins


@dataclass
class AugmentedInputs:
    """The shared opening of both losses: mel spectrograms, clean and as the student sees them, and targets."""

    sed_mel: torch.Tensor  # (B, F_sed, T_sed), un-mixed
    encoder_mel: torch.Tensor  # (B, F_enc, T_enc), un-mixed
    student_sed_mel: torch.Tensor
    student_encoder_mel: torch.Tensor
    labels: torch.Tensor  # (B, C, T_out), mixed where the inputs were
    weak_targets: torch.Tensor  # (B, C)
    mixing: dict[str, MixupParams] | None


class SEDTask(EvaluationSteps, pl.LightningModule):
    """Mean-teacher training of a CRNN and its EMA teacher, with stage 1's loss.

    The encoder's features come from the student's encoder unit (``student.encoder.frontend``); stage 1 mixes
    only the CRNN stream (``mixes_encoder_stream``) and shows student and teacher the same input. ``postprocess``
    (tuned parameters of ``desed_task.postprocess``) adds a second set of test outputs and metrics beside the
    recipe's decoding; ``validation_scores_dir`` makes validation write its raw score folders (for tuning).
    """

    mixes_encoder_stream = False

    def __init__(
        self,
        student: CRNN,
        sed_frontend: SEDFrontend,
        label_encoder: LabelEncoder,
        options: TaskOptions,
        output_dir: str | Path,
        references: dict[str, EvaluationReference] | None = None,
        config: dict | None = None,
        teacher: CRNN | None = None,
        postprocess: Params | None = None,
    ) -> None:
        super().__init__()
        self.sed_student = student
        self.sed_teacher = teacher if teacher is not None else copy.deepcopy(student)
        for param in self.sed_teacher.parameters():
            param.requires_grad_(False)
        self.sed_frontend = sed_frontend
        self.label_encoder = label_encoder
        self.options = options
        self.references = dict(references or {})
        self.output_dir = Path(output_dir)
        self.objective = OBJECTIVES[options.objective]
        self.postprocess = postprocess
        self.validation_scores_dir: Path | None = None
        self.save_hyperparameters(config or {}, logger=False)
        self.draws = AugmentationDraws(options.seed)
        self._init_buffers()
        if options.compile:
            compile_in_place(self.sed_student, self.sed_teacher)

    @property
    def objective_mode(self) -> Literal["min", "max"]:
        return self.objective.mode

    @property
    def encoder_frontend(self) -> MelFrontend:
        return self.sed_student.encoder.frontend

    # ---------------------------------------------------------------- features and predictions
    def sed_model(self, model: Literal["student", "teacher"] = "teacher") -> SEDModel:
        """The student or teacher network as a ``SEDModel``; both take the student's encoder front-end."""
        network = self.sed_student if model == "student" else self.sed_teacher
        return SEDModel(network, self.sed_frontend, self.label_encoder, self.encoder_frontend)

    def features(self, sed_mel: torch.Tensor, encoder_mel: torch.Tensor) -> Features:
        """Scaled features of both streams from their mel spectrograms."""
        return self.sed_model("student").scaled(sed_mel, encoder_mel)

    def predict_scores(self, audio: torch.Tensor, model: Literal["student", "teacher"] = "teacher"):
        """Test-time path: waveform (B, samples) → strong (B, C, T), weak (B, C)."""
        return self.sed_model(model).scores(audio)

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
        return consistency_weight(self.schedule_step, self.rampup_steps, self.options.consistency_weight_max)

    # ---------------------------------------------------------------- modes
    def train(self, mode: bool = True) -> "SEDTask":
        """Like nn.Module.train; while the student's encoder is frozen (stage 1), the encoders of student and
        teacher stay in eval mode, as the original's ``atst_frame.eval()``. A trainable encoder (stage 2) trains
        in both networks like their other parts (the teacher's has no gradient in either stage)."""
        super().train(mode)
        if mode:
            encoder_trains = not self.sed_student.encoder.is_frozen()
            self.sed_student.encoder.train(encoder_trains)
            self.sed_teacher.encoder.train(encoder_trains)
        return self

    def on_train_epoch_start(self) -> None:
        """Training modes from the first step on: Lightning leaves the modules' modes as they were built (and
        restores them after each validation), so it never applies the frozen encoder's eval mode itself."""
        self.train()

    # ---------------------------------------------------------------- training
    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        parts = BatchParts.from_subsets(batch["subsets"], device=self.device)
        terms = self.training_loss(batch["audio"], batch["labels"], parts)
        size = batch["audio"].shape[0]
        self.log("train/loss", terms.total, prog_bar=True, batch_size=size)
        for name, value in terms.logged().items():
            self.log(f"train/{name}", value, batch_size=size)
        self.log("train/consistency_weight", self.consistency_weight())
        return terms.total

    def _mix_parts(self, x: torch.Tensor, parts: BatchParts, mixing: dict, labels: bool = False) -> torch.Tensor:
        out = x.clone()
        for name, index in parts.named():
            out[index] = mix_labels(x[index], mixing[name]) if labels else mix(x[index], mixing[name])
        return out

    def augmented_inputs(self, audio: torch.Tensor, labels: torch.Tensor, parts: BatchParts) -> AugmentedInputs:
        """Mel spectrograms of both streams and, with probability ``mixup_prob``, one mixup draw per batch part
        applied to the student's CRNN stream (and encoder stream where ``mixes_encoder_stream``) and the targets."""
        sed_mel, encoder_mel = self.sed_model("student").mels(audio)
        weak_targets = weak_targets_of(labels)
        student_sed, student_encoder, mixing = sed_mel, encoder_mel, None
        if self.draws.mixup_applies(self.options.mixup_prob):
            mixing = {
                name: self.draws.mixup(name, index.numel(), self.options.mixup_alpha) for name, index in parts.named()
            }
            student_sed = self._mix_parts(sed_mel, parts, mixing)
            if self.mixes_encoder_stream:
                student_encoder = self._mix_parts(encoder_mel, parts, mixing)
            labels = self._mix_parts(labels, parts, mixing, labels=True)
            weak_targets = self._mix_parts(weak_targets, parts, mixing, labels=True)
        return AugmentedInputs(sed_mel, encoder_mel, student_sed, student_encoder, labels, weak_targets, mixing)

    def training_loss(self, audio: torch.Tensor, labels: torch.Tensor, parts: BatchParts):
        """Stage 1: student and teacher see the same (mixed) input; mean-teacher consistency."""
        inputs = self.augmented_inputs(audio, labels, parts)
        features = self.features(inputs.student_sed_mel, inputs.student_encoder_mel)
        strong_s, weak_s = self.sed_model("student")(features)
        with torch.no_grad():
            strong_t, weak_t = self.sed_model("teacher")(features)
        b = audio.shape[0]
        return stage1_loss(
            strong_s,
            weak_s,
            strong_t,
            weak_t,
            inputs.labels,
            inputs.weak_targets,
            parts.mask("strong", b),
            parts.mask("weak", b),
            self.consistency_weight(),
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
        groups = param_groups(
            self.sed_student,
            cnn_lr=opt.cnn_lr,
            rnn_lr=opt.rnn_lr,
            encoder_lr=opt.encoder_lr,
            encoder_lr_scale=opt.encoder_lr_scale,
            encoder_trainable_layers=opt.encoder_trainable_layers,
        )
        optimizer = adam(groups, betas=tuple(opt.betas), impl=opt.adam_impl)
        scheduler = RampUpCosineLR(
            optimizer,
            max_lrs=[g["lr"] for g in groups],
            rampup_steps=self.rampup_steps,
            total_steps=opt.n_epochs * self.epoch_len,
            min_lr_scale=opt.min_lr_scale,
            cosine=opt.cosine,
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def validation_objective(self, metrics: dict[str, float]) -> float:
        """The checkpoint-selection objective named by ``training.objective``."""
        return self.objective.compute(metrics)

    # ---------------------------------------------------------------- checkpoints
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Published layout (docs/recipe.md §4): top-level student/teacher dicts beside Lightning's state_dict, and
        the random states that make a resumed run continue exactly like an uninterrupted one."""
        checkpoint["sed_student"] = self.sed_student.state_dict()
        checkpoint["sed_teacher"] = self.sed_teacher.state_dict()
        checkpoint["rng_states"] = {"torch": torch.get_rng_state(), "augment": self.draws.get_state()}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        states = checkpoint.get("rng_states")
        if states is not None:
            torch.set_rng_state(states["torch"])
            self.draws.set_state(states["augment"])


class Stage2SEDTask(SEDTask):
    """Stage 2's loss: mixup on both streams with interpolation consistency (Verma et al., 2019), frequency
    warping of the encoder stream, and a teacher that sees the un-mixed inputs."""

    mixes_encoder_stream = True

    def training_loss(self, audio: torch.Tensor, labels: torch.Tensor, parts: BatchParts):
        inputs = self.augmented_inputs(audio, labels, parts)
        sed_s, encoder_s = self.features(inputs.student_sed_mel, inputs.student_encoder_mel)
        sed_t, encoder_t = self.features(inputs.sed_mel, inputs.encoder_mel)
        if self.draws.freq_warp_applies(self.options.freq_warp_prob):
            encoder_s = self._warp_parts(encoder_s, parts, "student")
            encoder_t = self._warp_parts(encoder_t, parts, "teacher")
        strong_s, weak_s = self.sed_model("student")((sed_s, encoder_s))
        with torch.no_grad():
            strong_t, weak_t = self.sed_model("teacher")((sed_t, encoder_t))
        b = audio.shape[0]
        terms = stage2_supervised(
            strong_s, weak_s, inputs.labels, inputs.weak_targets, parts.mask("strong", b), parts.mask("weak", b)
        )
        w = self.consistency_weight()
        if inputs.mixing is not None:
            ict_parts = [(index, inputs.mixing[name]) for name, index in parts.named()]
            consistency = ict_consistency(strong_s, weak_s, strong_t, weak_t, ict_parts, w)
        else:
            consistency = stage2_consistency(strong_s, weak_s, strong_t, weak_t, w)
        return terms.with_consistency(consistency)

    def _warp_parts(self, feats: torch.Tensor, parts: BatchParts, role: str) -> torch.Tensor:
        """Each part's features warped with its own band, shared by the part's clips."""
        out = feats.clone()
        for name, index in parts.named():
            band = self.draws.warp_band(name, role, feats.shape[1], *FREQ_WARP_RATIOS)
            out[index] = warp_band(feats[index], band)
        return out

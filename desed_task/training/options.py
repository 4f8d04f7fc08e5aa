"""Plain options of the training task and the references it scores against (no Lightning import: the
configuration glue and inference use them too).

``TaskOptions`` fields carry the configuration's key names; each field's ``section`` metadata says whether the key
lives under ``training`` or ``opt``. Their defaults are the schema's (``desed_task.config.schema``: the recipe's
stage 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal, Mapping

import pandas as pd

from desed_task.config.schema import OptSettings, TrainingSettings

__all__ = ["EvaluationReference", "TaskOptions"]


@dataclass
class EvaluationReference:
    """Ground truth (DESED strong tsv rows of present clips) and durations of one scored set."""

    ground_truth: pd.DataFrame
    durations: pd.DataFrame


_TRAINING, _OPT = TrainingSettings(), OptSettings()


def _training(name: str) -> Any:
    return field(default=getattr(_TRAINING, name), metadata={"section": "training"})


def _opt(name: str) -> Any:
    return field(default=getattr(_OPT, name), metadata={"section": "opt"})


@dataclass(frozen=True)
class TaskOptions:
    """What the training task needs of the configuration (docs/recipe.md §5).

    ``scoring_workers``: processes that score validation and test (``evaluation.pool``); 0 or 1 score in the
    training process; None: the cores the data loader leaves free (the builder resolves it with
    ``training.num_workers``; a task built directly takes all available cores).
    """

    n_epochs: int = _training("n_epochs")
    n_epochs_warmup: int = _training("n_epochs_warmup")
    consistency_weight_max: float = _training("consistency_weight_max")
    ema_factor: float = _training("ema_factor")
    ema_warmup: bool = _training("ema_warmup")
    mixup_prob: float = _training("mixup_prob")
    mixup_alpha: float = _training("mixup_alpha")
    freq_warp_prob: float = _training("freq_warp_prob")
    objective: Literal["val_loss", "synth_psds"] = _training("objective")
    median_window: int | list[int] = _training("median_window")
    n_test_thresholds: int = _training("n_test_thresholds")
    scoring_workers: int | None = _training("scoring_workers")
    seed: int = _training("seed")
    adam_impl: Literal["auto", "for_loop", "foreach", "fused"] = _training("adam_impl")
    compile: bool = _training("compile")
    cnn_lr: float = _opt("cnn_lr")
    rnn_lr: float = _opt("rnn_lr")
    encoder_lr: float = _opt("encoder_lr")
    encoder_lr_scale: float = _opt("encoder_lr_scale")
    encoder_trainable_layers: int = _opt("encoder_trainable_layers")
    betas: tuple[float, float] = _opt("betas")
    cosine: bool = _opt("cosine")
    min_lr_scale: float = _opt("min_lr_scale")

    @classmethod
    def from_config(cls, config: Mapping[str, Mapping[str, Any]]) -> "TaskOptions":
        """The options of a validated configuration (its ``training`` and ``opt`` sections)."""
        values = {f.name: config[f.metadata["section"]][f.name] for f in fields(cls)}
        values["betas"] = tuple(values["betas"])
        return cls(**values)

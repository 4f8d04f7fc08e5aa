"""Plain options of the training task and the references it scores against (no Lightning import: the
configuration glue and inference use them too).

``TaskOptions`` fields carry the configuration's key names (each under ``training`` or ``opt``, as the schema
declares it); their defaults are the schema's (``desed_task.config.schema``: the recipe's stage 1).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping

import pandas as pd

from desed_task.config.choices import AdamImpl, ObjectiveName
from desed_task.config.schema import OptSettings, TrainingSettings

__all__ = ["EvaluationReference", "TaskOptions"]


@dataclass
class EvaluationReference:
    """Ground truth (DESED strong tsv rows of present clips) and durations of one scored set."""

    ground_truth: pd.DataFrame
    durations: pd.DataFrame


_TRAINING, _OPT = TrainingSettings(), OptSettings()
#: the configuration section of each key (the two sections share none)
_SECTION = {**dict.fromkeys(TrainingSettings.keys(), "training"), **dict.fromkeys(OptSettings.keys(), "opt")}


@dataclass(frozen=True)
class TaskOptions:
    """What the training task needs of the configuration (docs/recipe.md §5).

    ``scoring_workers``: processes that score validation and test (``evaluation.pool``); 0 or 1 score in the
    training process; None: the cores the data loader leaves free (the builder resolves it with
    ``training.num_workers``; a task built directly takes all available cores).
    """

    n_epochs: int = _TRAINING.n_epochs
    n_epochs_warmup: int = _TRAINING.n_epochs_warmup
    consistency_weight_max: float = _TRAINING.consistency_weight_max
    ema_factor: float = _TRAINING.ema_factor
    ema_warmup: bool = _TRAINING.ema_warmup
    mixup_prob: float = _TRAINING.mixup_prob
    mixup_alpha: float = _TRAINING.mixup_alpha
    freq_warp_prob: float = _TRAINING.freq_warp_prob
    objective: ObjectiveName = _TRAINING.objective
    median_window: int | list[int] = _TRAINING.median_window
    n_test_thresholds: int = _TRAINING.n_test_thresholds
    scoring_workers: int | None = _TRAINING.scoring_workers
    seed: int = _TRAINING.seed
    adam_impl: AdamImpl = _TRAINING.adam_impl
    compile: bool = _TRAINING.compile
    cnn_lr: float = _OPT.cnn_lr
    rnn_lr: float = _OPT.rnn_lr
    encoder_lr: float = _OPT.encoder_lr
    encoder_lr_scale: float = _OPT.encoder_lr_scale
    encoder_trainable_layers: int = _OPT.encoder_trainable_layers
    betas: tuple[float, float] = _OPT.betas
    cosine: bool = _OPT.cosine
    min_lr_scale: float = _OPT.min_lr_scale

    @classmethod
    def from_config(cls, config: Mapping[str, Mapping[str, Any]]) -> "TaskOptions":
        """The options of a validated configuration (its ``training`` and ``opt`` sections)."""
        values = {f.name: config[_SECTION[f.name]][f.name] for f in fields(cls)}
        values["betas"] = tuple(values["betas"])
        return cls(**values)

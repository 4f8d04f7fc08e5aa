"""Plain options of the training task (no Lightning import: the inference and config glue use them too)."""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


@dataclass
class EvaluationReference:
    """Ground truth (DESED strong tsv rows of present clips) and durations of one scored set."""

    ground_truth: pd.DataFrame
    durations: pd.DataFrame


@dataclass
class TaskOptions:
    """Plain training options of SPEC §5 (the entry points fill them from the YAML)."""

    n_epochs: int = 200
    n_epochs_warmup: int = 50
    const_max: float = 2.0
    ema_factor: float = 0.999
    ema_warmup: bool = True
    mixup_prob: float = 0.5
    mixup_alpha: float = 0.2
    freq_warp_prob: float = 0.0
    median_window: int | list[int] = 7
    n_test_thresholds: int = 50
    lr: float = 1e-3
    cnn_lr: float = 1e-3
    rnn_lr: float = 2e-3
    tfm_lr: float = 2e-4
    tfm_lr_scale: float = 0.5
    tfm_trainable_layers: int = 0
    betas: tuple[float, float] = (0.9, 0.999)
    cosine: bool = False
    min_lr_scale: float = 0.1
    seed: int = 42
    references: dict[str, EvaluationReference] = field(default_factory=dict)

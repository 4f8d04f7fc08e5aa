"""Plain options of the training task and the references it scores against (no Lightning import: the
configuration glue and inference use them too).

``TaskOptions`` fields carry the configuration's key names; each field's ``section`` metadata says whether the key
lives under ``training`` or ``opt``. Their defaults are the recipe's stage 1 and are the only defaults of these
keys (the configuration layer reads them from here).
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal, Mapping

import pandas as pd

__all__ = ["EvaluationReference", "TaskOptions"]


@dataclass
class EvaluationReference:
    """Ground truth (DESED strong tsv rows of present clips) and durations of one scored set."""

    ground_truth: pd.DataFrame
    durations: pd.DataFrame


def _training(default: Any) -> Any:
    return field(default=default, metadata={"section": "training"})


def _opt(default: Any) -> Any:
    return field(default=default, metadata={"section": "opt"})


@dataclass(frozen=True)
class TaskOptions:
    """What the training task needs of the configuration (docs/recipe.md §5).

    ``scoring_workers``: processes that score validation and test (``evaluation.pool``); 0 or 1 score in the
    training process; None: the cores the data loader leaves free (the builder resolves it with
    ``training.num_workers``; a task built directly takes all available cores).
    """

    n_epochs: int = _training(200)
    n_epochs_warmup: int = _training(50)
    consistency_weight_max: float = _training(2.0)
    ema_factor: float = _training(0.999)
    ema_warmup: bool = _training(True)
    mixup_prob: float = _training(0.5)
    mixup_alpha: float = _training(0.2)
    freq_warp_prob: float = _training(0.0)
    objective: Literal["val_loss", "synth_psds"] = _training("val_loss")
    median_window: int | list[int] = _training(7)
    n_test_thresholds: int = _training(50)
    scoring_workers: int | None = _training(None)
    seed: int = _training(42)
    adam_impl: Literal["auto", "for_loop", "foreach", "fused"] = _training("auto")
    compile: bool = _training(False)
    cnn_lr: float = _opt(1e-3)
    rnn_lr: float = _opt(1e-3)
    encoder_lr: float = _opt(2e-4)
    encoder_lr_scale: float = _opt(0.5)
    encoder_trainable_layers: int = _opt(0)
    betas: tuple[float, float] = _opt((0.9, 0.999))
    cosine: bool = _opt(False)
    min_lr_scale: float = _opt(0.1)

    @classmethod
    def section_defaults(cls, section: str) -> dict[str, Any]:
        """Default values of the fields of one configuration section (lists where the YAML has lists)."""
        return {
            f.name: list(f.default) if isinstance(f.default, tuple) else f.default
            for f in fields(cls)
            if f.metadata["section"] == section
        }

    @classmethod
    def from_config(cls, config: Mapping[str, Mapping[str, Any]]) -> "TaskOptions":
        """The options of a validated configuration (its ``training`` and ``opt`` sections)."""
        values = {f.name: config[f.metadata["section"]][f.name] for f in fields(cls)}
        values["betas"] = tuple(values["betas"])
        return cls(**values)

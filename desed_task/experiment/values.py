"""Type and range checks of a merged configuration, so that a bad value stops the run at load time with the key
named, before anything is written (and not as a TypeError deep inside the scheduler).

Types follow the defaults: a key whose default is an int takes an int, a float takes a number, a bool a bool,
a string a string, a list a list; keys that default to None (paths) take a string or None. Ranges are listed in
``_RANGES``.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from desed_task.training.compute import MATMUL_PRECISIONS
from desed_task.training.objectives import OBJECTIVES
from desed_task.training.optimizer import ADAM_IMPLS

_NULLABLE = {"encoder.frontend.top_db"}
_NULLABLE_INTS = {"training.checkpoint_every_n_steps"}  # default None (off), else an integer
_PRECISIONS = {"32", "32-true", "16-mixed", "bf16-mixed", "16-true", "bf16-true", "64", "64-true", 16, 32, 64}


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and math.isfinite(v)


def _positive_ints(v: Any) -> bool:
    return isinstance(v, list) and len(v) > 0 and all(_is_int(x) and x >= 1 for x in v)


def _unit(v: Any) -> bool:
    return 0.0 <= v <= 1.0


_RANGES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "data.fs": (lambda v: v > 0, "a positive sample rate in Hz"),
    "data.audio_max_len": (lambda v: v > 0, "a positive clip duration in seconds"),
    "data.classes": (lambda v: len(v) > 0 and all(isinstance(c, str) and c for c in v) and len(set(v)) == len(v),
                     "a non-empty list of distinct class names"),
    "data.on_missing": (lambda v: v in ("skip", "error"), "one of skip, error"),
    "data.on_sample_rate": (lambda v: v in ("resample", "error"), "one of resample, error"),
    "training.stage": (lambda v: v in (1, 2), "1 or 2"),
    "training.batch_size": (lambda v: _positive_ints(v) and len(v) == 4,
                            "4 positive integers [strong_real, synthetic, weak, unlabeled]"),
    "training.batch_size_val": (lambda v: v >= 1, "a positive integer"),
    "training.num_workers": (lambda v: v >= 0, "a non-negative integer"),
    "training.n_epochs": (lambda v: v >= 1, "a positive integer"),
    "training.n_epochs_warmup": (lambda v: v >= 0, "a non-negative integer"),
    "training.consistency_weight_max": (lambda v: v >= 0, "a non-negative number"),
    "training.ema_factor": (_unit, "a number in [0, 1]"),
    "training.mixup_prob": (_unit, "a probability in [0, 1]"),
    "training.mixup_alpha": (lambda v: v > 0, "a positive number"),
    "training.freq_warp_prob": (_unit, "a probability in [0, 1]"),
    "training.objective": (lambda v: v in OBJECTIVES, f"one of {', '.join(OBJECTIVES)}"),
    "training.validation_interval": (lambda v: v >= 1, "a positive integer"),
    "training.early_stop_patience": (lambda v: v >= 0, "a non-negative integer"),
    "training.weak_split": (lambda v: 0 < v <= 1, "a fraction in (0, 1]"),
    "training.n_test_thresholds": (lambda v: v >= 1, "a positive integer"),
    "training.num_nodes": (lambda v: v >= 1, "a positive integer"),
    "training.matmul_precision": (lambda v: v in MATMUL_PRECISIONS, f"one of {', '.join(MATMUL_PRECISIONS)}"),
    "training.adam_impl": (lambda v: v in ADAM_IMPLS, f"one of {', '.join(ADAM_IMPLS)}"),
    "training.gradient_clip": (lambda v: v >= 0, "a non-negative number (0 = no clipping)"),
    "training.accumulate_batches": (lambda v: v >= 1, "a positive integer (1 = no gradient accumulation)"),
    "training.limit_train_batches": (lambda v: v > 0, "a positive number (a fraction, or a count of batches)"),
    "training.save_top_k": (lambda v: v >= -1, "an integer >= -1 (-1 keeps every checkpoint)"),
    "training.checkpoint_every_n_steps": (lambda v: v >= 1, "a positive number of optimiser steps, or null (off)"),
    "opt.cnn_lr": (lambda v: v >= 0, "a non-negative learning rate"),
    "opt.rnn_lr": (lambda v: v >= 0, "a non-negative learning rate"),
    "opt.encoder_lr": (lambda v: v >= 0, "a non-negative learning rate"),
    "opt.encoder_lr_scale": (lambda v: v > 0, "a positive factor"),
    "opt.encoder_trainable_layers": (lambda v: v >= 0, "a non-negative number of encoder layer groups, or all"),
    "opt.betas": (lambda v: len(v) == 2 and all(_is_number(b) and 0 <= b < 1 for b in v), "two numbers in [0, 1)"),
    "opt.min_lr_scale": (_unit, "a fraction in [0, 1]"),
    "net.nb_filters": (_positive_ints, "a list of positive integers"),
    "net.pooling": (lambda v: isinstance(v, list) and len(v) > 0 and all(_positive_ints(p) and len(p) == 2 for p in v),
                    "a list of [time, freq] pairs of positive integers"),
    "net.cnn_dropout": (lambda v: 0 <= v < 1, "a rate in [0, 1)"),
    "net.dropout": (lambda v: 0 <= v < 1, "a rate in [0, 1)"),
    "net.rnn_dropout": (lambda v: 0 <= v < 1, "a rate in [0, 1)"),
    "encoder.dropout": (lambda v: 0 <= v < 1, "a rate in [0, 1)"),
    "encoder.embed_dim": (lambda v: v >= 1, "a positive integer"),
    "encoder.depth": (lambda v: v >= 1, "a positive number of blocks"),
    "encoder.num_heads": (lambda v: v >= 1, "a positive integer"),
    "encoder.frontend.top_db": (lambda v: v >= 0, "a non-negative number of dB, or null (no floor)"),
    "encoder.frontend.top_db_scope": (lambda v: v in ("batch", "clip"), "one of batch, clip"),
    "training.seed": (lambda v: 0 <= v < 2**32, "an integer in [0, 2^32)"),
    "net.n_in_channel": (lambda v: v >= 1, "a positive integer"),
    "net.kernel_size": (lambda v: v >= 1, "a positive integer"),
    "net.padding": (lambda v: v >= 0, "a non-negative integer"),
    "net.n_rnn_cell": (lambda v: v >= 1, "a positive integer"),
    "net.rnn_layers": (lambda v: v >= 1, "a positive integer"),
    **{f"{section}.{key}": (lambda v: v >= 1, "a positive integer")
       for section in ("net.frontend", "encoder.frontend") for key in ("n_fft", "win_length", "hop_length", "n_mels")},
    **{f"{section}.{key}": (lambda v: v >= 0, "a non-negative frequency in Hz")
       for section in ("net.frontend", "encoder.frontend") for key in ("f_min", "f_max")},
}


def _type_problem(value: Any, default: Any, key: str) -> str | None:
    if value is None and (default is None or key in _NULLABLE):
        return None
    if key in _NULLABLE_INTS:
        return None if _is_int(value) else "a positive integer or null"
    if default is None:
        return None if isinstance(value, str) else "a path (a string) or null"
    if isinstance(default, bool):
        return None if isinstance(value, bool) else "true or false"
    if isinstance(default, int):
        return None if _is_int(value) else "an integer"
    if isinstance(default, float):
        return None if _is_number(value) else "a number"
    if isinstance(default, str):
        return None if isinstance(value, str) else "a string"
    if isinstance(default, list):
        return None if isinstance(value, list) else "a list"
    return None


def _leaves(config: dict, base: dict, prefix: str = ""):
    for key, default in base.items():
        value = config[key]
        if isinstance(default, dict):
            yield from _leaves(value, default, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value, default


def check_values(config: dict, base: dict, source: str, error: type[Exception]) -> None:
    """Raise ``error`` naming the first key of ``config`` whose value has the wrong type or range."""
    for key, value, default in _leaves(config, base):
        if key == "training.precision":
            if value not in _PRECISIONS:
                raise error(f"{source}: training.precision must be one of \"32\", \"bf16-mixed\", \"16-mixed\", "
                            f"got {value!r}")
            continue
        if key == "training.median_window":
            _check_median_window(value, len(config["data"]["classes"]), source, error)
            continue
        if key == "training.scoring_workers":
            if value is not None and not (_is_int(value) and value >= 0):
                raise error(f"{source}: training.scoring_workers must be a non-negative integer (0 or 1: score in "
                            f"the training process) or null (the cores the data loader leaves free), got {value!r}")
            continue
        if key == "opt.encoder_trainable_layers" and isinstance(value, str):
            if value != "all":  # "all": every layer group, counted with the encoder once the values are checked
                raise error(f"{source}: {key} must be {_RANGES[key][1]}, got {value!r}")
            continue
        if key.startswith("data.extra_"):
            continue  # checked entry by entry where the paths are resolved
        expected = _type_problem(value, default, key)
        if expected is not None:
            raise error(f"{source}: {key} must be {expected}, got {value!r}")
        check = _RANGES.get(key)
        if check is not None and value is not None and not check[0](value):
            raise error(f"{source}: {key} must be {check[1]}, got {value!r}")
    frontends = (("net.frontend", config["net"]["frontend"]), ("encoder.frontend", config["encoder"]["frontend"]))
    for where, section in frontends:
        _check_frontend(where, section, config["data"]["fs"], source, error)


def _check_frontend(where: str, section: dict, fs: int, source: str, error: type[Exception]) -> None:
    """Keys of one front-end that must agree with each other and with the sample rate ``data.fs`` (where the
    front-end has them: another encoder's front-end may take other keys)."""
    if {"win_length", "n_fft"} <= section.keys() and section["win_length"] > section["n_fft"]:
        raise error(f"{source}: {where}.win_length ({section['win_length']}) must not exceed {where}.n_fft "
                    f"({section['n_fft']})")
    if {"f_min", "f_max"} <= section.keys() and not section["f_min"] < section["f_max"] <= fs / 2:
        raise error(f"{source}: {where}.f_min ({section['f_min']}) and f_max ({section['f_max']}) must satisfy "
                    f"f_min < f_max <= data.fs / 2 ({fs / 2:g} Hz)")


def _check_median_window(value: Any, n_classes: int, source: str, error: type[Exception]) -> None:
    if _is_int(value) and value >= 1:
        return
    if isinstance(value, list) and all(_is_int(w) and w >= 1 for w in value):
        if len(value) != n_classes:
            raise error(
                f"{source}: training.median_window has {len(value)} entries but data.classes has {n_classes}; "
                "give one window per class or a single integer"
            )
        return
    raise error(f"{source}: training.median_window must be a positive integer or one per class, got {value!r}")

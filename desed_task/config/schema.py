"""The configuration schema: one typed dataclass per section, each field one key with its default, type, range
and the wording of its range (``desed_task.settings``).

- ``data``: ``DataSettings``; ``training``: ``TrainingSettings``; ``opt``: ``OptSettings``;
- ``net``: ``NetSettings``, the CRNN's ``nnet.crnn.CRNNSettings`` and ``frontend`` (``SEDFrontendSettings``);
- ``encoder``: ``EncoderKeys`` (name, init, random_init), the unit's ``settings_class`` and ``frontend`` (the
  ``settings_class`` of the unit's front-end class).

The library's constructors take their defaults from the same dataclasses (``CRNN``'s from ``CRNNSettings``), so a
default is written once. Derived values are not keys: the sample rate of every stream is ``data.fs``, the time
pooling is the product of ``net.pooling``'s time factors (``time_pooling``; an output frame is the CRNN
front-end's hop times it: ``SEDModel.frame_samples``), an encoder front-end's mel bins are the encoder's, and
``opt.encoder_trainable_layers: all`` is the encoder's layer-group count (``encoder_layer_groups``). Keys that
copied a derived value (``RETIRED_DERIVED_KEYS``: ``data.net_subsample``, the front-ends' ``sample_rate``, the
encoder front-end's ``n_mels``) are still read where the copy agrees (``check_derived_copy``), and dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from desed_task.config.choices import ADAM_IMPLS, MATMUL_PRECISIONS, OBJECTIVE_NAMES, PRECISIONS
from desed_task.data import DESED_CLASSES
from desed_task.features import DEFAULT_SAMPLE_RATE, SEDFrontendSettings
from desed_task.nnet.crnn import CRNNSettings
from desed_task.nnet.encoders import FrameEncoder, encoder_class
from desed_task.nnet.sed_model_builder import encoder_kwargs, time_pooling
from desed_task.settings import (
    NON_NEGATIVE_INT,
    POSITIVE_INT,
    Settings,
    SettingsError,
    is_int,
    is_number,
    nested,
    one_of,
    setting,
)

__all__ = [
    "DATA_PATH_KEYS",
    "DEFAULT_ENCODER",
    "RETIRED_DERIVED_KEYS",
    "SECTIONS",
    "DataSettings",
    "DerivedValue",
    "EncoderKeys",
    "NetSettings",
    "OptSettings",
    "TrainingSettings",
    "check_config",
    "check_derived_copy",
    "defaults",
    "encoder_defaults",
    "encoder_kwargs",
    "encoder_layer_groups",
    "resolve_trainable_layers",
    "time_pooling",
]
DEFAULT_ENCODER = "frame_atst"
_PROBABILITY = (lambda v: 0.0 <= v <= 1.0, "a probability in [0, 1]")
_LEARNING_RATE = (lambda v: v >= 0, "a non-negative learning rate")


def _path() -> Any:
    return setting(None)


@dataclass(frozen=True)
class DataSettings(Settings):
    """``data``: the classes, the data (paths relative to ``root``) and the sample rate of every stream."""

    root: str = setting(".")
    classes: list[str] = setting(
        list(DESED_CLASSES),
        (
            lambda v: len(v) > 0 and all(isinstance(c, str) and c for c in v) and len(set(v)) == len(v),
            "a non-empty list of distinct class names",
        ),
    )
    synth_folder: str | None = _path()
    synth_tsv: str | None = _path()
    strong_folder: str | None = _path()
    strong_tsv: str | None = _path()
    weak_folder: str | None = _path()
    weak_tsv: str | None = _path()
    unlabeled_folder: str | None = _path()
    synth_val_folder: str | None = _path()
    synth_val_tsv: str | None = _path()
    synth_val_dur: str | None = _path()
    strong_val_folder: str | None = _path()
    strong_val_tsv: str | None = _path()
    strong_val_dur: str | None = _path()
    test_folder: str | None = _path()
    test_tsv: str | None = _path()
    test_dur: str | None = _path()
    eval_folder: str | None = _path()
    extra_strong: list = setting([])  # entries checked where their paths are resolved
    extra_weak: list = setting([])
    audio_max_len: float = setting(10.0, (lambda v: v > 0, "a positive clip duration in seconds"))
    fs: int = setting(DEFAULT_SAMPLE_RATE, (lambda v: v > 0, "a positive sample rate in Hz"))
    on_missing: str = setting("skip", one_of("skip", "error"))
    on_sample_rate: str = setting("resample", one_of("resample", "error"))


#: the keys of ``data`` that name a folder or table (resolved under ``data.root``)
DATA_PATH_KEYS = tuple(key for key in DataSettings.keys() if key.endswith(("_folder", "_tsv", "_dur")))


def _median_window(v: Any) -> bool:
    return (is_int(v) and v >= 1) or (isinstance(v, list) and all(is_int(w) and w >= 1 for w in v))


_SCORING_WORKERS = (
    "a non-negative integer (0 or 1: score in the training process) or null (the cores the data loader leaves free)"
)


@dataclass(frozen=True)
class TrainingSettings(Settings):
    """``training``: the run (stage, batches, trainer) and the task (schedule, EMA, augmentation, checkpoints)."""

    stage: int = setting(1, (lambda v: v in (1, 2), "1 or 2"))
    batch_size: list[int] = setting(
        [12, 12, 24, 48],
        (
            lambda v: len(v) == 4 and all(is_int(x) and x >= 1 for x in v),
            "4 positive integers [strong_real, synthetic, weak, unlabeled]",
        ),
    )
    batch_size_val: int = setting(24, POSITIVE_INT)
    num_workers: int = setting(4, NON_NEGATIVE_INT)
    validation_interval: int = setting(10, POSITIVE_INT)
    early_stop_patience: int = setting(200, NON_NEGATIVE_INT)
    weak_split: float = setting(0.9, (lambda v: 0 < v <= 1, "a fraction in (0, 1]"))
    precision: str | int = setting("32", (lambda v: v in PRECISIONS, 'one of "32", "bf16-mixed", "16-mixed"'))
    matmul_precision: str = setting("highest", one_of(*MATMUL_PRECISIONS))
    backend: str = setting("auto")
    num_nodes: int = setting(1, POSITIVE_INT)
    gradient_clip: float = setting(0.0, (lambda v: v >= 0, "a non-negative number (0 = no clipping)"))
    accumulate_batches: int = setting(1, (lambda v: v >= 1, "a positive integer (1 = no gradient accumulation)"))
    deterministic: bool = setting(False)
    enable_progress_bar: bool = setting(True)
    cpu_keep_freed_memory: bool = setting(True)
    limit_train_batches: float = setting(
        1.0, (lambda v: v > 0, "a positive number (a fraction, or a count of batches)")
    )
    save_top_k: int = setting(5, (lambda v: v >= -1, "an integer >= -1 (-1 keeps every checkpoint)"))
    checkpoint_every_n_steps: int | None = setting(
        None, (lambda v: v >= 1, "a positive number of optimiser steps, or null (off)"), "a positive integer or null"
    )
    postprocess: str | None = _path()
    init_checkpoint: str | None = _path()
    n_epochs: int = setting(200, POSITIVE_INT)
    n_epochs_warmup: int = setting(50, NON_NEGATIVE_INT)
    consistency_weight_max: float = setting(2.0, (lambda v: v >= 0, "a non-negative number"))
    ema_factor: float = setting(0.999, (lambda v: 0 <= v <= 1, "a number in [0, 1]"))
    ema_warmup: bool = setting(True)
    mixup_prob: float = setting(0.5, _PROBABILITY)
    mixup_alpha: float = setting(0.2, (lambda v: v > 0, "a positive number"))
    freq_warp_prob: float = setting(0.0, _PROBABILITY)
    objective: str = setting("val_loss", one_of(*OBJECTIVE_NAMES))
    median_window: int | list[int] = setting(
        7, (_median_window, "a positive integer or one per class"), "a positive integer or one per class"
    )
    n_test_thresholds: int = setting(50, POSITIVE_INT)
    scoring_workers: int | None = setting(None, (lambda v: v >= 0, _SCORING_WORKERS), _SCORING_WORKERS)
    seed: int = setting(42, (lambda v: 0 <= v < 2**32, "an integer in [0, 2^32)"))
    adam_impl: str = setting("auto", one_of(*ADAM_IMPLS))
    compile: bool = setting(False)

    @classmethod
    def check_together(cls, section: Mapping[str, Any], where: str, context: Mapping[str, Any]) -> None:
        window, n_classes = section["median_window"], len(context["data"]["classes"])
        if isinstance(window, list) and len(window) != n_classes:
            raise SettingsError(
                f"{where}.median_window has {len(window)} entries but data.classes has {n_classes}; "
                "give one window per class or a single integer"
            )


_TRAINABLE = "a non-negative number of encoder layer groups, or all"


@dataclass(frozen=True)
class OptSettings(Settings):
    """``opt``: the optimiser's groups (CNN; RNN, fusion and heads; the encoder's layer groups) and schedule."""

    cnn_lr: float = setting(1e-3, _LEARNING_RATE)
    rnn_lr: float = setting(1e-3, _LEARNING_RATE)
    encoder_lr: float = setting(2e-4, _LEARNING_RATE)
    encoder_lr_scale: float = setting(0.5, (lambda v: v > 0, "a positive factor"))
    encoder_trainable_layers: int | str = setting(
        0, (lambda v: v == "all" or (is_int(v) and v >= 0), _TRAINABLE), _TRAINABLE
    )
    betas: tuple[float, float] = setting(
        (0.9, 0.999), (lambda v: len(v) == 2 and all(is_number(b) and 0 <= b < 1 for b in v), "two numbers in [0, 1)")
    )
    cosine: bool = setting(False)
    min_lr_scale: float = setting(0.1, (lambda v: 0 <= v <= 1, "a fraction in [0, 1]"))


@dataclass(frozen=True)
class NetSettings(CRNNSettings):
    """``net``: the CRNN's keys and its stream's front-end (``net.frontend``)."""

    frontend: SEDFrontendSettings = nested(SEDFrontendSettings)


@dataclass(frozen=True)
class EncoderKeys(Settings):
    """The keys of ``encoder`` that every unit has; the unit adds its own and its front-end's (``frontend``)."""

    name: str = setting(DEFAULT_ENCODER)
    init: str | None = _path()
    random_init: bool = setting(False)


SECTIONS: dict[str, type[Settings]] = {
    "data": DataSettings,
    "training": TrainingSettings,
    "opt": OptSettings,
    "net": NetSettings,
}


def unit_class(config: Mapping) -> type[FrameEncoder]:
    return encoder_class(config["encoder"]["name"])


def encoder_defaults(name: str) -> dict[str, Any]:
    """The ``encoder`` section of the encoder unit called ``name`` (KeyError for an unknown one)."""
    cls = encoder_class(name)
    return {
        **EncoderKeys(name=name).as_config(),
        **cls.settings_class.defaults(),
        "frontend": cls.frontend_class.settings_class.defaults(),
    }


def defaults(encoder: str = DEFAULT_ENCODER) -> dict[str, dict[str, Any]]:
    """Every section with its default values (a new dict each call)."""
    out = {name: settings.defaults() for name, settings in SECTIONS.items()}
    out["encoder"] = encoder_defaults(encoder)
    return {name: out[name] for name in ("data", "training", "opt", "encoder", "net")}


def check_config(config: Mapping[str, Any]) -> None:
    """``SettingsError`` naming the first key of a merged configuration with a wrong type or range."""
    for name, settings in SECTIONS.items():
        settings.check(config[name], name, config)
    cls = unit_class(config)
    EncoderKeys.check(config["encoder"], "encoder", config)
    cls.settings_class.check(config["encoder"], "encoder", config)
    cls.frontend_class.settings_class.check(config["encoder"]["frontend"], "encoder.frontend", config)


def encoder_layer_groups(config: Mapping) -> int:
    """The encoder's layer-group count: what ``opt.encoder_trainable_layers: all`` stands for."""
    return unit_class(config).layer_group_count(**encoder_kwargs(config))


def resolve_trainable_layers(config: dict) -> None:
    """``opt.encoder_trainable_layers``: ``all`` replaced by the encoder's layer-group count; a count above it is
    a ``SettingsError``."""
    layers, count = config["opt"]["encoder_trainable_layers"], encoder_layer_groups(config)
    if layers == "all":
        config["opt"]["encoder_trainable_layers"] = count
    elif layers > count:
        raise SettingsError(
            f"opt.encoder_trainable_layers must be at most {count} (the {config['encoder']['name']} "
            f"encoder's layer groups as configured), got {layers}"
        )


@dataclass(frozen=True)
class DerivedValue:
    """A value derived from a merged configuration (``of``), and what gives it (``source``, whose format fields
    are filled from the configuration: ``the {encoder[name]} encoder``)."""

    source: str
    of: Callable[[Mapping], Any]


def _sample_rate(config: Mapping) -> int:
    return config["data"]["fs"]


#: Keys that copied a derived value (current dotted name -> the value): a configuration may still give one (under
#: its current or its earlier name) where it agrees with the value; it is then dropped.
RETIRED_DERIVED_KEYS: dict[str, DerivedValue] = {
    "data.net_subsample": DerivedValue("net.pooling", time_pooling),
    "net.frontend.sample_rate": DerivedValue("data.fs", _sample_rate),
    "encoder.frontend.sample_rate": DerivedValue("data.fs", _sample_rate),
    "encoder.frontend.n_mels": DerivedValue("the {encoder[name]} encoder", lambda config: unit_class(config).n_mels),
}


def check_derived_copy(config: Mapping, key: str, written: str, value: Any) -> str:
    """What gives the derived value ``key`` of a checked configuration; a ``SettingsError`` when ``value``, its copy
    given as ``written``, disagrees."""
    derived = RETIRED_DERIVED_KEYS[key]
    source, expected = derived.source.format_map(config), derived.of(config)
    if value != expected:
        raise SettingsError(
            f"{written} is {value!r} but {source} gives {expected!r}; it is no longer a setting of its "
            f"own: remove {written} (and change {source} if you meant {value!r})"
        )
    return source

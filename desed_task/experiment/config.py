"""The recipe's YAML configuration: defaults, validation and path resolution.

This module is the only place that knows the configuration's layout (sections ``data``, ``training``, ``opt``,
``feats``, ``atst_feats``, ``net``, ``ultra``). Library classes take plain arguments; ``builders.py`` maps the
validated sections onto them. Every key a user writes must be known here: a misspelt key is an error that names
it, never silently ignored.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from desed_task.data import DESED_CLASSES

_DATA_PATH_KEYS = (
    "synth_folder", "synth_tsv", "strong_folder", "strong_tsv", "weak_folder", "weak_tsv", "unlabeled_folder",
    "synth_val_folder", "synth_val_tsv", "synth_val_dur", "strong_val_folder", "strong_val_tsv", "strong_val_dur",
    "test_folder", "test_tsv", "test_dur", "eval_folder",
)

DEFAULTS: dict[str, dict[str, Any]] = {
    "data": {
        "root": ".",
        "classes": list(DESED_CLASSES),
        **{key: None for key in _DATA_PATH_KEYS},
        "extra_strong": [],
        "extra_weak": [],
        "audio_max_len": 10.0,
        "fs": 16000,
        "net_subsample": 4,
        "on_missing": "skip",
        "on_sample_rate": "resample",
    },
    "training": {
        "stage": 1,
        "batch_size": [12, 12, 24, 48],
        "batch_size_val": 24,
        "num_workers": 4,
        "n_epochs": 200,
        "n_epochs_warmup": 50,
        "const_max": 2.0,
        "ema_factor": 0.999,
        "ema_warmup": True,
        "mixup_prob": 0.5,
        "mixup_alpha": 0.2,
        "freq_warp_prob": 0.0,
        "validation_interval": 10,
        "early_stop_patience": 200,
        "weak_split": 0.9,
        "seed": 42,
        "precision": "32",
        "median_window": 7,
        "n_test_thresholds": 50,
        "backend": "auto",
        "num_nodes": 1,
        "gradient_clip": 0.0,
        "accumulate_batches": 1,
        "deterministic": False,
        "enable_progress_bar": True,
        "limit_train_batches": 1.0,
        "save_top_k": 5,
    },
    "opt": {
        "lr": 1e-3,
        "cnn_lr": 1e-3,
        "rnn_lr": 2e-3,
        "tfm_lr": 2e-4,
        "tfm_lr_scale": 0.5,
        "tfm_trainable_layers": 0,
        "betas": [0.9, 0.999],
        "cosine": False,
        "min_lr_scale": 0.1,
    },
    "feats": {
        "sample_rate": 16000,
        "n_fft": 2048,
        "win_length": 2048,
        "hop_length": 256,
        "f_min": 0.0,
        "f_max": 8000.0,
        "n_mels": 128,
    },
    "atst_feats": {
        "sample_rate": 16000,
        "n_fft": 1024,
        "win_length": 1024,
        "hop_length": 160,
        "f_min": 60.0,
        "f_max": 7800.0,
        "n_mels": 64,
        "top_db": 80.0,
        "top_db_scope": "batch",
    },
    "net": {
        "n_in_channel": 1,
        "nb_filters": [16, 32, 64, 128, 128, 128, 128],
        "pooling": [[2, 2], [2, 2], [1, 2], [1, 2], [1, 2], [1, 2], [1, 2]],
        "kernel_size": 3,
        "padding": 1,
        "cnn_dropout": 0.5,
        "n_rnn_cell": 128,
        "rnn_layers": 2,
        "rnn_dropout": 0.0,
        "dropout": 0.5,
        "atst_embed_dim": 768,
        "atst_depth": 12,
        "atst_num_heads": 12,
    },
    "ultra": {
        "atst_init": None,
        "atst_random_init": False,
        "atst_dropout": 0.0,
        "model_init": None,
        "activation_checkpointing": False,
    },
}

ATST_CHECKPOINT_HELP = (
    "Set ultra.atst_init to the pretrained encoder checkpoint atst_as2M.ckpt (ATST-Frame fine-tuned on "
    "AudioSet-2M), distributed with the ATST-SED authors' release (github.com/Audio-WestlakeU/ATST-SED, "
    "see its README for the download link). Only a toy or test configuration may set "
    "ultra.atst_random_init: true to start from random encoder weights."
)


class ConfigError(ValueError):
    """A configuration that can't be used; the message names the file and key."""


def _merge(defaults: dict, user: dict, where: str, source: str) -> dict:
    merged = copy.deepcopy(defaults)
    for key, value in user.items():
        if key not in defaults:
            known = ", ".join(sorted(defaults))
            raise ConfigError(f"{source}: unknown key '{where}{key}'. Known keys here: {known}")
        if isinstance(defaults[key], dict):
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: '{where}{key}' must be a mapping, got {type(value).__name__}")
            merged[key] = _merge(defaults[key], value, f"{where}{key}.", source)
        else:
            merged[key] = value
    return merged


def resolve_config(user: dict, source: str = "<config>", base_dir: Path | None = None) -> dict:
    """Validate a user configuration against the defaults and resolve data paths.

    ``data.root`` is taken relative to ``base_dir`` (the YAML file's folder) when relative; the data paths are
    taken relative to ``data.root`` when relative.
    """
    if not isinstance(user, dict):
        raise ConfigError(f"{source}: the configuration must be a mapping of sections, got {type(user).__name__}")
    config = _merge(DEFAULTS, user, "", source)
    data = config["data"]
    root = Path(data["root"]).expanduser()
    if not root.is_absolute() and base_dir is not None:
        root = (base_dir / root).resolve()
    data["root"] = str(root)
    for key in _DATA_PATH_KEYS:
        if data[key] is not None:
            data[key] = _under(root, data[key])
    for kind in EXTRA_SUBSET_KINDS:
        data[kind] = _extra_subsets(data[kind], kind, root, source)
    _check_values(config, source)
    return config


def _under(root: Path, path: str) -> str:
    resolved = Path(path).expanduser()
    return str(resolved if resolved.is_absolute() else root / resolved)


EXTRA_SUBSET_KINDS = ("extra_strong", "extra_weak")
_EXTRA_SUBSET_KEYS = ("name", "folder", "tsv", "batch_size")


def _extra_subsets(entries: Any, kind: str, root: Path, source: str) -> list[dict]:
    """Validated extra labelled subsets (``data.extra_strong`` / ``data.extra_weak``) with resolved paths.

    Each entry is ``{name, folder, tsv, batch_size}``: a folder of clips, its label table (strong or weak
    layout) and the number of its clips in every training batch.
    """
    if not isinstance(entries, list):
        raise ConfigError(
            f"{source}: data.{kind} must be a list of subsets {{name, folder, tsv, batch_size}}, got "
            f"{type(entries).__name__}"
        )
    resolved, names = [], set()
    for i, entry in enumerate(entries):
        where = f"data.{kind}[{i}]"
        if not isinstance(entry, dict) or set(entry) != set(_EXTRA_SUBSET_KEYS):
            got = sorted(entry) if isinstance(entry, dict) else type(entry).__name__
            raise ConfigError(f"{source}: {where} must have exactly the keys {list(_EXTRA_SUBSET_KEYS)}, got {got}")
        name, size = entry["name"], entry["batch_size"]
        if not isinstance(name, str) or not name or name in names:
            raise ConfigError(f"{source}: {where}.name must be a non-empty name used once, got {name!r}")
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise ConfigError(f"{source}: {where}.batch_size must be a positive integer, got {size!r}")
        names.add(name)
        resolved.append({**entry, "folder": _under(root, entry["folder"]), "tsv": _under(root, entry["tsv"])})
    return resolved


def _check_values(config: dict, source: str) -> None:
    training, data = config["training"], config["data"]
    if training["stage"] not in (1, 2):
        raise ConfigError(f"{source}: training.stage must be 1 or 2, got {training['stage']!r}")
    sizes = training["batch_size"]
    if not (isinstance(sizes, list) and len(sizes) == 4 and all(isinstance(s, int) and s >= 0 for s in sizes)):
        raise ConfigError(
            f"{source}: training.batch_size must be 4 non-negative integers "
            f"[strong_real, synthetic, weak, unlabeled], got {sizes!r}"
        )
    accumulate = training["accumulate_batches"]
    if not (isinstance(accumulate, int) and not isinstance(accumulate, bool) and accumulate >= 1):
        raise ConfigError(
            f"{source}: training.accumulate_batches must be a positive integer (1 = no gradient accumulation), "
            f"got {accumulate!r}"
        )
    if not data["classes"] or len(set(data["classes"])) != len(data["classes"]):
        raise ConfigError(f"{source}: data.classes must be a non-empty list of distinct class names")
    window = training["median_window"]
    if isinstance(window, list) and len(window) != len(data["classes"]):
        raise ConfigError(
            f"{source}: training.median_window has {len(window)} entries but data.classes has "
            f"{len(data['classes'])}; give one window per class or a single integer"
        )
    for key, options in (("on_missing", ("skip", "error")), ("on_sample_rate", ("resample", "error"))):
        if data[key] not in options:
            raise ConfigError(f"{source}: data.{key} must be one of {options}, got {data[key]!r}")


def _deep_update(base: dict, update: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_update(out[key], value)
        else:
            out[key] = value
    return out


def read_yaml(path: Path, _seen: tuple[Path, ...] = ()) -> dict:
    """A YAML file's mapping; a top-level ``base: other.yaml`` (relative to the file) is read first and the
    file's own keys override it, so small configs can state only what differs from a recipe."""
    path = path.resolve()
    if not path.is_file():
        raise ConfigError(f"configuration file not found: {path}")
    if path in _seen:
        raise ConfigError(f"{path}: 'base' files include each other in a loop")
    try:
        user = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from err
    if not isinstance(user, dict):
        raise ConfigError(f"{path}: the configuration must be a mapping of sections")
    base = user.pop("base", None)
    if base is None:
        return user
    return _deep_update(read_yaml(path.parent / base, _seen + (path,)), user)


def load_config(path: str | Path, overrides: dict | None = None) -> dict:
    """Read, merge with defaults, validate and resolve a YAML configuration file.

    ``overrides`` maps dotted keys (``"training.n_epochs"``) to values that replace the file's.
    """
    path = Path(path)
    user = read_yaml(path)
    for dotted, value in (overrides or {}).items():
        section, key = dotted.split(".", 1)
        user.setdefault(section, {})[key] = value
    return resolve_config(user, source=str(path), base_dir=path.parent)

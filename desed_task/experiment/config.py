"""The YAML configuration: its layout, its defaults, validation and path resolution.

Sections: ``data`` (classes, data paths, sample rate ``fs``), ``training`` (the run and the task, with
``init_checkpoint``: the stage-1 checkpoint stage 2 starts from), ``opt`` (optimiser groups and schedule),
``encoder`` (the encoder unit by ``name``, its sizes, its pretrained checkpoint ``init`` and its ``frontend``) and
``net`` (CNN, RNN and heads, and its ``frontend``: the CRNN stream's).

Every default has one home: the constructor or dataclass that takes the value (``SEDFrontend``, ``CRNN``, the
encoder unit and its front-end, ``TaskOptions``), read here by introspection; keys without a constructor (data
paths, trainer settings) default here. Derived values are not configured: the sample rate is ``data.fs`` for every
stream, the network's time subsampling is the product of the time factors of ``net.pooling``, the encoder's mel
bins are the encoder's. Every key a user writes must be known: a misspelt key is an error that names it and the
closest known key. Configurations in this project's earlier layout are upgraded first (``layout.py``), and keys
under their earlier names are read as their current ones (``renamed_keys.py``).
"""
from __future__ import annotations

import copy
import difflib
import inspect
from pathlib import Path
from typing import Any

import yaml

from desed_task.data import DESED_CLASSES
from desed_task.experiment.layout import drop_derived_copies, upgrade_keys
from desed_task.experiment.renamed_keys import current_key, rename_keys
from desed_task.experiment.sections import normalise_sections
from desed_task.experiment.values import check_values
from desed_task.features import SEDFrontend
from desed_task.nnet import CRNN, encoder_class
from desed_task.nnet.sed_model_builder import encoder_kwargs
from desed_task.training.options import TaskOptions

DATA_PATH_KEYS = (
    "synth_folder", "synth_tsv", "strong_folder", "strong_tsv", "weak_folder", "weak_tsv", "unlabeled_folder",
    "synth_val_folder", "synth_val_tsv", "synth_val_dur", "strong_val_folder", "strong_val_tsv", "strong_val_dur",
    "test_folder", "test_tsv", "test_dur", "eval_folder",
)
EXTRA_SUBSET_KINDS = ("extra_strong", "extra_weak")
_EXTRA_SUBSET_KEYS = ("name", "folder", "tsv", "batch_size")
DEFAULT_ENCODER = "frame_atst"

_DATA_DEFAULTS: dict[str, Any] = {
    "root": ".",
    "classes": list(DESED_CLASSES),
    **{key: None for key in DATA_PATH_KEYS},
    "extra_strong": [],
    "extra_weak": [],
    "audio_max_len": 10.0,
    "fs": 16000,
    "on_missing": "skip",
    "on_sample_rate": "resample",
}
_TRAINER_DEFAULTS: dict[str, Any] = {
    "stage": 1,
    "batch_size": [12, 12, 24, 48],
    "batch_size_val": 24,
    "num_workers": 4,
    "validation_interval": 10,
    "early_stop_patience": 200,
    "weak_split": 0.9,
    "precision": "32",
    "matmul_precision": "highest",
    "backend": "auto",
    "num_nodes": 1,
    "gradient_clip": 0.0,
    "accumulate_batches": 1,
    "deterministic": False,
    "enable_progress_bar": True,
    "cpu_keep_freed_memory": True,
    "limit_train_batches": 1.0,
    "save_top_k": 5,
    "checkpoint_every_n_steps": None,
    "postprocess": None,
    "init_checkpoint": None,
}


class ConfigError(ValueError):
    """A configuration that can't be used; the message names the file and key."""


def _yaml_value(value: Any) -> Any:
    """Tuples (constructor defaults) as the lists YAML gives."""
    if isinstance(value, (tuple, list)):
        return [_yaml_value(v) for v in value]
    return value


def signature_defaults(fn: Any, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """The keyword defaults of a constructor, as a configuration section."""
    return {
        name: _yaml_value(param.default)
        for name, param in inspect.signature(fn).parameters.items()
        if name not in exclude and param.default is not inspect.Parameter.empty
    }


def encoder_defaults(name: str) -> dict[str, Any]:
    """The ``encoder`` section of the encoder unit called ``name``."""
    cls = encoder_class(name)
    return {
        "name": name,
        "init": None,
        "random_init": False,
        **signature_defaults(cls, exclude=("frontend",)),
        "frontend": signature_defaults(cls.frontend_class, exclude=("sample_rate", "n_mels")),
    }


def defaults(encoder: str = DEFAULT_ENCODER) -> dict[str, dict[str, Any]]:
    """Every section with its default values (a new dict each call)."""
    return copy.deepcopy({
        "data": _DATA_DEFAULTS,
        "training": {**_TRAINER_DEFAULTS, **TaskOptions.section_defaults("training")},
        "opt": TaskOptions.section_defaults("opt"),
        "encoder": encoder_defaults(encoder),
        "net": {
            **signature_defaults(CRNN, exclude=("encoder", "n_classes")),
            "frontend": signature_defaults(SEDFrontend, exclude=("sample_rate",)),
        },
    })


def _unknown_key(where: str, key: str, known: list[str], source: str) -> ConfigError:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f" Did you mean '{where}{close[0]}'?" if close else ""
    return ConfigError(f"{source}: unknown key '{where}{key}'.{hint} Known keys here: {', '.join(sorted(known))}")


def _merge(base: dict, user: dict, where: str, source: str) -> dict:
    merged = copy.deepcopy(base)
    for key, value in user.items():
        if key not in base:
            raise _unknown_key(where, key, list(base), source)
        if isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: '{where}{key}' must be a mapping, got {type(value).__name__}")
            merged[key] = _merge(base[key], value, f"{where}{key}.", source)
        else:
            merged[key] = value
    return merged


def _under(root: Path, path: str) -> str:
    resolved = Path(path).expanduser()
    return str(resolved if resolved.is_absolute() else root / resolved)


def resolve_config(user: dict, source: str = "<config>", base_dir: Path | None = None) -> dict:
    """Upgrade, validate against the defaults, and resolve the data paths of a user configuration.

    ``data.root`` is taken relative to ``base_dir`` (the YAML file's folder) when relative; the data paths are
    taken relative to ``data.root`` when relative.
    """
    if not isinstance(user, dict):
        raise ConfigError(f"{source}: the configuration must be a mapping of sections, got {type(user).__name__}")
    user = normalise_sections(user, source, ConfigError)
    user = rename_keys(upgrade_keys(user, source, ConfigError), source, ConfigError)
    user = drop_derived_copies(user, source, ConfigError)
    encoder = (user.get("encoder") or {}).get("name", DEFAULT_ENCODER)
    try:
        base = defaults(encoder)
    except KeyError as err:
        raise ConfigError(f"{source}: encoder.name: {err.args[0]}") from None
    config = _merge(base, user, "", source)
    check_values(config, base, source, ConfigError)
    if config["opt"]["encoder_trainable_layers"] == "all":
        layers = encoder_class(config["encoder"]["name"]).layer_group_count(**encoder_kwargs(config))
        config["opt"]["encoder_trainable_layers"] = layers
    data = config["data"]
    root = Path(data["root"]).expanduser()
    if not root.is_absolute() and base_dir is not None:
        root = (base_dir / root).resolve()
    data["root"] = str(root)
    for key in DATA_PATH_KEYS:
        if data[key] is not None:
            data[key] = _under(root, data[key])
    for kind in EXTRA_SUBSET_KINDS:
        data[kind] = _extra_subsets(data[kind], kind, root, source)
    return config


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


def _deep_update(base: dict, update: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_update(out[key], value)
        else:
            out[key] = value
    return out


def yaml_problem(err: yaml.YAMLError) -> str:
    """PyYAML's problem and where it is, on one line (its own message spans several, with a caret)."""
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return " ".join(f"{problem}{where}".split())


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
        raise ConfigError(f"{path}: not valid YAML: {yaml_problem(err)}") from err
    if not isinstance(user, dict):
        raise ConfigError(f"{path}: the configuration must be a mapping of sections")
    user = normalise_sections(user, str(path), ConfigError)
    base = user.pop("base", None)
    user = rename_keys(upgrade_keys(user, str(path), ConfigError), str(path), ConfigError)
    if base is None:
        return user
    return _deep_update(read_yaml(_base_file(path, base), _seen + (path,)), user)


def _base_file(path: Path, base: Any) -> Path:
    """The file that ``base:`` in ``path`` names (relative to ``path``'s folder), which must exist."""
    if not isinstance(base, str) or not base:
        raise ConfigError(f"{path}: 'base' must name a YAML file (relative to {path.parent}), got {base!r}")
    base_path = (path.parent / base).resolve()
    if not base_path.is_file():
        raise ConfigError(f"{path}: base: {base!r}: no such file: {base_path} (a base file is taken relative to "
                          f"the folder of the file that names it, {path.parent})")
    return base_path


def set_dotted(user: dict, dotted: str, value: Any) -> None:
    """``user["a"]["b"]["c"] = value`` for ``"a.b.c"``, creating the mappings on the way."""
    *sections, key = dotted.split(".")
    node = user
    for depth, section in enumerate(sections):
        node = node.setdefault(section, {})
        if not isinstance(node, dict):
            raise ConfigError(f"'{dotted}': '{'.'.join(sections[:depth + 1])}' is a value, not a section")
    node[key] = value


def _check_known(dotted: str, base: dict, source: str) -> None:
    """The did-you-mean error of an unknown key for ``dotted`` when the defaults ``base`` have no such key."""
    node, where = base, ""
    for part in dotted.split("."):
        if not isinstance(node, dict):
            raise ConfigError(f"{source}: '{where[:-1]}' is a value, not a section")
        if part not in node:
            raise _unknown_key(where, part, list(node), source)
        node, where = node[part], f"{where}{part}."


def load_config(path: str | Path, overrides: dict | None = None, overrides_from: str | None = None) -> dict:
    """Read, upgrade, merge with defaults, validate and resolve a YAML configuration file.

    ``overrides`` maps dotted keys (``"training.n_epochs"``, ``"encoder.frontend.top_db"``) to values that
    replace the file's. With ``overrides_from`` (``--set``), each key must be a current one (or a renamed one) and
    an unknown one is named as coming from there; without it, the keys are checked with the file's (so that the
    earlier layout's keys are upgraded).
    """
    path = Path(path)
    user = read_yaml(path)
    overrides = overrides or {}
    encoder = user.get("encoder") if isinstance(user.get("encoder"), dict) else {}
    try:
        base = defaults(overrides.get("encoder.name", encoder.get("name", DEFAULT_ENCODER)))
    except KeyError:
        base = {}  # an unknown encoder: resolve_config names it
    for dotted, value in overrides.items():
        dotted = current_key(dotted, f"{path}: {overrides_from or 'overrides'} {dotted}")
        if base and overrides_from is not None:
            _check_known(dotted, base, f"{path}: {overrides_from} {dotted}")
        set_dotted(user, dotted, value)
    return resolve_config(user, source=str(path), base_dir=path.parent)

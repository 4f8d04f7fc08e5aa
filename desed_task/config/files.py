"""The YAML configuration: its layout, its defaults, validation and path resolution.

Sections: ``data`` (classes, data paths, sample rate ``fs``), ``training`` (the run and the task, with
``init_checkpoint``: the stage-1 checkpoint stage 2 starts from), ``opt`` (optimiser groups and schedule),
``encoder`` (the encoder unit by ``name``, its sizes, its pretrained checkpoint ``init`` and its ``frontend``) and
``net`` (CNN, RNN and heads, and its ``frontend``: the CRNN stream's).

Every key's default, type and range has one home: the section dataclasses of the schema
(``desed_task.config.schema``), whose defaults the constructors share. Derived values are not configured: the
sample rate is ``data.fs`` for every stream, the network's time subsampling is the product of the time factors of
``net.pooling``, the encoder's mel bins are the encoder's. Every key a user writes must be known: a misspelt key is
an error that names it and the closest known key. Keys under their earlier names are read as their current ones
(``renamed_keys.py``); a key that copied a derived value is checked against it and dropped
(``schema.RETIRED_DERIVED_KEYS``).
"""

from __future__ import annotations

import copy
import difflib
import warnings
from pathlib import Path
from typing import Any

import yaml

from desed_task.config.schema import (
    DATA_PATH_KEYS,
    DEFAULT_ENCODER,
    RETIRED_DERIVED_KEYS,
    check_config,
    check_derived_copy,
    defaults,
    resolve_trainable_layers,
)
from desed_task.config.renamed_keys import RenamedKeyWarning, current_key, current_name, rename_keys
from desed_task.config.sections import normalise_sections
from desed_task.settings import SettingsError

__all__ = [
    "DATA_PATH_KEYS",
    "DEFAULT_ENCODER",
    "EXTRA_SUBSET_KINDS",
    "ConfigError",
    "defaults",
    "load_config",
    "read_yaml",
    "resolve_yaml",
    "resolve_config",
    "set_dotted",
    "yaml_problem",
]

EXTRA_SUBSET_KINDS = ("extra_strong", "extra_weak")
_EXTRA_SUBSET_KEYS = ("name", "folder", "tsv", "batch_size")


class ConfigError(ValueError):
    """A configuration that can't be used; the message names the file and key."""


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
    """Read earlier key names as current ones, validate against the defaults, and resolve the data paths of a user
    configuration.

    ``data.root`` is taken relative to ``base_dir`` (the YAML file's folder) when relative; the data paths are
    taken relative to ``data.root`` when relative.
    """
    if not isinstance(user, dict):
        raise ConfigError(f"{source}: the configuration must be a mapping of sections, got {type(user).__name__}")
    user = normalise_sections(user, source, ConfigError)
    user = rename_keys(user, source, ConfigError, keep=RETIRED_DERIVED_KEYS)
    user, copies = _without_derived_copies(user)
    encoder = (user.get("encoder") or {}).get("name", DEFAULT_ENCODER)
    try:
        base = defaults(encoder)
    except KeyError as err:
        raise ConfigError(f"{source}: encoder.name: {err.args[0]}") from None
    config = _merge(base, user, "", source)
    try:
        check_config(config)
        _check_derived_copies(config, copies, source)
        resolve_trainable_layers(config)
    except SettingsError as err:
        raise ConfigError(f"{source}: {err}") from None
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


def _dotted_keys(user: dict, where: str = "") -> list[str]:
    keys = []
    for key, value in user.items():
        keys.extend(_dotted_keys(value, f"{where}{key}.") if isinstance(value, dict) else [f"{where}{key}"])
    return keys


def _without_derived_copies(user: dict) -> tuple[dict, dict[str, Any]]:
    """``user`` without the keys of ``RETIRED_DERIVED_KEYS`` (under their current or earlier names), and those
    keys as written with their values; the sections they leave empty are dropped."""
    copies = {key: None for key in _dotted_keys(user) if current_name(key) in RETIRED_DERIVED_KEYS}
    if not copies:
        return user, {}
    user = copy.deepcopy(user)
    for written in copies:
        *sections, key = written.split(".")
        nodes = [user]
        for section in sections:
            nodes.append(nodes[-1][section])
        copies[written] = nodes[-1].pop(key)
        for parent, section, node in reversed(list(zip(nodes, sections, nodes[1:]))):
            if not node:
                del parent[section]
    return user, copies


def _check_derived_copies(config: dict, copies: dict[str, Any], source: str) -> None:
    """``SettingsError`` for a copy of a derived value that disagrees with it; a warning for each that agrees."""
    for written, value in copies.items():
        now = check_derived_copy(config, current_name(written), written, value)
        warnings.warn(
            f"{source}: '{written}' is no longer a setting of its own ({now} gives {value!r}); it was "
            "checked and left out (remove it to silence this warning)",
            RenamedKeyWarning,
            stacklevel=3,
        )


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


def read_yaml(path: Path, _seen: tuple[Path, ...] = (), files: list[Path] | None = None) -> dict:
    """A YAML file's mapping; a top-level ``base: other.yaml`` (relative to the file) is read first and the
    file's own keys override it, so small configs can state only what differs from a recipe. ``files``, when
    given, receives the path of every file read (the file, then its ``base:`` chain)."""
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
    if files is not None:
        files.append(path)
    user = normalise_sections(user, str(path), ConfigError)
    base = user.pop("base", None)
    user = rename_keys(user, str(path), ConfigError, keep=RETIRED_DERIVED_KEYS)
    if base is None:
        return user
    return _deep_update(read_yaml(_base_file(path, base), _seen + (path,), files), user)


def _base_file(path: Path, base: Any) -> Path:
    """The file that ``base:`` in ``path`` names (relative to ``path``'s folder), which must exist."""
    if not isinstance(base, str) or not base:
        raise ConfigError(f"{path}: 'base' must name a YAML file (relative to {path.parent}), got {base!r}")
    base_path = (path.parent / base).resolve()
    if not base_path.is_file():
        raise ConfigError(
            f"{path}: base: {base!r}: no such file: {base_path} (a base file is taken relative to "
            f"the folder of the file that names it, {path.parent})"
        )
    return base_path


def set_dotted(user: dict, dotted: str, value: Any) -> None:
    """``user["a"]["b"]["c"] = value`` for ``"a.b.c"``, creating the mappings on the way."""
    *sections, key = dotted.split(".")
    node = user
    for depth, section in enumerate(sections):
        node = node.setdefault(section, {})
        if not isinstance(node, dict):
            raise ConfigError(f"'{dotted}': '{'.'.join(sections[: depth + 1])}' is a value, not a section")
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
    """Read, merge with defaults, validate and resolve a YAML configuration file.

    ``overrides`` maps dotted keys (``"training.n_epochs"``, ``"encoder.frontend.top_db"``) to values that
    replace the file's. With ``overrides_from`` (``--set``), each key must be a current one (or a renamed one) and
    an unknown one is named as coming from there; without it, the keys are checked with the file's (so that the
    copies of derived values are checked and dropped).
    """
    return resolve_yaml(read_yaml(Path(path)), path, overrides, overrides_from)


def resolve_yaml(
    user: dict, path: str | Path, overrides: dict | None = None, overrides_from: str | None = None
) -> dict:
    """``load_config`` of the mapping ``read_yaml`` gave for the file ``path`` (for a caller that also looks at
    the file's own keys, or at the files it read)."""
    path = Path(path)
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

"""Configuration keys under their earlier names: each is read as its current name, with one warning per key.

Add a line to ``RENAMED_KEYS`` when a key is renamed. The earlier name keeps working in YAML files, in ``--set``
and in the configuration stored in a checkpoint; a file (or mapping) that gives both names is an error unless
the values agree.
"""
from __future__ import annotations

import copy
import warnings

#: earlier dotted key -> current dotted key
RENAMED_KEYS: dict[str, str] = {
    "opt.tfm_lr": "opt.encoder_lr",
    "opt.tfm_lr_scale": "opt.encoder_lr_scale",
    "opt.tfm_trainable_layers": "opt.encoder_trainable_layers",
    "training.const_max": "training.consistency_weight_max",
}


class RenamedKeyWarning(FutureWarning):
    """A configuration names a key by its earlier name."""


def warn_renamed(old: str, new: str, source: str) -> None:
    warnings.warn(f"{source}: '{old}' is now called '{new}'; it was read as '{new}' (rename it to silence this "
                  "warning)", RenamedKeyWarning, stacklevel=3)


def current_key(dotted: str, source: str) -> str:
    """The current name of a dotted key (warning once when ``dotted`` is an earlier name)."""
    new = RENAMED_KEYS.get(dotted)
    if new is None:
        return dotted
    warn_renamed(dotted, new, source)
    return new


def _section_of(user: dict, dotted: str) -> dict | None:
    """The mapping that holds the last part of ``dotted`` (None where a section on the way is missing)."""
    node = user
    for section in dotted.split(".")[:-1]:
        node = node.get(section)
        if not isinstance(node, dict):
            return None
    return node


def rename_keys(user: dict, source: str, error: type[Exception]) -> dict:
    """``user`` with every earlier key moved to its current name; ``user`` itself when it holds none."""
    def holds(dotted: str) -> bool:
        section = _section_of(user, dotted)
        return section is not None and dotted.rsplit(".", 1)[-1] in section

    if not any(holds(old) for old in RENAMED_KEYS):
        return user
    user = copy.deepcopy(user)
    for old, new in RENAMED_KEYS.items():
        if not holds(old):
            continue
        value = _section_of(user, old).pop(old.rsplit(".", 1)[-1])
        *sections, key = new.split(".")
        node = user
        for section in sections:
            node = node.setdefault(section, {})
        if key in node and node[key] != value:
            raise error(f"{source}: '{old}' ({value!r}) is the earlier name of '{new}' ({node[key]!r}): keep "
                        f"'{new}' only")
        node[key] = value
        warn_renamed(old, new, source)
    return user

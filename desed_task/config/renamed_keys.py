"""Configuration keys under their earlier names: each is read as its current name, with one warning per key.

Add a line to ``RENAMED_KEYS`` when a key is renamed, or to ``RENAMED_SECTIONS`` when a whole section moves (each
of its keys ``<old>.<k>`` is then read as ``<new>.<k>``). The earlier name keeps working in YAML files, in
``--set`` and in the configuration stored in a checkpoint; a file (or mapping) that gives both names is an error
unless the values agree.
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
    "ultra.model_init": "training.init_checkpoint",
}
#: earlier section -> current section: every key of the earlier one moves under the current one
RENAMED_SECTIONS: dict[str, str] = {
    "feats": "net.frontend",
}


class RenamedKeyWarning(FutureWarning):
    """A configuration names a key by its earlier name."""


def warn_renamed(old: str, new: str, source: str) -> None:
    warnings.warn(f"{source}: '{old}' is now called '{new}'; it was read as '{new}' (rename it to silence this "
                  "warning)", RenamedKeyWarning, stacklevel=3)


def current_name(dotted: str) -> str:
    """The current name of a dotted key (``dotted`` itself when it is not an earlier name); no warning."""
    if dotted in RENAMED_KEYS:
        return RENAMED_KEYS[dotted]
    for old, new in RENAMED_SECTIONS.items():
        if dotted.startswith(old + "."):
            return new + dotted[len(old):]
    return dotted


def earlier_name(dotted: str) -> str:
    """The earlier name of a current dotted key under a moved section (``dotted`` itself otherwise)."""
    for old, new in RENAMED_SECTIONS.items():
        if dotted.startswith(new + "."):
            return old + dotted[len(new):]
    return dotted


def current_key(dotted: str, source: str) -> str:
    """The current name of a dotted key (warning once when ``dotted`` is an earlier name)."""
    new = current_name(dotted)
    if new != dotted:
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


def _earlier_keys(user: dict) -> list[str]:
    """The dotted keys of ``user`` that are earlier names, in table order."""
    found = [old for old in RENAMED_KEYS if (_section_of(user, old) or {}).keys() >= {old.rsplit(".", 1)[-1]}]
    for old in RENAMED_SECTIONS:
        section = _section_of(user, old + ".")
        if section is not None:
            found.extend(f"{old}.{key}" for key in section)
    return found


def rename_keys(user: dict, source: str, error: type[Exception]) -> dict:
    """``user`` with every earlier key moved to its current name; ``user`` itself when it holds none. A section
    that the moves leave empty is dropped."""
    earlier = _earlier_keys(user)
    if not earlier:
        return user
    user = copy.deepcopy(user)
    for old in earlier:
        new = current_name(old)
        holder = _section_of(user, old)
        value = holder.pop(old.rsplit(".", 1)[-1])
        *sections, key = new.split(".")
        node = user
        for section in sections:
            node = node.setdefault(section, {})
        if key in node and node[key] != value:
            raise error(f"{source}: '{old}' ({value!r}) is the earlier name of '{new}' ({node[key]!r}): keep "
                        f"'{new}' only")
        node[key] = value
        warn_renamed(old, new, source)
    for old in earlier:
        section = old.split(".", 1)[0]
        if user.get(section) == {}:
            del user[section]
    return user

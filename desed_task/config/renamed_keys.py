"""Configuration keys under their earlier names: each is read as its current name, with one warning per key.

Add a line to ``RENAMED_KEYS`` when a key is renamed, or to ``RENAMED_SECTIONS`` when a whole section moves (each
of its keys ``<old>.<k>`` is then read as ``<new>.<k>``). The earlier name keeps working in YAML files, in
``--set`` and in the configuration stored in a checkpoint; a file (or mapping) that gives both names is an error
unless the values agree.

The earlier layout (``_EARLIER_LAYOUT_KEYS``, ``_EARLIER_LAYOUT_SECTIONS``) spread the encoder's settings over
``net``, ``ultra`` and ``atst_feats`` and called the learning rate of the RNN, fusion and heads ``opt.lr``. A
stage-2 file in that layout also implied values that are keys now (``EARLIER_STAGE2_IMPLIED``): they are written
out for a file (or mapping) with ``training.stage: 2`` that gives one of those earlier names, with one warning
naming them. Keys that copied a derived value (``data.net_subsample``, ``feats.sample_rate``,
``atst_feats.n_mels``, ...) are neither renamed nor a mark of the earlier layout here: ``rename_keys`` leaves them
as written (``keep``), and ``schema.RETIRED_DERIVED_KEYS`` checks and drops them.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Collection
from typing import Any, NamedTuple

_EARLIER_LAYOUT_KEYS: dict[str, str] = {
    "net.atst_embed_dim": "encoder.embed_dim",
    "net.atst_depth": "encoder.depth",
    "net.atst_num_heads": "encoder.num_heads",
    "ultra.atst_init": "encoder.init",
    "ultra.atst_random_init": "encoder.random_init",
    "ultra.atst_dropout": "encoder.dropout",
    "ultra.activation_checkpointing": "encoder.activation_checkpointing",
    "opt.lr": "opt.rnn_lr",
}
_EARLIER_LAYOUT_SECTIONS: dict[str, str] = {
    "atst_feats": "encoder.frontend",
}

#: earlier dotted key -> current dotted key
RENAMED_KEYS: dict[str, str] = {
    "opt.tfm_lr": "opt.encoder_lr",
    "opt.tfm_lr_scale": "opt.encoder_lr_scale",
    "opt.tfm_trainable_layers": "opt.encoder_trainable_layers",
    "training.const_max": "training.consistency_weight_max",
    "ultra.model_init": "training.init_checkpoint",
    **_EARLIER_LAYOUT_KEYS,
}
#: earlier section -> current section: every key of the earlier one moves under the current one
RENAMED_SECTIONS: dict[str, str] = {
    "feats": "net.frontend",
    **_EARLIER_LAYOUT_SECTIONS,
}


class Implied(NamedTuple):
    """A value that a stage-2 file in the earlier layout implied; ``overrides``: also where the file gives the key
    (the earlier stage 2 ignored it)."""

    value: Any
    overrides: bool = False


#: What a stage-2 file in the earlier layout implied: checkpoints chosen on synthetic PSDS, and a fixed EMA factor
#: whatever ``training.ema_warmup`` said.
EARLIER_STAGE2_IMPLIED: dict[str, Implied] = {
    "training.objective": Implied("synth_psds"),
    "training.ema_warmup": Implied(False, overrides=True),
}


class RenamedKeyWarning(FutureWarning):
    """A configuration names a key by its earlier name."""


def warn_renamed(old: str, new: str, source: str) -> None:
    warnings.warn(
        f"{source}: '{old}' is now called '{new}'; it was read as '{new}' (rename it to silence this warning)",
        RenamedKeyWarning,
        stacklevel=3,
    )


def current_name(dotted: str) -> str:
    """The current name of a dotted key (``dotted`` itself when it is not an earlier name); no warning."""
    if dotted in RENAMED_KEYS:
        return RENAMED_KEYS[dotted]
    for old, new in RENAMED_SECTIONS.items():
        if dotted.startswith(old + "."):
            return new + dotted[len(old) :]
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


def _holder(user: dict, dotted: str) -> tuple[dict, str]:
    """The mapping that holds ``dotted``'s last part (created on the way), and that part."""
    *sections, key = dotted.split(".")
    node = user
    for section in sections:
        node = node.setdefault(section, {})
    return node, key


def _earlier_keys(user: dict) -> list[str]:
    """The dotted keys of ``user`` that are earlier names, in table order."""
    found = [old for old in RENAMED_KEYS if (_section_of(user, old) or {}).keys() >= {old.rsplit(".", 1)[-1]}]
    for old in RENAMED_SECTIONS:
        section = _section_of(user, old + ".")
        if section is not None:
            found.extend(f"{old}.{key}" for key in section)
    return found


def _in_earlier_layout(dotted: str) -> bool:
    return dotted in _EARLIER_LAYOUT_KEYS or any(dotted.startswith(f"{old}.") for old in _EARLIER_LAYOUT_SECTIONS)


def _implied(user: dict) -> dict[str, Any]:
    """The values of ``EARLIER_STAGE2_IMPLIED`` that change ``user`` (a stage-2 mapping)."""
    training = user.get("training")
    if not isinstance(training, dict) or training.get("stage") != 2:
        return {}
    implied = {}
    for dotted, (value, overrides) in EARLIER_STAGE2_IMPLIED.items():
        holder = _section_of(user, dotted) or {}
        key = dotted.rsplit(".", 1)[-1]
        if key not in holder or (overrides and holder[key] != value):
            implied[dotted] = value
    return implied


def _yaml_value(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) or value is None else str(value)


def rename_keys(user: dict, source: str, error: type[Exception], keep: Collection[str] = ()) -> dict:
    """``user`` with every earlier key moved to its current name and, for a stage-2 mapping in the earlier layout,
    the values it implied set; ``user`` itself when nothing changes. An earlier name whose current name is in
    ``keep`` stays as written (the caller reads it). A section that the moves leave empty is dropped."""
    earlier = [old for old in _earlier_keys(user) if current_name(old) not in keep]
    implied = _implied(user) if any(_in_earlier_layout(old) for old in earlier) else {}
    if not earlier:
        return user
    user = copy.deepcopy(user)
    for old in earlier:
        new = current_name(old)
        holder = _section_of(user, old)
        value = holder.pop(old.rsplit(".", 1)[-1])
        node, key = _holder(user, new)
        if key in node and node[key] != value:
            raise error(
                f"{source}: '{old}' ({value!r}) is the earlier name of '{new}' ({node[key]!r}): keep '{new}' only"
            )
        node[key] = value
        warn_renamed(old, new, source)
    for old in earlier:
        section = old.split(".", 1)[0]
        if user.get(section) == {}:
            del user[section]
    if implied:
        for dotted, value in implied.items():
            node, key = _holder(user, dotted)
            node[key] = value
        written = ", ".join(f"{dotted}: {_yaml_value(value)}" for dotted, value in implied.items())
        warnings.warn(
            f"{source}: a stage-2 configuration in the earlier layout implies {written}; it was read so "
            "(give these keys in the file to silence this warning)",
            RenamedKeyWarning,
            stacklevel=2,
        )
    return user

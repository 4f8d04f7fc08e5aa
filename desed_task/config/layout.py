"""Configurations in this project's earlier layout, as users' YAML files and older checkpoints hold them.

The earlier layout had one value in several places and ATST settings spread over three sections. Upgrading moves
each key to its one place and drops the copies of derived values once they are checked to agree:

| earlier key                                   | now                                              |
| --------------------------------------------- | ------------------------------------------------ |
| ``atst_feats.*``                              | ``encoder.frontend.*``                           |
| ``net.atst_embed_dim/atst_depth/atst_num_heads`` | ``encoder.embed_dim/depth/num_heads``          |
| ``ultra.atst_init`` / ``atst_random_init``    | ``encoder.init`` / ``encoder.random_init``       |
| ``ultra.atst_dropout`` / ``activation_checkpointing`` | ``encoder.dropout`` / ``encoder.activation_checkpointing`` |
| ``opt.lr`` (stage 1's RNN and heads)          | ``opt.rnn_lr``                                   |
| ``feats.sample_rate``, ``atst_feats.sample_rate`` | ``data.fs`` (must agree)                     |
| ``data.net_subsample``                        | the product of ``net.pooling``'s time factors (must agree) |
| ``atst_feats.n_mels``                         | the encoder's own (64 for FrameATST; must agree) |

An earlier stage-2 file also implied stage 2's checkpoint objective and a fixed EMA factor: both are written out
(``training.objective: synth_psds``, ``training.ema_warmup: false``). A warning per file lists the moves.
"""
from __future__ import annotations

import copy
import math
import warnings
from typing import Any

from desed_task.nnet import encoder_class

_MOVES = (
    ("net", "atst_embed_dim", ("encoder", "embed_dim")),
    ("net", "atst_depth", ("encoder", "depth")),
    ("net", "atst_num_heads", ("encoder", "num_heads")),
    ("ultra", "atst_init", ("encoder", "init")),
    ("ultra", "atst_random_init", ("encoder", "random_init")),
    ("ultra", "atst_dropout", ("encoder", "dropout")),
    ("ultra", "activation_checkpointing", ("encoder", "activation_checkpointing")),
)
_DEFAULT_POOLING = [[2, 2], [2, 2], [1, 2], [1, 2], [1, 2], [1, 2], [1, 2]]


class LayoutWarning(UserWarning):
    """A configuration in an earlier layout was upgraded."""


def _has_moved_keys(user: dict) -> bool:
    sections = {k: v for k, v in user.items() if isinstance(v, dict)}
    return (
        "atst_feats" in sections
        or any(key in sections.get(section, {}) for section, key, _ in _MOVES)
        or "lr" in sections.get("opt", {})
    )


def _agree(value: Any, expected: Any, key: str, now: str, source: str, error: type[Exception]) -> None:
    if value != expected:
        raise error(
            f"{source}: {key} is {value!r} but {now} gives {expected!r}; it is no longer a setting of its own: "
            f"remove {key} (and change {now} if you meant {value!r})"
        )


def _warn(source: str, notes: list[str]) -> None:
    warnings.warn(
        f"{source} is in this project's earlier configuration layout and was upgraded: {'; '.join(notes)}. "
        "Rewrite it in the current layout (see confs/stage1.yaml) to silence this warning.",
        LayoutWarning,
        stacklevel=4,
    )


def upgrade_keys(user: dict, source: str, error: type[Exception]) -> dict:
    """Move the keys of one file (or mapping) to their current place; ``user`` itself when none moved.

    Run on each YAML file before ``base`` files are merged, so that an earlier key in a file overrides the
    current key of its base (``opt.lr`` in a file built on today's stage1.yaml). The copies of derived values are
    left for ``drop_derived_copies``, which needs the merged configuration.
    """
    if not _has_moved_keys(user):
        return user
    user = copy.deepcopy(user)
    notes: list[str] = []
    if "atst_feats" in user:
        user.setdefault("encoder", {}).setdefault("frontend", {}).update(user.pop("atst_feats"))
        notes.append("atst_feats -> encoder.frontend")
    for section_name, key, (new_section, new_key) in _MOVES:
        section = user.get(section_name, {})
        if key in section:
            user.setdefault(new_section, {})[new_key] = section.pop(key)
            notes.append(f"{section_name}.{key} -> {new_section}.{new_key}")
    if user.get("ultra") == {}:
        del user["ultra"]  # every key moved
    opt = user.get("opt", {})
    if "lr" in opt:
        lr = opt.pop("lr")
        if "rnn_lr" in opt and opt["rnn_lr"] != lr:
            raise error(f"{source}: opt.lr ({lr}) and opt.rnn_lr ({opt['rnn_lr']}) name the same group (RNN, fusion "
                        "and heads): keep opt.rnn_lr only")
        opt["rnn_lr"] = lr
        notes.append("opt.lr -> opt.rnn_lr")
    training = user.get("training", {})
    if training.get("stage") == 2:
        if "objective" not in training:
            training["objective"] = "synth_psds"
            notes.append("training.objective: synth_psds (stage 2)")
        if training.get("ema_warmup", True):
            training["ema_warmup"] = False
            notes.append("training.ema_warmup: false (stage 2 used a fixed EMA factor)")
    _warn(source, notes)
    return user


def drop_derived_copies(user: dict, source: str, error: type[Exception]) -> dict:
    """Check the earlier copies of derived values against what they derive from, and drop them (run after
    ``rename_keys``: ``feats`` is ``net.frontend`` by then)."""
    net_frontend = user.get("net", {}).get("frontend", {})
    frontend = user.get("encoder", {}).get("frontend", {})
    copies = [("net.frontend", net_frontend, "sample_rate"), ("encoder.frontend", frontend, "sample_rate"),
              ("encoder.frontend", frontend, "n_mels"), ("data", user.get("data", {}), "net_subsample")]
    if not any(key in section for _, section, key in copies):
        return user
    user = copy.deepcopy(user)
    data, net = user.setdefault("data", {}), user.get("net", {})
    net_frontend = net.get("frontend", {})
    frontend = user.get("encoder", {}).get("frontend", {})
    try:
        encoder = encoder_class(user.get("encoder", {}).get("name", "frame_atst"))
    except KeyError as err:
        raise error(f"{source}: encoder.name: {err.args[0]}") from None
    notes = []
    expected = {
        "sample_rate": (data.get("fs", 16000), "data.fs"),
        "n_mels": (encoder.n_mels, f"the {encoder.name} encoder"),
        "net_subsample": (math.prod(int(p[0]) for p in net.get("pooling", _DEFAULT_POOLING)), "net.pooling"),
    }
    earlier_names = {"net.frontend": "feats", "encoder.frontend": "atst_feats", "data": "data"}
    for where, section in (("net.frontend", net_frontend), ("encoder.frontend", frontend), ("data", data)):
        for key in [k for k in ("sample_rate", "n_mels", "net_subsample") if k in section]:
            if where == "net.frontend" and key == "n_mels":
                continue
            value, (derived, now) = section.pop(key), expected[key]
            earlier = earlier_names[where]
            _agree(value, derived, f"{earlier}.{key}", now, source, error)
            notes.append(f"{earlier}.{key} dropped ({now})")
    _warn(source, notes)
    return user

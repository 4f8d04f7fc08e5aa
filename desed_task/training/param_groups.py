"""Optimiser parameter groups of the two training stages (SPEC §5; golden: recipe_golden.json).

Names follow the CRNN's state-dict keys (``cnn.*``, ``rnn.*``, ``cat_tf.*``, ``dense.*``, ``dense_softmax.*``,
``atst_frame.atst.*``). The encoder is split into ``depth + 2`` groups ranked from the top: rank 0
``norm_frame``, rank 1 block ``depth − 1``, …, rank ``depth`` block 0, rank ``depth + 1`` the embeddings
(``patch_embed``, ``pos_embed``, ``mask_embed``). Rank r gets ``tfm_lr · tfm_lr_scale^r`` (layer-wise lr decay),
and ``tfm_trainable_layers = k`` trains ranks 0 … k − 1 only.

Every parameter lands in exactly one group or is frozen: an unknown name, or a trainable parameter that no
group takes, is an error, so a renamed layer cannot silently drop out of training. Each group dict holds
``params``, ``param_names`` (same order), ``lr`` and ``name``; parameters keep the order of the input.
"""
from __future__ import annotations

import re
from typing import Iterable

from torch import nn

__all__ = [
    "ENCODER_PREFIX",
    "encoder_rank",
    "set_encoder_trainable_layers",
    "stage1_param_groups",
    "stage2_param_groups",
]

ENCODER_PREFIX = "atst_frame.atst."
_CNN_PREFIXES = ("cnn.",)
_HEAD_PREFIXES = ("rnn.", "cat_tf.", "dense.", "dense_softmax.")
_EMBEDDINGS = ("patch_embed.", "pos_embed", "mask_embed")
_BLOCK = re.compile(r"blocks\.(\d+)\.")

NamedParameters = Iterable[tuple[str, nn.Parameter]]


def encoder_rank(name: str, depth: int) -> int | None:
    """Rank (0 = top) of the encoder group holding parameter ``name``; None for a non-encoder parameter."""
    if not name.startswith(ENCODER_PREFIX):
        return None
    local = name[len(ENCODER_PREFIX):]
    if local.startswith("norm_frame."):
        return 0
    match = _BLOCK.match(local)
    if match is not None:
        block = int(match.group(1))
        if block >= depth:
            raise ValueError(f"parameter {name!r} is in block {block} but the encoder depth is {depth}")
        return depth - block
    if local.startswith(_EMBEDDINGS):
        return depth + 1
    raise ValueError(
        f"encoder parameter {name!r} fits no group (norm_frame, blocks.<i>, patch_embed, pos_embed, mask_embed); "
        "extend desed_task/training/param_groups.py if the encoder gained a layer"
    )


def _head_group(name: str) -> str:
    """``cnn`` or ``rnn`` (RNN + fusion + heads) for a non-encoder parameter."""
    if name.startswith(_CNN_PREFIXES):
        return "cnn"
    if name.startswith(_HEAD_PREFIXES):
        return "rnn"
    raise ValueError(
        f"parameter {name!r} fits no optimiser group (expected cnn.*, rnn.*, cat_tf.*, dense.*, dense_softmax.* "
        f"or {ENCODER_PREFIX}*); extend desed_task/training/param_groups.py if the network gained a layer"
    )


def _check_k(k: int, depth: int) -> None:
    if not 0 <= k <= depth + 2:
        raise ValueError(
            f"tfm_trainable_layers must lie in [0, {depth + 2}] for an encoder of depth {depth}, got {k}"
        )


def _unassigned(name: str, why: str) -> ValueError:
    return ValueError(
        f"trainable parameter {name!r} is in no optimiser group ({why}); freeze it with "
        "set_encoder_trainable_layers(model.named_parameters(), k, depth) or raise opt.tfm_trainable_layers"
    )


def _group(name: str, lr: float) -> dict:
    return {"params": [], "param_names": [], "lr": lr, "name": name}


def _add(group: dict, name: str, param: nn.Parameter) -> None:
    if param.requires_grad:
        group["params"].append(param)
        group["param_names"].append(name)


def set_encoder_trainable_layers(named_parameters: NamedParameters, k: int, depth: int) -> None:
    """Train the top ``k`` encoder groups and freeze the others (``k = 0``: whole encoder frozen, stage 1).

    Non-encoder parameters keep their ``requires_grad``.
    """
    _check_k(k, depth)
    for name, param in named_parameters:
        rank = encoder_rank(name, depth)
        if rank is not None:
            param.requires_grad_(rank < k)


def stage1_param_groups(named_parameters: NamedParameters, cnn_lr: float, lr: float) -> list[dict]:
    """Stage 1: CNN at ``cnn_lr``; RNN, fusion and heads at ``lr``. The encoder must be frozen.

    Frozen parameters are left out, empty groups dropped.
    """
    groups = {"cnn": _group("cnn", cnn_lr), "rnn": _group("rnn", lr)}
    for name, param in named_parameters:
        if name.startswith(ENCODER_PREFIX):
            if param.requires_grad:
                raise _unassigned(name, "stage 1 keeps the encoder frozen")
            continue
        _add(groups[_head_group(name)], name, param)
    return [g for g in groups.values() if g["params"]]


def stage2_param_groups(
    named_parameters: NamedParameters,
    cnn_lr: float,
    rnn_lr: float,
    tfm_lr: float,
    tfm_lr_scale: float,
    tfm_trainable_layers: int,
    depth: int,
) -> list[dict]:
    """Stage 2: CNN; RNN + fusion + heads; the top ``tfm_trainable_layers`` encoder groups with layer-wise lr.

    Group order: ``cnn``, ``rnn``, ``encoder.norm_frame``, ``encoder.block<depth − 1>``, …, ``encoder.block0``,
    ``encoder.embeddings``. Frozen parameters are left out, empty groups dropped; a trainable encoder parameter
    below the top ``tfm_trainable_layers`` groups is an error.
    """
    _check_k(tfm_trainable_layers, depth)
    labels = ["norm_frame"] + [f"block{depth - rank}" for rank in range(1, depth + 1)] + ["embeddings"]
    encoder = [_group(f"encoder.{label}", tfm_lr * tfm_lr_scale**rank) for rank, label in enumerate(labels)]
    heads = {"cnn": _group("cnn", cnn_lr), "rnn": _group("rnn", rnn_lr)}
    for name, param in named_parameters:
        rank = encoder_rank(name, depth)
        if rank is None:
            _add(heads[_head_group(name)], name, param)
        elif rank < tfm_trainable_layers:
            _add(encoder[rank], name, param)
        elif param.requires_grad:
            raise _unassigned(name, f"encoder group {labels[rank]} is below the top {tfm_trainable_layers}")
    groups = list(heads.values()) + encoder[:tfm_trainable_layers]
    return [g for g in groups if g["params"]]

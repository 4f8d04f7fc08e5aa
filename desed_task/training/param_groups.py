"""Optimiser parameter groups of both stages (SPEC §5; golden: recipe_golden.json → stage2_param_groups).

Groups are assigned by parameter name in the published key layout: ``cnn.*``; ``rnn.*``, ``cat_tf``,
``dense``, ``dense_softmax``; ``atst_frame.atst.*`` (the encoder).
"""
from __future__ import annotations

from typing import Iterable

from torch import nn

ENCODER_PREFIX = "atst_frame.atst."
_HEAD_PREFIXES = ("rnn.", "cat_tf.", "dense.", "dense_softmax.")
_EMBEDDINGS = ("mask_embed", "pos_embed", "patch_embed.")


def encoder_group_index(name: str, depth: int) -> int:
    """The encoder group of a parameter, counted from the top: 0 = norm_frame, 1 = last block, …,
    depth = block 0, depth + 1 = embeddings."""
    key = name[len(ENCODER_PREFIX):]
    if key.startswith("norm_frame."):
        return 0
    if key.startswith("blocks."):
        return depth - int(key.split(".")[1])
    if key.startswith(_EMBEDDINGS):
        return depth + 1
    raise ValueError(f"encoder parameter {name} belongs to no layer-wise group")


def set_encoder_trainable_layers(
    named_parameters: Iterable[tuple[str, nn.Parameter]], trainable_layers: int, depth: int
) -> None:
    """Train the top ``trainable_layers`` of the encoder's depth + 2 groups, freeze the rest (0 = frozen)."""
    if not 0 <= trainable_layers <= depth + 2:
        raise ValueError(f"opt.tfm_trainable_layers must be within 0..{depth + 2}, got {trainable_layers}")
    for name, param in named_parameters:
        if name.startswith(ENCODER_PREFIX):
            param.requires_grad_(encoder_group_index(name, depth) < trainable_layers)


def _split(named_parameters: Iterable[tuple[str, nn.Parameter]]):
    cnn, head, encoder = [], [], []
    for name, param in named_parameters:
        if name.startswith("cnn."):
            cnn.append((name, param))
        elif name.startswith(_HEAD_PREFIXES):
            head.append((name, param))
        elif name.startswith(ENCODER_PREFIX):
            encoder.append((name, param))
        else:
            raise ValueError(f"parameter {name} belongs to no optimiser group (CNN, RNN/heads or encoder)")
    return cnn, head, encoder


def _group(name: str, lr: float, named: list[tuple[str, nn.Parameter]]) -> dict:
    trainable = [(n, p) for n, p in named if p.requires_grad]
    return {"name": name, "lr": lr, "params": [p for _, p in trainable], "param_names": [n for n, _ in trainable]}


def stage1_param_groups(named_parameters: Iterable[tuple[str, nn.Parameter]], cnn_lr: float, lr: float) -> list[dict]:
    """CNN at ``cnn_lr``; RNN, fusion and heads at ``lr``; trainable encoder parameters (none in the recipe's
    stage 1) at ``lr`` too."""
    cnn, head, encoder = _split(named_parameters)
    groups = [_group("cnn", cnn_lr, cnn), _group("rnn_heads", lr, head + encoder)]
    return [g for g in groups if g["params"]]


def stage2_param_groups(
    named_parameters: Iterable[tuple[str, nn.Parameter]],
    cnn_lr: float,
    rnn_lr: float,
    tfm_lr: float,
    tfm_lr_scale: float,
    tfm_trainable_layers: int,
    depth: int,
) -> list[dict]:
    """CNN; RNN + fusion + heads; then the encoder's top ``tfm_trainable_layers`` groups, from ``norm_frame`` at
    ``tfm_lr`` down with factor ``tfm_lr_scale`` per group (block i: tfm_lr·scale^(depth − i), embeddings
    tfm_lr·scale^(depth + 1))."""
    cnn, head, encoder = _split(named_parameters)
    groups = [_group("cnn", cnn_lr, cnn), _group("rnn_heads", rnn_lr, head)]
    by_index: dict[int, list] = {}
    for name, param in encoder:
        by_index.setdefault(encoder_group_index(name, depth), []).append((name, param))
    for index in range(min(tfm_trainable_layers, depth + 2)):
        label = "norm_frame" if index == 0 else ("embeddings" if index == depth + 1 else f"block{depth - index}")
        groups.append(_group(f"encoder_{label}", tfm_lr * tfm_lr_scale**index, by_index.get(index, [])))
    assigned = {id(p) for g in groups for p in g["params"]}
    stray = [n for n, p in cnn + head + encoder if p.requires_grad and id(p) not in assigned]
    if stray:
        raise ValueError(
            f"trainable parameters outside the top {tfm_trainable_layers} encoder groups: {stray[:3]}; "
            "freeze them with set_encoder_trainable_layers or raise opt.tfm_trainable_layers"
        )
    return groups

"""Optimiser parameter groups of both training stages (docs/recipe.md §5; golden: recipe_golden.json).

Group order: ``cnn`` (the CNN), ``rnn`` (BiGRU, fusion layer and heads), then the encoder's layer groups from the
top, named ``encoder.<label>`` after its ``layer_groups()``. Encoder group r gets ``encoder_lr · encoder_lr_scale^r``
(layer-wise learning-rate decay), and only the top ``encoder_trainable_layers`` groups are trained: 0 is stage 1
(frozen encoder), all of them is the recipe's stage 2.

Every trainable parameter lands in exactly one group: an unknown name, or a trainable encoder parameter below
the trained groups, is an error, so a renamed layer cannot silently drop out of training. Each group dict holds
``params``, ``param_names`` (same order), ``lr`` and ``name``; parameters keep the network's order; frozen
parameters are left out and empty groups dropped.
"""

from __future__ import annotations

from desed_task.nnet import CRNN

__all__ = ["param_groups"]

_CNN_PREFIXES = ("cnn.",)
_HEAD_PREFIXES = ("rnn.", "cat_tf.", "dense.", "dense_softmax.")


def _head_group(name: str) -> str:
    """``cnn`` or ``rnn`` (RNN + fusion + heads) for a parameter outside the encoder."""
    if name.startswith(_CNN_PREFIXES):
        return "cnn"
    if name.startswith(_HEAD_PREFIXES):
        return "rnn"
    raise ValueError(
        f"parameter {name!r} fits no optimiser group (expected cnn.*, rnn.*, cat_tf.*, dense.*, dense_softmax.* or "
        "the encoder's); extend desed_task/training/param_groups.py if the network gained a layer"
    )


def _group(name: str, lr: float) -> dict:
    return {"params": [], "param_names": [], "lr": lr, "name": name}


def param_groups(
    network: CRNN,
    cnn_lr: float,
    rnn_lr: float,
    encoder_lr: float = 0.0,
    encoder_lr_scale: float = 1.0,
    encoder_trainable_layers: int = 0,
) -> list[dict]:
    """The optimiser groups of ``network``'s trainable parameters (see the module docstring)."""
    labels = network.encoder.layer_groups()  # encoder_trainable_layers is at most their count (config schema)
    encoder_prefix = network.encoder.attribute + "."
    heads = {"cnn": _group("cnn", cnn_lr), "rnn": _group("rnn", rnn_lr)}
    encoder = [_group(f"encoder.{label}", encoder_lr * encoder_lr_scale**rank) for rank, label in enumerate(labels)]
    for name, param in network.named_parameters():
        if name.startswith(encoder_prefix):
            rank = network.encoder.layer_group_of(name[len(encoder_prefix) :])
            if rank >= encoder_trainable_layers:
                if param.requires_grad:
                    raise ValueError(
                        f"trainable parameter {name!r} is in encoder group {labels[rank]}, below the top "
                        f"{encoder_trainable_layers}; freeze it (encoder.set_trainable_groups) or raise "
                        "opt.encoder_trainable_layers"
                    )
                continue
            group = encoder[rank]
        else:
            group = heads[_head_group(name)]
        if param.requires_grad:
            group["params"].append(param)
            group["param_names"].append(name)
    groups = list(heads.values()) + encoder[:encoder_trainable_layers]
    return [g for g in groups if g["params"]]

"""Reading published and project checkpoints (docs/recipe.md §4, "Checkpoint formats").

Key remapping is done by pure ``state_dict -> state_dict`` functions; loading is strict and reports missing,
unexpected and mis-shaped keys by name.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from pathlib import Path
from typing import Literal, Mapping

import torch
from torch import nn

from desed_task.nnet.encoders.base import FrameEncoder

_SHOWN = 5


class CheckpointError(RuntimeError):
    """A file that is not the checkpoint it should be; the message names the file and the keys at fault."""


_ZIP_MAGIC = b"PK\x03\x04"  # torch.save's format since torch 1.6
_PICKLE_PROTOCOL = b"\x80"  # torch's earlier format starts with a pickle


def _what_it_holds(path: Path) -> str:
    """What the first bytes of a file that torch cannot load say it is (torch's own error for a text file is a
    bare ``KeyError`` of a byte value, such as '101')."""
    with open(path, "rb") as handle:
        head = handle.read(64)
    if not head:
        return "the file is empty"
    if head.startswith(_ZIP_MAGIC) or head.startswith(_PICKLE_PROTOCOL):
        return "it starts like a torch checkpoint but cannot be read to its end: it is truncated or damaged"
    text = head.decode("utf-8", errors="ignore")  # a character cut at byte 64 is dropped, not a sign of binary
    if len(text.encode("utf-8")) >= len(head) - 3 and all(c.isprintable() or c in "\r\n\t" for c in text):
        shown = " ".join(text.split())[:40]
        return (
            f"it is a text file (it begins with {shown!r}), not a torch checkpoint; a web page saved in place "
            "of the download looks like this"
        )
    return "it is not a torch checkpoint (neither a zip archive nor a pickle)"


def _unreadable(path: Path, err: Exception) -> CheckpointError:
    try:
        holds = _what_it_holds(path)
    except OSError:
        holds = f"torch cannot read it: {type(err).__name__}"
    return CheckpointError(f"{path} is not a readable torch checkpoint: {holds}; download or copy it again")


def read_checkpoint(path: str | Path) -> dict:
    """The checkpoint dict of a torch file, loaded on the CPU with ``weights_only=True``.

    Published and project checkpoints hold only tensors, numbers, strings and containers, so the safe
    unpickler suffices; a file that needs arbitrary code to load is refused rather than executed.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}")
    if not path.is_file():
        raise CheckpointError(f"checkpoint path is not a file: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        refused = re.search(r"Unsupported global: GLOBAL (\S+)", str(err))
        if refused is None:
            raise _unreadable(path, err) from err
        raise CheckpointError(
            f"{path} holds a Python object ({refused.group(1)}) that torch's safe loader refuses to build, and this "
            "project loads checkpoints only safely. If you trust the file's source, keep the tensors and plain "
            "values: c = torch.load(path, weights_only=False), then torch.save({k: c[k] for k in ('state_dict', "
            "'hyper_parameters', 'sed_student', 'sed_teacher') if k in c}, new_path)"
        ) from err
    except (
        zipfile.BadZipFile,
        EOFError,
        RuntimeError,
        ValueError,
        OSError,
        LookupError,
    ) as err:  # LookupError: the safe unpickler raises IndexError/KeyError on some non-pickle bytes (text files)
        raise _unreadable(path, err) from err
    if not isinstance(payload, dict):
        raise CheckpointError(f"{path} holds a {type(payload).__name__}, not a checkpoint dict")
    return payload


def _names(keys: list[str]) -> str:
    more = f" (+{len(keys) - _SHOWN} more)" if len(keys) > _SHOWN else ""
    return ", ".join(keys[:_SHOWN]) + more


def load_state_dict_checked(module: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str) -> None:
    """Strict load that names the first missing, unexpected and mis-shaped keys instead of a bare trace."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    mismatched = [
        f"{k} {tuple(state_dict[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing keys: {_names(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys: {_names(unexpected)}")
    if mismatched:
        problems.append(f"{len(mismatched)} keys of another shape: {_names(mismatched)}")
    if problems:
        raise CheckpointError(
            f"{source} does not fit the model; "
            + "; ".join(problems)
            + ". Check that the configuration's `net` section (sizes, classes) matches the checkpoint."
        )
    module.load_state_dict(dict(state_dict), strict=True)


def load_pretrained_encoder(encoder: FrameEncoder, path: str | Path) -> None:
    """Load an encoder unit's pretrained weights from ``path`` (any of its published layouts), strictly."""
    checkpoint = read_checkpoint(path)
    state_dict = checkpoint.get("state_dict", checkpoint)
    weights = encoder.pretrained_state_dict(state_dict)
    if not weights:
        found = ", ".join(list(state_dict)[:_SHOWN])
        raise CheckpointError(
            f"{path}: no {encoder.name} encoder weights found: expected keys starting with "
            f"{' or '.join(repr(p) for p in encoder.pretrained_prefixes)}; found {found or 'no keys'}. "
            f"The pretrained encoder is {encoder.pretrained_source}."
        )
    load_state_dict_checked(encoder, weights, f"pretrained encoder {path}")


_WRAPPERS = ("_orig_mod.", "module.")


def _unwrap(key: str) -> str:
    changed = True
    while changed:
        changed = False
        for wrapper in _WRAPPERS:
            if key.startswith(wrapper):
                key, changed = key[len(wrapper) :], True
    return key


def stage_state_dict(checkpoint: Mapping, model: Literal["teacher", "student"] = "teacher") -> dict[str, torch.Tensor]:
    """The CRNN weights of a stage checkpoint: ``state_dict`` entries under ``sed_<model>.`` (compile/DDP wrapper
    prefixes tolerated), else the top-level ``sed_<model>`` dict."""
    if model not in ("teacher", "student"):
        raise ValueError(f"model must be 'teacher' or 'student', got {model!r}")
    prefix = f"sed_{model}."
    weights = {}
    for key, value in checkpoint.get("state_dict", {}).items():
        key = _unwrap(key)
        if key.startswith(prefix):
            weights[_unwrap(key[len(prefix) :])] = value
    if weights:
        return weights
    top_level = checkpoint.get(f"sed_{model}")
    if isinstance(top_level, Mapping) and top_level:
        return {_unwrap(k): v for k, v in top_level.items()}
    found = ", ".join(list(checkpoint.get("state_dict", checkpoint))[:_SHOWN])
    raise CheckpointError(
        f"no {model} weights: expected 'state_dict' keys starting with '{prefix}' or a top-level 'sed_{model}'; "
        f"found {found or 'nothing'}"
    )

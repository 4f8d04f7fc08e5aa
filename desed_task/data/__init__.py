"""DESED data: tables, audio loading, label encoding, datasets, batch sampling, synthetic data, resampling.

The names below are imported on first use (PEP 562), so that the evaluation, which reads its tables through
``desed_task.data.tables``, does not import torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from desed_task.data.audio import AudioError, load_audio
    from desed_task.data.datasets import StrongSet, UnlabeledSet, WeakSet, collate_clips, weak_split
    from desed_task.data.folder import DataError, DataWarning
    from desed_task.data.label_encoder import DESED_CLASSES, LabelEncoder
    from desed_task.data.resample import resample_folder
    from desed_task.data.sampler import ConcatBatchSampler
    from desed_task.data.synthetic import make_synthetic_desed
    from desed_task.data.tables import TableError, clip_id_of, read_durations, read_strong, read_weak

_MODULES = {
    "audio": ("AudioError", "load_audio"),
    "datasets": ("StrongSet", "UnlabeledSet", "WeakSet", "collate_clips", "weak_split"),
    "folder": ("DataError", "DataWarning"),
    "label_encoder": ("DESED_CLASSES", "LabelEncoder"),
    "resample": ("resample_folder",),
    "sampler": ("ConcatBatchSampler",),
    "synthetic": ("make_synthetic_desed",),
    "tables": ("TableError", "clip_id_of", "read_durations", "read_strong", "read_weak"),
}
_MODULE_OF = {name: module for module, names in _MODULES.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

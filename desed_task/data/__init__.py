"""DESED data: metadata, audio loading, label encoding, datasets, batch sampling, synthetic data, resampling."""
from desed_task.data.audio import AudioError, load_audio
from desed_task.data.datasets import StrongSet, UnlabeledSet, WeakSet, collate_clips, weak_split
from desed_task.data.folder import DataError, DataWarning
from desed_task.data.label_encoder import DESED_CLASSES, LabelEncoder
from desed_task.data.metadata import MetadataError, read_durations, read_strong, read_weak
from desed_task.data.resample import resample_folder
from desed_task.data.sampler import ConcatBatchSampler
from desed_task.data.synthetic import make_synthetic_desed

__all__ = [
    "DESED_CLASSES",
    "AudioError",
    "ConcatBatchSampler",
    "DataError",
    "DataWarning",
    "LabelEncoder",
    "MetadataError",
    "StrongSet",
    "UnlabeledSet",
    "WeakSet",
    "collate_clips",
    "load_audio",
    "make_synthetic_desed",
    "read_durations",
    "read_strong",
    "read_weak",
    "resample_folder",
    "weak_split",
]

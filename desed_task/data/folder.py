"""Matching metadata rows to audio files, and reporting what is missing or unusable once per dataset.

DESED downloads routinely miss files (hundreds in the validation set): such rows are reported once, with a
count and the first names, and skipped, or they stop the run under ``on_missing="error"``. Audio headers are
read when a dataset is built so that unreadable, empty or truncated files, and files at another sample rate, are
named then, in the main process, and not deep inside a DataLoader worker. Reading every sample as well (NaN or
infinite values can only be seen so) is asked for by the datasets that are scored.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from desed_task.data.audio import AUDIO_EXTENSIONS, AudioError, check_audio_file, check_header, find_audio_files
from desed_task.data.tables import clip_id_of

OnMissing = Literal["skip", "error"]
OnSampleRate = Literal["resample", "error"]
SHOWN = 5  # names listed in a report


class DataWarning(UserWarning):
    """Something in the data was skipped or adapted; training goes on."""


class DataError(RuntimeError):
    """The data cannot be used as configured; the message says which files and what to do."""


def _names(items: Sequence[object]) -> str:
    shown = ", ".join(str(x) for x in items[:SHOWN])
    return shown + (", ..." if len(items) > SHOWN else "")


def list_audio(folder: str | Path, subset: str) -> list[Path]:
    """Every .wav/.flac file under ``folder`` (recursively, hidden ones excepted), sorted; an absent or empty
    folder is an error."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{subset}: audio folder {folder} does not exist; point the configuration's data paths at your data "
            "(docs/data.md) or generate the synthetic set with scripts/make_synthetic_desed.py"
        )
    files = find_audio_files(folder)
    if not files:
        raise DataError(
            f"{subset}: audio folder {folder} holds no {'/'.join(AUDIO_EXTENSIONS)} files; "
            "was the download or the resampling (scripts/resample_folder.py) completed?"
        )
    return files


def match_files(
    filenames: Sequence[str], files: Sequence[Path], folder: str | Path
) -> tuple[dict[str, Path], list[str]]:
    """Metadata file names → audio paths: by path relative to ``folder``, by name, else by clip id (``x.wav`` in a
    tsv finds ``x.flac``)."""
    by_name = {p.name: p for p in files}
    by_name.update({p.relative_to(folder).as_posix(): p for p in files})
    by_clip = {clip_id_of(p.name): p for p in files}
    by_clip.update({clip_id_of(p.relative_to(folder).as_posix()): p for p in files})
    found, missing = {}, []
    for name in filenames:
        path = by_name.get(name) or by_clip.get(clip_id_of(name))
        if path is None:
            missing.append(name)
        else:
            found[name] = path
    return found, missing


@dataclass
class CheckedClips:
    """Clips that can be loaded, in metadata order, and what was left out."""

    names: list[str]
    paths: list[Path]
    missing: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    resampled: list[str] = field(default_factory=list)


def check_clips(
    filenames: Sequence[str],
    files: Sequence[Path],
    folder: str | Path,
    subset: str,
    source: str,
    sample_rate: int,
    on_missing: OnMissing = "skip",
    on_sample_rate: OnSampleRate = "resample",
    read_samples: bool = False,
) -> CheckedClips:
    """Match ``filenames`` (from ``source``) to ``files``, read their headers (and every sample with
    ``read_samples``), apply the policies, report once."""
    found, missing = match_files(filenames, files, folder)
    names, paths, unreadable, unreadable_reasons, other_rate, resampled = [], [], [], [], [], []
    for name in filenames:
        if name not in found:
            continue
        try:
            info = check_audio_file(found[name]) if read_samples else check_header(found[name])
        except AudioError as error:
            unreadable.append(name)
            unreadable_reasons.append(str(error))
            continue
        if info.sample_rate != sample_rate:
            other_rate.append(f"{name} ({info.sample_rate} Hz)")
            resampled.append(name)
        names.append(name)
        paths.append(found[name])
    if missing:
        message = (
            f"{subset}: {len(missing)} of {len(filenames)} clips listed in {source} have no audio file in {folder} "
            f"({_names(missing)})"
        )
        if on_missing == "error":
            raise DataError(message + "; download them, or set data.on_missing: skip to leave them out")
        warnings.warn(message + "; they are skipped and left out of the ground truth", DataWarning, stacklevel=3)
    if unreadable:
        message = f"{subset}: {len(unreadable)} unusable audio file(s): {'; '.join(unreadable_reasons[:SHOWN])}"
        if on_missing == "error":
            raise DataError(message + " (set data.on_missing: skip to leave them out)")
        warnings.warn(message + "; they are skipped", DataWarning, stacklevel=3)
    if other_rate:
        message = f"{subset}: {len(other_rate)} clip(s) are not at {sample_rate} Hz ({_names(other_rate)})"
        if on_sample_rate == "error":
            raise DataError(
                message + f"; resample the folder once with `python scripts/resample_folder.py IN OUT --sr "
                f"{sample_rate}`, or set data.on_sample_rate: resample"
            )
        warnings.warn(
            message + "; they are resampled on the fly (slower; scripts/resample_folder.py does it once)",
            DataWarning,
            stacklevel=3,
        )
    if not names:
        raise DataError(
            f"{subset}: none of the {len(filenames)} clips of {source} can be loaded from {folder}; "
            "check that the folder and the metadata belong together"
        )
    return CheckedClips(names, paths, missing, unreadable, resampled)

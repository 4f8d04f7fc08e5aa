"""Converting a DESED folder tree (44.1 kHz as downloaded) to the recipe's sample rate, once, in parallel.

soxr "HQ" is librosa's default resampler, which the original recipe used. Files are written to a temporary
name and renamed when complete, so an interrupted run leaves no half-written file, and a second run skips
every file already converted (same relative path, target sample rate).
"""

from __future__ import annotations

import logging
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import soundfile as sf

from desed_task.data.audio import AUDIO_EXTENSIONS, find_audio_files, resample

log = logging.getLogger(__name__)


@dataclass
class ResampleReport:
    converted: int = 0
    copied: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)


def _is_done(path: Path, sample_rate: int) -> bool:
    try:
        return path.is_file() and sf.info(str(path)).samplerate == sample_rate
    except (sf.LibsndfileError, RuntimeError):
        return False


def resample_file(src: Path, dst: Path, sample_rate: int) -> str:
    """Convert one file; returns "converted", "copied" (already at the rate) or "skipped" (done before)."""
    if _is_done(dst, sample_rate):
        return "skipped"
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.part")
    info = sf.info(str(src))
    if info.samplerate == sample_rate:
        shutil.copyfile(src, tmp)
        action = "copied"
    else:
        audio, sr = sf.read(str(src), dtype="float32", always_2d=True)  # (samples, channels)
        out = resample(audio, sr, sample_rate)
        # the input's sample format where it is a common one, else 16-bit PCM as DESED ships
        subtype = {"PCM_16": "PCM_16", "PCM_24": "PCM_24", "FLOAT": "FLOAT", "DOUBLE": "FLOAT"}.get(
            info.subtype, "PCM_16"
        )
        sf.write(str(tmp), out, sample_rate, subtype=subtype, format=info.format)
        action = "converted"
    os.replace(tmp, dst)
    return action


def _job(args: tuple[Path, Path, int]) -> tuple[str, str]:
    src, dst, sample_rate = args
    try:
        return str(src), resample_file(src, dst, sample_rate)
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as error:
        return str(src), f"failed: {error}"


def resample_folder(
    in_dir: str | Path, out_dir: str | Path, sample_rate: int = 16000, workers: int | None = None, progress: bool = True
) -> ResampleReport:
    """Resample every .wav/.flac under ``in_dir`` into the same relative path under ``out_dir``.

    ``workers`` processes (default: the CPU count); unreadable files are listed in the report, not fatal.
    """
    from tqdm.auto import tqdm

    in_dir, out_dir = Path(in_dir), Path(out_dir)
    if not in_dir.is_dir():
        raise FileNotFoundError(f"input folder {in_dir} does not exist")
    if in_dir.resolve() == out_dir.resolve():
        raise ValueError(f"input and output folders are the same ({in_dir}); choose another output folder")
    files = find_audio_files(in_dir)
    if not files:
        raise FileNotFoundError(f"no {'/'.join(AUDIO_EXTENSIONS)} files under {in_dir}")
    jobs = [(src, out_dir / src.relative_to(in_dir), sample_rate) for src in files]
    workers = max(1, workers or os.cpu_count() or 1)
    report = ResampleReport()
    bar = tqdm(total=len(jobs), desc=f"resampling to {sample_rate} Hz", unit="file", disable=not progress)
    if workers == 1:
        results = map(_job, jobs)
        executor = None
    else:
        executor = ProcessPoolExecutor(max_workers=workers)
        results = executor.map(_job, jobs, chunksize=16)
    try:
        for src, action in results:
            if action.startswith("failed"):
                report.failed.append(f"{src} ({action})")
            else:
                setattr(report, action, getattr(report, action) + 1)
            bar.update()
    finally:
        bar.close()
        if executor is not None:
            executor.shutdown()
    if report.failed:
        log.warning("%d file(s) could not be resampled, e.g. %s", len(report.failed), report.failed[:3])
    return report

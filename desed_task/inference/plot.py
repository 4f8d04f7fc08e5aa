"""A picture of a detection: the log-mel spectrogram above the event roll (scores and events per class)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from desed_task.inference.detector import Detection

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MAX_COLUMNS = 4000  # wider images are averaged down in time; a figure has no more pixels than that anyway
DPI = 100


def _pooled(image: np.ndarray, max_columns: int = MAX_COLUMNS) -> np.ndarray:
    """(rows, T) → (rows, ≤ max_columns) by averaging groups of neighbouring columns."""
    factor = -(-image.shape[1] // max_columns)
    if factor == 1:
        return image
    pad = (-image.shape[1]) % factor
    padded = np.pad(image, ((0, 0), (0, pad)), mode="edge")
    return padded.reshape(image.shape[0], -1, factor).mean(axis=-1)


def plot_detection(detection: Detection, path: str | Path, title: str | None = None) -> Path:
    """Write the PNG of ``detection_figure`` to ``path``, all or nothing (a temporary file renamed into place),
    with the permissions of any new file (the umask)."""
    from desed_task.output_files import AtomicOutputs

    path = Path(path)
    figure = detection_figure(detection, title)
    with AtomicOutputs([(path, "plot")]) as outputs:
        outputs.write(path, lambda temporary: save_png(figure, temporary))
    return path


def save_png(figure: "Figure", path: Path) -> None:
    """PNG of ``figure`` at the plots' resolution (the format named, as ``path`` may be a temporary name)."""
    figure.savefig(path, format="png", dpi=DPI)


def detection_figure(detection: Detection, title: str | None = None) -> "Figure":
    """The log-mel spectrogram (needs ``keep_spectrogram=True``) above the event roll: the thresholded scores
    as a grey map, detected events as coloured bars, class names, time in seconds."""
    if detection.spectrogram is None:
        raise ValueError("the detection has no spectrogram: call the detector with keep_spectrogram=True")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    end = float(detection.timestamps[-1])
    n_classes = len(detection.classes)
    fig = Figure(figsize=(12, 3.0 + 0.3 * n_classes), layout="constrained")
    FigureCanvasAgg(fig)
    spec_ax, roll_ax = fig.subplots(2, 1, sharex=True, height_ratios=[1.0, max(1.0, 0.12 * n_classes)])

    spectrogram = _pooled(detection.spectrogram)  # (n_mels, ≤ MAX_COLUMNS), dB
    image = spec_ax.imshow(
        spectrogram,
        origin="lower",
        aspect="auto",
        cmap="magma",
        interpolation="nearest",
        extent=(0.0, end, 0, spectrogram.shape[0]),
    )
    fig.colorbar(image, ax=spec_ax, label="dB", pad=0.01)
    spec_ax.set_ylabel("mel band")
    spec_ax.set_title(title if title is not None else (detection.filename or "recording"))

    scores = _pooled(detection.smoothed)  # (C, ≤ MAX_COLUMNS)
    roll = roll_ax.imshow(
        scores,
        origin="lower",
        aspect="auto",
        cmap="Greys",
        vmin=0.0,
        vmax=1.0,
        interpolation="nearest",
        extent=(0.0, end, -0.5, n_classes - 0.5),
    )
    fig.colorbar(roll, ax=roll_ax, label="score", pad=0.01)
    colours = [f"C{i % 10}" for i in range(n_classes)]
    index = {label: i for i, label in enumerate(detection.classes)}
    for onset, offset, label in detection.events[["onset", "offset", "event_label"]].itertuples(index=False):
        row = index[label]
        roll_ax.broken_barh([(onset, offset - onset)], (row - 0.3, 0.6), facecolors=colours[row], alpha=0.8)
    roll_ax.set_yticks(range(n_classes), detection.classes)
    roll_ax.invert_yaxis()  # first class on top
    roll_ax.set_xlim(0.0, end)
    roll_ax.set_xlabel("time (s)")
    return fig

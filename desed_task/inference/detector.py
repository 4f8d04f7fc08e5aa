"""Sound event detection on a recording of any length with a trained ATST-SED network (docs/recipe.md §7).

Each 10 s chunk goes through the test-time path of training — the CRNN's front-end and the encoder unit's own
front-end (with its scaling; the original inference script skipped the ATST scaling) into the network — then the
chunks' frame scores are averaged on one frame grid, median-filtered per class and thresholded into events. The
encoder's features are made batch-independent (for ATST: the top_db floor per chunk, where the test stage takes
it per batch, as the original), so results do not depend on the batch size. The network may run in bf16
(``precision``; the front-ends stay float32) and the events may come from tuned post-processing (``postprocess``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import torch

from desed_task.data.audio import AudioError
from desed_task.data.label_encoder import LabelEncoder
from desed_task.features import MelFrontend, SEDFrontend
from desed_task.inference.chunking import ChunkGrid, ChunkStream, OverlapAverage
from desed_task.inference.event_decoding import make_decoder, without_partial_frame_events
from desed_task.inference.inference_error import InferenceError
from desed_task.inference.loading import detector_parts
from desed_task.inference.precision import Precision, autocast, resolve_precision
from desed_task.inference.source import file_blocks, waveform_blocks
from desed_task.nnet import CRNN
from desed_task.nnet.sed_model import SEDModel
from desed_task.nnet.sed_model_file import load_sed_model
from desed_task.postprocess.params import Params

log = logging.getLogger(__name__)

Thresholds = float | Sequence[float]


@dataclass
class Detection:
    """What the detector found in one recording.

    ``scores`` are the network's frame scores averaged over overlapping chunks, ``smoothed`` what is thresholded:
    the scores after the per-class median filter or, with cSEBB post-processing, the confidence of the box over
    each frame (0 outside boxes); both are (C, T). Frame ``t`` spans ``[timestamps[t], timestamps[t + 1])``
    seconds. ``events`` has columns ``onset, offset, event_label`` (seconds; plus ``confidence`` with cSEBBs),
    preceded by ``filename`` when the recording has a name. ``spectrogram`` is the CRNN stream's log-mel
    spectrogram (dB, (n_mels, T) at the frame rate), kept only when asked for (plots).
    """

    events: pd.DataFrame
    scores: np.ndarray
    smoothed: np.ndarray
    timestamps: np.ndarray
    classes: list[str]
    duration: float
    filename: str | None = None
    spectrogram: np.ndarray | None = None

    def score_table(self, smoothed: bool = True) -> pd.DataFrame:
        """Frame scores as a table with columns ``onset, offset, <classes>`` (the sed_scores_eval layout)."""
        values = self.smoothed if smoothed else self.scores
        table = pd.DataFrame(values.T, columns=self.classes)  # (T, C)
        table.insert(0, "offset", self.timestamps[1:])
        table.insert(0, "onset", self.timestamps[:-1])
        return table


class SoundEventDetector:
    """Detects events in files or waveforms of any sample rate, channel count and length with a ``SEDModel``.

    Memory is bounded by ``batch_size`` chunks of audio and the network's activations on them, plus a few
    floats per output frame of the recording: files are read and resampled block by block. ``precision``
    ("fp32", "bf16" or "auto": bf16 where the device has native bf16) is the network's arithmetic; the resolved
    one is ``self.precision``. ``postprocess`` (a ``desed_task.postprocess`` parameter object or file) replaces
    the median windows with tuned ones, or decodes with cSEBBs whose confidences are then thresholded.
    """

    def __init__(
        self,
        model: SEDModel,
        median_window: int | Sequence[int] = 7,
        threshold: Thresholds = 0.5,
        hop: float = 3.0,
        batch_size: int = 8,
        device: str | torch.device = "cpu",
        precision: Precision = "fp32",
        postprocess: Params | str | Path | None = None,
    ) -> None:
        if batch_size < 1:
            raise InferenceError(f"batch_size must be at least 1, got {batch_size}")
        self.device = torch.device(device)
        self.precision, self.precision_reason = resolve_precision(precision, self.device)
        self.model = model.batch_independent().to(self.device).eval()
        label_encoder = self.model.label_encoder
        self.classes = self.model.classes
        self.sample_rate = self.model.sample_rate
        self.batch_size = int(batch_size)
        self.threshold = self._check_threshold(threshold)
        if hop > label_encoder.audio_len:
            raise InferenceError(
                f"the hop of {hop:g} s is longer than a chunk ({label_encoder.audio_len:g} s): parts of the recording "
                f"would never be scored; give a hop of at most {label_encoder.audio_len:g} s"
            )
        self.grid = ChunkGrid.from_seconds(
            hop,
            chunk_duration=label_encoder.audio_len,
            sample_rate=self.sample_rate,
            frame_samples=self.model.frame_samples,
            chunk_frames=label_encoder.n_frames,
        )
        actual_hop = self.grid.hop_samples / self.sample_rate
        if abs(actual_hop - hop) > 1e-9:
            log.debug("chunk hop %.3f s rounded to %.3f s (a whole number of output frames)", hop, actual_hop)
        frame_hop = self.grid.frame_samples / self.sample_rate
        self.decoder = make_decoder(self.classes, frame_hop, median_window, postprocess)
        self.median_window = self.decoder.median_window

    @property
    def network(self) -> CRNN:
        return self.model.network

    @property
    def sed_frontend(self) -> SEDFrontend:
        return self.model.sed_frontend

    @property
    def encoder_frontend(self) -> MelFrontend:
        """The encoder unit's front-end, batch-independent (see ``SEDModel.batch_independent``)."""
        return self.model.encoder_frontend

    @property
    def label_encoder(self) -> LabelEncoder:
        return self.model.label_encoder

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        config: str | Path | dict | None = None,
        model: Literal["teacher", "student"] = "teacher",
        device: str | torch.device | None = None,
        threshold: Thresholds = 0.5,
        hop: float = 3.0,
        batch_size: int = 8,
        precision: Precision = "fp32",
        postprocess: Params | str | Path | None = None,
    ) -> "SoundEventDetector":
        """A detector with the teacher (default) or student of a stage checkpoint written by training.

        The network, front-ends, classes and median windows follow ``config`` (a YAML path or a config dict),
        else the checkpoint's own ``hyper_parameters``; weights always come from the checkpoint (a pretrained
        encoder path stored in it is never read). ``device`` defaults to CUDA when available; ``precision`` and
        ``postprocess`` are the constructor's.
        """
        parts = detector_parts(path, config, model)
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        return cls(
            parts.model,
            parts.median_window,
            threshold=threshold,
            hop=hop,
            batch_size=batch_size,
            device=device,
            precision=precision,
            postprocess=postprocess,
        )

    @classmethod
    def from_model_file(
        cls,
        path: str | Path,
        median_window: int | Sequence[int] = 7,
        device: str | torch.device | None = None,
        **options,
    ) -> "SoundEventDetector":
        """A detector of a model file written by ``desed_task.nnet.sed_model_file.save_sed_model``.

        The model is rebuilt from the file alone, without a training configuration or the training code;
        ``options`` are the constructor's (threshold, hop, batch_size, precision, postprocess).
        """
        model, _ = load_sed_model(path)
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        return cls(model, median_window, device=device, **options)

    # ---------------------------------------------------------------- detection
    def __call__(
        self,
        audio: str | Path | np.ndarray | torch.Tensor,
        sample_rate: int | None = None,
        filename: str | None = None,
        threshold: Thresholds | None = None,
        keep_spectrogram: bool = False,
    ) -> Detection:
        """Detect events in a file path, or in a waveform (samples,) / (channels, samples) at ``sample_rate`` Hz.

        ``filename`` names the recording in the events (default: the file's name; none for a waveform);
        ``threshold`` (one, or one per class) overrides the detector's for this call.
        """
        if isinstance(audio, (str, Path)):
            if sample_rate is not None:
                raise InferenceError("sample_rate is for waveforms; a file's sample rate is read from the file")
            blocks = file_blocks(audio, self.sample_rate)
            filename = Path(audio).name if filename is None else filename
        else:
            if sample_rate is None:
                raise InferenceError("give the waveform's sample_rate (Hz); it is resampled to the model's rate")
            blocks = waveform_blocks(audio, sample_rate, self.sample_rate)
        thresholds = self.threshold if threshold is None else self._check_threshold(threshold)
        return self._detect(blocks, thresholds, filename, keep_spectrogram)

    def _detect(
        self, blocks: Iterable[np.ndarray], thresholds: np.ndarray, filename: str | None, keep_spectrogram: bool
    ) -> Detection:
        stream = ChunkStream(blocks, self.grid)
        merged = OverlapAverage(len(self.classes), self.grid)
        mel_parts: list[np.ndarray] = []
        last_mel = np.zeros(0)
        for batch in _batched(stream, self.batch_size):
            scores, mels = self._score_batch(batch, keep_spectrogram)  # (B, C, T), (B, F, T) or None
            for chunk_scores in scores:
                merged.add(chunk_scores)
            if mels is not None:
                mel_parts.extend(m[:, : self.grid.hop_frames] for m in mels)
                last_mel = mels[-1]
        n = stream.n_samples
        if n == 0:
            raise AudioError(f"{filename or 'the waveform'} holds no samples; nothing to detect in an empty recording")
        n_frames = self.grid.n_frames(n)
        scores = merged.result(n_frames)  # (C, T)
        timestamps = self.grid.timestamps(n, self.sample_rate)  # (T + 1,)
        smoothed, table = self.decoder(scores, timestamps, thresholds)  # (C, T), events
        table = without_partial_frame_events(table, self.grid.frame_samples / self.sample_rate)
        if filename is not None:
            table.insert(0, "filename", filename)
        spectrogram = None
        if keep_spectrogram:
            last = last_mel[:, self.grid.hop_frames :]  # the rest of the last chunk
            spectrogram = np.concatenate(mel_parts + [last], axis=1)[:, :n_frames]  # (F, T)
        return Detection(table, scores, smoothed, timestamps, self.classes, n / self.sample_rate, filename, spectrogram)

    @torch.inference_mode()
    def _score_batch(self, chunks: list[np.ndarray], keep_mel: bool) -> tuple[np.ndarray, np.ndarray | None]:
        audio = torch.from_numpy(np.stack(chunks)).to(self.device)  # (B, samples)
        sed_mel, encoder_mel = self.model.mels(audio)  # (B, 128, 626), (B, F_enc, T_enc)
        features = self.model.scaled(sed_mel, encoder_mel)  # float32
        with autocast(self.device, self.precision):
            strong, _ = self.model(features)  # (B, C, 156)
        mels = None
        if keep_mel:
            pooling = self.model.label_encoder.net_pooling
            frames = self.grid.chunk_frames * pooling
            pooled = sed_mel[..., :frames].unflatten(-1, (self.grid.chunk_frames, pooling)).mean(-1)  # (B, F, 156)
            mels = (20.0 * torch.log10(pooled.clamp(min=SEDFrontend.amin))).cpu().numpy()
        return strong.float().cpu().numpy(), mels

    def _check_threshold(self, threshold: Thresholds) -> np.ndarray:
        values = np.atleast_1d(np.asarray(threshold, dtype=np.float64))
        if values.ndim != 1 or len(values) not in (1, len(self.classes)):
            raise InferenceError(
                f"give one threshold or one per class ({len(self.classes)}: {', '.join(self.classes)}), "
                f"got {len(values)}"
            )
        if not ((values >= 0) & (values <= 1)).all():
            raise InferenceError(f"thresholds are scores in [0, 1], got {values.tolist()}")
        return np.broadcast_to(values, (len(self.classes),)).copy()


def _batched(chunks: Iterable[np.ndarray], size: int) -> Iterator[list[np.ndarray]]:
    batch: list[np.ndarray] = []
    for chunk in chunks:
        batch.append(chunk)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch

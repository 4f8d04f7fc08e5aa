"""Inference on recordings of any length (docs/recipe.md §7): chunking, equality with the training module's test step,
resampling, channels, thresholds, silence and errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import soxr
import torch

from desed_task.data.audio import AudioError, load_audio
from desed_task.evaluation import decode_events, median_filter_scores
from desed_task.inference import SoundEventDetector
from desed_task.inference.chunking import ChunkGrid, ChunkStream, OverlapAverage
from desed_task.nnet import CheckpointError

CONFS_DIR = Path(__file__).parent.parent / "confs"
AUDIO_10S = Path(__file__).parent / "data" / "audio" / "speech_english_10s_float32.wav"
SR = 16000


def tiny_task(tmp_path: Path, median_window=(3, 5, 7, 9, 3, 5, 7, 9, 3, 5)):
    """A small stage-1 training module (demo sizes), teacher different from student."""
    from desed_task.experiment.builders import build_network, build_task
    from desed_task.config.files import load_config

    config = load_config(
        CONFS_DIR / "demo_stage1.yaml",
        {"data.root": str(tmp_path), "training.median_window": list(median_window)},
    )
    task = build_task(config, tmp_path / "exp", build_network(config, load_encoder=False))
    with torch.no_grad():
        for param in task.sed_teacher.parameters():
            param.add_(0.05 * torch.randn_like(param))
    return task.eval(), config


def write_checkpoint(task, config: dict | None, path: Path) -> Path:
    """A checkpoint in the layout Lightning writes for the training module (state_dict, sed_student/teacher
    via the module's own hook, hyper_parameters)."""
    checkpoint = {"state_dict": task.state_dict()}
    if config is not None:
        checkpoint["hyper_parameters"] = config
    task.on_save_checkpoint(checkpoint)
    torch.save(checkpoint, path)
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("inference")
    task, config = tiny_task(tmp)
    return task, config, write_checkpoint(task, config, tmp / "tiny.ckpt")


@pytest.fixture(scope="module")
def detector(tiny) -> SoundEventDetector:
    return SoundEventDetector.from_checkpoint(tiny[2], device="cpu", batch_size=3)


@pytest.fixture(scope="module")
def clip_10s() -> np.ndarray:
    audio, sr = load_audio(AUDIO_10S)
    assert sr == SR and audio.shape == (10 * SR,)
    return audio


# ---------------------------------------------------------------- chunking
def test_chunk_grid_geometry():
    grid = ChunkGrid.from_seconds(3.0, chunk_duration=10.0, sample_rate=SR, frame_samples=1024, chunk_frames=156)
    assert grid.hop_frames == 47 and grid.hop_samples == 48128  # 3 s rounded to 3.008 s
    assert grid.n_chunks(1) == grid.n_chunks(160000) == 1
    assert grid.n_chunks(160001) == 2
    assert grid.n_frames(160000) == 156  # a 10 s clip has the network's 156 frames
    assert grid.n_frames(8000) == 8
    for n in (1, 8000, 160000, 160001, 208128, 1_234_567):
        chunks, frames = grid.n_chunks(n), grid.n_frames(n)
        covered = (chunks - 1) * grid.hop_samples + grid.chunk_samples
        assert covered >= n and (chunks == 1 or covered - grid.hop_samples < n)  # no superfluous chunk
        stamps = grid.timestamps(n, SR)
        assert stamps.shape == (frames + 1,) and stamps[0] == 0 and np.all(np.diff(stamps) > 0)
        assert stamps[-1] <= n / SR and stamps[-1] > n / SR - 0.064 - 0.016 - 1e-9
    with pytest.raises(ValueError, match="hop"):
        ChunkGrid.from_seconds(10.5, chunk_duration=10.0, sample_rate=SR, frame_samples=1024, chunk_frames=156)
    with pytest.raises(ValueError, match="positive"):
        ChunkGrid.from_seconds(0.0, chunk_duration=10.0, sample_rate=SR, frame_samples=1024, chunk_frames=156)


@pytest.mark.parametrize("n", [1, 37, 100, 101, 128, 156, 400, 433])
def test_chunk_stream_equals_slices_of_the_padded_signal(n, rng):
    grid = ChunkGrid(chunk_samples=100, chunk_frames=25, frame_samples=4, hop_frames=7)  # hop 28 samples
    signal = rng.standard_normal(n).astype(np.float32)
    cuts = np.sort(rng.choice(np.arange(1, n), size=min(5, n - 1), replace=False)) if n > 1 else []
    stream = ChunkStream(np.split(signal, cuts), grid)
    chunks = list(stream)
    assert stream.n_samples == n and len(chunks) == grid.n_chunks(n)
    padded = np.pad(signal, (0, len(chunks) * grid.hop_samples + grid.chunk_samples))
    for k, chunk in enumerate(chunks):
        np.testing.assert_array_equal(chunk, padded[k * grid.hop_samples : k * grid.hop_samples + 100])
    assert (len(chunks) - 1) * grid.hop_samples + 100 >= n  # the last chunk reaches the end
    assert len(chunks) == 1 or (len(chunks) - 2) * grid.hop_samples + 100 < n  # and no chunk is superfluous


def test_overlap_average_on_the_global_grid(rng):
    grid = ChunkGrid(chunk_samples=100, chunk_frames=25, frame_samples=4, hop_frames=7)
    merged = OverlapAverage(2, grid)
    scores = rng.random((9, 2, 25))
    for chunk in scores:
        merged.add(chunk)
    n_frames = 8 * 7 + 25
    sums, counts = np.zeros((2, n_frames)), np.zeros(n_frames)
    for k, chunk in enumerate(scores):  # the naive way
        sums[:, k * 7 : k * 7 + 25] += chunk
        counts[k * 7 : k * 7 + 25] += 1
    np.testing.assert_allclose(merged.result(n_frames), sums / counts, rtol=1e-6)
    with pytest.raises(ValueError, match="covered"):
        merged.result(n_frames + 1)


# ---------------------------------------------------------------- same scores as training
def test_10s_scores_equal_the_training_test_step(tiny, detector, clip_10s):
    task, config, path = tiny
    batch = torch.from_numpy(clip_10s)[None]  # (1, samples)
    with torch.inference_mode():
        teacher = task.predict_scores(batch, "teacher")[0][0].numpy()  # (C, 156)
        student = task.predict_scores(batch, "student")[0][0].numpy()
    assert np.abs(teacher - student).max() > 1e-3  # the two networks differ, so the choice is tested
    result = detector(clip_10s, sample_rate=SR)
    assert result.scores.shape == teacher.shape == (10, 156)
    assert np.abs(result.scores - teacher).max() < 1e-5
    np.testing.assert_array_equal(result.timestamps, task.label_encoder.timestamps())
    windows = config["training"]["median_window"]
    np.testing.assert_allclose(result.smoothed, median_filter_scores(result.scores, windows))
    from_file = detector(AUDIO_10S)
    np.testing.assert_array_equal(from_file.scores, result.scores)
    assert (from_file.events["filename"] == AUDIO_10S.name).all() and "filename" not in result.events

    student_detector = SoundEventDetector.from_checkpoint(path, model="student", device="cpu")
    assert np.abs(student_detector(clip_10s, sample_rate=SR).scores - student).max() < 1e-5


@pytest.mark.slow
def test_long_recording_averages_chunk_scores_of_the_test_step(tiny, clip_10s, rng):
    task, _, path = tiny
    audio = np.concatenate([clip_10s, 0.1 * rng.standard_normal(8 * SR).astype(np.float32)])  # 18 s
    detector = SoundEventDetector.from_checkpoint(path, device="cpu", hop=4.48, batch_size=2)
    assert detector.grid.hop_frames == 70  # 4.48 s = 70 frames of 0.064 s
    hop = detector.grid.hop_samples
    starts = [0]
    while starts[-1] + 10 * SR < len(audio):  # until a chunk reaches the end; the last one is zero-padded
        starts.append(starts[-1] + hop)
    assert len(starts) == 3
    padded = np.pad(audio, (0, 10 * SR))
    with torch.inference_mode():
        chunk_scores = [
            task.predict_scores(torch.from_numpy(padded[s : s + 10 * SR])[None], "teacher")[0][0].numpy()
            for s in starts
        ]
    n_frames = int(np.ceil(len(audio) / 1024))
    sums, counts = np.zeros((10, 2 * 70 + 156)), np.zeros(2 * 70 + 156)
    for k, scores in enumerate(chunk_scores):
        sums[:, k * 70 : k * 70 + 156] += scores
        counts[k * 70 : k * 70 + 156] += 1
    expected = (sums / counts)[:, :n_frames]
    result = detector(audio, sample_rate=SR)
    assert result.scores.shape == expected.shape
    assert np.abs(result.scores - expected).max() < 1e-5
    assert result.timestamps[-1] == pytest.approx(18.0)
    batch_of_one = SoundEventDetector.from_checkpoint(path, device="cpu", hop=4.48, batch_size=1)
    assert np.abs(batch_of_one(audio, sample_rate=SR).scores - result.scores).max() < 1e-5


# ---------------------------------------------------------------- inputs
def test_sample_rates_and_channels(detector, clip_10s, tmp_path):
    stereo = np.stack([soxr.resample(clip_10s, SR, 44100, quality="HQ")] * 2)  # (2, samples) at 44.1 kHz
    stereo[1] *= 0.5  # channels differ: their mean is what counts
    path = tmp_path / "stereo_44k.flac"
    sf.write(path, stereo.T, 44100, subtype="PCM_24")
    from_waveform = detector(stereo, sample_rate=44100)
    from_file = detector(path)
    reference = detector(clip_10s * 0.75, sample_rate=SR)
    assert from_waveform.scores.shape == from_file.scores.shape == reference.scores.shape
    assert np.abs(from_file.scores - from_waveform.scores).max() < 1e-3  # 24-bit quantisation only
    assert np.abs(from_waveform.scores - reference.scores).max() < 0.02  # 16 → 44.1 → 16 kHz round trip
    torch_input = detector(torch.from_numpy(stereo), sample_rate=44100)
    np.testing.assert_array_equal(torch_input.scores, from_waveform.scores)


def test_short_clip_and_spectrogram(detector, clip_10s):
    result = detector(clip_10s[:9000], sample_rate=SR, keep_spectrogram=True)  # 0.5625 s
    assert result.scores.shape == (10, 9) and result.duration == pytest.approx(0.5625)
    assert result.timestamps[-1] == pytest.approx(0.5625)
    assert result.spectrogram.shape == (detector.sed_frontend.n_mels, 9) and np.isfinite(result.spectrogram).all()
    table = result.score_table()
    assert list(table.columns[:2]) == ["onset", "offset"] and table.shape == (9, 12)


def test_thresholds_per_class_and_events(detector, clip_10s):
    result = detector(clip_10s, sample_rate=SR, threshold=0.0)
    thresholds = np.quantile(result.smoothed, 0.5, axis=1)  # each class active about half of the time
    per_class = detector(clip_10s, sample_rate=SR, threshold=thresholds)
    expected = decode_events(result.smoothed, thresholds, detector.classes, result.timestamps)
    assert len(per_class.events) == len(expected) > 0
    assert sorted(map(tuple, per_class.events.to_numpy().tolist())) == sorted(map(tuple, expected))
    assert list(per_class.events["onset"]) == sorted(per_class.events["onset"])
    assert len(detector(clip_10s, sample_rate=SR, threshold=1.0).events) == 0
    with pytest.raises(ValueError, match="one per class"):
        detector(clip_10s, sample_rate=SR, threshold=[0.5, 0.5])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        detector(clip_10s, sample_rate=SR, threshold=1.5)


def test_silence_events_depend_on_the_checkpoint_and_none_is_shorter_than_a_frame(tiny, tmp_path):
    task, config, _ = tiny
    quiet = tmp_path / "quiet.ckpt"
    with torch.no_grad():
        for net in (task.sed_student, task.sed_teacher):
            net.dense.bias.fill_(-30.0)
        write_checkpoint(task, config, quiet)
        for net in (task.sed_student, task.sed_teacher):
            net.dense.bias.fill_(30.0)
        write_checkpoint(task, config, tmp_path / "loud.ckpt")
    silence = np.zeros(int(12.3 * SR), dtype=np.float32)
    result = SoundEventDetector.from_checkpoint(quiet, device="cpu")(silence, sample_rate=SR)
    assert np.isfinite(result.scores).all() and len(result.events) == 0
    loud_detector = SoundEventDetector.from_checkpoint(tmp_path / "loud.ckpt", device="cpu")
    loud = loud_detector(silence, sample_rate=SR)
    assert len(loud.events) == 10  # one event per class over the whole recording, ending at its end
    assert (loud.events["onset"] == 0).all() and np.allclose(loud.events["offset"], 12.3)
    frame = loud_detector.grid.frame_samples
    for samples in (1, frame - 1):  # shorter than one output frame: its only frame is cut, no event
        short = loud_detector(np.zeros(samples, dtype=np.float32), sample_rate=SR)
        assert short.scores.shape == (10, 1) and short.events.empty, samples
    one_frame = loud_detector(np.zeros(frame, dtype=np.float32), sample_rate=SR).events
    assert len(one_frame) == 10 and np.allclose(one_frame["offset"] - one_frame["onset"], frame / SR)


def test_an_event_shorter_than_a_frame_is_dropped():
    from desed_task.inference.event_decoding import without_partial_frame_events

    events = pd.DataFrame(
        {"onset": [0.0, 9.984, 3.2], "offset": [0.064, 10.0, 3.2 + 0.064 * 3], "event_label": ["Dog", "Cat", "Cat"]}
    )
    kept = without_partial_frame_events(events, 0.064)
    assert kept.to_dict("list") == {
        "onset": [0.0, 3.2],
        "offset": [0.064, 3.2 + 0.064 * 3],
        "event_label": ["Dog", "Cat"],
    }


def test_config_dict_overrides_the_checkpoint(tiny):
    _, config, path = tiny
    custom = {section: dict(values) for section, values in config.items()}
    custom["training"]["median_window"] = 1
    detector = SoundEventDetector.from_checkpoint(path, config=custom, device="cpu")
    assert detector.median_window == 1
    custom["net"]["n_rnn_cell"] = 32
    with pytest.raises(CheckpointError, match="n_rnn_cell|shape|net"):
        SoundEventDetector.from_checkpoint(path, config=custom, device="cpu")


def test_errors_name_the_problem(tiny, detector, tmp_path):
    task, _, _ = tiny
    with pytest.raises(AudioError, match="no samples"):
        detector(np.zeros(0, dtype=np.float32), sample_rate=SR)
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, dtype=np.float32), SR)
    with pytest.raises(AudioError, match="empty.wav"):
        detector(empty)
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"RIFF not really a wave file" * 10)
    with pytest.raises(AudioError, match="garbage.wav"):
        detector(garbage)
    with pytest.raises(AudioError, match="missing.wav"):
        detector(tmp_path / "missing.wav")
    with pytest.raises(TypeError, match="floating-point"):
        detector(np.zeros(SR, dtype=np.int16), sample_rate=SR)
    with pytest.raises(ValueError, match="channels, samples"):
        detector(np.zeros((SR, 2), dtype=np.float32), sample_rate=SR)
    with pytest.raises(ValueError, match="sample_rate"):
        detector(np.zeros(SR, dtype=np.float32))
    with pytest.raises(AudioError, match="NaN"):
        detector(np.full(SR, np.nan, dtype=np.float32), sample_rate=SR)

    not_a_checkpoint = tmp_path / "notes.ckpt"
    not_a_checkpoint.write_text("hello")
    with pytest.raises(CheckpointError, match="notes.ckpt"):
        SoundEventDetector.from_checkpoint(not_a_checkpoint)
    torch.save({"state_dict": {"other.weight": torch.zeros(1)}}, tmp_path / "other.ckpt")
    with pytest.raises(CheckpointError, match="not a stage checkpoint"):
        SoundEventDetector.from_checkpoint(tmp_path / "other.ckpt")
    write_checkpoint(task, None, tmp_path / "bare.ckpt")
    with pytest.raises(CheckpointError, match="config"):
        SoundEventDetector.from_checkpoint(tmp_path / "bare.ckpt")


def test_an_original_layout_config_that_does_not_describe_the_weights_asks_for_a_config(tiny, tmp_path):
    """The original layout is mapped (tests/test_published_checkpoints.py); here it describes another network."""
    task, config, _ = tiny
    original_layout = {
        "feats": {"n_mels": 128, "n_filters": 2048, "n_window": 2048, "hop_length": 256},
        "net": {"nclass": 10, "n_RNN_cell": 256},
    }
    path = write_checkpoint(task, original_layout, tmp_path / "original_layout.ckpt")
    with pytest.raises(CheckpointError, match="configuration stored in the checkpoint.*--config"):
        SoundEventDetector.from_checkpoint(path, device="cpu")
    detector = SoundEventDetector.from_checkpoint(path, config=config, device="cpu")
    assert detector.median_window is not None

"""Inference with tuned post-processing: median parameters replace the checkpoint's windows; cSEBB
parameters turn the merged scores into boxes thresholded on their confidence."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from desed_task.evaluation import decode_events, median_filter_scores
from desed_task.inference import SoundEventDetector
from desed_task.inference.detect_command import main
from desed_task.postprocess import CSEBBClassParams, CSEBBParams, MedianParams, csebb_events, write_params

SR = 16000


@pytest.fixture(scope="module")
def audio() -> np.ndarray:
    rng = np.random.default_rng(3)
    return (0.1 * rng.standard_normal(14 * SR) * np.repeat(rng.random(14) > 0.5, SR)).astype(np.float32)


def test_median_parameters_replace_the_checkpoint_windows(tiny_checkpoint, audio):
    plain = SoundEventDetector.from_checkpoint(tiny_checkpoint, device="cpu", precision="fp32")
    classes = plain.classes
    windows = {c: 1 + 4 * i for i, c in enumerate(reversed(classes))}  # a different window per class
    params = MedianParams(dict(sorted(windows.items())), frame_hop=0.064)  # class order of the file is free
    tuned = SoundEventDetector.from_checkpoint(tiny_checkpoint, device="cpu", precision="fp32", postprocess=params)
    assert tuned.median_window == [windows[c] for c in classes] != plain.median_window
    result = tuned(audio, sample_rate=SR, threshold=0.3)
    np.testing.assert_array_equal(result.scores, plain(audio, sample_rate=SR).scores)
    expected = median_filter_scores(result.scores, tuned.median_window)
    np.testing.assert_allclose(result.smoothed, expected)
    events = decode_events(expected, 0.3, classes, result.timestamps)
    assert sorted(map(tuple, result.events.to_numpy().tolist())) == sorted(events)


@pytest.mark.parametrize("threshold", [0.2, 0.45])
def test_csebb_boxes_are_thresholded_on_their_confidence(tiny_checkpoint, audio, tmp_path, threshold):
    pytest.importorskip("sebbs", reason="the optional package sebbs is not installed")
    detector = SoundEventDetector.from_checkpoint(tiny_checkpoint, device="cpu", precision="fp32")
    values = CSEBBClassParams(step_filter_length=0.48, merge_threshold_abs=0.2, merge_threshold_rel=None)
    params = CSEBBParams({c: values for c in detector.classes})
    write_params(tmp_path / "csebb.json", params)
    boxes = SoundEventDetector.from_checkpoint(
        tiny_checkpoint, device="cpu", precision="fp32", postprocess=tmp_path / "csebb.json"
    )
    assert boxes.median_window is None and "cSEBB" in boxes.decoder.description
    result = boxes(audio, sample_rate=SR, threshold=threshold)
    raw = detector(audio, sample_rate=SR)
    np.testing.assert_array_equal(result.scores, raw.scores)
    expected = csebb_events({"clip": raw.score_table(smoothed=False)}, params, threshold, audio_suffix="")
    assert list(result.events.columns) == ["onset", "offset", "event_label", "confidence"]
    assert len(result.events) == len(expected) > 0
    got = result.events.sort_values(["event_label", "onset"]).reset_index(drop=True)
    want = expected.drop(columns="filename").sort_values(["event_label", "onset"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    assert (result.events["confidence"] > threshold).all()
    assert result.smoothed.shape == raw.scores.shape and result.smoothed.max() <= 1.0
    all_boxes = boxes(audio, sample_rate=SR, threshold=0.0).events
    kept = set(map(tuple, result.events[["onset", "offset", "event_label"]].to_numpy().tolist()))
    assert kept <= set(map(tuple, all_boxes[["onset", "offset", "event_label"]].to_numpy().tolist()))  # never moved


def test_cli_postprocess_writes_a_desed_table(tiny_checkpoint, audio, tmp_path, caplog):
    pytest.importorskip("sebbs", reason="the optional package sebbs is not installed")
    classes = SoundEventDetector.from_checkpoint(tiny_checkpoint, device="cpu").classes
    values = {"step_filter_length": 0.32, "merge_threshold_abs": None, "merge_threshold_rel": 2.0}
    (tmp_path / "csebb.json").write_text(json.dumps({"method": "csebb", "classes": {c: values for c in classes}}))
    sf.write(tmp_path / "rec.wav", audio, SR)
    tsv = tmp_path / "events.tsv"
    with caplog.at_level(logging.INFO):
        assert (
            main(
                [
                    str(tmp_path / "rec.wav"),
                    "--checkpoint",
                    str(tiny_checkpoint),
                    "--tsv",
                    str(tsv),
                    "--threshold",
                    "0.2",
                    "--postprocess",
                    str(tmp_path / "csebb.json"),
                    "--quiet",
                ]
            )
            == 0
        )
    table = pd.read_csv(tsv, sep="\t")
    assert list(table.columns) == ["filename", "onset", "offset", "event_label"] and len(table) > 0
    assert (table["filename"] == "rec.wav").all()
    assert "decoding: cSEBB boxes from" in caplog.text

"""Decoding against the original recipe's golden numbers (recipe_golden.json → decode), and its edge cases."""

from __future__ import annotations

import numpy as np
import pytest

from desed_task.data.label_encoder import DESED_CLASSES
from desed_task.evaluation import (
    clip_id_of,
    decode_batch,
    decode_events,
    decode_operating_points,
    median_filter_scores,
    operating_point_thresholds,
    score_dataframes,
)

CLASSES = list(DESED_CLASSES)
CLIPS = ["clip_one", "clip_two"]


def timestamps() -> np.ndarray:
    return np.clip(np.arange(157) * 0.064, 0, 10)  # frame_to_time(0..156)


@pytest.fixture(scope="module")
def decode_golden(recipe_golden) -> dict:
    return recipe_golden["decode"]


@pytest.fixture(scope="module")
def smoothed(decode_golden) -> np.ndarray:
    preds = np.asarray(decode_golden["preds"], dtype=np.float32)  # (2, 10, 156)
    return median_filter_scores(preds, decode_golden["median_window"])


def test_median_filter_matches_golden(decode_golden, smoothed):
    for i, clip in enumerate(CLIPS):
        expected = np.asarray(decode_golden["postprocessed_scores"][clip])  # (T, C)
        np.testing.assert_allclose(smoothed[i].T, expected, atol=1e-6)


def test_score_dataframes_match_golden(decode_golden, smoothed):
    tables = score_dataframes(smoothed, [c + ".wav" for c in CLIPS], CLASSES, timestamps())
    assert list(tables) == CLIPS
    for clip in CLIPS:
        table = tables[clip]
        assert list(table.columns) == ["onset", "offset", *CLASSES]
        np.testing.assert_allclose(table[["onset", "offset"]].to_numpy(), decode_golden["timestamps"][clip], atol=1e-9)
        np.testing.assert_allclose(table[CLASSES].to_numpy(), decode_golden["postprocessed_scores"][clip], atol=1e-6)


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7])
def test_decoded_events_match_golden(decode_golden, smoothed, threshold):
    expected = [
        (e["filename"], e["event_label"], e["onset"], e["offset"]) for e in decode_golden["decoded"][str(threshold)]
    ]
    table = decode_batch(smoothed, CLIPS, threshold, CLASSES, timestamps())
    got = list(zip(table["filename"], table["event_label"], table["onset"], table["offset"]))
    assert [g[:2] for g in got] == [e[:2] for e in expected]  # same events in the same order
    np.testing.assert_allclose([g[2:] for g in got], [e[2:] for e in expected], atol=1e-9)
    from_tables = decode_operating_points(score_dataframes(smoothed, CLIPS, CLASSES, timestamps()), [threshold])[0]
    assert from_tables.equals(table)


def test_median_filter_single_window_and_errors(rng):
    scores = rng.random((3, 4, 20)).astype(np.float32)
    same = median_filter_scores(scores, 5)
    np.testing.assert_array_equal(same, median_filter_scores(scores, [5, 5, 5, 5]))
    np.testing.assert_array_equal(median_filter_scores(scores, 1), scores)
    np.testing.assert_array_equal(median_filter_scores(scores[0], 5), same[0])  # (C, T) works too
    assert not np.allclose(same, scores)
    with pytest.raises(ValueError, match="4 classes"):
        median_filter_scores(scores, [3, 3])
    with pytest.raises(ValueError, match=">= 1"):
        median_filter_scores(scores, 0)


def test_decode_events_runs_thresholds_and_edges():
    ts = np.arange(6) * 0.5  # 5 frames
    scores = np.array([[0.9, 0.9, 0.1, 0.6, 0.6], [0.5, 0.5, 0.5, 0.5, 0.5]])  # (C=2, T=5)
    assert decode_events(scores, 0.5, ["a", "b"], ts) == [(0.0, 1.0, "a"), (1.5, 2.5, "a")]  # strict >, last frame
    assert decode_events(scores, [0.95, 0.4], ["a", "b"], ts) == [(0.0, 2.5, "b")]
    with pytest.raises(ValueError, match="T \\+ 1"):
        decode_events(scores, 0.5, ["a", "b"], ts[:-1])
    with pytest.raises(ValueError, match="one per class"):
        decode_events(scores, [0.5, 0.5, 0.5], ["a", "b"], ts)


def test_operating_points_and_clip_ids(smoothed):
    thresholds = operating_point_thresholds(50)
    assert len(thresholds) == 50 and thresholds[0] == 0.01 and thresholds[-1] == 0.99
    np.testing.assert_allclose(np.diff(thresholds), 0.02)
    np.testing.assert_allclose(operating_point_thresholds(5), [0.1, 0.3, 0.5, 0.7, 0.9])
    tables = decode_operating_points(score_dataframes(smoothed, CLIPS, CLASSES, timestamps()), [0.3, 0.7])
    active = [float((t["offset"] - t["onset"]).sum()) for t in tables]
    assert active[0] > active[1] > 0  # a higher threshold keeps less active time
    assert clip_id_of("a/b/Y1_30.000_40.000.wav") == "a/b/Y1_30.000_40.000"
    assert clip_id_of("Y1_30.000_40.000") == "Y1_30.000_40.000"
    assert clip_id_of("x.mp3") == "x"

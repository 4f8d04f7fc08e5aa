"""Label encoder against the golden `encoder` block of recipe_golden.json (docs/recipe.md §3)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from desed_task.data import DESED_CLASSES, LabelEncoder
from desed_task.evaluation import decode_events


@pytest.fixture
def encoder() -> LabelEncoder:
    return LabelEncoder(DESED_CLASSES)


def test_classes_and_frames_match_golden(encoder, recipe_golden):
    golden = recipe_golden["encoder"]
    assert list(DESED_CLASSES) == golden["labels"]
    assert encoder.n_frames == golden["n_frames"] == 156


def test_encode_strong_matches_golden_active_frames(encoder, recipe_golden):
    golden = recipe_golden["encoder"]
    events = pd.DataFrame(golden["events"])
    targets = encoder.encode_strong(events)
    assert targets.shape == (10, 156) and targets.dtype == np.float32
    for label in DESED_CLASSES:
        expected = golden["active_frames"].get(label, [])
        assert np.flatnonzero(targets[DESED_CLASSES.index(label)]).tolist() == expected, label
    rows = [(e["onset"], e["offset"], e["event_label"]) for e in golden["events"]]
    np.testing.assert_array_equal(encoder.encode_strong(rows), targets)


def test_frame_to_time_matches_golden_and_clips(encoder, recipe_golden):
    for frame, time in recipe_golden["encoder"]["frame_to_time"].items():
        assert encoder.frame_to_time(int(frame)) == pytest.approx(time, abs=1e-9)
    assert encoder.time_to_frame(-1.0) == 0.0
    assert encoder.time_to_frame(12.0) == 156.0
    assert encoder.time_to_frame(0.064) == pytest.approx(1.0)
    stamps = encoder.timestamps()
    assert stamps.shape == (157,) and stamps[0] == 0.0 and stamps[-1] == pytest.approx(9.984)


def test_decoding_the_targets_matches_golden(encoder, recipe_golden):
    golden = recipe_golden["encoder"]
    targets = encoder.encode_strong(pd.DataFrame(golden["events"]))
    decoded = decode_events(targets, 0.5, encoder.labels, encoder.timestamps())
    assert [[label, pytest.approx(onset), pytest.approx(offset)] for onset, offset, label in decoded] == [
        [g[0], g[1], g[2]] for g in golden["decoded"]
    ]


def test_weak_round_trip_and_empty_rows(encoder):
    vector = encoder.encode_weak(["Dog", "Cat"])
    assert vector.tolist() == [0, 0, 1, 0, 1, 0, 0, 0, 0, 0]
    empty = pd.DataFrame({"onset": [np.nan], "offset": [np.nan], "event_label": [np.nan]})
    assert encoder.encode_strong(empty).sum() == 0


def test_custom_classes_and_errors():
    encoder = LabelEncoder(["door", "phone"], audio_len=5.0, sample_rate=16000)
    assert encoder.n_frames == 78
    assert encoder.encode_strong([(0.0, 1.0, "phone")])[1].sum() == 16
    with pytest.raises(KeyError, match="unknown event label 'Dog'"):
        encoder.encode_strong([(0.0, 1.0, "Dog")])
    with pytest.raises(ValueError, match="unique"):
        LabelEncoder(["a", "a"])

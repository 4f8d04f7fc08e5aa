"""Metrics on small synthetic sets: perfect scores score (near) 1, random scores score low, edge cases do not crash."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from desed_task.evaluation import (
    SCENARIO_1,
    SCENARIO_2,
    decode_batch,
    event_and_segment_f1,
    intersection_f1_macro,
    psds_from_operating_points,
    psds_sed_scores_eval,
    score_dataframes,
    weak_f1_macro,
)
from desed_task.evaluation.psds import PSDSScenario, without_cross_triggers

SYNTH_CLASSES = ["Cat", "Dog", "Speech"]
N_FRAMES = 156


def synthetic_set(rng: np.random.Generator, n_clips: int = 12, n_empty: int = 2):
    """Frame-aligned ground truth (every class present), its perfect targets (B, C, T), ids, durations table.

    The last ``n_empty`` clips have no event (listed once with empty cells, as in DESED).
    """
    timestamps = np.clip(np.arange(N_FRAMES + 1) * 0.064, 0, 10)
    targets = np.zeros((n_clips, len(SYNTH_CLASSES), N_FRAMES), dtype=np.float32)
    clip_ids = [f"Yclip{i:02d}_0.000_10.000" for i in range(n_clips)]
    rows = []
    for i, clip in enumerate(clip_ids):
        if i >= n_clips - n_empty:
            rows.append((clip + ".wav", np.nan, np.nan, np.nan))
            continue
        for c in sorted({i % len(SYNTH_CLASSES), int(rng.integers(len(SYNTH_CLASSES)))}):
            start = int(rng.integers(0, 100))
            end = start + int(rng.integers(15, 50))
            targets[i, c, start:end] = 1
            rows.append((clip + ".wav", timestamps[start], timestamps[end], SYNTH_CLASSES[c]))
    truth = pd.DataFrame(rows, columns=["filename", "onset", "offset", "event_label"])
    durations = pd.DataFrame({"filename": [c + ".wav" for c in clip_ids], "duration": 10.0})
    return targets, clip_ids, truth, durations, timestamps


@pytest.fixture
def synthetic(rng):
    return synthetic_set(rng)


def test_psds_sed_scores_eval_perfect_and_random(synthetic, rng):
    targets, clip_ids, truth, durations, timestamps = synthetic
    perfect = score_dataframes(targets, clip_ids, SYNTH_CLASSES, timestamps)
    scores = psds_sed_scores_eval(perfect, truth, durations)
    assert set(scores) == {"psds1", "psds2"}
    assert scores["psds1"] > 0.99 and scores["psds2"] > 0.99
    noise = score_dataframes(rng.random(targets.shape), clip_ids, SYNTH_CLASSES, timestamps)
    random_scores = psds_sed_scores_eval(noise, truth, durations)
    assert 0.0 <= random_scores["psds1"] < 0.2 and 0.0 <= random_scores["psds2"] < 0.5


def test_psds_sed_scores_eval_ignores_clips_without_events(synthetic, rng):
    targets, clip_ids, truth, durations, timestamps = synthetic
    noisy = np.clip(targets + 0.3 * rng.random(targets.shape), 0, 1)
    tables = score_dataframes(noisy, clip_ids, SYNTH_CLASSES, timestamps)
    with_empty = psds_sed_scores_eval(tables, truth, durations)
    # Dropping the event-free clips (their scores, ground truth rows and durations) changes nothing.
    event_clips = clip_ids[:-2]
    without = psds_sed_scores_eval({c: tables[c] for c in event_clips}, truth.dropna(), durations.iloc[:-2])
    assert with_empty == pytest.approx(without)
    # A scored clip missing from the ground truth's event clips is ignored, one absent from the scores warns.
    # It is scored as if that clip were not in the set (its ground truth and duration left out as well); on
    # scores noisy enough that PSDS is neither 0 nor 1 (a random level per clip and class).
    levels = rng.random(targets.shape[:2] + (1,))
    rough = score_dataframes(0.3 * targets + 0.7 * levels, clip_ids, SYNTH_CLASSES, timestamps)
    with pytest.warns(UserWarning, match="have no scores"):
        partial = psds_sed_scores_eval({c: rough[c] for c in clip_ids[1:]}, truth, durations)
    unscored = clip_ids[0] + ".wav"
    alone = psds_sed_scores_eval(
        {c: rough[c] for c in clip_ids[1:]},
        truth[truth["filename"] != unscored],
        durations[durations["filename"] != unscored],
    )
    assert partial == pytest.approx(alone) and 0.0 < partial["psds1"] < 1.0


def test_psds_sed_scores_eval_without_events_warns(synthetic):
    targets, clip_ids, _, durations, timestamps = synthetic
    empty_truth = pd.DataFrame(
        {"filename": [c + ".wav" for c in clip_ids], "onset": np.nan, "offset": np.nan, "event_label": np.nan}
    )
    tables = score_dataframes(targets, clip_ids, SYNTH_CLASSES, timestamps)
    with pytest.warns(UserWarning, match="no scored clip has ground-truth events"):
        assert psds_sed_scores_eval(tables, empty_truth, durations) == {"psds1": 0.0, "psds2": 0.0}


def test_detection_metrics_perfect_and_empty(synthetic):
    targets, clip_ids, truth, durations, timestamps = synthetic
    detections = decode_batch(targets, clip_ids, 0.5, SYNTH_CLASSES, timestamps)
    assert len(detections) == len(truth.dropna())
    scores = event_and_segment_f1(detections, truth)
    assert set(scores) == {"event_f1_macro", "event_f1_micro", "segment_f1_macro", "segment_f1_micro"}
    assert all(v == pytest.approx(1.0) for v in scores.values())
    assert intersection_f1_macro(detections, truth, durations) == pytest.approx(1.0)
    # Half the events missed: recall 1/2, precision 1 -> F1 2/3 for event micro.
    kept = detections.iloc[::2]
    assert event_and_segment_f1(kept, truth)["event_f1_micro"] == pytest.approx(
        2 * len(kept) / (len(kept) + len(detections))
    )
    empty = detections.iloc[:0]
    with pytest.warns(UserWarning, match="no detections"):
        assert set(event_and_segment_f1(empty, truth).values()) == {0.0}
    with pytest.warns(UserWarning, match="no detections"):
        assert intersection_f1_macro(empty, truth, durations) == 0.0


def test_psds_eval_operating_points(synthetic, rng):
    targets, clip_ids, truth, durations, timestamps = synthetic
    noisy = 0.3 * targets + 0.7 * rng.random(targets.shape)  # classes overlap: no threshold separates them
    thresholds = [0.1, 0.3, 0.5, 0.7, 0.9]
    good = {t: decode_batch(targets, clip_ids, t, SYNTH_CLASSES, timestamps) for t in thresholds}
    fair = {t: decode_batch(noisy, clip_ids, t, SYNTH_CLASSES, timestamps) for t in thresholds}
    assert psds_from_operating_points(good, truth, durations, SCENARIO_1) > 0.99
    assert 0.0 <= psds_from_operating_points(fair, truth, durations, SCENARIO_1) < 0.5
    assert psds_from_operating_points(good, truth, durations, SCENARIO_2) > 0.99
    # File names with or without the audio extension are the same clip.
    stems = {t: d.assign(filename=d["filename"].str.replace(".wav", "")) for t, d in good.items()}
    assert psds_from_operating_points(stems, truth, durations, SCENARIO_1) > 0.99
    no_events = truth.assign(onset=np.nan, offset=np.nan, event_label=np.nan)
    with pytest.warns(UserWarning, match="no events"):
        assert psds_from_operating_points(good, no_events, durations, SCENARIO_1) == 0.0


def test_weak_f1_macro():
    targets = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 0]])
    scores = np.array([[0.9, 0.2, 0.1], [0.6, 0.4, 0.1], [0.7, 0.8, 0.1], [0.1, 0.1, 0.1]])
    # class 0: tp 2 fp 1 fn 0 -> 0.8; class 1: tp 1 fn 1 -> 2/3; class 2: nothing -> 0
    assert weak_f1_macro(scores, targets) == pytest.approx((0.8 + 2 / 3 + 0.0) / 3)
    assert weak_f1_macro(targets.astype(float), targets) == pytest.approx(2 / 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert weak_f1_macro(np.zeros((2, 3)), np.zeros((2, 3))) == 0.0
    with pytest.raises(ValueError, match="\\(N, C\\)"):
        weak_f1_macro(scores, targets[:, :2])


def test_intersection_f1_names_classes_without_a_true_positive_and_averages_the_others(synthetic):
    targets, clip_ids, truth, durations, timestamps = synthetic
    detections = decode_batch(targets, clip_ids, 0.5, SYNTH_CLASSES, timestamps)
    without_dog = detections[detections["event_label"] != "Dog"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # psds_eval's 0/0 for Dog stays inside
        with pytest.warns(UserWarning, match="Dog had no true positive") as caught:
            value = intersection_f1_macro(without_dog, truth, durations)
    assert len(caught) == 1
    assert value == pytest.approx(1.0)  # Cat and Speech are perfect; Dog is left out, not counted as 0


def test_psds_of_a_single_class_drops_the_empty_cross_trigger_term(synthetic, rng):
    """sed_scores_eval 0.0.4 crashes on a cttc threshold with one class; the project drops the (empty) term."""
    targets, clip_ids, truth, durations, timestamps = synthetic
    dog_truth = truth[truth["event_label"].isna() | (truth["event_label"] == "Dog")]
    noisy = 0.3 * targets[:, 1:2] + 0.7 * rng.random((len(clip_ids), 1, N_FRAMES))
    tables = score_dataframes(noisy, clip_ids, ["Dog"], timestamps)
    with_ct = PSDSScenario(dtc_threshold=0.5, gtc_threshold=0.5, cttc_threshold=0.3, alpha_ct=0.5, alpha_st=1.0)
    value = psds_sed_scores_eval(tables, dog_truth, durations, {"x": with_ct})["x"]
    explicit = psds_sed_scores_eval(tables, dog_truth, durations, {"x": without_cross_triggers(with_ct)})["x"]
    assert 0.05 < value < 0.95
    assert value == explicit
    assert set(psds_sed_scores_eval(tables, dog_truth, durations)) == {"psds1", "psds2"}  # the recipe's scenarios


def test_psds_eval_of_a_single_class_warns_that_it_is_undefined(synthetic):
    targets, clip_ids, truth, durations, timestamps = synthetic
    dog_truth = truth[truth["event_label"].isna() | (truth["event_label"] == "Dog")]
    points = {t: decode_batch(targets[:, 1:2], clip_ids, t, ["Dog"], timestamps) for t in (0.3, 0.6)}
    with pytest.warns(UserWarning, match="one class.*sed_scores_eval"):
        assert psds_from_operating_points(points, dog_truth, durations, SCENARIO_1) == 0.0


def test_segment_f1_names_classes_left_out_of_the_macro_mean(synthetic):
    targets, clip_ids, truth, durations, timestamps = synthetic
    detections = decode_batch(targets, clip_ids, 0.5, SYNTH_CLASSES, timestamps)
    with pytest.warns(UserWarning, match="segment_f1_macro: Dog has an undefined F1") as caught:
        scores = event_and_segment_f1(detections[detections["event_label"] != "Dog"], truth)
    assert not any("event_f1_macro" in str(w.message) for w in caught)  # event-based F1 counts Dog as 0
    assert scores["segment_f1_macro"] == pytest.approx(1.0)  # sed_eval's value, kept: Dog is left out
    assert scores["event_f1_macro"] == pytest.approx(2 / 3)

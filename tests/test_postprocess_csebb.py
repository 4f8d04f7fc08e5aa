"""cSEBBs through the sebbs adapter, checked on a score curve whose boxes are worked out by hand.

Hand derivation (Ebbers et al., Interspeech 2024), 10 s at 0.1 s frames, step filter L = 0.4 s: the filter output
at t is mean(scores in [t, t + 0.2]) - mean(scores in [t - 0.2, t]) (zero outside the clip); onsets are its local
maxima, offsets its local minima, and a box's confidence is its mean score.

- class A: 0.8 on [2, 4), 0.6 on [6, 8), 0 elsewhere. The output peaks (+0.8, +0.6) at 2 and 6 and dips (-0.8,
  -0.6) at 4 and 8: boxes (2, 4, 0.8) and (6, 8, 0.6). The flat zero stretches in between also start (a plateau
  after a rise is a maximum) and end (a plateau before a rise is a minimum) candidates: (0, 1.8), (4.2, 5.8),
  (8.2, 10), confidence 0.
- class B: 0.8 on [2, 4), a 0.2 s dip to 0.6 on [4, 4.2), 0.7 on [4.2, 6.2). Output: +0.8 at 2, -0.2 at 4 (min),
  +0.1 at 4.2 (max), -0.7 at 6.2: boxes (2, 4, 0.8) and (4.2, 6.2, 0.7) with the gap [4, 4.2] at 0.6 between them,
  plus (0, 1.8) and (6.4, 10) at 0. Merging needs both boxes' maxima above the gap's minimum by less than the
  absolute threshold (0.2 and 0.1) and by a factor less than the relative one (1.33 and 1.17): merged with abs 0.3
  or rel 1.5, not with abs 0.15 or rel 1.2. The merged box (2, 6.2) has the mean score
  (2 * 0.8 + 0.2 * 0.6 + 2 * 0.7) / 4.2 = 0.742857.
"""

from __future__ import annotations

import importlib.metadata

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("sebbs", reason="the optional package sebbs is not installed")

from operating_point_scores import validation_subset  # noqa: E402

from desed_task.evaluation import SCENARIO_1, psds_sed_scores_eval  # noqa: E402
from desed_task.evaluation.lazy import sed_scores_eval  # noqa: E402
from desed_task.postprocess import (  # noqa: E402
    CSEBBClassParams,
    CSEBBParams,
    csebb_boxes,
    csebb_events,
    csebb_tables,
    postprocess_scores,
    tune_csebb,
)
from desed_task.postprocess.tuning_objective import tuning_set  # noqa: E402

BACKGROUND_A = [(0.0, 1.8), (4.2, 5.8), (8.2, 10.0)]
BACKGROUND_B = [(0.0, 1.8), (6.4, 10.0)]
SEPARATE_B = [(2.0, 4.0, 0.8), (4.2, 6.2, 0.7)]
MERGED_B = [(2.0, 6.2, 3.12 / 4.2)]


@pytest.fixture(scope="module")
def hand_made() -> dict[str, pd.DataFrame]:
    a = np.zeros(100)
    a[20:40], a[60:80] = 0.8, 0.6
    b = np.zeros(100)
    b[20:40], b[40:42], b[42:62] = 0.8, 0.6, 0.7
    timestamps = np.round(np.arange(101) * 0.1, 6)
    create = sed_scores_eval().base_modules.scores.create_score_dataframe
    return {"clip": create(np.stack([a, b], axis=1), timestamps, ["A", "B"])}


def _params(a: tuple, b: tuple) -> CSEBBParams:
    return CSEBBParams({"A": CSEBBClassParams(0.4, *a), "B": CSEBBClassParams(0.4, *b)})


def _split(boxes, label):
    events = [(b.onset, b.offset, b.confidence) for b in boxes if b.label == label and b.confidence > 1e-3]
    background = [(b.onset, b.offset) for b in boxes if b.label == label and b.confidence <= 1e-3]
    return events, background


@pytest.mark.parametrize(
    "merge_b, expected_b",
    [
        ((0.15, None), SEPARATE_B),
        ((0.3, None), MERGED_B),
        ((None, 1.5), MERGED_B),
        ((None, 1.2), SEPARATE_B),
    ],
)
def test_boxes_match_the_hand_derivation(hand_made, merge_b, expected_b):
    boxes = csebb_boxes(hand_made, _params((0.15, None), merge_b))["clip"]
    assert [b.label for b in boxes] == sorted(b.label for b in boxes)  # class by class
    events_a, background_a = _split(boxes, "A")
    events_b, background_b = _split(boxes, "B")
    np.testing.assert_allclose(events_a, [(2.0, 4.0, 0.8), (6.0, 8.0, 0.6)], atol=1e-5)
    np.testing.assert_allclose(events_b, expected_b, atol=1e-5)
    np.testing.assert_allclose(background_a, BACKGROUND_A, atol=1e-9)
    np.testing.assert_allclose(background_b, BACKGROUND_B, atol=1e-9)
    assert all(isinstance(v, float) for b in boxes for v in (b.onset, b.offset, b.confidence))


def test_boxes_become_piecewise_constant_score_tables(hand_made):
    table = csebb_tables(hand_made, _params((0.15, None), (0.3, None)))["clip"]
    sed_scores_eval().base_modules.scores.validate_score_dataframe(table)
    assert list(table.columns) == ["onset", "offset", "A", "B"]
    assert table["onset"].iloc[0] == 0.0 and table["offset"].iloc[-1] == 10.0

    def score_at(t: float, label: str) -> float:
        return float(table.loc[(table["onset"] <= t) & (t < table["offset"]), label].iloc[0])

    assert score_at(3.0, "A") == pytest.approx(0.8, abs=1e-5) and score_at(7.0, "A") == pytest.approx(0.6, abs=1e-5)
    assert score_at(5.0, "A") == pytest.approx(0.0, abs=1e-9)  # a background box
    assert score_at(1.9, "A") == -np.inf and score_at(4.1, "A") == -np.inf  # between boxes: no candidate
    assert score_at(4.1, "B") == pytest.approx(3.12 / 4.2, abs=1e-5)  # inside the merged box
    assert postprocess_scores(hand_made, _params((0.15, None), (0.3, None)))["clip"].equals(table)


def test_events_are_the_boxes_above_the_threshold(hand_made):
    params = _params((0.15, None), (None, 1.2))
    events = csebb_events(hand_made, params, 0.65)
    assert list(events.columns) == ["filename", "onset", "offset", "event_label", "confidence"]
    assert list(events["filename"]) == ["clip.wav"] * 3
    np.testing.assert_allclose(events[["onset", "offset"]], [(2.0, 4.0), (2.0, 4.0), (4.2, 6.2)], atol=1e-9)
    assert list(events["event_label"]) == ["A", "B", "B"]
    per_class = csebb_events(hand_made, params, {"A": 0.5, "B": 0.75}, audio_suffix="")
    assert list(zip(per_class["filename"], per_class["event_label"])) == [("clip", "A"), ("clip", "A"), ("clip", "B")]


def test_tuning_runs_its_own_grid_where_sebbs_tune_crashes():
    scores, truth, durations = validation_subset(24)
    if importlib.metadata.version("sebbs") == "1.0.2":
        from sebbs import csebbs

        chosen, tuned = tuning_set(scores, truth, durations, SCENARIO_1)
        with pytest.raises(TypeError, match="len"):  # the known defect that tune_csebb works around
            csebbs.tune(
                tuned,
                chosen.ground_truth,
                chosen.durations,
                selection_fn=csebbs.select_best_psds,
                step_filter_lengths=(0.48,),
                merge_thresholds_abs=(0.2,),
                merge_thresholds_rel=(),
            )
    params = tune_csebb(
        scores, truth, durations, step_filter_lengths=(0.48,), merge_thresholds_abs=(0.2,), merge_thresholds_rel=()
    )
    assert set(params.classes_params.values()) == {CSEBBClassParams(0.48, 0.2, None)}
    assert params.tuning["clips"] == 48 and params.tuning["untuned_classes"] == []


@pytest.mark.slow
def test_tuning_improves_or_equals_every_fixed_setting_on_its_data():
    scores, truth, durations = validation_subset(24)
    params = tune_csebb(scores, truth, durations)
    assert params.tuning["psds"] >= max(params.tuning["psds_of"].values())
    assert len(params.tuning["psds_of"]) == 1 + 18  # class-wise choice and every grid point for all classes
    assert {p.step_filter_length for p in params.classes_params.values()} <= {0.32, 0.48, 0.64}
    for p in params.classes_params.values():  # either an absolute or a relative merge threshold, never both
        assert (p.merge_threshold_abs is None) != (p.merge_threshold_rel is None)
    # the reported values are PSDS of the parameters, recomputed here by the evaluation module
    psds1 = {"psds1": SCENARIO_1}
    tuned = psds_sed_scores_eval(postprocess_scores(scores, params), truth, durations, psds1)["psds1"]
    assert tuned == pytest.approx(params.tuning["psds"], abs=1e-9)
    fixed = CSEBBParams({c: CSEBBClassParams(0.48, 0.2, None) for c in params.classes})
    value = psds_sed_scores_eval(csebb_tables(scores, fixed), truth, durations, psds1)["psds1"]
    assert value == pytest.approx(params.tuning["psds_of"]["fixed step 0.48 s, merge abs 0.2"], abs=1e-9)
    assert tuned >= value

"""The parameter file: round trip, strict keys, and the errors for scores it does not fit."""

from __future__ import annotations

import json

import numpy as np
import pytest

from desed_task.evaluation import score_dataframes
from desed_task.postprocess import (
    CSEBBClassParams,
    CSEBBParams,
    MedianParams,
    PostprocessError,
    params_from_dict,
    postprocess_scores,
    read_params,
    write_params,
)


def _scores(classes=("a", "b"), hop=0.064, n_frames=20, rng=None):
    rng = rng or np.random.default_rng(0)
    values = rng.random((2, len(classes), n_frames))  # (B, C, T)
    return score_dataframes(values, ["c1", "c2"], list(classes), np.arange(n_frames + 1) * hop)


def test_round_trip_of_both_methods(tmp_path):
    median = MedianParams({"a": 7, "b": 20}, 0.064, tuning={"psds": 0.4})
    csebb = CSEBBParams(
        {
            "a": CSEBBClassParams(0.32, 0.2, None),
            "b": CSEBBClassParams(0.64, None, 1.5),
        }
    )
    for params in (median, csebb):
        path = tmp_path / f"{params.method}.json"
        write_params(path, params)
        assert read_params(path) == params
        assert read_params(path).tuning == params.tuning
    data = json.loads((tmp_path / "csebb.json").read_text())
    assert data == {
        "method": "csebb",
        "classes": {
            "a": {"step_filter_length": 0.32, "merge_threshold_abs": 0.2, "merge_threshold_rel": None},
            "b": {"step_filter_length": 0.64, "merge_threshold_abs": None, "merge_threshold_rel": 1.5},
        },
    }
    assert json.loads((tmp_path / "median.json").read_text())["classes"] == {
        "a": {"window_frames": 7},
        "b": {"window_frames": 20},
    }
    assert sorted(p.name for p in tmp_path.iterdir()) == ["csebb.json", "median.json"]  # no temporary files left


@pytest.mark.parametrize(
    "data, message",
    [
        ([], "expected a JSON object"),
        ({"method": "mean", "classes": {}}, "'method' must be one of"),
        ({"method": "median", "classes": {"a": {"window_frames": 3}}}, "missing key(s) ['frame_hop']"),
        (
            {"method": "median", "frame_hop": 0.064, "classes": {"a": {"window": 3}}},
            "classes.a: unknown key(s) ['window']",
        ),
        ({"method": "median", "frame_hop": 0.064, "classes": {"a": {"window_frames": 0}}}, "integer >= 1"),
        ({"method": "median", "frame_hop": 0.064, "classes": {"a": {"window_frames": 2.5}}}, "integer >= 1"),
        ({"method": "median", "frame_hop": -1, "classes": {"a": {"window_frames": 3}}}, "frame_hop must be > 0"),
        ({"method": "median", "frame_hop": 0.064, "classes": {}}, "non-empty object"),
        ({"method": "csebb", "frame_hop": 0.064, "classes": {}}, "unknown key(s) ['frame_hop']"),
        (
            {"method": "csebb", "classes": {"a": {"step_filter_length": 0.3, "merge_threshold_abs": None}}},
            "classes.a: missing key(s) ['merge_threshold_rel']",
        ),
        (
            {
                "method": "csebb",
                "classes": {
                    "a": {"step_filter_length": 0.3, "merge_threshold_abs": "0.2", "merge_threshold_rel": None}
                },
            },
            "classes.a.merge_threshold_abs (or null: not used) must be a finite number",
        ),
    ],
)
def test_malformed_parameters_name_the_key(data, message):
    with pytest.raises(PostprocessError) as error:
        params_from_dict(data, "parameter file p.json")
    assert message in str(error.value) and "p.json" in str(error.value)


def test_unreadable_files(tmp_path):
    with pytest.raises(PostprocessError, match="parameter file not found"):
        read_params(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{method: median")
    with pytest.raises(PostprocessError, match="bad.json is not valid JSON"):
        read_params(tmp_path / "bad.json")


def test_other_classes_or_hop_are_errors_naming_the_difference():
    scores = _scores(("a", "b"))
    with pytest.raises(PostprocessError) as error:
        postprocess_scores(scores, MedianParams({"a": 3, "c": 3}, 0.064))
    assert "the scores lack ['c'], the parameters lack ['b']" in str(error.value)
    with pytest.raises(PostprocessError) as error:
        postprocess_scores(scores, MedianParams({"a": 3, "b": 3}, 0.02))
    assert "frame hop of 0.064 s" in str(error.value) and "tuned at 0.02 s" in str(error.value)
    with pytest.raises(PostprocessError) as error:
        postprocess_scores(scores, CSEBBParams({"a": CSEBBClassParams(0.3, 0.2, None)}))
    assert "the parameters lack ['b']" in str(error.value)


def test_median_parameters_apply_the_recipe_filter():
    from desed_task.evaluation import median_filter_scores

    scores = _scores(("a", "b", "c"), n_frames=50)
    out = postprocess_scores(scores, MedianParams({"c": 9, "a": 1, "b": 4}, 0.064))
    for clip_id, table in scores.items():
        raw = table[["a", "b", "c"]].to_numpy().T  # (C, T)
        np.testing.assert_array_equal(out[clip_id][["a", "b", "c"]].to_numpy().T, median_filter_scores(raw, [1, 4, 9]))
        np.testing.assert_array_equal(out[clip_id][["onset", "offset"]], table[["onset", "offset"]])
    assert list(out["c1"].columns) == ["onset", "offset", "a", "b", "c"]

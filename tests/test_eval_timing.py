"""Timing the test stage's scoring: synthetic scores that look like a system's, and every step timed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tools.eval_timing import synthetic_scores, synthetic_test_set, time_test_stage, time_test_steps
from rescoring import rescored_against


@pytest.fixture
def small_test_set(data_dir, tmp_path):
    """The first 20 clips of the DESED validation set (ground truth and durations)."""
    folder = data_dir / "desed_validation"
    durations = pd.read_csv(folder / "validation_durations.tsv", sep="\t").head(20)
    truth = pd.read_csv(folder / "validation.tsv", sep="\t")
    truth = truth[truth["filename"].isin(durations["filename"])]
    durations.to_csv(tmp_path / "durations.tsv", sep="\t", index=False)
    truth.to_csv(tmp_path / "truth.tsv", sep="\t", index=False)
    return synthetic_test_set(tmp_path / "truth.tsv", tmp_path / "durations.tsv")


def test_synthetic_scores_are_high_on_events_and_low_elsewhere(rng):
    targets = np.zeros((50, 10, 156), dtype=np.float32)
    targets[:, 3, 40:80] = 1
    scores = synthetic_scores(targets, seed=0)
    assert scores.shape == targets.shape and scores.dtype == np.float32
    assert 0 < scores.min() and scores.max() < 1
    assert np.median(scores[:, 3, 40:80]) > 0.9 and np.median(scores[:, :3]) < 0.01
    assert not np.array_equal(scores, synthetic_scores(targets, seed=1))


def test_test_set_has_student_and_teacher_scores_for_every_clip(small_test_set):
    assert len(small_test_set.clip_ids) == 20 and small_test_set.clip_ids == sorted(small_test_set.clip_ids)
    assert set(small_test_set.scores) == {"student", "teacher"}
    assert small_test_set.scores["teacher"].shape == (20, 10, 156)


def test_every_step_is_timed_and_the_metrics_are_those_of_the_test_stage(small_test_set, tmp_path):
    steps = time_test_steps(small_test_set, models=("teacher",), n_thresholds=5)
    for key in (
        "score_tables_s",
        "median_filter_s",
        "score_files_s",
        "sed_scores_eval_s",
        "decode_s",
        "operating_point_files_s",
        "psds_eval_s",
        "event_segment_f1_s",
        "intersection_f1_s",
    ):
        assert steps[key] > 0, key
    assert steps["metrics_s"] == pytest.approx(
        steps["total_s"] - steps["score_files_s"] - steps["operating_point_files_s"]
    )
    assert steps["detections_per_operating_point"] > 0
    stage = time_test_stage(small_test_set, out_dir=tmp_path / "out", n_thresholds=5)
    assert stage["total_s"] >= stage["write_test_outputs_s"] > 0
    again = rescored_against(
        tmp_path / "out" / "teacher", tmp_path / "truth.tsv", tmp_path / "durations.tsv", operating_points=True
    )
    assert stage["teacher/psds1_sed_scores_eval"] == pytest.approx(again["psds1_sed_scores_eval"], abs=1e-6)
    assert stage["teacher/psds1_psds_eval"] == pytest.approx(again["psds1_psds_eval"], abs=1e-6)
    assert stage["teacher/psds1_sed_scores_eval"] > 0
    assert (tmp_path / "out" / "student" / "metrics.json").is_file()

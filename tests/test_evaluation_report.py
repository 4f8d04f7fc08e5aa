"""The files the test stage writes, the metrics it returns, and the CLI's score-folder path on those files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from test_evaluation_metrics import SYNTH_CLASSES, synthetic_set

from desed_task.evaluation import (
    METRIC_KEYS,
    median_filter_scores,
    read_operating_points,
    read_score_folder,
    score_dataframes,
    write_scores_only,
    write_test_outputs,
)
from desed_task.evaluation.evaluate_command import main


@pytest.fixture
def scored(rng):
    targets, clip_ids, truth, durations, timestamps = synthetic_set(rng)
    raw = np.clip(targets + 0.35 * rng.standard_normal(targets.shape), 0, 1).astype(np.float32)
    raw_tables = score_dataframes(raw, clip_ids, SYNTH_CLASSES, timestamps)
    smooth_tables = score_dataframes(median_filter_scores(raw, 7), clip_ids, SYNTH_CLASSES, timestamps)
    return raw_tables, smooth_tables, truth, durations


def test_write_test_outputs_files_and_metrics(scored, tmp_path):
    raw, smooth, truth, durations = scored
    metrics = write_test_outputs(
        tmp_path, raw, smooth, truth, durations, SYNTH_CLASSES, n_thresholds=5, prefix="student", progress=False
    )
    assert tuple(metrics) == METRIC_KEYS
    assert all(isinstance(v, float) for v in metrics.values())
    assert metrics["psds1_sed_scores_eval"] > 0.5 and metrics["event_f1_macro"] > 0.5  # a clearly useful system

    assert sorted(p.stem for p in (tmp_path / "scores" / "raw").iterdir()) == sorted(raw)
    reread = read_score_folder(tmp_path / "scores" / "postprocessed")
    clip = sorted(smooth)[0]
    np.testing.assert_allclose(
        reread[clip][SYNTH_CLASSES].to_numpy(), smooth[clip][SYNTH_CLASSES].to_numpy(), atol=1e-6
    )
    operating_points = read_operating_points(tmp_path / "predictions_operating_points")
    assert list(operating_points) == [0.1, 0.3, 0.5, 0.7, 0.9]
    assert (tmp_path / "predictions_th_0.50.tsv").is_file()
    for name in ("psd_roc_psds1_sed_scores_eval", "psd_roc_psds2_sed_scores_eval", "psd_roc_psds1_psds_eval"):
        assert (tmp_path / "plots" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((tmp_path / "student_metrics.json").read_text()) == metrics
    assert "intersection_f1_macro" in (tmp_path / "student_metrics.txt").read_text()

    # The CLI on the written files gives the same numbers.
    out = tmp_path / "cli.json"
    truth.to_csv(tmp_path / "gt.tsv", sep="\t", index=False)
    durations.to_csv(tmp_path / "dur.tsv", sep="\t", index=False)
    argv = [
        "--ground_truth",
        str(tmp_path / "gt.tsv"),
        "--durations",
        str(tmp_path / "dur.tsv"),
        "--quiet",
        "--scores",
        str(tmp_path / "scores" / "postprocessed"),
        "--operating_points",
        str(tmp_path / "predictions_operating_points"),
        "--predictions",
        str(tmp_path / "predictions_th_0.50.tsv"),
        "--json",
        str(out),
    ]
    assert main(argv) == 0
    cli_metrics = json.loads(out.read_text())
    assert set(cli_metrics) == set(METRIC_KEYS)
    for key in METRIC_KEYS:
        assert cli_metrics[key] == pytest.approx(metrics[key], abs=1e-6), key


def test_write_test_outputs_without_detections(scored, tmp_path):
    raw, smooth, truth, durations = scored
    silent = {clip: table.assign(**{c: 0.0 for c in SYNTH_CLASSES}) for clip, table in smooth.items()}
    with pytest.warns(UserWarning):
        metrics = write_test_outputs(
            tmp_path, raw, silent, truth, durations, SYNTH_CLASSES, n_thresholds=3, progress=False
        )
    for key in METRIC_KEYS:
        assert metrics[key] == 0.0, key
    assert (tmp_path / "metrics.json").is_file()


def test_write_test_outputs_on_a_subset_and_wrong_classes(scored, tmp_path):
    raw, smooth, truth, durations = scored
    subset = dict(list(smooth.items())[:5])
    with pytest.warns(UserWarning, match="have no scores"):
        metrics = write_test_outputs(
            tmp_path, subset, subset, truth, durations, SYNTH_CLASSES, n_thresholds=3, progress=False
        )
    # The same numbers as scoring those clips alone, with only their ground truth and durations.
    kept = [clip + ".wav" for clip in subset]
    alone = write_test_outputs(
        tmp_path / "alone",
        subset,
        subset,
        truth[truth["filename"].isin(kept)],
        durations[durations["filename"].isin(kept)],
        SYNTH_CLASSES,
        n_thresholds=3,
        progress=False,
    )
    assert metrics == pytest.approx(alone) and metrics["psds1_sed_scores_eval"] > 0
    with pytest.raises(ValueError, match="expected"):
        write_test_outputs(tmp_path, raw, smooth, truth, durations, ["Cat", "Dog"], n_thresholds=3)


def test_write_scores_only(scored, tmp_path):
    raw, smooth, _, _ = scored
    write_scores_only(tmp_path, raw)
    assert not (tmp_path / "scores" / "postprocessed").exists()
    write_scores_only(tmp_path, raw, smooth)
    back = read_score_folder(tmp_path / "scores" / "raw")
    assert list(back) == sorted(raw)
    pd.testing.assert_frame_equal(back[sorted(raw)[0]], raw[sorted(raw)[0]], check_dtype=False, atol=1e-6)

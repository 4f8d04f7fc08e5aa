"""The metric unit: a new metric is one file (tests/toy_metric.py) plus a registry entry, and it is listed, scored
and written through the same entry points as the built-in ones (``python -m desed_task.evaluation``'s help,
table and ``--json``; the test stage's ``write_test_outputs`` and metric files)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_evaluation_metrics import SYNTH_CLASSES, synthetic_set
from toy_metric import DetectedClipFraction

from desed_task.data.tables import clip_id_of
from desed_task.evaluation import METRIC_KEYS, METRICS, median_filter_scores, metric_keys, score_dataframes
from desed_task.evaluation import write_test_outputs
from desed_task.evaluation.evaluate_command import main
from desed_task.evaluation.metric import INPUT_FLAGS
from desed_task.evaluation.metrics import metric_values, metrics_reading
from desed_task.evaluation.pool import Job

REPO = Path(__file__).resolve().parents[1]
HEADER = "filename\tonset\toffset\tevent_label\n"
TOY_KEY = DetectedClipFraction.keys[0]


@pytest.fixture
def toy_registered(monkeypatch):
    monkeypatch.setitem(METRICS, DetectedClipFraction.name, DetectedClipFraction())


@pytest.fixture
def small(tmp_path) -> list[str]:
    """Three 10 s clips (c without events) and valid scores; the base arguments of the command."""
    (tmp_path / "gt.tsv").write_text(HEADER + "a.wav\t0.5\t2.0\tDog\nb.wav\t1.0\t4.0\tSpeech\nc.wav\t\t\t\n")
    (tmp_path / "dur.tsv").write_text("filename\tduration\na.wav\t10.0\nb.wav\t10.0\nc.wav\t10.0\n")
    scores = tmp_path / "scores"
    scores.mkdir()
    for clip in "abc":
        (scores / f"{clip}.tsv").write_text("onset\toffset\tDog\tSpeech\n0.0\t5.0\t0.9\t0.2\n5.0\t10.0\t0.3\t0.8\n")
    return ["--ground_truth", str(tmp_path / "gt.tsv"), "--durations", str(tmp_path / "dur.tsv"), "--quiet"]


def test_a_new_metric_is_listed_in_the_help_under_its_input(toy_registered, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    listing = text[text.index("--predictions FILE") : text.index("PSDS scenario 1")]
    assert "intersection_f1_macro" in listing
    assert f"{TOY_KEY}\n" in listing and DetectedClipFraction.description in listing


def test_a_new_metric_is_scored_by_the_command(toy_registered, small, tmp_path, capsys):
    (tmp_path / "pred.tsv").write_text(HEADER + "a.wav\t0.5\t2.0\tDog\nc.wav\t3.0\t5.0\tCat\n")
    out = tmp_path / "metrics.json"
    assert main([*small, "--predictions", str(tmp_path / "pred.tsv"), "--json", str(out)]) == 0
    metrics = json.loads(out.read_text())
    assert list(metrics) == [key for metric in metrics_reading("detections") for key in metric.keys]
    assert list(metrics)[-1] == TOY_KEY  # registered last
    assert metrics[TOY_KEY] == pytest.approx(2 / 3)  # a and c of a, b, c
    assert re.search(rf"^{TOY_KEY} +0\.6667 +66\.67$", capsys.readouterr().out, re.MULTILINE)

    assert main([*small, "--scores", str(tmp_path / "scores"), "--json", str(out)]) == 0  # no detections given
    assert TOY_KEY not in json.loads(out.read_text())


def test_a_new_metric_is_in_the_test_stage_metrics_and_files(toy_registered, rng, tmp_path):
    targets, clip_ids, truth, durations, timestamps = synthetic_set(rng)
    raw = np.clip(targets + 0.35 * rng.standard_normal(targets.shape), 0, 1).astype(np.float32)
    raw[-1] = 0.0  # a clip without events, where nothing is detected
    raw_tables = score_dataframes(raw, clip_ids, SYNTH_CLASSES, timestamps)
    smooth_tables = score_dataframes(median_filter_scores(raw, 7), clip_ids, SYNTH_CLASSES, timestamps)
    metrics = write_test_outputs(
        tmp_path,
        raw_tables,
        smooth_tables,
        truth,
        durations,
        SYNTH_CLASSES,
        n_thresholds=3,
        prefix="student",
        progress=False,
    )
    assert tuple(metrics) == (*METRIC_KEYS, TOY_KEY) == metric_keys()
    detections = pd.read_csv(tmp_path / "predictions_th_0.50.tsv", sep="\t")
    detected = set(detections["filename"].map(clip_id_of))
    assert metrics[TOY_KEY] == len(detected & set(clip_ids)) / len(clip_ids) < 1
    assert json.loads((tmp_path / "student_metrics.json").read_text()) == metrics
    assert f"\n{TOY_KEY} " in (tmp_path / "student_metrics.txt").read_text()


def test_the_registry_checks_the_keys_a_metric_declares(monkeypatch):
    class Misnamed(DetectedClipFraction):
        name = "misnamed"
        keys = ("event_f1_macro",)

    monkeypatch.setitem(METRICS, Misnamed.name, Misnamed())
    with pytest.raises(ValueError, match=r"\['event_f1_macro'\] are declared by more than one metric"):
        metric_keys()
    with pytest.raises(
        ValueError,
        match=r"metric misnamed returned the keys \['detected_clip_fraction'\], but "
        r"declares \['event_f1_macro'\]",
    ):
        metric_values({"misnamed": Job(value={TOY_KEY: 0.5})})


def test_the_documented_inputs_and_metrics_are_the_registry():
    rows = re.findall(
        r"^\| `(--\w+) [A-Z]+` \|.*\| (`.*`) \|$", (REPO / "docs" / "evaluation.md").read_text(), re.MULTILINE
    )
    documented = {flag: re.findall(r"`(\w+)`", keys) for flag, keys in rows}
    assert documented == {
        flag.split()[0]: [key for metric in metrics_reading(kind) for key in metric.keys]
        for kind, flag in INPUT_FLAGS.items()
    }

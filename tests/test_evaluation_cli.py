"""The evaluation CLI end to end on the DESED validation set: it must reproduce the published baseline numbers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from desed_task.evaluation.evaluate_command import build_parser, main

REPO = Path(__file__).resolve().parents[1]

# DCASE 2021 baseline student on DESED validation (tests/data/README.md), in [0, 1].
PUBLISHED = {
    "psds1_psds_eval": 0.334,
    "event_f1_macro": 0.3983,
    "event_f1_micro": 0.4092,
    "segment_f1_macro": 0.6935,
    "segment_f1_micro": 0.7547,
    "intersection_f1_macro": 0.6374,
}


@pytest.fixture(scope="module")
def desed(data_dir):
    root = data_dir / "desed_validation"
    return {
        "gt": root / "validation.tsv",
        "dur": root / "validation_durations.tsv",
        "ops": root / "baseline_student" / "predictions_operating_points",
        "pred": root / "baseline_student" / "predictions0.5.csv",
    }


def test_cli_reproduces_published_numbers(desed, tmp_path, capsys):
    out = tmp_path / "metrics.json"
    argv = [
        "--ground_truth",
        str(desed["gt"]),
        "--durations",
        str(desed["dur"]),
        "--quiet",
        "--operating_points",
        str(desed["ops"]),
        "--predictions",
        str(desed["pred"]),
        "--json",
        str(out),
    ]
    assert main(argv) == 0
    metrics = json.loads(out.read_text())
    assert set(metrics) == {
        "psds1_psds_eval",
        "psds2_psds_eval",
        "event_f1_macro",
        "event_f1_micro",
        "segment_f1_macro",
        "segment_f1_micro",
        "intersection_f1_macro",
    }
    assert round(metrics["psds1_psds_eval"], 3) == PUBLISHED["psds1_psds_eval"]
    for key, value in PUBLISHED.items():
        assert metrics[key] == pytest.approx(value, abs=0.001), key  # within 0.1 points
    printed = capsys.readouterr().out
    assert "event_f1_macro" in printed and "39.8" in printed


def test_cli_usage_errors(desed, tmp_path, capsys):
    base = ["--ground_truth", str(desed["gt"]), "--durations", str(desed["dur"])]
    with pytest.raises(SystemExit) as exit_info:
        main(base)
    assert exit_info.value.code == 2
    assert "at least one of --operating_points" in capsys.readouterr().err

    assert main(base + ["--predictions", str(tmp_path / "missing.tsv")]) == 2
    assert "detections file not found" in capsys.readouterr().err

    bad = tmp_path / "bad.tsv"
    bad.write_text("file\tstart\tend\tlabel\nY1.wav\t0\t1\tCat\n")
    assert main(base + ["--predictions", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "lacks the column(s)" in err and "bad.tsv" in err

    assert main(["--ground_truth", str(bad), "--durations", str(desed["dur"]), "--predictions", str(bad)]) == 2
    assert "ground truth file" in capsys.readouterr().err

    empty_dir = tmp_path / "ops"
    empty_dir.mkdir()
    assert main(base + ["--operating_points", str(empty_dir)]) == 2
    assert "predictions_th_" in capsys.readouterr().err


def test_cli_help_and_light_import():
    text = build_parser().format_help()
    for flag in ("--ground_truth", "--durations", "--operating_points", "--scores", "--predictions", "--json"):
        assert flag in text
    heavy = ("sed_scores_eval", "sed_eval", "psds_eval", "dcase_util", "matplotlib", "lightning", "torchaudio")
    code = f"import sys, desed_task.evaluation; print([m for m in {heavy!r} if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert result.stdout.strip() == "[]"
    result = subprocess.run(
        [sys.executable, "-m", "desed_task.evaluation", "--help"], capture_output=True, text=True, cwd=REPO
    )
    assert result.returncode == 0 and "--operating_points" in result.stdout

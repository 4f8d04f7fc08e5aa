"""``python -m desed_task.evaluation`` on hostile inputs: each case exits 2 with one line naming the problem,
and writes nothing; the cases that are valid (header-only detections, a class without detections) warn."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest

from desed_task.evaluation.evaluate_command import main

REPO = Path(__file__).resolve().parents[1]
HEADER = "filename\tonset\toffset\tevent_label\n"
GOOD = "a.wav\t0.5\t2.0\tDog\na.wav\t3.0\t5.0\tCat\nb.wav\t1.0\t4.0\tSpeech\n"
SCORES = "onset\toffset\tCat\tDog\tSpeech\n0.0\t5.0\t0.1\t0.9\t0.2\n5.0\t10.0\t0.3\t0.4\t0.8\n"


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def base(tmp_path) -> list[str]:
    """Three clips (c without events), all 10 s, and valid scores for them in tmp_path/scores."""
    _write(tmp_path / "gt.tsv", HEADER + GOOD + "c.wav\t\t\t\n")
    _write(tmp_path / "dur.tsv", "filename\tduration\na.wav\t10.0\nb.wav\t10.0\nc.wav\t10.0\n")
    for clip in "abc":
        _write(tmp_path / "scores" / f"{clip}.tsv", SCORES)
    return ["--ground_truth", str(tmp_path / "gt.tsv"), "--durations", str(tmp_path / "dur.tsv"), "--quiet"]


def _predictions(rows: str):
    return lambda tmp: ["--predictions", str(_write(tmp / "pred.tsv", HEADER + rows))]


def _scores(clip: str, text: str):
    def build(tmp: Path) -> list[str]:
        _write(tmp / "scores" / f"{clip}.tsv", text)
        return ["--scores", str(tmp / "scores")]

    return build


def _operating_point(rows: str):
    return lambda tmp: [
        "--operating_points",
        str(_write(tmp / "ops" / "predictions_th_0.50.tsv", HEADER + rows).parent),
    ]


def _lower_cased_desed(tmp: Path) -> list[str]:
    root = REPO / "tests" / "data" / "desed_validation"
    table = pd.read_csv(root / "baseline_student" / "predictions0.5.csv", index_col=0)
    table["event_label"] = table["event_label"].replace("Dog", "dog")
    table.to_csv(tmp / "desed.csv")
    return [
        "--ground_truth",
        str(root / "validation.tsv"),
        "--durations",
        str(root / "validation_durations.tsv"),
        "--predictions",
        str(tmp / "desed.csv"),
    ]


def _replace(name: str, text: str):
    """Overwrite one of the base inputs, and score valid predictions against it."""
    return lambda tmp: [*_predictions(GOOD)(tmp), *([] if _write(tmp / name, text) else [])]


# (id, extra arguments built in tmp_path, words that the one line on stderr must contain)
CASES = [
    (
        "unknown label",
        _predictions("a.wav\t0.5\t2.0\tDoggo\n"),
        ["pred.tsv", "labels outside the class list", "Doggo", "closest class: Doggo -> Dog", "line 2"],
    ),
    ("lower-cased label, DESED validation", _lower_cased_desed, ["desed.csv", "'dog'", "dog -> Dog"]),
    (
        "clip absent from the ground truth",
        _predictions(GOOD + "z1.wav\t0\t1\tDog\nz2.wav\t0\t1\tCat\n"),
        ["pred.tsv", "2 clip(s) are not in the ground truth", "z1, z2"],
    ),
    (
        "clip absent from the durations",
        _replace("dur.tsv", "filename\tduration\na.wav\t10.0\nc.wav\t10.0\n"),
        ["pred.tsv", "1 clip(s) are not in the durations", "(b)"],
    ),
    (
        "event past the clip",
        _predictions("a.wav\t0.5\t2.0\tDog\nb.wav\t1.0\t24.0\tSpeech\n"),
        ["pred.tsv", "line 3", "clip b", "1.0-24.0 s", "10.0 s"],
    ),
    ("negative onset", _predictions("a.wav\t-1.0\t2.0\tDog\n"), ["pred.tsv", "line 2", "negative onset -1.0"]),
    (
        "onset after offset",
        _predictions(GOOD + "a.wav\t2.5\t2.0\tDog\n"),
        ["pred.tsv", "line 5", "onset 2.5 s is not before offset 2.0 s"],
    ),
    ("onset equal to offset", _predictions("a.wav\t2.0\t2.0\tDog\n"), ["pred.tsv", "line 2", "not before"]),
    (
        "ground truth onset after offset",
        _replace("gt.tsv", HEADER + "a.wav\t3.0\t1.0\tDog\n"),
        ["ground truth file", "gt.tsv", "line 2", "not before"],
    ),
    (
        "ground truth event past its clip",
        _replace("gt.tsv", HEADER + "a.wav\t3.0\t3000.0\tDog\n"),
        ["ground truth file", "line 2", "clip a", "the clip's duration"],
    ),
    ("times that are not numbers", _predictions("a.wav\t0,5\t2.0\tDog\n"), ["pred.tsv", "line 2", "'0,5'"]),
    ("NaN score", _scores("b", SCORES.replace("0.4", "")), ["b.tsv", "line 3", "column Dog", "nan", "[0, 1]"]),
    ("score out of range", _scores("a", SCORES.replace("0.9", "1.5")), ["a.tsv", "line 2", "column Dog", "1.5"]),
    (
        "score file lacking a class column",
        _scores("b", SCORES.replace("\tSpeech", "").replace("\t0.2\n", "\n").replace("\t0.8\n", "\n")),
        ["b.tsv", "clip b", "['Speech']"],
    ),
    (
        "score columns lower-cased",
        _scores("c", SCORES.replace("Dog", "dog")),
        ["c.tsv", "clip c", "['Dog']", "it has dog instead"],
    ),
    ("predictions is a folder", lambda tmp: ["--predictions", str(tmp)], ["is a folder, expected a file"]),
    ("scores is a file", lambda tmp: ["--scores", str(tmp / "gt.tsv")], ["gt.tsv is a file, expected a folder"]),
    (
        "empty predictions file",
        lambda tmp: ["--predictions", str(_write(tmp / "pred.tsv", ""))],
        ["pred.tsv is empty", "header row filename onset offset event_label"],
    ),
    (
        "ground truth not found",
        lambda tmp: ["--ground_truth", str(tmp / "nope.tsv"), *_predictions(GOOD)(tmp)],
        ["ground truth file not found", "nope.tsv"],
    ),
    (
        "operating-point file with an unknown label",
        _operating_point("a.wav\t0\t1\tCar\n"),
        ["predictions_th_0.50.tsv", "line 2", "Car -> Cat"],
    ),
]


@pytest.mark.parametrize("build, words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_input_is_one_line_exit_2_and_nothing_written(base, tmp_path, capsys, build, words):
    target = tmp_path / "out" / "metrics.json"
    assert main([*base, *build(tmp_path), "--json", str(target)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert not target.parent.exists() and captured.out == ""


@pytest.mark.parametrize(
    "json_target, words",
    [
        ("out", ["--json", "is a folder"]),
        ("gt.tsv/metrics.json", ["--json", "gt.tsv is a file, not a folder"]),
    ],
)
def test_unwritable_json_is_checked_before_reading_anything(base, tmp_path, capsys, json_target, words):
    (tmp_path / "out").mkdir()
    hostile = _predictions("a.wav\t0.5\t2.0\tDoggo\n")(tmp_path)  # would fail too, later
    assert main([*base, *hostile, "--json", str(tmp_path / json_target)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and all(word in lines[0] for word in words), lines
    assert list((tmp_path / "out").iterdir()) == []


def _checksums(folder: Path) -> dict[Path, str]:
    return {
        p.relative_to(folder): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.rglob("*")
        if p.is_file() and not p.is_symlink()
    }


def _link(path: Path, target: Path, hard: bool) -> Path:
    os.link(target, path) if hard else path.symlink_to(target)
    return path


# (--json built in tmp_path, which input flag and file the line names); inputs: base + predictions + scores
JSON_OVER_INPUTS = {
    "ground truth": (lambda t: t / "gt.tsv", ["--ground_truth", "gt.tsv"]),
    "predictions": (lambda t: t / "pred.tsv", ["--predictions", "pred.tsv"]),
    "durations through a symlink": (
        lambda t: _link(t / "m.json", t / "dur.tsv", hard=False),
        ["m.json", "--durations", "dur.tsv"],
    ),
    "ground truth through a hard link": (
        lambda t: _link(t / "m.json", t / "gt.tsv", hard=True),
        ["m.json", "--ground_truth", "gt.tsv"],
    ),
    "a score file": (lambda t: t / "scores" / "b.tsv", ["b.tsv", "inside the input --scores"]),
    "the scores folder": (lambda t: t / "scores", ["--scores"]),
}


@pytest.mark.parametrize("case", list(JSON_OVER_INPUTS))
def test_json_over_an_input_is_refused_before_scoring_and_changes_nothing(case, base, tmp_path, capsys, monkeypatch):
    build, words = JSON_OVER_INPUTS[case]
    argv = [*base, *_predictions(GOOD)(tmp_path), "--scores", str(tmp_path / "scores")]
    target = build(tmp_path)
    monkeypatch.setattr(
        "desed_task.evaluation.evaluate_command.evaluate", lambda *a: pytest.fail("scored before the check")
    )
    checksums, before = _checksums(tmp_path), sorted(tmp_path.rglob("*"))
    assert main([*argv, "--json", str(target)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --json"), lines
    for word in [*words, "apart from every input"]:
        assert word in lines[0], (word, lines[0])
    assert _checksums(tmp_path) == checksums and sorted(tmp_path.rglob("*")) == before


def test_an_interrupt_exits_130_with_one_line_and_writes_nothing(base, tmp_path, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)
        threading.Event().wait(5)  # the handler raises here

    monkeypatch.setattr("desed_task.evaluation.evaluate_command.evaluate", interrupted)
    target = tmp_path / "out" / "metrics.json"
    assert main([*base, *_predictions(GOOD)(tmp_path), "--json", str(target)]) == 130
    assert capsys.readouterr().err.strip().splitlines() == ["interrupted by SIGINT; nothing written"]
    assert not target.parent.exists()


def test_header_only_predictions_are_no_detections_and_an_empty_file_is_an_error(base, tmp_path, capsys):
    target = tmp_path / "metrics.json"
    assert main([*base, *_predictions("")(tmp_path), "--json", str(target)]) == 0
    err = capsys.readouterr().err
    assert "pred.tsv has a header and no rows: no detections" in err and "Traceback" not in err
    assert set(json.loads(target.read_text()).values()) == {0.0}
    assert main([*base, "--predictions", str(_write(tmp_path / "empty.tsv", "")), "--json", str(target)]) == 2


def test_a_class_without_detections_is_named_for_segment_f1_too(base, tmp_path, capsys):
    target = tmp_path / "metrics.json"
    assert (
        main([*base, *_predictions("a.wav\t3.0\t5.0\tCat\nb.wav\t1.0\t4.0\tSpeech\n")(tmp_path), "--json", str(target)])
        == 0
    )
    err = capsys.readouterr().err
    assert "warning: segment_f1_macro: Dog has an undefined F1" in err
    assert "warning: intersection_f1_macro: Dog had no true positive" in err
    metrics = json.loads(target.read_text())
    assert metrics["segment_f1_macro"] == 1.0  # the faithful value: Dog left out of the mean, as sed_eval does


def test_json_is_written_whole_with_the_umask_permissions(base, tmp_path, capsys):
    target = tmp_path / "new" / "metrics.json"
    assert main([*base, *_predictions(GOOD)(tmp_path), "--json", str(target)]) == 0
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
    assert [p.name for p in target.parent.iterdir()] == ["metrics.json"]  # no temporary file left
    assert json.loads(target.read_text())["event_f1_macro"] == 1.0


def test_program_errors_keep_their_traceback(base, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("a bug, not a user error")

    monkeypatch.setattr("desed_task.evaluation.f1_metrics.event_and_segment_f1", broken)
    with pytest.raises(ValueError, match="a bug"):
        main([*base, *_predictions(GOOD)(tmp_path)])


def test_exit_status_and_one_line_through_python_m(base, tmp_path):
    argv = [*base, *_predictions("a.wav\t0.5\t2.0\tDoggo\n")(tmp_path)]
    result = subprocess.run(
        [sys.executable, "-m", "desed_task.evaluation", *argv],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [result.stderr.strip()] and "Doggo -> Dog" in result.stderr


def _files(**texts: str):
    """Overwrite or add inputs in tmp_path (``name=text``; ``__`` in a name is a ``/``); no extra arguments."""

    def build(tmp: Path) -> list[str]:
        for name, text in texts.items():
            _write(tmp / name.replace("__", "/"), text)
        return []

    return build


def _args(*builders):
    return lambda tmp: [arg for build in builders for arg in build(tmp)]


FOLDERS_GT = HEADER + "day1/kitchen.wav\t0.5\t2.0\tDog\nday2/kitchen.wav\t3.0\t5.0\tCat\n"
FOLDERS_DUR = "filename\tduration\nday1/kitchen.wav\t10.0\nday2/kitchen.wav\t10.0\n"
SWAPPED = "day2/kitchen.wav\t0.5\t2.0\tDog\nday1/kitchen.wav\t3.0\t5.0\tCat\n"
NO_CAT_GT = HEADER + "a.wav\t0.5\t2.0\tDog\nb.wav\t1.0\t4.0\tSpeech\nc.wav\t\t\t\n"

# (id, inputs built in tmp_path, words that stderr must contain, words it must not, metrics expected)
SCORED = [
    (
        "recordings in two folders, predictions swapped",
        _args(_files(**{"gt.tsv": FOLDERS_GT, "dur.tsv": FOLDERS_DUR}), _predictions(SWAPPED)),
        [],
        [],
        {"event_f1_micro": 0.0, "segment_f1_micro": 0.0},
    ),
    (
        "recordings in two folders, predictions right",
        _args(_files(**{"gt.tsv": FOLDERS_GT, "dur.tsv": FOLDERS_DUR}), _predictions(FOLDERS_GT[len(HEADER) :])),
        [],
        [],
        {"event_f1_micro": 1.0, "segment_f1_micro": 1.0, "intersection_f1_macro": 1.0},
    ),
    # b (Speech 1-4 s) has no duration; were it scored, its event would count as missed (event micro 0.8)
    (
        "ground-truth clip without a duration",
        _args(
            _files(**{"dur.tsv": "filename\tduration\na.wav\t10.0\nc.wav\t10.0\n"}),
            _predictions("a.wav\t0.5\t2.0\tDog\na.wav\t3.0\t5.0\tCat\n"),
        ),
        ["1 clip(s) of the ground truth", "(b)", "left out of every metric"],
        [],
        {"event_f1_micro": 1.0, "event_f1_macro": 1.0, "segment_f1_micro": 1.0, "intersection_f1_macro": 1.0},
    ),
    # 3 true positives and 3 copies: event F1 2*3 / (2*3 + 3)
    (
        "every detection duplicated",
        _predictions(GOOD + GOOD),
        ["3 duplicated detection(s)", "--dedupe drops them"],
        ["overlap"],
        {"event_f1_micro": 2 / 3, "segment_f1_micro": 1.0, "intersection_f1_macro": 1.0},
    ),
    (
        "every detection duplicated, --dedupe",
        _args(_predictions(GOOD + GOOD), lambda tmp: ["--dedupe"]),
        ["3 duplicated detection(s) dropped (--dedupe"],
        [],
        {"event_f1_micro": 1.0, "event_f1_macro": 1.0, "segment_f1_micro": 1.0, "intersection_f1_macro": 1.0},
    ),
    # the second Dog detection (1.0-2.5 s) is a false positive for sed_eval: 2*3 / (2*3 + 1); for intersection F1
    # the union 0.5-2.5 s covers the 0.5-2.0 s event (dtc 0.75, gtc 1)
    (
        "overlapping detections of one class",
        _predictions(GOOD + "a.wav\t1.0\t2.5\tDog\n"),
        ["pred.tsv: 1 detection(s) overlap an earlier detection of their class", "union"],
        ["Traceback"],
        {"event_f1_micro": 6 / 7, "intersection_f1_macro": 1.0},
    ),
    (
        "overlapping detections at an operating point",
        _operating_point(GOOD + "a.wav\t1.0\t2.5\tDog\nb.wav\t1.0\t4.0\tSpeech\n"),
        ["2 detection(s) in 1 of 1 table(s) overlap (or repeat)"],
        ["Traceback"],
        {"psds1_psds_eval": None},
    ),
    (
        "a trailing space in both tables",
        _args(
            _files(**{"gt.tsv": HEADER + GOOD.replace("Dog", "Dog ") + "c.wav\t\t\t\n"}),
            _predictions(GOOD.replace("Dog", "Dog ")),
        ),
        ["ground truth file", "detections file", "'Dog '", "stripped"],
        ["Traceback"],
        {"event_f1_macro": 1.0, "event_f1_micro": 1.0, "intersection_f1_macro": 1.0},
    ),
    # Cat (3-5 s in a) has no ground-truth event: 2 true positives and 1 false positive, 2*2 / (2*2 + 1); segments:
    # 5 active, all detected, and 2 false (3-4 s, 4-5 s), 2*5 / (2*5 + 2). Macro means leave Cat out (undefined).
    (
        "a detected class without ground truth",
        _args(_files(**{"gt.tsv": NO_CAT_GT}), _predictions(GOOD)),
        ["event_f1_macro: Cat has an undefined F1"],
        ["closest class", "error"],
        {"event_f1_micro": 0.8, "segment_f1_micro": 10 / 12, "event_f1_macro": 1.0, "intersection_f1_macro": 1.0},
    ),
    (
        "a trailing space in the score columns",
        _args(*[_scores(clip, SCORES.replace("Dog", "Dog ")) for clip in "abc"]),
        ["3 file(s) (a, b, c) have column(s) 'Dog ' with leading or trailing white space; stripped"],
        ["error"],
        {"psds1_sed_scores_eval": None},
    ),
    (
        "scores in folders",
        _args(
            _files(
                **{
                    "gt.tsv": FOLDERS_GT,
                    "dur.tsv": FOLDERS_DUR,
                    "nested__day1__kitchen.tsv": SCORES,
                    "nested__day2__kitchen.tsv": SCORES,
                }
            ),
            lambda tmp: ["--scores", str(tmp / "nested")],
        ),
        [],
        ["error"],
        {"psds1_sed_scores_eval": None},
    ),
]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("build, present, absent, expected", [c[1:] for c in SCORED], ids=[c[0] for c in SCORED])
def test_what_is_scored_differently_is_warned_and_scored_as_stated(
    base, tmp_path, capsys, build, present, absent, expected
):
    argv = [*base, *build(tmp_path)]
    inputs = _snapshot(tmp_path)
    target = tmp_path / "out" / "metrics.json"
    assert main([*argv, "--json", str(target)]) == 0
    err = capsys.readouterr().err
    for word in present:
        assert word in err, (word, err)
    for word in absent:
        assert word not in err, (word, err)
    assert _snapshot(tmp_path) == {**inputs, "out/metrics.json": target.read_bytes()}  # inputs unchanged
    metrics = json.loads(target.read_text())
    for key, value in expected.items():
        assert key in metrics and (value is None or metrics[key] == pytest.approx(value, abs=1e-9)), (key, metrics)


NAMING_ERRORS = [
    (
        "base names against folders",
        _args(_files(**{"gt.tsv": FOLDERS_GT, "dur.tsv": FOLDERS_DUR}), _predictions("kitchen.wav\t0.5\t2.0\tDog\n")),
        ["pred.tsv", "not in the ground truth", "kitchen is not day1/kitchen"],
    ),
    (
        "two names of one clip",
        _args(
            _files(**{"dur.tsv": "filename\tduration\na.wav\t10\nb.wav\t10\nc.wav\t10\na.flac\t10\n"}),
            _predictions(GOOD),
        ),
        ["durations", "'a.wav' and 'a.flac' are both clip 'a'"],
    ),
    (
        "two names of one clip in the detections",
        _predictions(GOOD + "a.flac\t6.0\t7.0\tDog\n"),
        ["pred.tsv", "'a.wav' and 'a.flac' are both clip 'a'"],
    ),
    (
        "a name that is no class",
        _args(_files(**{"gt.tsv": NO_CAT_GT}), _predictions("a.wav\t0.5\t2.0\tKat\n")),
        ["Kat", "closest class: Kat -> Cat"],
    ),
]


@pytest.mark.parametrize("build, words", [c[1:] for c in NAMING_ERRORS], ids=[c[0] for c in NAMING_ERRORS])
def test_clip_and_class_naming_errors_are_one_line_exit_2(base, tmp_path, capsys, build, words):
    argv = [*base, *build(tmp_path)]
    inputs = _snapshot(tmp_path)
    assert main([*argv, "--json", str(tmp_path / "out" / "metrics.json")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert all(word in lines[0] for word in words), (words, lines[0])
    assert _snapshot(tmp_path) == inputs


def test_json_that_is_an_input_is_refused_before_reading(base, tmp_path, capsys):
    argv = [*base, *_predictions(GOOD)(tmp_path)]
    inputs = _snapshot(tmp_path)
    assert main([*argv, "--json", str(tmp_path / "pred.tsv")]) == 2
    assert "would overwrite the input" in capsys.readouterr().err
    assert _snapshot(tmp_path) == inputs

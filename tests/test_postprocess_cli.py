"""``python -m desed_task.postprocess``: tune and apply end to end, and errors that are one line, exit 2, no output."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest
from operating_point_scores import DESED_CLASSES

from desed_task.evaluation import psds_sed_scores_eval, read_score_folder
from desed_task.evaluation.evaluate_command import main as evaluate_main
from desed_task.postprocess import CSEBBClassParams, CSEBBParams, MedianParams, postprocess_scores, write_params
from desed_task.postprocess.postprocess_command import main

REPO = Path(__file__).resolve().parents[1]


def _tune(validation, out, method="median", *extra):
    return [
        "tune",
        "--method",
        method,
        "--scores",
        str(validation["scores"]),
        "--ground_truth",
        str(validation["truth"]),
        "--durations",
        str(validation["durations"]),
        "--out",
        str(out),
        "--quiet",
        *extra,
    ]


def _psds1(validation, scores_dir, capsys) -> float:
    metrics = scores_dir.parent / f"{scores_dir.name}_metrics.json"
    argv = [
        "--ground_truth",
        str(validation["truth"]),
        "--durations",
        str(validation["durations"]),
        "--scores",
        str(scores_dir),
        "--quiet",
        "--json",
        str(metrics),
    ]
    assert evaluate_main(argv) == 0
    capsys.readouterr()
    return json.loads(metrics.read_text())["psds1_sed_scores_eval"]


def test_tune_then_apply_then_evaluate(validation, tmp_path, capsys):
    params_path = tmp_path / "nested" / "median.json"
    assert main(_tune(validation, params_path, "median", "--windows", "5-8")) == 0
    assert "median: PSDS1" in capsys.readouterr().out
    params = json.loads(params_path.read_text())
    assert params["method"] == "median" and params["frame_hop"] == pytest.approx(0.064)
    assert list(params["classes"]) == list(DESED_CLASSES)
    assert {v["window_frames"] for v in params["classes"].values()} <= {4, 5, 6, 7, 8, 20}
    out = tmp_path / "scores_median"
    assert (
        main(
            ["apply", "--params", str(params_path), "--scores", str(validation["scores"]), "--out", str(out), "--quiet"]
        )
        == 0
    )
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in validation["scores"].iterdir())
    assert _psds1(validation, out, capsys) == pytest.approx(params["tuning"]["psds"], abs=1e-9)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nested", "scores_median", "scores_median_metrics.json"]


def test_apply_csebb_writes_scores_the_evaluation_reads(validation, tmp_path, capsys):
    pytest.importorskip("sebbs", reason="the optional package sebbs is not installed")
    params_path = tmp_path / "csebb.json"
    write_params(params_path, CSEBBParams({c: CSEBBClassParams(0.48, 0.2, None) for c in DESED_CLASSES}))
    out = tmp_path / "empty_folder"
    out.mkdir()  # an existing empty folder is fine
    assert (
        main(
            ["apply", "--params", str(params_path), "--scores", str(validation["scores"]), "--out", str(out), "--quiet"]
        )
        == 0
    )
    tables = read_score_folder(out)
    assert len(tables) == 49 and all(list(t.columns[2:]) == list(DESED_CLASSES) for t in tables.values())
    # The written files score as the library's post-processed tables do in memory.
    in_memory = psds_sed_scores_eval(
        postprocess_scores(read_score_folder(validation["scores"]), params_path),
        pd.read_csv(validation["truth"], sep="\t"),
        pd.read_csv(validation["durations"], sep="\t"),
    )
    assert _psds1(validation, out, capsys) == pytest.approx(in_memory["psds1"], abs=1e-6)
    assert in_memory["psds1"] > 0


def _median_params(tmp_path, classes=DESED_CLASSES, hop=0.064) -> str:
    path = tmp_path / "given.json"
    write_params(path, MedianParams({c: 7 for c in classes}, hop))
    return str(path)


def _csebb_params(tmp_path) -> str:
    path = tmp_path / "given_csebb.json"
    write_params(path, CSEBBParams({c: CSEBBClassParams(0.48, 0.2, None) for c in DESED_CLASSES}))
    return str(path)


def _odd_first_file(validation, tmp: Path, change) -> str:
    """A copy of the validation scores whose first file (in clip-id order: the first one read) is changed."""
    folder = tmp / "odd_scores"
    folder.mkdir()
    files = sorted(validation["scores"].iterdir())
    for path in files:
        (folder / path.name).write_bytes(path.read_bytes())
    table = pd.read_csv(files[0], sep="\t")
    change(table).to_csv(folder / files[0].name, sep="\t", index=False)
    return str(folder)


def _tune_odd(change, method="median"):
    def build(v, t):
        argv = _tune(v, t / "p.json", method)
        argv[argv.index("--scores") + 1] = _odd_first_file(v, t, change)
        return argv

    return build


def _half_hop(table: pd.DataFrame) -> pd.DataFrame:
    return table.assign(onset=table["onset"] / 2, offset=table["offset"] / 2)


ERRORS = {
    "unwritable parameter file": (
        lambda v, t: _tune(v, t / "file.txt" / "params.json"),
        "file.txt is a file, not a folder",
    ),
    "parameter file is a folder": (lambda v, t: _tune(v, t / "folder"), "it is a folder"),
    "missing score folder": (
        lambda v, t: _tune(v, t / "p.json")[:4] + [str(t / "nowhere")] + _tune(v, t / "p.json")[5:],
        "scores folder not found",
    ),
    "non-empty output folder": (
        lambda v, t: ["apply", "--params", _median_params(t), "--scores", str(v["scores"]), "--out", str(t / "folder")],
        "is not empty",
    ),
    "other classes": (
        lambda v, t: [
            "apply",
            "--params",
            _median_params(t, DESED_CLASSES[:9] + ("Bird",)),
            "--scores",
            str(v["scores"]),
            "--out",
            str(t / "out"),
        ],
        "the scores lack ['Bird'], the parameters lack ['Vacuum_cleaner']",
    ),
    "other hop": (
        lambda v, t: [
            "apply",
            "--params",
            _median_params(t, hop=0.02),
            "--scores",
            str(v["scores"]),
            "--out",
            str(t / "out"),
        ],
        "frame hop of 0.064 s but the median parameters were tuned at 0.02 s",
    ),
    "malformed parameter file": (
        lambda v, t: ["apply", "--params", str(v["truth"]), "--scores", str(v["scores"]), "--out", str(t / "out")],
        "is not valid JSON",
    ),
    "usage": (lambda v, t: ["tune", "--method", "median"], "the following arguments are required"),
    # the broken file is the first one read: the message names it, not a healthy one
    "a score file without a class": (
        _tune_odd(lambda table: table.drop(columns="Vacuum_cleaner")),
        "odd_scores: clip Y--4gqARaEJE_0.000_10.000 has the class columns",
    ),
    "a score file with classes in another order": (
        _tune_odd(lambda table: table[["onset", "offset", *reversed(DESED_CLASSES)]]),
        "clip Y--4gqARaEJE_0.000_10.000 has the class columns ['Vacuum_cleaner'",
    ),
    "a score file at another hop": (_tune_odd(_half_hop), "clip Y--4gqARaEJE_0.000_10.000 has frames from 0.032 s"),
}


def _exit_code(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exit_info:  # argparse's usage errors
        return exit_info.code


@pytest.mark.parametrize("case", list(ERRORS))
def test_errors_are_one_line_exit_2_and_write_nothing(case, validation, tmp_path, capsys):
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "kept.tsv").write_text("x")
    make_argv, message = ERRORS[case]
    argv = make_argv(validation, tmp_path)
    before = sorted(tmp_path.rglob("*"))
    assert _exit_code(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert sorted(tmp_path.rglob("*")) == before


@pytest.mark.parametrize("command", ["tune", "apply"])
def test_csebb_without_sebbs_names_the_extra(command, validation, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "sebbs", None)  # as if the extra were not installed
    monkeypatch.setitem(sys.modules, "sebbs.csebbs", None)
    if command == "tune":
        argv = _tune(validation, tmp_path / "p.json", "csebb")
    else:
        argv = [
            "apply",
            "--params",
            _csebb_params(tmp_path),
            "--scores",
            str(validation["scores"]),
            "--out",
            str(tmp_path / "out"),
        ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install --no-deps 'sebbs==1.0.2'" in err and "AGPL" in err
    assert sorted(p.name for p in tmp_path.iterdir()) in ([], ["given_csebb.json"])


def test_import_is_light_and_never_imports_sebbs():
    code = (
        "import sys, desed_task, desed_task.postprocess, desed_task.postprocess.postprocess_command\n"
        "heavy = [m for m in ('sebbs', 'sed_scores_eval', 'torch') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


@pytest.fixture
def own_validation(validation, tmp_path) -> dict[str, Path]:
    """A copy of the validation set in tmp_path (with a parameter file), so checksums cover every input."""
    copy = tmp_path / "v"
    shutil.copytree(validation["scores"].parent, copy)
    paths = {key: copy / path.relative_to(validation["scores"].parent) for key, path in validation.items()}
    paths["params"] = Path(_median_params(copy))
    return paths


def _checksums(folder: Path) -> dict[Path, str]:
    return {
        p.relative_to(folder): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.rglob("*")
        if p.is_file() and not p.is_symlink()
    }


def _apply(v: dict[str, Path], out: Path) -> list[str]:
    return ["apply", "--params", str(v["params"]), "--scores", str(v["scores"]), "--out", str(out), "--quiet"]


def _symlink(path: Path, target: Path) -> Path:
    path.symlink_to(target)
    return path


OVER_INPUTS = {
    "tune over the ground truth": (lambda v, t: _tune(v, v["truth"]), ["--out parameter file", "--ground_truth"]),
    "tune over a score file": (
        lambda v, t: _tune(v, next(v["scores"].iterdir())),
        ["--out parameter file", "inside the input --scores folder"],
    ),
    "tune over a symlink to the durations": (
        lambda v, t: _tune(v, _symlink(t / "p.json", v["durations"])),
        ["p.json", "--durations", "durations.tsv"],
    ),
    "apply into the scores folder": (lambda v, t: _apply(v, v["scores"]), ["--out folder", "--scores folder"]),
    "apply into a folder holding the parameters": (lambda v, t: _apply(v, t / "v"), ["holds the input --params"]),
}


@pytest.mark.parametrize("case", list(OVER_INPUTS))
def test_an_output_over_an_input_is_refused_and_changes_nothing(case, own_validation, tmp_path, capsys):
    make_argv, words = OVER_INPUTS[case]
    argv = make_argv(own_validation, tmp_path)
    checksums, before = _checksums(tmp_path), sorted(tmp_path.rglob("*"))
    assert _exit_code(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    for word in [*words, "apart from every input"]:
        assert word in err, (word, err)
    assert _checksums(tmp_path) == checksums and sorted(tmp_path.rglob("*")) == before


def test_an_interrupted_apply_exits_130_and_leaves_no_folder(own_validation, tmp_path, capsys, monkeypatch):
    from desed_task.evaluation import folders

    def write_then_terminated(folder, scores, progress=False):
        (Path(folder) / "first.tsv").write_text("onset\toffset\n")
        os.kill(os.getpid(), signal.SIGTERM)
        threading.Event().wait(5)  # the handler raises here

    monkeypatch.setattr(folders, "write_score_folder", write_then_terminated)
    before = sorted(tmp_path.rglob("*"))
    assert main(_apply(own_validation, tmp_path / "new" / "out")) == 130
    assert capsys.readouterr().err.strip().splitlines() == [
        "interrupted by SIGTERM; nothing written (temporary files removed)"
    ]
    assert sorted(tmp_path.rglob("*")) == before

"""Usage errors of every command line: one line on stderr, exit status 2.

A file name that starts with '-': argparse takes it for an option; the usage error says how to write it, nothing
is written and the file is left as it was."""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path
from typing import Callable

import pytest

from desed_task.command_parser import dash_name_hint
from desed_task.evaluation.evaluate_command import main as evaluation_main
from desed_task.experiment.run import main as training_main
from desed_task.inference.detect_command import main as inference_main
from desed_task.postprocess.postprocess_command import main as postprocess_main

ROOT = Path(__file__).resolve().parents[1]


def _resample_main(argv: list[str]) -> int:
    spec = importlib.util.spec_from_file_location("resample_folder_script", ROOT / "scripts" / "resample_folder.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script.main(argv)


# name: (main, argv, words of the error)
CASES: dict[str, tuple[Callable[[list[str]], int], list[str], tuple[str, ...]]] = {
    "inference: audio named -take1.wav": (
        inference_main,
        ["-take1.wav", "--checkpoint", "model.ckpt"],
        ("required: AUDIO", "'-take1.wav' was read as an option", "./-take1.wav", "'--'"),
    ),
    "postprocess: score folder named -scores": (
        postprocess_main,
        ["apply", "--params", "p.json", "--scores", "-scores", "--out", "out"],
        ("--scores: expected one argument", "'-scores' was read as an option", "--option=-scores"),
    ),
    "evaluation: ground truth named -gt.tsv": (
        evaluation_main,
        ["--ground_truth", "-gt.tsv", "--durations", "d.tsv"],
        ("--ground_truth: expected one argument", "'-gt.tsv' was read as an option"),
    ),
    "training: configuration named -conf.yaml": (
        lambda argv: training_main(1, argv),
        ["--conf_file", "-conf.yaml", "--gpus", "cpu", "--log_dir", "exp"],
        ("--conf_file: expected one argument", "'-conf.yaml' was read as an option"),
    ),
    "resample_folder: input named -in": (
        _resample_main,
        ["-in", "out"],
        ("required: output", "'-in' was read as an option", "./-in"),
    ),
}


def _snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else ""
        for p in sorted(folder.rglob("*"))
    }


@pytest.mark.parametrize("case", list(CASES))
def test_a_dash_name_gets_advice_exit_2_and_nothing_written(case, tmp_path, monkeypatch, capsys):
    main, argv, words = CASES[case]
    monkeypatch.chdir(tmp_path)
    for token in argv:
        if token.startswith("-") and "." in token:
            (tmp_path / token).write_text("the user's file\n")
    (tmp_path / "-in").mkdir()
    (tmp_path / "-scores").mkdir()
    before = _snapshot(tmp_path)
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    for word in words:
        assert word in err, (word, err)
    assert "Traceback" not in err
    assert _snapshot(tmp_path) == before


def test_options_abbreviations_and_numbers_get_no_advice():
    options = ["--threshold", "--tsv", "-h"]
    assert dash_name_hint(["a.wav", "--thr", "-0.5", "--tsv=x.tsv", "-h"], options) == ""
    assert dash_name_hint(["--", "-x.wav"], options) == ""  # after '--' nothing is an option
    assert "'-x.wav' was read as an option" in dash_name_hint(["a.wav", "-x.wav"], options)


@pytest.mark.parametrize("case", list(CASES))
def test_every_usage_error_is_one_line_naming_the_help(case, tmp_path, monkeypatch, capsys):
    main, argv, _ = CASES[case]
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        main(argv + ["--no_such_flag"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "--help)" in err, err


def test_the_hyphenated_inference_flags_are_aliases_of_the_snake_case_ones():
    from desed_task.inference.detect_command import build_parser

    snake = build_parser().parse_args(["a.wav", "--checkpoint", "c", "--batch_size", "3", "--keep_going"])
    hyphen = build_parser().parse_args(["a.wav", "--checkpoint", "c", "--batch-size", "3", "--keep-going"])
    assert vars(snake) == vars(hyphen) and snake.batch_size == 3 and snake.keep_going is True

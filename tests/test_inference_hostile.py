"""``python -m desed_task.inference`` against hostile inputs and outputs: each case gets exit status 2,
one line naming the path and the problem, nothing written (no table, no plot, no temporary file, no folder),
and no scoring when an input is bad; program bugs keep their traceback."""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import soundfile as sf

from desed_task.data.label_encoder import DESED_CLASSES as DESED_CLASS_NAMES
from desed_task.inference import SoundEventDetector
from desed_task import output_files as outputs_module
from desed_task.inference.detect_command import main

SR = 16000
DESED_CLASSES = list(DESED_CLASS_NAMES)


def _wav(path: Path, seconds: float = 2.0, value: float | None = None, subtype: str = "PCM_16") -> Path:
    audio = 0.1 * np.random.default_rng(len(path.name)).standard_normal(int(seconds * SR)).astype(np.float32)
    if value is not None:
        audio[SR // 2] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio, SR, subtype=subtype)
    return path


def _truncated(path: Path) -> Path:
    full = _wav(path, seconds=3.0).read_bytes()
    path.write_bytes(full[: len(full) // 2])
    return path


def _median_params(path: Path, classes=DESED_CLASSES, hop: float = 0.064) -> Path:
    path.write_text(
        json.dumps({"method": "median", "frame_hop": hop, "classes": {c: {"window_frames": 5} for c in classes}})
    )
    return path


def _csebb_params(path: Path) -> Path:
    values = {"step_filter_length": 0.48, "merge_threshold_abs": 0.2, "merge_threshold_rel": None}
    path.write_text(json.dumps({"method": "csebb", "classes": {c: values for c in DESED_CLASSES}}))
    return path


def _read_only(monkeypatch, folder: Path) -> None:
    """As if ``folder`` were on a read-only file system (root may write anywhere, so chmod cannot show it)."""
    real_open = os.open

    def fake_open(path, flags, *args, **kwargs):
        if Path(path).parent == folder and flags & os.O_CREAT:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(outputs_module.os, "open", fake_open)


def _disk_full_on_png(monkeypatch) -> None:
    def full(figure, path):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr("desed_task.inference.plot.save_png", full)


def _without_sebbs(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "sebbs", None)
    monkeypatch.setitem(sys.modules, "sebbs.csebbs", None)


def _folder(path: Path) -> Path:
    path.mkdir()
    return path


def _file(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def _read_only_tsv(t: Path, m: pytest.MonkeyPatch) -> list[str]:
    _read_only(m, _folder(t / "ro"))
    return [str(_wav(t / "a.wav")), "--tsv", str(t / "ro" / "events.tsv")]


def _disk_full(t: Path, m: pytest.MonkeyPatch) -> list[str]:
    _disk_full_on_png(m)
    return [str(_wav(t / "a.wav")), "--tsv", str(t / "out" / "events.tsv"), "--plot", str(t / "out" / "p.png")]


def _csebb_without_sebbs(t: Path, m: pytest.MonkeyPatch) -> list[str]:
    _without_sebbs(m)
    return [str(_wav(t / "a.wav")), "--postprocess", str(_csebb_params(t / "p.json"))]


def _over_checkpoint(t: Path, m: pytest.MonkeyPatch) -> list[str]:
    checkpoint = _file(t / "c.ckpt", b"a checkpoint")
    return [str(_wav(t / "a.wav")), "--checkpoint", str(checkpoint), "--tsv", str(checkpoint)]


def _over_config(t: Path, m: pytest.MonkeyPatch) -> list[str]:
    config = _file(t / "conf.yaml", b"training: {}\n")
    return [str(_wav(t / "a.wav")), "--config", str(config), "--tsv", str(config)]


def _over_params(t: Path, m: pytest.MonkeyPatch) -> list[str]:
    params = _median_params(t / "p.json")
    return [str(_wav(t / "a.wav")), "--postprocess", str(params), "--tsv", str(params)]


def _symlink_to_checkpoint(t: Path, m: pytest.MonkeyPatch) -> list[str]:
    checkpoint = _file(t / "c.ckpt", b"a checkpoint")
    (t / "link.tsv").symlink_to(checkpoint)
    return [str(_wav(t / "a.wav")), "--checkpoint", str(checkpoint), "--tsv", str(t / "link.tsv")]


def _hard_link_to_audio(t: Path, m: pytest.MonkeyPatch) -> list[str]:
    audio = _wav(t / "a.wav")
    os.link(audio, t / "p.png")
    return [str(audio), "--plot", str(t / "p.png")]


def _file_inside_audio_folder(t: Path, m: pytest.MonkeyPatch) -> list[str]:
    _wav(t / "in" / "a.wav")
    notes = _file(t / "in" / "notes.txt", b"recorded in the kitchen")
    return [str(t / "in"), "--tsv", str(notes)]


# name: (setup(tmp_path, monkeypatch) -> argv without --checkpoint, key words of the error line)
Setup = Callable[[Path, pytest.MonkeyPatch], list[str]]
CASES: dict[str, tuple[Setup, list[str]]] = {
    "tsv is a folder": (
        lambda t, m: [str(_wav(t / "a.wav")), "--tsv", str(_folder(t / "out"))],
        ["--tsv", "out", "is a folder"],
    ),
    "tsv parent is a file": (
        lambda t, m: [str(_wav(t / "a.wav")), "--tsv", str(t / "a.wav" / "events.tsv")],
        ["--tsv", "a.wav", "is a file, not a folder"],
    ),
    "tsv on a read-only file system": (_read_only_tsv, ["--tsv", "events.tsv", "Read-only file system"]),
    "plot unwritable after a good tsv": (
        lambda t, m: [str(_wav(t / "a.wav")), "--tsv", str(t / "events.tsv"), "--plot", str(t / "a.wav" / "p.png")],
        ["--plot", "p.png", "is a file, not a folder"],
    ),
    "plot is a folder, no tsv": (
        lambda t, m: [str(_wav(t / "a.wav")), "--plot", str(_folder(t / "plots"))],
        ["--plot", "plots", "is a folder"],
    ),
    "disk full while writing the plot": (_disk_full, ["--plot", "p.png", "No space left on device"]),
    "output overwrites an input": (
        lambda t, m: [str(_wav(t / "a.wav")), "--tsv", str(t / "a.wav")],
        ["--tsv", "a.wav", "would overwrite the input audio file"],
    ),
    "tsv replaces the checkpoint": (_over_checkpoint, ["--tsv", "c.ckpt", "would overwrite the input --checkpoint"]),
    "tsv replaces the config": (_over_config, ["--tsv", "conf.yaml", "would overwrite the input --config"]),
    "tsv replaces the postprocess parameters": (_over_params, ["--tsv", "p.json", "the input --postprocess"]),
    "tsv is a symlink to the checkpoint": (_symlink_to_checkpoint, ["--tsv", "link.tsv", "--checkpoint", "c.ckpt"]),
    "plot is a hard link of the audio": (_hard_link_to_audio, ["--plot", "p.png", "the input audio file", "a.wav"]),
    "tsv is a file inside an audio folder": (
        _file_inside_audio_folder,
        ["--tsv", "notes.txt", "inside the input audio folder"],
    ),
    "missing audio": (lambda t, m: [str(_wav(t / "a.wav")), str(t / "nowhere.wav")], ["nowhere.wav", "not found"]),
    "empty audio": (
        lambda t, m: [str(_wav(t / "a.wav")), str(_wav(t / "empty.wav", seconds=0))],
        ["empty.wav", "no samples"],
    ),
    "garbage audio": (
        lambda t, m: [str(_file(t / "g.wav", b"RIFF" + bytes(range(256)) * 4))],
        ["g.wav", "cannot read"],
    ),
    "empty folder as audio": (lambda t, m: [str(_folder(t / "none"))], ["none", "no audio files"]),
    "NaN file after good ones": (
        lambda t, m: [
            *(str(_wav(t / f"ok{i}.wav")) for i in range(3)),
            str(_wav(t / "nan.wav", value=np.nan, subtype="FLOAT")),
        ],
        ["nan.wav", "NaN", "0.500 s", "will not help"],
    ),
    "truncated wav": (lambda t, m: [str(_truncated(t / "cut.wav"))], ["cut.wav", "truncated", "again"]),
    "not a checkpoint": (
        lambda t, m: [str(_wav(t / "a.wav")), "--checkpoint", str(_file(t / "notes.ckpt", b"no"))],
        ["notes.ckpt"],
    ),
    "threshold count": (lambda t, m: [str(_wav(t / "a.wav")), "--threshold", "0.5,0.5"], ["one per class"]),
    "threshold range": (lambda t, m: [str(_wav(t / "a.wav")), "--threshold", "1.5"], ["[0, 1]"]),
    "hop longer than a chunk": (lambda t, m: [str(_wav(t / "a.wav")), "--hop", "10.5"], ["hop", "chunk"]),
    "postprocess classes differ": (
        lambda t, m: [str(_wav(t / "a.wav")), "--postprocess", str(_median_params(t / "p.json", ["Cat", "Dog"]))],
        ["different classes", "Speech"],
    ),
    "postprocess hop differs": (
        lambda t, m: [str(_wav(t / "a.wav")), "--postprocess", str(_median_params(t / "p.json", hop=0.032))],
        ["frame hop", "0.064", "0.032"],
    ),
    "postprocess file missing": (
        lambda t, m: [str(_wav(t / "a.wav")), "--postprocess", str(t / "none.json")],
        ["none.json", "not found"],
    ),
    "csebb without sebbs": (_csebb_without_sebbs, ["sebbs", "pip install --no-deps 'sebbs==1.0.2'"]),
}
BAD_INPUTS = ("NaN file after good ones", "truncated wav", "missing audio", "empty audio", "garbage audio")


def _checksums(folder: Path) -> dict[Path, str]:
    return {
        p.relative_to(folder): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.rglob("*")
        if p.is_file() and not p.is_symlink()
    }


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_case_is_one_line_exit_2_and_nothing_written(
    case, tiny_checkpoint, tmp_path, monkeypatch, caplog, capsys
):
    setup, keywords = CASES[case]
    scored = []
    real_call = SoundEventDetector.__call__

    def spy(self, *args, **kwargs):
        scored.append(args)
        return real_call(self, *args, **kwargs)

    monkeypatch.setattr(SoundEventDetector, "__call__", spy)
    argv = setup(tmp_path, monkeypatch)
    if "--checkpoint" not in argv:
        argv += ["--checkpoint", str(tiny_checkpoint)]
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    checksums = _checksums(tmp_path)
    with caplog.at_level(logging.INFO):
        status = main([*argv, "--device", "cpu", "--precision", "fp32", "--quiet"])
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert status == 2, errors
    assert len(errors) == 1, errors  # one line, naming the path and the problem
    for keyword in keywords:
        assert keyword in errors[0], (keyword, errors[0])
    assert "nothing written" in errors[-1]
    assert "re-download" not in errors[0] or "NaN" not in errors[0]
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # nothing written
    assert _checksums(tmp_path) == checksums  # every input unchanged
    assert capsys.readouterr().out == ""  # no table printed either
    if case in BAD_INPUTS:
        assert scored == []  # found before any scoring


def test_bad_inputs_are_all_listed(tiny_checkpoint, tmp_path, caplog):
    files = [
        _wav(tmp_path / "good.wav"),
        _truncated(tmp_path / "cut.wav"),
        _wav(tmp_path / "nan.wav", value=np.inf, subtype="FLOAT"),
    ]
    assert (
        main([*map(str, files), "--checkpoint", str(tiny_checkpoint), "--tsv", str(tmp_path / "e.tsv"), "--quiet"]) == 2
    )
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 3 and "cut.wav" in errors[0] and "nan.wav" in errors[1]
    assert "2 unusable inputs; nothing written" in errors[2] and "--keep_going" in errors[2]
    assert not (tmp_path / "e.tsv").exists()


def test_keep_going_skips_bad_files_writes_the_rest_and_exits_3(tiny_checkpoint, tmp_path, caplog):
    good = [_wav(tmp_path / "in" / "b.wav"), _wav(tmp_path / "in" / "a.wav")]
    bad = [_truncated(tmp_path / "in" / "cut.wav"), _wav(tmp_path / "in" / "nan.wav", value=np.nan, subtype="FLOAT")]
    tsv = tmp_path / "out" / "events.tsv"
    argv = [
        str(tmp_path / "in"),
        "--checkpoint",
        str(tiny_checkpoint),
        "--tsv",
        str(tsv),
        "--threshold",
        "0",
        "--plot",
        str(tmp_path / "out" / "p.png"),
        "--keep-going",
        "--quiet",
    ]
    assert main(argv) == 3
    table = np.loadtxt(tsv, dtype=str, delimiter="\t", skiprows=1, usecols=0)
    assert sorted(set(table)) == ["a.wav", "b.wav"]  # threshold 0: every class fires in every good file
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["events.tsv", "p_a.png", "p_b.png"]
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("cut.wav" in e for e in errors) and any("nan.wav" in e for e in errors)
    assert "2 unusable input(s) skipped" in errors[-1]
    assert {p.name for p in bad} <= {p.name for p in (tmp_path / "in").iterdir()}  # inputs untouched
    only_bad = [
        *map(str, bad),
        "--checkpoint",
        str(tiny_checkpoint),
        "--tsv",
        str(tmp_path / "none.tsv"),
        "--keep-going",
    ]
    assert main(only_bad) == 2 and not (tmp_path / "none.tsv").exists()
    assert all(p.exists() for p in good)


def test_outputs_follow_the_umask(tiny_checkpoint, tmp_path):
    old = os.umask(0o027)
    try:
        assert (
            main(
                [
                    str(_wav(tmp_path / "a.wav")),
                    "--checkpoint",
                    str(tiny_checkpoint),
                    "--tsv",
                    str(tmp_path / "e.tsv"),
                    "--plot",
                    str(tmp_path / "p.png"),
                    "--quiet",
                ]
            )
            == 0
        )
    finally:
        os.umask(old)
    assert (tmp_path / "e.tsv").stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "p.png").stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav", "e.tsv", "p.png"]


def test_a_bug_keeps_its_traceback(tiny_checkpoint, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("a bug in the program, not a user error")

    monkeypatch.setattr("desed_task.inference.detector.SoundEventDetector._score_batch", broken)
    with pytest.raises(ValueError, match="a bug"):
        main([str(_wav(tmp_path / "a.wav")), "--checkpoint", str(tiny_checkpoint), "--tsv", str(tmp_path / "e.tsv")])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_unwritable_folder(tiny_checkpoint, tmp_path, caplog):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    try:
        assert (
            main([str(_wav(tmp_path / "a.wav")), "--checkpoint", str(tiny_checkpoint), "--tsv", str(locked / "e.tsv")])
            == 2
        )
    finally:
        locked.chmod(0o755)
    assert "Permission denied" in caplog.text and not any(locked.iterdir())


def test_usage_errors_are_one_line_exit_2(capsys):
    usage_errors = (
        ["a.wav"],  # no --checkpoint
        ["a.wav", "--checkpoint", "c", "--hop", "-1"],
        ["a.wav", "--checkpoint", "c", "--batch-size", "0"],
        ["a.wav", "--checkpoint", "c", "--threshold", "high"],
        ["a.wav", "--checkpoint", "c", "--precision", "fp16"],
    )
    for argv in usage_errors:
        with pytest.raises(SystemExit) as usage:
            main(argv)
        assert usage.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("error:")


@pytest.mark.parametrize("samples, events", [(1, 0), (1023, 0), (1024, 10)])
def test_a_recording_shorter_than_a_frame_gives_no_event_and_none_is_zero_length(
    tiny_checkpoint, tmp_path, samples, events
):
    path = tmp_path / "short.wav"
    sf.write(path, np.full(samples, 0.1, dtype=np.float32), SR, subtype="PCM_16")
    table = tmp_path / "events.tsv"
    # threshold 0: every frame is above it (scores are sigmoids), so every class is detected wherever a frame counts
    assert (
        main(
            [
                str(path),
                "--checkpoint",
                str(tiny_checkpoint),
                "--threshold",
                "0",
                "--tsv",
                str(table),
                "--device",
                "cpu",
                "--quiet",
            ]
        )
        == 0
    )
    lines = table.read_text().splitlines()
    assert lines[0] == "filename\tonset\toffset\tevent_label" and len(lines) == 1 + events
    assert all(row.split("\t")[1:3] == ["0.000", "0.064"] for row in lines[1:])


REPO = Path(__file__).resolve().parents[1]


def _start_inference(tmp_path: Path, checkpoint: Path, clips: int = 40) -> tuple[subprocess.Popen, Path]:
    """Inference on ``clips`` recordings with a plot each, in a subprocess, once its first temporary plot exists."""
    for i in range(clips):
        _wav(tmp_path / "in" / f"clip{i:02d}.wav")
    plots = tmp_path / "out" / "plots"
    argv = [
        sys.executable,
        "-m",
        "desed_task.inference",
        str(tmp_path / "in"),
        "--checkpoint",
        str(checkpoint),
        "--tsv",
        str(tmp_path / "out" / "events.tsv"),
        "--plot",
        str(plots / "p.png"),
        "--device",
        "cpu",
        "--precision",
        "fp32",
        "--quiet",
    ]
    process = subprocess.Popen(
        argv,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    deadline = time.monotonic() + 300
    while not (plots.is_dir() and any(".partial-" in p.name for p in plots.iterdir())):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no temporary plot after 300 s"
        time.sleep(0.05)
    return process, plots


@pytest.mark.slow
@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupt_exits_130_with_one_line_and_leaves_nothing(number, tiny_checkpoint, tmp_path):
    process, _ = _start_inference(tmp_path, tiny_checkpoint)
    checksums = _checksums(tmp_path / "in")
    process.send_signal(number)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert (
        err.strip().splitlines()
        == [f"interrupted by {signal.Signals(number).name}; nothing written (temporary files removed)"]
        and out == ""
    )
    assert not (tmp_path / "out").exists()  # no table, no plot, no temporary file, no folder made for them
    assert _checksums(tmp_path / "in") == checksums


@pytest.mark.slow
def test_a_killed_run_leaves_temporaries_that_the_next_run_there_removes(tiny_checkpoint, tmp_path):
    process, plots = _start_inference(tmp_path, tiny_checkpoint)
    process.kill()
    process.communicate(timeout=60)
    stale = [p for p in plots.iterdir() if ".partial-" in p.name]
    assert stale and all(p.name.startswith(".p_clip") for p in stale)  # SIGKILL: no chance to clean up
    assert (
        main(
            [
                str(tmp_path / "in" / "clip00.wav"),
                "--checkpoint",
                str(tiny_checkpoint),
                "--plot",
                str(plots / "p.png"),
                "--quiet",
            ]
        )
        == 0
    )
    assert sorted(p.name for p in plots.iterdir()) == ["p.png"]

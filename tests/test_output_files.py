"""The output layer shared by every command: overlap with inputs (path, symlink, hard link, folders), stale
temporaries of killed runs, all-or-nothing folders under an interrupt, and exclusive ``version_K`` folders."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from desed_task import output_files
from desed_task.output_files import (
    Interrupted,
    OutputError,
    check_separate,
    create_numbered_folder,
    handle_interrupts,
    remove_stale_partials,
    write_folder,
    write_text,
)


def _file(path: Path, text: str = "x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _symlink(path: Path, target: Path) -> Path:
    path.symlink_to(target)
    return path


def _hard_link(path: Path, target: Path) -> Path:
    os.link(target, path)
    return path


# (output built in tmp_path, words of the refusal); inputs: gt.tsv (file) and scores/ (folder with a.tsv)
OVERLAPS = {
    "same path": (lambda t: t / "gt.tsv", ["out", "would overwrite the input ground truth"]),
    "same path spelt differently": (lambda t: t / "scores" / ".." / "gt.tsv", ["ground truth"]),
    "symlink to an input": (lambda t: _symlink(t / "link.tsv", t / "gt.tsv"), ["link.tsv", "ground truth"]),
    "hard link of an input": (lambda t: _hard_link(t / "hard.tsv", t / "gt.tsv"), ["hard.tsv", "ground truth"]),
    "file inside an input folder": (lambda t: t / "scores" / "a.tsv", ["a.tsv", "inside the input scores"]),
    "hard link of a file inside an input folder": (
        lambda t: _hard_link(t / "h.tsv", t / "scores" / "a.tsv"),
        ["h.tsv", "inside the input scores"],
    ),
    "the input folder itself": (lambda t: t / "scores", ["would overwrite the input scores"]),
    "a folder holding an input": (lambda t: t, ["holds the input"]),
    "a folder holding a hard link of an input": (
        lambda t: _hard_link(_folder(t / "new") / "copy.tsv", t / "gt.tsv").parent,
        ["new", "ground truth"],
    ),
}


def _folder(path: Path) -> Path:
    path.mkdir()
    return path


@pytest.mark.parametrize("case", list(OVERLAPS))
def test_an_output_overlapping_an_input_is_refused_naming_both(case, tmp_path):
    inputs = [(_file(tmp_path / "gt.tsv"), "ground truth"), (_file(tmp_path / "scores" / "a.tsv").parent, "scores")]
    build, words = OVERLAPS[case]
    with pytest.raises(OutputError) as refused:
        check_separate([(build(tmp_path), "out")], inputs)
    for word in words:
        assert word in str(refused.value), (word, str(refused.value))
    assert "\n" not in str(refused.value)


def test_outputs_apart_from_the_inputs_pass(tmp_path):
    inputs = [(_file(tmp_path / "gt.tsv"), "ground truth"), (_file(tmp_path / "scores" / "a.tsv").parent, "scores")]
    _file(tmp_path / "old.json")
    check_separate(
        [
            (tmp_path / "old.json", "existing file"),
            (tmp_path / "new" / "m.json", "new file"),
            (tmp_path / "scores" / "new.json", "new file in an input folder"),
        ],
        inputs,
    )


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_partials_of_dead_processes_are_removed_and_nothing_else(tmp_path):
    dead = _dead_pid()
    stale = _file(tmp_path / f".p.png.partial-{dead}-0123abcd")
    stale_folder = _folder(tmp_path / f".scores.partial-{dead}-89abcdef")
    _file(stale_folder / "a.tsv")
    alive = _file(tmp_path / f".q.png.partial-{os.getpid()}-0123abcd")
    others = [
        _file(tmp_path / "p.partial"),
        _file(tmp_path / f"p.png.partial-{dead}-0123abcd"),
        _file(tmp_path / f".p.png.partial-{dead}-xyz"),
    ]
    assert sorted(remove_stale_partials(tmp_path)) == sorted([stale, stale_folder])
    assert alive.exists() and all(p.exists() for p in others)


def test_writing_into_a_folder_removes_a_stale_partial_there(tmp_path):
    stale = _file(tmp_path / f".old.json.partial-{_dead_pid()}-0123abcd")
    write_text(tmp_path / "metrics.json", "{}", "metrics")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"] and not stale.exists()


def test_an_interrupted_folder_write_leaves_nothing(tmp_path):
    def fill(partial: Path) -> None:
        _file(partial / "a.tsv")
        os.kill(os.getpid(), signal.SIGTERM)
        threading.Event().wait(5)  # the handler raises here

    with pytest.raises(Interrupted, match="SIGTERM"), handle_interrupts():
        write_folder(tmp_path / "new" / "out", fill, "--out folder")
    assert list(tmp_path.iterdir()) == []


def test_handle_interrupts_restores_the_previous_handlers():
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with handle_interrupts():
        assert signal.getsignal(signal.SIGINT) not in before
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_numbered_folders_created_at_once_are_all_different(tmp_path):
    barrier = threading.Barrier(8)
    made: list[Path] = []

    def create() -> None:
        barrier.wait()
        made.append(create_numbered_folder(tmp_path / "exp"))

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(p.name for p in made) == sorted(f"version_{k}" for k in range(8))


def test_a_collision_moves_on_to_the_next_number(tmp_path, monkeypatch):
    """Two runs that both listed the folder before either created its version: the second mkdir fails."""
    _folder(tmp_path / "version_0")
    _folder(tmp_path / "version_1")
    monkeypatch.setattr(output_files.Path, "glob", lambda self, pattern: iter(()))  # as listed before they existed
    assert create_numbered_folder(tmp_path) == tmp_path / "version_2"


def test_numbered_folder_in_a_file_is_a_user_error(tmp_path):
    with pytest.raises(OutputError, match="it is a file"):
        create_numbered_folder(_file(tmp_path / "conf.yaml"))


def test_experiment_folder_is_reused_by_ddp_workers_only(tmp_path, monkeypatch):
    from desed_task.experiment import pipeline

    log_dir = tmp_path / "exp"
    monkeypatch.delenv(pipeline._VERSION_ENV, raising=False)
    first, created = pipeline._experiment_folder(log_dir, [])
    assert (first.name, created) == ("version_0", True)
    again, created = pipeline._experiment_folder(log_dir, [])  # a second run in the same process: a new folder
    assert (again.name, created) == ("version_1", True)
    launcher = os.environ[pipeline._VERSION_ENV].rpartition("|")[0]
    monkeypatch.setenv(pipeline._VERSION_ENV, f"{launcher}|1")  # a worker: the launcher's environment, other pid
    assert pipeline._experiment_folder(log_dir, []) == (again, False)


def test_numbered_folders_created_by_processes_at_once_are_all_different(tmp_path):
    """Separate processes, released together once all have started: each gets its own version."""
    go = tmp_path / "go"
    script = (
        "import sys, time, pathlib\n"
        "from desed_task.output_files import create_numbered_folder\n"
        f"while not pathlib.Path({str(go)!r}).exists(): time.sleep(0.001)\n"
        f"print(create_numbered_folder({str(tmp_path / 'exp')!r}).name)\n"
    )
    repo = Path(__file__).resolve().parents[1]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(repo)},
        )
        for _ in range(4)
    ]
    time.sleep(1.0)
    go.touch()
    names = [process.communicate(timeout=120)[0].strip() for process in processes]
    assert sorted(names) == [f"version_{k}" for k in range(4)]

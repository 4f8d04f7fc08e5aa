"""The training command line against hostile input: one row per mistake, with its exit status, the words its one
line must hold, and nothing written (no experiment folder, no config.yaml). A bug keeps its traceback.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

import desed_task.experiment.pipeline  # noqa: F401  Lightning's loggers bind stderr at import: not a test's capsys
from conftest import CONFS_DIR, tiny_config
from desed_task.config.files import ConfigError, load_config, read_yaml
from desed_task.experiment.flag_checks import check_resume_checkpoint
from desed_task.experiment.run import _check_inputs, build_parser, main

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Case:
    name: str
    edits: dict = field(default_factory=dict)  # dotted key -> value in the YAML (None deletes nothing: sets null)
    flags: list = field(default_factory=list)
    words: tuple = ()
    stage: int = 1
    status: int = 2
    raw_yaml: str | None = None
    base_stage: int | None = None  # the demo configuration the YAML builds on (default: the script's stage)
    log_dir: str = "exp"  # under tmp_path; A_FILE: a file; READ_ONLY/exp: below a folder that can't be written
    spoil: tuple = ()  # (audio folder under the dataset, "truncate" or "nan"): its first clip, in a copy of the data


def _no_events_table(dataset: Path, tmp_path: Path) -> str:
    """The synthetic validation table with every event removed: each clip listed once, without an event."""
    table = dataset / "metadata" / "validation" / "synthetic21_validation" / "soundscapes.tsv"
    names = dict.fromkeys(line.split("\t")[0] for line in table.read_text().splitlines()[1:])
    path = tmp_path / "no_events.tsv"
    path.write_text("filename\tonset\toffset\tevent_label\n" + "".join(f"{n}\t\t\t\n" for n in names))
    return str(path)


CASES = [
    Case(
        "data.root missing",
        {"data.root": "/nowhere/dcase"},
        words=("configuration error", "data.root", "no such folder", "/nowhere/dcase"),
    ),
    Case("n_epochs: one", {"training.n_epochs": "one"}, words=("training.n_epochs must be an integer", "'one'")),
    Case("negative learning rate", {"opt.cnn_lr": -1.0}, words=("opt.cnn_lr", "non-negative")),
    Case(
        "misspelt key",
        {"training.n_epoch": 3},
        words=("unknown key 'training.n_epoch'", "Did you mean 'training.n_epochs'"),
    ),
    Case("misspelt section", {"trainig.n_epochs": 3}, words=("unknown key 'trainig'", "Did you mean 'training'")),
    Case(
        "a data path missing",
        {"data.synth_val_dur": "metadata/nothing.tsv"},
        words=("data.synth_val_dur", "no such file", "nothing.tsv"),
    ),
    Case(
        "two data paths missing",
        {"data.test_folder": "gone", "data.weak_tsv": "gone.tsv"},
        words=("data.weak_tsv", "no such file", "1 more: data.test_folder"),
    ),
    Case(
        "a folder that is a file",
        {"data.synth_folder": "metadata/train/weak.tsv"},
        words=("data.synth_folder", "is a file, not a folder"),
    ),
    Case(
        "validation with nothing to score",
        {"data.synth_val_tsv": "NO_EVENTS"},
        words=("data error", "synth_val", "holds an event", "PSDS has nothing to score"),
    ),
    Case(
        "stage 2 without a stage-1 checkpoint", stage=2, words=("training.init_checkpoint is not set", "Stage_1.ckpt")
    ),
    Case(
        "checkpoint to test missing",
        flags=["--test_from_checkpoint", "/nowhere/best.ckpt"],
        words=("--test_from_checkpoint", "no such file", "/nowhere/best.ckpt"),
    ),
    Case(
        "not a stage checkpoint",
        flags=["--test_from_checkpoint", "NOT_A_STAGE_CHECKPOINT"],
        words=("checkpoint error", "not a stage checkpoint"),
    ),
    Case(
        "evaluation without an eval folder",
        flags=["--eval_from_checkpoint", "NOT_A_STAGE_CHECKPOINT"],
        words=("data.eval_folder is not set",),
    ),
    Case("gpus garbage", flags=["--gpus", "first"], words=("--gpus 'first'", "'cpu'")),
    Case(
        "--set of an unknown key",
        flags=["--set", "training.n_epoch=3"],
        words=("configuration error", "--set training.n_epoch", "Did you mean 'training.n_epochs'?"),
    ),
    Case(
        "--set of a bad value",
        flags=["--set", "training.n_epochs=one"],
        words=("training.n_epochs must be an integer", "'one'"),
    ),
    Case(
        "--set below a value",
        flags=["--set", "training.n_epochs.max=3"],
        words=("--set training.n_epochs.max", "'training.n_epochs' is a value, not a section"),
    ),
    Case("--set without =", flags=["--set", "training.n_epochs"], words=("--set", "expected KEY=VALUE")),
    Case("--set of invalid YAML", flags=["--set", "training.batch_size=[2, 2"], words=("--set", "not valid YAML")),
    Case(
        "--set of the other stage",
        flags=["--set", "training.stage=2"],
        words=("--set training.stage=2", "train_stage1.py"),
    ),
    Case(
        "median windows per class miscounted",
        {"training.median_window": [7, 7]},
        words=("training.median_window has 2 entries", "data.classes has 10"),
    ),
    Case("not YAML", raw_yaml="training: [unclosed", words=("not valid YAML",)),
    Case("a section that is not a mapping", {"data": 5}, words=("conf.yaml", "'data' must be a mapping", "int 5")),
    Case(
        "a nested section that is a list",
        {"encoder.frontend": [1]},
        words=("conf.yaml", "'encoder.frontend' must be a mapping", "list"),
    ),
    Case(
        "base file missing",
        raw_yaml="base: nothere.yaml\n",
        words=("conf.yaml", "base: 'nothere.yaml'", "no such file", "nothere.yaml"),
    ),
    Case(
        "resume from a truncated checkpoint",
        flags=["--resume_from_checkpoint", "TRUNCATED_CHECKPOINT"],
        words=("checkpoint error", "truncated.ckpt", "truncated or damaged"),
    ),
    Case(
        "resume from a text file",
        flags=["--resume_from_checkpoint", "TEXT_FILE"],
        words=("checkpoint error", "notes.ckpt", "a text file (it begins with 'epoch 3 looked good"),
    ),
    Case(
        "resume from a foreign checkpoint",
        flags=["--resume_from_checkpoint", "NOT_A_STAGE_CHECKPOINT"],
        words=("--resume_from_checkpoint", "encoder_only.ckpt", "not a checkpoint of this project", "last.ckpt"),
    ),
    Case(
        "resume from weights without a training state",
        flags=["--resume_from_checkpoint", "WEIGHTS_ONLY"],
        words=(
            "--resume_from_checkpoint",
            "not the state of a training run",
            "optimizer_states",
            "--test_from_checkpoint",
        ),
    ),
    Case(
        "resume with other classes",
        flags=["--resume_from_checkpoint", "OTHER_CLASSES_CHECKPOINT"],
        words=("--resume_from_checkpoint", "data.classes", "'Ringing_bell'", "config.yaml"),
    ),
    Case(
        "resume and test together",
        flags=[
            "--resume_from_checkpoint",
            "NOT_A_STAGE_CHECKPOINT",
            "--test_from_checkpoint",
            "NOT_A_STAGE_CHECKPOINT",
        ],
        words=("--resume_from_checkpoint and --test_from_checkpoint cannot be combined",),
    ),
    Case(
        "evaluate and test together",
        flags=["--eval_from_checkpoint", "NOT_A_STAGE_CHECKPOINT", "--test_from_checkpoint", "NOT_A_STAGE_CHECKPOINT"],
        words=("--test_from_checkpoint and --eval_from_checkpoint cannot be combined",),
    ),
    Case(
        "validate and evaluate together",
        flags=[
            "--validate_from_checkpoint",
            "NOT_A_STAGE_CHECKPOINT",
            "--eval_from_checkpoint",
            "NOT_A_STAGE_CHECKPOINT",
        ],
        words=("--eval_from_checkpoint and --validate_from_checkpoint cannot be combined",),
    ),
    Case(
        "a truncated training clip",
        {"data.on_missing": "error"},
        spoil=("audio/train/weak_16k", "truncate"),
        words=("data error", "weak", "is truncated", "data.on_missing: skip"),
    ),
    Case(
        "a NaN clip in the test set",
        {"data.on_missing": "error"},
        spoil=("audio/validation/validation_16k", "nan"),
        words=("data error", "test", "holds NaN or infinite samples", "data.on_missing: skip"),
    ),
    Case("log_dir is a file", log_dir="A_FILE", words=("--log_dir", "afile", "is a file, not a folder")),
    Case("log_dir below a file", log_dir="A_FILE/exp", words=("--log_dir", "cannot be created", "is a file")),
    Case("log_dir not writable", log_dir="READ_ONLY/exp", words=("--log_dir", "read_only", "not writable")),
    Case(
        "resume from last without a run",
        flags=["--resume_from_checkpoint", "last"],
        words=("--resume_from_checkpoint last", "no version_*/checkpoints/last.ckpt under --log_dir"),
    ),
    Case("no nodes", flags=["--num_nodes", "0"], words=("training.num_nodes must be a positive integer", "0")),
    Case(
        "checkpoint every 0 steps",
        {"training.checkpoint_every_n_steps": 0},
        words=("training.checkpoint_every_n_steps must be a positive number of optimiser steps, or null",),
    ),
    Case(
        "checkpoint every 'often' steps",
        {"training.checkpoint_every_n_steps": "often"},
        words=("training.checkpoint_every_n_steps must be a positive integer or null", "'often'"),
    ),
    Case(
        "stage 2 written, stage-1 script",
        {"training.stage": 2},
        stage=1,
        words=("configuration error", "training.stage is 2", "train_stage1.py", "training.stage: 1"),
    ),
    Case(
        "stage 1 written, stage-2 script",
        {"training.stage": 1},
        stage=2,
        words=("training.stage is 1", "train_stage2.py", "training.stage: 2"),
    ),
    Case(
        "stage 2 inherited through base:, stage-1 script",
        stage=1,
        base_stage=2,
        words=("training.stage is 2", "train_stage1.py"),
    ),
    Case("stage not a number", {"training.stage": "two"}, stage=2, words=("training.stage is 'two'",)),
    Case(
        "log_dir is the configuration file",
        flags=["--log_dir", "CONF_FILE"],
        words=("--log_dir", "conf.yaml", "is a file, not a folder"),
    ),
]


def _write(tmp_path: Path, dataset: Path, case: Case) -> Path:
    conf = tmp_path / "conf.yaml"
    if case.raw_yaml is not None:
        conf.write_text(case.raw_yaml)
        return conf
    base = CONFS_DIR / f"demo_stage{case.base_stage or case.stage}.yaml"
    user = {
        "base": str(base),
        "data": {"root": str(dataset)},
        "training": {
            "batch_size": [2, 2, 2, 2],
            "batch_size_val": 4,
            "num_workers": 0,
            "n_epochs": 1,
            "enable_progress_bar": False,
        },
    }
    for dotted, value in case.edits.items():
        if value == "NO_EVENTS":
            value = _no_events_table(dataset, tmp_path)
        *sections, key = dotted.split(".")
        node = user
        for section in sections:
            node = node.setdefault(section, {})
        node[key] = value
    conf.write_text(yaml.safe_dump(user))
    return conf


@pytest.fixture(autouse=True)
def _restore_logging():
    """main() calls logging.basicConfig, whose handler keeps capsys's stream after the test closed it."""
    handlers = logging.root.handlers[:]
    yield
    logging.root.handlers[:] = handlers


def _checkpoint(request, tmp_path: Path, placeholder: str) -> Path:
    """The file a checkpoint placeholder of ``Case.flags`` stands for, written below ``tmp_path``."""
    if placeholder == "NOT_A_STAGE_CHECKPOINT":
        path = tmp_path / "encoder_only.ckpt"
        torch.save({"state_dict": {"encoder.encoder.norm_frame.weight": torch.ones(2)}}, path)
    elif placeholder == "TEXT_FILE":
        path = tmp_path / "notes.ckpt"
        path.write_text("epoch 3 looked good\nobj 0.41\n")
    elif placeholder == "WEIGHTS_ONLY":
        path = request.getfixturevalue("tiny_checkpoint")
    else:
        trained = request.getfixturevalue("trained_checkpoint")
        if placeholder == "TRUNCATED_CHECKPOINT":
            path = tmp_path / "truncated.ckpt"
            path.write_bytes(trained.read_bytes()[: trained.stat().st_size // 2])
        else:
            assert placeholder == "OTHER_CLASSES_CHECKPOINT"
            checkpoint = torch.load(trained, weights_only=True)
            checkpoint["hyper_parameters"]["data"]["classes"][0] = "Ringing_bell"
            path = tmp_path / "other_classes.ckpt"
            torch.save(checkpoint, path)
    return path


def _spoilt_copy(dataset: Path, tmp_path: Path, spoil: tuple) -> Path:
    """A copy of the dataset whose first clip in ``spoil[0]`` is cut in half, or holds a NaN sample."""
    folder, how = spoil
    copy = Path(shutil.copytree(dataset, tmp_path / "dataset"))
    clip = sorted((copy / folder).glob("*.wav"))[0]
    if how == "truncate":
        clip.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])
    else:
        audio, rate = sf.read(clip, dtype="float32")
        audio[rate // 2] = np.nan
        sf.write(clip, audio, rate, subtype="FLOAT")
    return copy


def _log_dir(tmp_path: Path, spec: str, monkeypatch) -> Path:
    if spec.startswith("A_FILE"):
        (tmp_path / "afile").write_text("notes\n")
        return tmp_path / spec.replace("A_FILE", "afile")
    if spec.startswith("READ_ONLY"):
        read_only = tmp_path / "read_only"
        read_only.mkdir()
        real_access = os.access
        # As on a read-only file system: root may write anywhere, so chmod cannot show it.
        monkeypatch.setattr(
            "desed_task.experiment.flag_checks.os.access",
            lambda path, mode: False if Path(path) == read_only else real_access(path, mode),
        )
        return tmp_path / spec.replace("READ_ONLY", "read_only")
    return tmp_path / spec


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file and folder below ``folder`` with its content's checksum ("" for folders)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else ""
        for p in sorted(folder.rglob("*"))
    }


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_user_error_is_one_line_with_status_2_and_nothing_written(
    case, tiny_dataset, tmp_path, capsys, request, monkeypatch
):
    conf = _write(tmp_path, _spoilt_copy(tiny_dataset, tmp_path, case.spoil) if case.spoil else tiny_dataset, case)
    placeholders = {
        "NOT_A_STAGE_CHECKPOINT",
        "TEXT_FILE",
        "WEIGHTS_ONLY",
        "TRUNCATED_CHECKPOINT",
        "OTHER_CLASSES_CHECKPOINT",
    }
    flags = [
        str(_checkpoint(request, tmp_path, f)) if f in placeholders else str(conf) if f == "CONF_FILE" else f
        for f in case.flags
    ]
    log_dir = _log_dir(tmp_path, case.log_dir, monkeypatch)
    before = _snapshot(tmp_path)
    with pytest.raises(SystemExit) as stop:
        main(case.stage, ["--conf_file", str(conf), "--log_dir", str(log_dir), "--gpus", "cpu", *flags])
    assert stop.value.code == case.status
    err = capsys.readouterr().err
    line = err.strip().splitlines()[-1]
    for word in case.words:
        assert word in line, f"{word!r} not in {line!r}"
    assert "Traceback" not in err
    assert _snapshot(tmp_path) == before, f"{case.name}: the run changed or left files below {tmp_path}"
    assert not log_dir.is_dir(), f"{case.name}: the run wrote {sorted(log_dir.rglob('*'))}"


def test_null_sections_are_empty_ones(tiny_dataset, tmp_path):
    """A section whose every key is commented out (YAML null) keeps the base file's keys and the defaults."""
    conf = tmp_path / "conf.yaml"
    conf.write_text(
        f"base: {CONFS_DIR / 'demo_stage1.yaml'}\ndata:\n  root: {tiny_dataset}\n"
        "training:\n  # n_epochs: 3\nopt:\nencoder:\n  frontend:\n"
    )
    config = load_config(conf)
    assert config == load_config(CONFS_DIR / "demo_stage1.yaml", {"data.root": str(tiny_dataset)})


@pytest.mark.slow
def test_a_complete_checkpoint_of_the_same_run_may_be_resumed(trained_checkpoint, tiny_dataset):
    check_resume_checkpoint(trained_checkpoint, tiny_config(tiny_dataset))


def test_a_bug_keeps_its_traceback(tiny_dataset, tmp_path, monkeypatch):
    """A ValueError from the program (not one of this project's error classes) is not turned into one line."""

    def broken(*args, **kwargs):
        raise ValueError("a bug inside the pipeline")

    monkeypatch.setattr("desed_task.experiment.pipeline.run_experiment", broken)
    conf = _write(tmp_path, tiny_dataset, Case("ok"))
    with pytest.raises(ValueError, match="a bug inside the pipeline"):
        main(1, ["--conf_file", str(conf), "--log_dir", str(tmp_path / "exp"), "--gpus", "cpu"])


def test_a_run_that_fails_while_building_removes_every_folder_it_created(tiny_dataset, tmp_path, monkeypatch):
    """An error found while the datasets and networks are built (after the experiment folder was made) leaves no
    folder behind: neither the experiment folder nor the missing parents of ``--log_dir`` it created."""

    def spoilt(*args, **kwargs):
        raise ConfigError("found while building")

    monkeypatch.setattr("desed_task.experiment.pipeline.build_experiment", spoilt)
    conf = _write(tmp_path, tiny_dataset, Case("ok"))
    before = _snapshot(tmp_path)
    with pytest.raises(SystemExit) as stop:
        main(1, ["--conf_file", str(conf), "--log_dir", str(tmp_path / "a" / "b" / "exp"), "--gpus", "cpu"])
    assert stop.value.code == 2
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("stage", [1, 2])
def test_a_configuration_without_training_stage_takes_the_scripts(stage, tiny_dataset, tmp_path):
    flat = read_yaml(CONFS_DIR / "demo_stage2.yaml")  # its base files merged in
    del flat["training"]["stage"]
    flat["data"]["root"] = str(tiny_dataset)
    flat["training"]["init_checkpoint"] = str(tmp_path / "stage1.ckpt")  # only its existence is checked here
    (tmp_path / "stage1.ckpt").write_bytes(b"")
    conf = tmp_path / "no_stage.yaml"
    conf.write_text(yaml.safe_dump(flat))
    args = build_parser(stage).parse_args(["--conf_file", str(conf), "--gpus", "cpu"])
    config, _, _ = _check_inputs(args, stage)
    assert config["training"]["stage"] == stage


def test_an_interrupted_test_stage_exits_130_naming_the_checkpoint_and_leaves_no_test_folder(
    tiny_dataset, tiny_checkpoint, tmp_path, capsys, monkeypatch
):
    """SIGINT while the test stage writes its folder: the half folder is removed; the one line names the
    newest last.ckpt under --log_dir (here one of an earlier run)."""
    from desed_task.training import evaluation_steps

    def write_then_interrupted(folder, *args, **kwargs):
        (Path(folder) / "scores").mkdir(parents=True)
        os.kill(os.getpid(), signal.SIGINT)
        threading.Event().wait(5)  # the handler raises here

    monkeypatch.setattr(evaluation_steps, "write_test_outputs", write_then_interrupted)
    earlier = tmp_path / "exp" / "version_0" / "checkpoints" / "last.ckpt"
    earlier.parent.mkdir(parents=True)
    earlier.write_bytes(b"an earlier run's checkpoint")
    conf = _write(tmp_path, tiny_dataset, Case("ok"))
    with pytest.raises(SystemExit) as stop:
        main(
            1,
            [
                "--conf_file",
                str(conf),
                "--log_dir",
                str(tmp_path / "exp"),
                "--gpus",
                "cpu",
                "--test_from_checkpoint",
                str(tiny_checkpoint),
            ],
        )
    assert stop.value.code == 130
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line == f"interrupted by SIGINT; resume with --resume_from_checkpoint {earlier}"
    assert (tmp_path / "exp" / "version_1" / "config.yaml").is_file()
    assert not (tmp_path / "exp" / "version_1" / "test").exists()


@pytest.mark.slow
@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupt_during_training_exits_130_with_one_line(number, tiny_dataset, tmp_path):
    """A real run in a subprocess, stopped once it has written its config.yaml: no last.ckpt yet to name."""
    conf = _write(tmp_path, tiny_dataset, Case("ok"))
    log_dir = tmp_path / "exp"
    process = subprocess.Popen(
        [
            sys.executable,
            str(REPO / "train" / "train_stage1.py"),
            "--conf_file",
            str(conf),
            "--log_dir",
            str(log_dir),
            "--gpus",
            "cpu",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    deadline = time.monotonic() + 300
    while not (log_dir / "version_0" / "config.yaml").exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no config.yaml after 300 s"
        time.sleep(0.05)
    process.send_signal(number)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 130, err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"interrupted by {signal.Signals(number).name}; ") and "last.ckpt" in last, last
    assert "Traceback" not in err

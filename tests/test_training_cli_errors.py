"""The training command line against hostile input: one row per mistake, with its exit status, the words its one
line must hold, and nothing written (no experiment folder, no config.yaml). A bug keeps its traceback.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
import yaml

import desed_task.experiment.pipeline  # noqa: F401  Lightning's loggers bind stderr at import: not a test's capsys
from conftest import CONFS_DIR
from desed_task.experiment.run import main


@dataclass
class Case:
    name: str
    edits: dict = field(default_factory=dict)  # dotted key -> value in the YAML (None deletes nothing: sets null)
    flags: list = field(default_factory=list)
    words: tuple = ()
    stage: int = 1
    status: int = 2
    raw_yaml: str | None = None


def _no_events_table(dataset: Path, tmp_path: Path) -> str:
    """The synthetic validation table with every event removed: each clip listed once, without an event."""
    table = dataset / "metadata" / "validation" / "synthetic21_validation" / "soundscapes.tsv"
    names = dict.fromkeys(line.split("\t")[0] for line in table.read_text().splitlines()[1:])
    path = tmp_path / "no_events.tsv"
    path.write_text("filename\tonset\toffset\tevent_label\n" + "".join(f"{n}\t\t\t\n" for n in names))
    return str(path)


CASES = [
    Case("data.root missing", {"data.root": "/nowhere/dcase"}, words=("configuration error", "data.root",
                                                                       "no such folder", "/nowhere/dcase")),
    Case("n_epochs: one", {"training.n_epochs": "one"}, words=("training.n_epochs must be an integer", "'one'")),
    Case("negative learning rate", {"opt.cnn_lr": -1.0}, words=("opt.cnn_lr", "non-negative")),
    Case("misspelt key", {"training.n_epoch": 3}, words=("unknown key 'training.n_epoch'",
                                                         "Did you mean 'training.n_epochs'")),
    Case("misspelt section", {"trainig.n_epochs": 3}, words=("unknown key 'trainig'", "Did you mean 'training'")),
    Case("a data path missing", {"data.synth_val_dur": "metadata/nothing.tsv"},
         words=("data.synth_val_dur", "no such file", "nothing.tsv")),
    Case("two data paths missing", {"data.test_folder": "gone", "data.weak_tsv": "gone.tsv"},
         words=("data.weak_tsv", "no such file", "1 more: data.test_folder")),
    Case("a folder that is a file", {"data.synth_folder": "metadata/train/weak.tsv"},
         words=("data.synth_folder", "is a file, not a folder")),
    Case("validation with nothing to score", {"data.synth_val_tsv": "NO_EVENTS"},
         words=("data error", "synth_val", "holds an event", "PSDS has nothing to score")),
    Case("stage 2 without a stage-1 checkpoint", stage=2, words=("ultra.model_init is not set", "Stage_1.ckpt")),
    Case("checkpoint to test missing", flags=["--test_from_checkpoint", "/nowhere/best.ckpt"],
         words=("--test_from_checkpoint", "no such file", "/nowhere/best.ckpt")),
    Case("not a stage checkpoint", flags=["--test_from_checkpoint", "NOT_A_STAGE_CHECKPOINT"],
         words=("checkpoint error", "not a stage checkpoint")),
    Case("evaluation without an eval folder", flags=["--eval_from_checkpoint", "NOT_A_STAGE_CHECKPOINT"],
         words=("data.eval_folder is not set",)),
    Case("gpus garbage", flags=["--gpus", "first"], words=("--gpus 'first'", "'cpu'")),
    Case("resume from last without a run", flags=["--resume_from_checkpoint", "last"],
         words=("--resume_from_checkpoint last", "no version_*/checkpoints/last.ckpt under --log_dir")),
    Case("no nodes", flags=["--num_nodes", "0"], words=("training.num_nodes must be a positive integer", "0")),
    Case("checkpoint every 0 steps", {"training.checkpoint_every_n_steps": 0},
         words=("training.checkpoint_every_n_steps must be a positive number of optimiser steps, or null",)),
    Case("checkpoint every 'often' steps", {"training.checkpoint_every_n_steps": "often"},
         words=("training.checkpoint_every_n_steps must be a positive integer or null", "'often'")),
    Case("median windows per class miscounted", {"training.median_window": [7, 7]},
         words=("training.median_window has 2 entries", "data.classes has 10")),
    Case("not YAML", raw_yaml="training: [unclosed", words=("not valid YAML",)),
]


def _write(tmp_path: Path, dataset: Path, case: Case) -> Path:
    conf = tmp_path / "conf.yaml"
    if case.raw_yaml is not None:
        conf.write_text(case.raw_yaml)
        return conf
    user = {"base": str(CONFS_DIR / f"demo_stage{case.stage}.yaml"), "data": {"root": str(dataset)},
            "training": {"batch_size": [2, 2, 2, 2], "batch_size_val": 4, "num_workers": 0, "n_epochs": 1,
                         "enable_progress_bar": False}}
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


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_user_error_is_one_line_with_status_2_and_nothing_written(case, tiny_dataset, tmp_path, capsys):
    conf = _write(tmp_path, tiny_dataset, case)
    not_a_stage_checkpoint = tmp_path / "encoder_only.ckpt"
    torch.save({"state_dict": {"encoder.encoder.norm_frame.weight": torch.ones(2)}}, not_a_stage_checkpoint)
    flags = [str(not_a_stage_checkpoint) if f == "NOT_A_STAGE_CHECKPOINT" else f for f in case.flags]
    log_dir = tmp_path / "exp"
    with pytest.raises(SystemExit) as stop:
        main(case.stage, ["--conf_file", str(conf), "--log_dir", str(log_dir), "--gpus", "cpu", *flags])
    assert stop.value.code == case.status
    err = capsys.readouterr().err
    line = err.strip().splitlines()[-1]
    for word in case.words:
        assert word in line, f"{word!r} not in {line!r}"
    assert "Traceback" not in err
    assert not log_dir.exists(), f"{case.name}: the run wrote {sorted(log_dir.rglob('*'))}"


def test_a_bug_keeps_its_traceback(tiny_dataset, tmp_path, monkeypatch):
    """A ValueError from the program (not one of this project's error classes) is not turned into one line."""
    def broken(*args, **kwargs):
        raise ValueError("a bug inside the pipeline")

    monkeypatch.setattr("desed_task.experiment.pipeline.run_experiment", broken)
    conf = _write(tmp_path, tiny_dataset, Case("ok"))
    with pytest.raises(ValueError, match="a bug inside the pipeline"):
        main(1, ["--conf_file", str(conf), "--log_dir", str(tmp_path / "exp"), "--gpus", "cpu"])

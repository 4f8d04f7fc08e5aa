"""Two CPU processes (gloo) train a few steps with DDP: sharded batches, identical teachers, gathered metrics."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from conftest import tiny_config

WORKER = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path

    import lightning.pytorch as pl
    import torch

    sys.path.insert(0, sys.argv[3])
    from conftest import tiny_config
    from desed_task.experiment.pipeline import run_experiment

    out = Path(sys.argv[2])

    class Record(pl.Callback):
        def __init__(self):
            self.clips = []

        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            self.clips.extend(batch["clip_ids"])

        def on_validation_end(self, trainer, module):
            rank = trainer.global_rank
            metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
            torch.save(module.sed_teacher.state_dict(), out / f"teacher_{rank}.pt")
            layout = {"world_size": trainer.world_size, "num_nodes": trainer.num_nodes, "node_rank": trainer.node_rank}
            (out / f"rank_{rank}.json").write_text(json.dumps({"clips": self.clips, "metrics": metrics, **layout}))

    processes_per_node, nodes = int(sys.argv[4]), int(sys.argv[5])
    config = tiny_config(Path(sys.argv[1]), 1, **{"training.backend": "ddp", "training.limit_train_batches": 3,
                                                  "training.num_nodes": nodes})
    run_experiment(config, out / "logs", devices=("cpu", processes_per_node), extra_callbacks=[Record()],
                   run_test=False)
    """
)


def free_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return str(probe.getsockname()[1])


def worker_env(tests_dir: Path) -> dict[str, str]:
    inherited = [os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []  # a checkout before the install
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(tests_dir), *inherited])}
    env.pop("DESED_TASK_RUN_VERSION", None)
    return env


def check_ranks_against_one_process(tiny_dataset: Path, tmp_path: Path) -> None:
    """The two ranks' records under tmp_path: sharded batches, identical teachers, the same gathered metrics, one
    experiment folder, and metrics equal to one process validating the saved weights on the whole set."""
    ranks = [json.loads((tmp_path / f"rank_{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["clips"] and ranks[1]["clips"]
    assert ranks[0]["clips"] != ranks[1]["clips"], "both ranks trained on the same batches"
    teachers = [torch.load(tmp_path / f"teacher_{r}.pt", weights_only=True) for r in (0, 1)]
    for key, value in teachers[0].items():
        assert torch.equal(value, teachers[1][key]), f"teacher {key} differs between ranks"
    gathered = sorted(ranks[0]["metrics"])  # scores, losses and the objective: all computed on every rank's clips
    assert any("psds" in k for k in gathered) and any("loss" in k for k in gathered) and "val/obj_metric" in gathered
    for key in gathered:
        assert ranks[0]["metrics"][key] == ranks[1]["metrics"][key], key
    checkpoints = sorted((tmp_path / "logs").glob("version_*/checkpoints/*.ckpt"))
    assert [c.parent.parent.name for c in checkpoints] == ["version_0"] * len(checkpoints)  # written once

    # The same weights validated by one process on the whole validation set.
    import lightning.pytorch as pl

    from desed_task.experiment.builders import build_label_encoder, build_task
    from desed_task.experiment.datamodule import SEDDataModule
    from desed_task.experiment.dataset_builders import build_train_sets
    from desed_task.config.checkpoint import networks_from_checkpoint

    config = tiny_config(tiny_dataset, 1)
    last = next(c for c in checkpoints if c.name == "last.ckpt")
    networks = networks_from_checkpoint(last, config).networks
    student, teacher = networks["student"], networks["teacher"]
    for key, value in teacher.state_dict().items():
        assert torch.equal(value, teachers[0][key])
    sets = build_train_sets(config, build_label_encoder(config))
    task = build_task(config, tmp_path / "single", student, teacher, sets.references)
    data = SEDDataModule(val_sets=sets.val, batch_size_val=4, num_workers=0)
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
    )
    trainer.validate(task, datamodule=data, verbose=False)
    single = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
    assert sorted(k for k in single if k in gathered) == sorted(gathered)
    for key in gathered:
        assert single[key] == pytest.approx(ranks[0]["metrics"][key], abs=1e-6), key


@pytest.mark.slow
def test_two_process_ddp_matches_a_single_process_validation(tiny_dataset, tmp_path):
    worker = tmp_path / "ddp_worker.py"
    worker.write_text(WORKER)
    tests_dir = Path(__file__).parent
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        free_port(),
        str(worker),
        str(tiny_dataset),
        str(tmp_path),
        str(tests_dir),
        "2",
        "1",
    ]
    done = subprocess.run(cmd, env=worker_env(tests_dir), capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-4000:]
    check_ranks_against_one_process(tiny_dataset, tmp_path)

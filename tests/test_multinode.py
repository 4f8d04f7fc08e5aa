"""Two "nodes" of one CPU process each (two torchrun launches on this machine, gloo): the ranks find each other
through the rendezvous address, shard the batches, and validate like one process on the whole set."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from test_ddp import WORKER, check_ranks_against_one_process, free_port, worker_env


@pytest.mark.slow
def test_two_nodes_of_one_process_match_a_single_process_validation(tiny_dataset, tmp_path):
    worker = tmp_path / "ddp_worker.py"
    worker.write_text(WORKER)
    tests_dir = Path(__file__).parent
    port = free_port()
    nodes = []
    for node_rank in (0, 1):
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nnodes",
            "2",
            "--nproc_per_node",
            "1",
            "--node_rank",
            str(node_rank),
            "--master_addr",
            "127.0.0.1",
            "--master_port",
            port,
            str(worker),
            str(tiny_dataset),
            str(tmp_path),
            str(tests_dir),
            "1",
            "2",
        ]
        nodes.append(
            subprocess.Popen(cmd, env=worker_env(tests_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        )
    try:
        outputs = [node.communicate(timeout=240) for node in nodes]
    finally:
        for node in nodes:
            node.kill()
    for node, (_, stderr) in zip(nodes, outputs):
        assert node.returncode == 0, stderr[-4000:]
    layouts = [json.loads((tmp_path / f"rank_{r}.json").read_text()) for r in (0, 1)]
    assert [(r["world_size"], r["num_nodes"], r["node_rank"]) for r in layouts] == [(2, 2, 0), (2, 2, 1)]
    check_ranks_against_one_process(tiny_dataset, tmp_path)

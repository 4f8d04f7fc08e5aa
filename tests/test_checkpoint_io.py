"""Atomic checkpoint writes: a writer killed mid-save leaves the previous checkpoint whole and loadable."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from desed_task.experiment.resume import newest_last_checkpoint
from desed_task.output_files import remove_stale_partials
from desed_task.training.checkpoint_io import AtomicCheckpointIO

# Saves a first checkpoint, then a second one whose writer stops halfway through the file (after telling the
# parent, through a file, that the temporary file holds part of the checkpoint) until it is killed.
KILLED_WRITER = textwrap.dedent(
    """
    import io, sys, time
    from pathlib import Path

    import torch
    from desed_task.training.checkpoint_io import AtomicCheckpointIO

    target, ready = Path(sys.argv[1]), Path(sys.argv[2])


    class HangingWriter(AtomicCheckpointIO):
        def write(self, checkpoint, file):
            buffer = io.BytesIO()
            torch.save(checkpoint, buffer)
            data = buffer.getvalue()
            file.write(data[: len(data) // 2])
            file.flush()
            ready.write_text(str(len(data)))
            time.sleep(600)
            file.write(data[len(data) // 2:])


    AtomicCheckpointIO().save_checkpoint({"step": 1, "weights": torch.full((1000,), 1.0)}, target)
    HangingWriter().save_checkpoint({"step": 2, "weights": torch.full((1000,), 2.0)}, target)
    """
)


def _partials(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if ".partial-" in p.name)


def test_a_writer_killed_mid_save_leaves_the_previous_checkpoint(tmp_path):
    target = tmp_path / "version_0" / "checkpoints" / "last.ckpt"
    ready, script = tmp_path / "ready", tmp_path / "killed_writer.py"
    script.write_text(KILLED_WRITER)
    child = subprocess.Popen([sys.executable, str(script), str(target), str(ready)], env=os.environ.copy())
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert child.poll() is None, f"the writer exited with {child.returncode} before the second save"
            assert time.monotonic() < deadline, "the writer never reached the second save"
            time.sleep(0.05)
        (partial,) = _partials(target.parent)
        assert 0 < partial.stat().st_size < int(ready.read_text())  # killed with half a checkpoint written
        child.kill()
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -9
    previous = torch.load(target, weights_only=True)
    assert previous["step"] == 1 and torch.equal(previous["weights"], torch.full((1000,), 1.0))
    assert partial.name.startswith(".last.ckpt.partial-") and partial.exists()  # SIGKILL: nothing cleaned up
    assert newest_last_checkpoint(tmp_path) == target  # the partial file is never taken for a checkpoint

    AtomicCheckpointIO().save_checkpoint({"step": 3}, target)  # the next writer in the folder
    assert not partial.exists() and _partials(target.parent) == []
    assert torch.load(target, weights_only=True) == {"step": 3}


def test_the_temporary_file_is_beside_the_target_and_removed_on_failure(tmp_path):
    target = tmp_path / "best.ckpt"
    AtomicCheckpointIO().save_checkpoint({"step": 1}, target)
    seen = []

    class FailingWriter(AtomicCheckpointIO):
        def write(self, checkpoint, file):
            file.write(b"half a checkpoint")
            seen.extend(_partials(tmp_path))
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        FailingWriter().save_checkpoint({"step": 2}, target)
    assert len(seen) == 1 and seen[0].parent == tmp_path
    assert seen[0].name.startswith(f".{target.name}.partial-{os.getpid()}-")
    assert _partials(tmp_path) == []
    assert torch.load(target, weights_only=True) == {"step": 1}


def test_the_checkpoint_gets_the_permissions_of_a_new_file(tmp_path):
    plain = tmp_path / "plain"
    plain.write_bytes(b"")
    AtomicCheckpointIO().save_checkpoint({"step": 1}, tmp_path / "last.ckpt")
    assert (tmp_path / "last.ckpt").stat().st_mode == plain.stat().st_mode


def test_only_the_temporary_files_of_gone_writers_are_removed(tmp_path):
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    gone = tmp_path / f".last.ckpt.partial-{finished.stdout.strip()}-0a1b2c3d"
    alive = tmp_path / f".last.ckpt.partial-{os.getppid()}-0a1b2c3d"
    unrelated = [tmp_path / "last.ckpt", tmp_path / ".last.ckpt.partial-notapid", tmp_path / "notes.partial-1-2"]
    for path in (gone, alive, *unrelated):
        path.write_bytes(b"x")
    assert remove_stale_partials(tmp_path) == [gone]
    assert alive.exists() and all(p.exists() for p in unrelated)

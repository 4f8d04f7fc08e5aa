from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

TESTS_DIR = Path(__file__).parent
DATA_DIR = TESTS_DIR / "data"
sys.path.insert(0, str(TESTS_DIR))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA_DIR


@pytest.fixture(scope="session")
def golden() -> dict[str, np.ndarray]:
    """The arrays of tests/data/golden/frontend_and_model_golden.npz."""
    with np.load(DATA_DIR / "golden" / "frontend_and_model_golden.npz") as npz:
        return {k: npz[k] for k in npz.files}


@pytest.fixture(scope="session")
def recipe_golden() -> dict:
    import json

    return json.loads((DATA_DIR / "golden" / "recipe_golden.json").read_text())


@pytest.fixture(scope="session")
def training_step_golden() -> dict:
    """tests/data/golden/training_step_golden.json: three steps of each stage computed by the original code."""
    import json

    return json.loads((DATA_DIR / "golden" / "training_step_golden.json").read_text())


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _seed_torch() -> None:
    torch.manual_seed(0)


CONFS_DIR = TESTS_DIR.parent / "confs"


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    """The `tiny` synthetic DESED-format dataset, generated once per test session."""
    from desed_task.data import make_synthetic_desed

    return make_synthetic_desed(tmp_path_factory.mktemp("synthetic_tiny"), preset="tiny", seed=0, progress=False)


@pytest.fixture(scope="session")
def validation(tmp_path_factory) -> dict[str, Path]:
    """Every 24th clip of the DESED validation set (49 clips) on disk, for the post-processing command's tests:
    ``scores`` (a folder of the DCASE baseline's scores rebuilt from its operating points), ``truth`` and
    ``durations`` (tsv files). Shared by the session's tests: read it, never write into it."""
    from operating_point_scores import validation_subset

    from desed_task.evaluation import write_score_folder

    scores, truth, durations = validation_subset(24)
    root = tmp_path_factory.mktemp("validation")
    write_score_folder(root / "scores", scores)
    truth.to_csv(root / "truth.tsv", sep="\t", index=False)
    durations.to_csv(root / "durations.tsv", sep="\t", index=False)
    return {"scores": root / "scores", "truth": root / "truth.tsv", "durations": root / "durations.tsv"}


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A stage checkpoint of a small stage-1 task (demo sizes, teacher unlike the student), written once per
    session for the tests that only read it."""
    from test_inference import tiny_task, write_checkpoint

    tmp = tmp_path_factory.mktemp("tiny_checkpoint")
    task, config = tiny_task(tmp)
    return write_checkpoint(task, config, tmp / "tiny.ckpt")


def tiny_config(dataset: Path, stage: int = 1, **overrides) -> dict:
    """The demo configuration of ``stage`` shrunk to seconds of CPU time on the tiny dataset."""
    from desed_task.config.files import load_config

    values = {
        "data.root": str(dataset),
        "training.batch_size": [2, 2, 2, 2],
        "training.batch_size_val": 4,
        "training.num_workers": 0,
        "training.n_epochs": 1,
        "training.n_epochs_warmup": 1,
        "training.validation_interval": 1,
        "training.enable_progress_bar": False,
        "training.n_test_thresholds": 5,
        "training.scoring_workers": 0,  # workers cost seconds to start; tests/test_parallel_scoring.py runs them
    }
    values.update(overrides)
    return load_config(CONFS_DIR / f"demo_stage{stage}.yaml", values)


@pytest.fixture(scope="session")
def trained_checkpoint(tiny_dataset, tmp_path_factory) -> Path:
    """A stage-1 checkpoint written by the project's own training code (one short epoch on the tiny set)."""
    from desed_task.experiment.pipeline import run_experiment

    log_dir = tmp_path_factory.mktemp("trained")
    metrics = run_experiment(tiny_config(tiny_dataset), log_dir=log_dir, run_test=False)
    return Path(metrics["last_checkpoint"])

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


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _seed_torch() -> None:
    torch.manual_seed(0)

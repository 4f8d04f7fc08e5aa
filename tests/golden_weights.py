"""The golden weight recipe (tests/data/golden/README.md): deterministic weights for any state-dict layout."""

from __future__ import annotations

import zlib
from pathlib import Path

import torch

GOLDEN_DIR = Path(__file__).parent / "data" / "golden"
CRNN_KEYS_TSV = GOLDEN_DIR / "atst_sed_crnn_state_dict.tsv"
FRAMEATST_KEYS_TSV = GOLDEN_DIR / "frameatst_state_dict.tsv"

_DTYPES = {"float32": torch.float32, "int64": torch.int64}


def read_key_table(path: Path) -> list[tuple[str, tuple[int, ...], torch.dtype]]:
    """Rows (key, shape, dtype) of a published state-dict key table, in order."""
    rows = []
    for line in path.read_text().splitlines()[1:]:
        key, shape, dtype = line.split("\t")
        dims = tuple(int(d) for d in shape.split(",")) if shape else ()
        rows.append((key, dims, _DTYPES[dtype]))
    return rows


def recipe_tensor(key: str, shape: tuple[int, ...], salt: str = "") -> torch.Tensor:
    """The tensor that the golden recipe assigns to ``key``; a ``salt`` (e.g. ``"teacher:"``) prefixes the key in the
    seed only, while the type rules still read ``key``."""
    g = torch.Generator().manual_seed(zlib.crc32((salt + key).encode("utf-8")))
    if key.endswith("num_batches_tracked"):
        return torch.zeros(shape, dtype=torch.int64)
    if key.endswith("running_var"):
        return torch.rand(shape, generator=g) + 0.5
    tensor = torch.randn(shape, generator=g) * 0.05
    if key.endswith(".weight") and len(shape) == 1:
        tensor += 1.0
    return tensor


def recipe_state_dict(table: Path) -> dict[str, torch.Tensor]:
    """A state dict with every key of ``table`` filled by the golden recipe."""
    return {key: recipe_tensor(key, shape) for key, shape, _ in read_key_table(table)}

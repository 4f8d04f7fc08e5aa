"""The package's layers (docs/extending.md): no module imports a package of a layer below it, not even inside a
function, so that inference never needs the training code and the parts never need the configuration."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "desed_task"
LAYERS = {
    "settings": 0,
    "command_parser": 1,
    "output_files": 1,
    "data": 1,
    "features": 1,
    "augment": 1,
    "nnet": 1,
    "config": 2,
    "evaluation": 3,
    "postprocess": 3,
    "inference": 4,
    "training": 5,
    "experiment": 5,
}


def _top(path: Path) -> str:
    return path.relative_to(PACKAGE).with_suffix("").parts[0]


def _imported_packages(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "desed_task" and len(parts) > 1:
                found.append((node.lineno, parts[1]))
    return found


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if _top(p) != "__init__")


def test_every_top_level_module_has_a_layer():
    assert {_top(p) for p in MODULES} == set(LAYERS)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_a_lower_layer(path):
    own = LAYERS[_top(path)]
    upward = [
        f"line {line}: desed_task.{package}"
        for line, package in _imported_packages(path)
        if LAYERS.get(package, -1) > own
    ]
    assert not upward, f"{path.relative_to(PACKAGE)} (layer {own}) imports a lower layer: {upward}"


def test_a_relative_import_would_be_seen():
    assert not any(
        isinstance(node, ast.ImportFrom) and node.level > 0
        for path in MODULES
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
    ), "relative imports are not checked by the layer test: use absolute imports"

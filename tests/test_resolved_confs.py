"""The shipped configurations resolve to the values they resolved to before the keys were renamed.

``tests/data/resolved_confs.json`` holds every ``confs/*.yaml`` as resolved by the code before the renaming (paths
under the repository written as ``<repo>``). Each stored key is looked up under its current name
(``RENAMED``) and compared value by value; no stored key may be missing. Keys added since are not in the store
and are not compared.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from desed_task.experiment.config import load_config
from desed_task.experiment.renamed_keys import RENAMED_KEYS

REPO = Path(__file__).parents[1]
STORED = json.loads((REPO / "tests/data/resolved_confs.json").read_text())
RENAMED = RENAMED_KEYS


def _flat(config: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def test_every_shipped_configuration_is_stored():
    assert sorted(STORED) == sorted(p.name for p in (REPO / "confs").glob("*.yaml"))


@pytest.mark.parametrize("name", sorted(STORED))
def test_shipped_configuration_resolves_to_the_stored_values(name):
    resolved = json.loads(json.dumps(load_config(REPO / "confs" / name)).replace(str(REPO.resolve()), "<repo>"))
    now, before = _flat(resolved), _flat(STORED[name])
    expected = {RENAMED.get(key, key): value for key, value in before.items()}
    assert not set(expected) - set(now), "stored keys that resolve to nothing under their current names"
    assert not set(RENAMED) & set(now), "earlier names left in the resolved configuration"
    for key, value in expected.items():
        assert now[key] == value, key

"""The shipped configurations resolve to the values they resolved to before the keys were renamed.

``tests/data/resolved_confs.json`` holds every ``confs/*.yaml`` as resolved by the code before the renaming (paths
under the repository written as ``<repo>``). Each stored key is looked up under its current name (``current_name``:
renamed keys and moved sections) and compared value by value; no stored key may be missing. Keys added since are
not in the store and are not compared.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from desed_task.config.files import load_config
from desed_task.config.renamed_keys import RENAMED_KEYS, RENAMED_SECTIONS, current_name

REPO = Path(__file__).parents[1]
STORED = json.loads((REPO / "tests/data/resolved_confs.json").read_text())


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
    expected = {current_name(key): value for key, value in before.items()}
    assert not set(expected) - set(now), "stored keys that resolve to nothing under their current names"
    assert not set(RENAMED_KEYS) & set(now), "earlier names left in the resolved configuration"
    assert not any(key.startswith(f"{old}.") for key in now for old in RENAMED_SECTIONS), "earlier sections left"
    for key, value in expected.items():
        assert now[key] == value, key

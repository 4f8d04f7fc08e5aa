"""The shape of a configuration file: its sections are mappings, and an empty (null) section means "no keys".

A section whose every key is commented out is read by YAML as null (``training:`` followed by comments); that is
an ordinary edit, so it counts as an empty section and the defaults (or the ``base:`` file's keys) apply. A
section that is a number, a string or a list (``data: 5``) is a mistake that is named with its file.
"""

from __future__ import annotations

from typing import Any

# Sections, current and earlier layout (``feats``, ``ultra``, ``atst_feats``), and the mappings nested in them.
SECTION_NAMES = ("data", "training", "opt", "encoder", "net", "feats", "ultra", "atst_feats")
NESTED_SECTIONS = {"encoder": ("frontend",), "net": ("frontend",)}


def _mapping(value: Any, key: str, source: str, error: type[Exception]) -> dict | None:
    """``value`` as a mapping, None for a null section; ``error`` for anything else."""
    if value is None or isinstance(value, dict):
        return value
    raise error(
        f"{source}: '{key}' must be a mapping of keys (indented 'key: value' lines below '{key}:'), got "
        f"{type(value).__name__} {value!r}"
    )


def normalise_sections(user: dict, source: str, error: type[Exception]) -> dict:
    """``user`` without its null sections (and null nested sections); ``error`` names a section that is not a
    mapping. The input is not modified."""
    out = {}
    for key, value in user.items():
        if key not in SECTION_NAMES:
            out[key] = value
            continue
        section = _mapping(value, key, source, error)
        if section is None:
            continue
        section = dict(section)
        for nested in NESTED_SECTIONS.get(key, ()):
            if nested in section:
                inner = _mapping(section[nested], f"{key}.{nested}", source, error)
                if inner is None:
                    del section[nested]
        out[key] = section
    return out

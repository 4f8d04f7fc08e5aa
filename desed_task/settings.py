"""Declared settings: a dataclass per configuration section (or part of one) whose every field is one key with its
default, its type, its range check and the check's wording, in one declaration.

>>> @dataclass(frozen=True)
... class Example(Settings):
...     hop_length: int = setting(256, POSITIVE_INT)
...     top_db: float | None = setting(80.0, (lambda v: v >= 0, "a non-negative number of dB, or null"))

The type comes from the annotation (``int``, ``float``, ``bool``, ``str``, ``list``/``tuple``, ``X | None``,
unions of these; ``Any`` takes anything); the check runs on values of the right type that are not None. A class
that owns such a dataclass takes its defaults from it, so each default is written once (``FrameATSTEncoder``'s
``embed_dim`` default is ``FrameATSTSettings.embed_dim``'s). A nested section is a field whose default is another
``Settings`` (``nested(SEDFrontendSettings)``). No project import here: the library's constructors and the
configuration schema both use it.
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

__all__ = [
    "Check",
    "NON_NEGATIVE_INT",
    "POSITIVE_INT",
    "RATE",
    "Settings",
    "SettingsError",
    "is_int",
    "is_number",
    "nested",
    "one_of",
    "setting",
]

Check = tuple[Callable[[Any], bool], str]


class SettingsError(ValueError):
    """A value of the wrong type or out of range; the message names the dotted key."""


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def one_of(*values: Any) -> Check:
    return (lambda v: v in values, f"one of {', '.join(str(v) for v in values)}")


POSITIVE_INT: Check = (lambda v: v >= 1, "a positive integer")
NON_NEGATIVE_INT: Check = (lambda v: v >= 0, "a non-negative integer")
RATE: Check = (lambda v: 0 <= v < 1, "a rate in [0, 1)")


def setting(default: Any, check: Check | None = None, type_wording: str | None = None) -> Any:
    """A field: its default, its range ``check`` (a test and its wording) and, where the type's own wording does
    not say enough, the wording of a value of the wrong type."""
    metadata = {"check": check, "type_wording": type_wording}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def nested(settings: type["Settings"]) -> Any:
    """A nested section, with ``settings``'s defaults."""
    return field(default_factory=settings, metadata={"nested": True})


def _yaml_value(value: Any) -> Any:
    """Tuples (defaults) as the lists YAML gives."""
    if isinstance(value, (tuple, list)):
        return [_yaml_value(v) for v in value]
    return value


_TYPE_WORDING = {
    bool: "true or false",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "a list",
    tuple: "a list",
}


def _type_ok(value: Any, hint: Any) -> bool:
    if hint is Any:
        return True
    if hint is type(None):
        return value is None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, arg) for arg in typing.get_args(hint))
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    base = origin or hint
    if base is bool:
        return isinstance(value, bool)
    if base is int:
        return is_int(value)
    if base is float:
        return is_number(value)
    if base in (list, tuple):
        return isinstance(value, (list, tuple))
    return isinstance(value, base)


def _type_wording(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        words = " or ".join(_type_wording(a) for a in args)
        if len(args) < len(typing.get_args(hint)):
            return "a path (a string) or null" if args == [str] else f"{words} or null"
        return words
    if origin is typing.Literal:
        return f"one of {', '.join(str(v) for v in typing.get_args(hint))}"
    return _TYPE_WORDING.get(origin or hint, str(hint))


@dataclass(frozen=True)
class Settings:
    """Base of the declared settings (see the module docstring)."""

    _hints: ClassVar[dict[type, dict[str, Any]]] = {}

    @classmethod
    def type_hints(cls) -> dict[str, Any]:
        if cls not in Settings._hints:
            Settings._hints[cls] = typing.get_type_hints(cls)
        return Settings._hints[cls]

    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """The section with its default values, as YAML gives them (lists, nested sections as mappings)."""
        return cls().as_config()

    def as_config(self) -> dict[str, Any]:
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.as_config() if isinstance(value, Settings) else _yaml_value(value)
        return out

    @classmethod
    def check(cls, section: Mapping[str, Any], where: str, context: Mapping[str, Any] | None = None) -> None:
        """``SettingsError`` naming the first key of ``section`` (a complete one: the defaults merged with the
        user's keys) with a value of the wrong type or out of range; nested sections are checked too, then
        ``check_together``. ``where`` is the section's dotted name, ``context`` the whole configuration."""
        hints = cls.type_hints()
        for f in fields(cls):
            value, key = section[f.name], f"{where}.{f.name}"
            if f.metadata.get("nested"):
                f.default_factory.check(value, key, context)  # type: ignore[union-attr]
                continue
            if not _type_ok(value, hints[f.name]):
                wording = f.metadata.get("type_wording") or _type_wording(hints[f.name])
                raise SettingsError(f"{key} must be {wording}, got {value!r}")
            check = f.metadata.get("check")
            if check is not None and value is not None and not check[0](value):
                raise SettingsError(f"{key} must be {check[1]}, got {value!r}")
        cls.check_together(section, where, context or {})

    @classmethod
    def check_together(cls, section: Mapping[str, Any], where: str, context: Mapping[str, Any]) -> None:
        """Checks of keys that must agree with each other or with the rest of the configuration (none here)."""

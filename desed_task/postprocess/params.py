"""The post-processing parameter file: one JSON object, self-describing, class-wise parameters.

```
{"method": "median", "frame_hop": 0.064, "classes": {"Cat": {"window_frames": 7}, ...}, "tuning": {...}}
{"method": "csebb", "classes": {"Cat": {"step_filter_length": 0.48, "merge_threshold_abs": 0.2,
                                         "merge_threshold_rel": null}, ...}, "tuning": {...}}
```

Times are in seconds (``frame_hop``, ``step_filter_length``); a null merge threshold is not used. ``tuning`` is
optional and informative only (how and on what the parameters were tuned); it never changes the output.
Unknown or missing keys are errors naming the key: a misspelt key must not silently fall back to a default.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from desed_task.output_files import write_text
from desed_task.postprocess.errors import PostprocessError

Method = Literal["median", "csebb"]
METHODS: tuple[str, ...] = ("median", "csebb")
HOP_TOLERANCE = 1e-6  # seconds: frame hops closer than this are the same hop


@dataclass(frozen=True)
class MedianParams:
    """A median filter per class, ``window_frames[class]`` frames long, for scores at ``frame_hop`` seconds."""

    window_frames: dict[str, int]
    frame_hop: float
    tuning: dict[str, Any] | None = field(default=None, compare=False)
    method: ClassVar[str] = "median"

    @property
    def classes(self) -> list[str]:
        return list(self.window_frames)


@dataclass(frozen=True)
class CSEBBClassParams:
    """cSEBB parameters of one class: step-filter length (s) and merge thresholds (None = not used)."""

    step_filter_length: float
    merge_threshold_abs: float | None
    merge_threshold_rel: float | None


@dataclass(frozen=True)
class CSEBBParams:
    """Change-point-based sound event bounding boxes (Ebbers et al., Interspeech 2024) with class-wise parameters."""

    classes_params: dict[str, CSEBBClassParams]
    tuning: dict[str, Any] | None = field(default=None, compare=False)
    method: ClassVar[str] = "csebb"

    @property
    def classes(self) -> list[str]:
        return list(self.classes_params)


Params = MedianParams | CSEBBParams
CSEBB_KEYS = ("step_filter_length", "merge_threshold_abs", "merge_threshold_rel")


def params_to_dict(params: Params) -> dict[str, Any]:
    """The JSON object of ``params`` (the format in the module docstring)."""
    if isinstance(params, MedianParams):
        out: dict[str, Any] = {
            "method": "median",
            "frame_hop": params.frame_hop,
            "classes": {c: {"window_frames": w} for c, w in params.window_frames.items()},
        }
    else:
        out = {
            "method": "csebb",
            "classes": {c: {k: getattr(p, k) for k in CSEBB_KEYS} for c, p in params.classes_params.items()},
        }
    if params.tuning is not None:
        out["tuning"] = params.tuning
    return out


def params_from_dict(data: Any, source: str = "parameters") -> Params:
    """Parameters from their JSON object; a ``PostprocessError`` naming ``source`` and the key otherwise."""
    if not isinstance(data, dict):
        raise PostprocessError(f"{source}: expected a JSON object with keys method, classes, got {type(data).__name__}")
    method = data.get("method")
    if method not in METHODS:
        raise PostprocessError(f"{source}: 'method' must be one of {list(METHODS)}, got {method!r}")
    allowed = {"method", "classes", "tuning"} | ({"frame_hop"} if method == "median" else set())
    _check_keys(data, allowed, allowed - {"tuning"}, source)
    classes = data["classes"]
    if not isinstance(classes, dict) or not classes:
        raise PostprocessError(f"{source}: 'classes' must be a non-empty object {{class: parameters}}")
    tuning = data.get("tuning")
    if tuning is not None and not isinstance(tuning, dict):
        raise PostprocessError(f"{source}: 'tuning' must be an object or absent")
    if method == "median":
        hop = _number(data["frame_hop"], f"{source}: frame_hop", positive=True)
        windows = {}
        for name, values in classes.items():
            where = f"{source}: classes.{name}"
            _check_keys(values, {"window_frames"}, {"window_frames"}, where)
            windows[name] = _window(values["window_frames"], f"{where}.window_frames")
        return MedianParams(windows, hop, tuning)
    per_class = {}
    for name, values in classes.items():
        where = f"{source}: classes.{name}"
        _check_keys(values, set(CSEBB_KEYS), set(CSEBB_KEYS), where)
        per_class[name] = CSEBBClassParams(
            _number(values["step_filter_length"], f"{where}.step_filter_length", positive=True),
            _optional(values["merge_threshold_abs"], f"{where}.merge_threshold_abs"),
            _optional(values["merge_threshold_rel"], f"{where}.merge_threshold_rel"),
        )
    return CSEBBParams(per_class, tuning)


def _check_keys(values: Any, allowed: set[str], required: set[str], where: str) -> None:
    if not isinstance(values, dict):
        raise PostprocessError(f"{where}: expected an object with keys {sorted(required)}, got {values!r}")
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise PostprocessError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")
    missing = sorted(required - set(values))
    if missing:
        raise PostprocessError(f"{where}: missing key(s) {missing}")


def _number(value: Any, where: str, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise PostprocessError(f"{where} must be a finite number, got {value!r}")
    if positive and value <= 0:
        raise PostprocessError(f"{where} must be > 0, got {value!r}")
    return float(value)


def _optional(value: Any, where: str) -> float | None:
    return None if value is None else _number(value, where + " (or null: not used)", positive=True)


def _window(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise PostprocessError(f"{where} must be an integer >= 1 (frames), got {value!r}")
    return value


def read_params(path: str | Path) -> Params:
    """Parameters from a JSON file written by ``write_params`` (or by hand)."""
    path = Path(path)
    if not path.is_file():
        raise PostprocessError(f"parameter file not found: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise PostprocessError(f"parameter file {path} is not valid JSON: {error}")
    return params_from_dict(data, f"parameter file {path}")


def write_params(path: str | Path, params: Params) -> None:
    """Write ``params`` as indented JSON, all or nothing (a temporary file renamed into place); an unwritable
    path raises ``desed_task.output_files.OutputError``."""
    write_text(path, json.dumps(params_to_dict(params), indent=2) + "\n", "parameter file")


def check_classes(params: Params, classes: list[str], source: str) -> None:
    """The scores' classes must be exactly the parameters' classes (in any order)."""
    missing = [c for c in params.classes if c not in classes]
    extra = [c for c in classes if c not in params.classes]
    if missing or extra:
        raise PostprocessError(
            f"{source} and the {params.method} parameters have different classes: the scores lack {missing}, "
            f"the parameters lack {extra}; tune parameters on scores with the same classes"
        )


def check_hop(params: MedianParams, hop: float, source: str) -> None:
    """Median windows count frames: scores at another hop would be filtered over another duration."""
    if abs(hop - params.frame_hop) > HOP_TOLERANCE:
        raise PostprocessError(
            f"{source} have a frame hop of {hop:.6g} s but the median parameters were tuned at "
            f"{params.frame_hop:.6g} s; tune them on scores with a {hop:.6g} s hop"
        )

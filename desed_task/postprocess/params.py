"""The post-processing parameter file: one JSON object, self-describing, class-wise parameters.

```
{"method": "median", "frame_hop": 0.064, "classes": {"Cat": {"window_frames": 7}, ...}, "tuning": {...}}
{"method": "csebb", "classes": {"Cat": {"step_filter_length": 0.48, "merge_threshold_abs": 0.2,
                                         "merge_threshold_rel": null}, ...}, "tuning": {...}}
```

``method`` names a registered method (``desed_task.postprocess.methods.METHODS``), which owns the other
top-level keys it lists in ``file_keys`` and the per-class objects of ``classes``. Times are in seconds
(``frame_hop``, ``step_filter_length``); a null merge threshold is not used. ``tuning`` is optional and
informative only (how and on what the parameters were tuned); it never changes the output.
Unknown or missing keys are errors naming the key: a misspelt key must not silently fall back to a default.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from desed_task.output_files import write_text
from desed_task.postprocess.postprocess_errors import PostprocessError
from desed_task.postprocess.method import Params, check_keys
from desed_task.postprocess.methods import method_class


def params_to_dict(params: Params) -> dict[str, Any]:
    """The JSON object of ``params`` (the format in the module docstring)."""
    out: dict[str, Any] = {"method": params.method, **params.file_fields()}
    if params.tuning is not None:
        out["tuning"] = params.tuning
    return out


def params_from_dict(data: Any, source: str = "parameters") -> Params:
    """Parameters from their JSON object; a ``PostprocessError`` naming ``source`` and the key otherwise."""
    if not isinstance(data, dict):
        raise PostprocessError(f"{source}: expected a JSON object with keys method, classes, got {type(data).__name__}")
    cls = method_class(data.get("method"), source)
    allowed = {"method", "classes", "tuning", *cls.file_keys}
    check_keys(data, allowed, allowed - {"tuning"}, source)
    if not isinstance(data["classes"], dict) or not data["classes"]:
        raise PostprocessError(f"{source}: 'classes' must be a non-empty object {{class: parameters}}")
    tuning = data.get("tuning")
    if tuning is not None and not isinstance(tuning, dict):
        raise PostprocessError(f"{source}: 'tuning' must be an object or absent")
    return cls.from_file_fields(data, tuning, source)


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

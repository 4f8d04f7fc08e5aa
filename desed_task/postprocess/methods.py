"""The post-processing methods, by name (the parameter file's ``method``, the command line's ``--method``).

A new method is a ``desed_task.postprocess.method.Params`` subclass in its own file and one entry here.
"""

from __future__ import annotations

from desed_task.postprocess.csebb import CSEBBParams
from desed_task.postprocess.postprocess_errors import PostprocessError
from desed_task.postprocess.median import MedianParams
from desed_task.postprocess.method import Params

METHODS: dict[str, type[Params]] = {
    MedianParams.method: MedianParams,
    CSEBBParams.method: CSEBBParams,
}


def method_class(name: object, source: str = "parameters") -> type[Params]:
    """The registered method called ``name``; a ``PostprocessError`` naming ``source`` and the known names."""
    if not isinstance(name, str) or name not in METHODS:
        raise PostprocessError(f"{source}: 'method' must be one of {list(METHODS)}, got {name!r}")
    return METHODS[name]

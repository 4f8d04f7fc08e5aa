"""The errors of post-processing: each message names the file or key at fault and what to do."""

from __future__ import annotations


class PostprocessError(ValueError):
    """A post-processing input, parameter file or output path is unusable; the message says which and why."""


class MissingExtraError(ImportError):
    """An optional dependency is not installed; the message names the extra that installs it."""

"""The error of inference's own options and outputs; the message names the option or path and what to do.

A ``ValueError``, so code that caught the ``ValueError`` raised before this class existed keeps working. The
command line turns it (and the audio, checkpoint, configuration and post-processing errors) into one line and
exit status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class InferenceError(ValueError):
    """An option value, input or output path of inference that cannot be used."""

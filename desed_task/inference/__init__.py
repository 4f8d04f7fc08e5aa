"""Sound event detection on recordings of any length with a trained ATST-SED checkpoint (docs/recipe.md §7).

``SoundEventDetector.from_checkpoint(path)`` then ``detector("recording.wav")``; the command line is
``python -m desed_task.inference``.
"""

from desed_task.inference.detector import Detection, SoundEventDetector
from desed_task.inference.inference_error import InferenceError

__all__ = ["Detection", "InferenceError", "SoundEventDetector"]

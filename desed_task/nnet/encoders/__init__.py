"""Encoder units the CRNN can be built with, by configuration name (``encoder.name``).

A new encoder is a ``FrameEncoder`` subclass in its own file and one entry here.
"""

from desed_task.nnet.encoders.base import FrameEncoder
from desed_task.nnet.encoders.frame_atst import ATSTFrontend, FrameATSTEncoder

ENCODERS: dict[str, type[FrameEncoder]] = {
    FrameATSTEncoder.name: FrameATSTEncoder,
}


def encoder_class(name: str) -> type[FrameEncoder]:
    """The registered encoder unit called ``name``; a KeyError that lists the known names otherwise."""
    try:
        return ENCODERS[name]
    except KeyError:
        raise KeyError(f"unknown encoder {name!r}; known encoders: {sorted(ENCODERS)}") from None


__all__ = ["ENCODERS", "ATSTFrontend", "FrameATSTEncoder", "FrameEncoder", "encoder_class"]

"""From a resolved configuration mapping to a ``SEDModel`` and its parts, as plain constructor arguments.

The one place where the sample rate (``data.fs``) and the CRNN front-end's hop (``net.frontend.hop_length``)
reach the front-ends and the label encoder, so that the parts of a model agree by construction. The encoder unit
is built with random weights: the caller loads a pretrained encoder or a stage checkpoint. A constructor's refusal
of a value is a ``ValueError`` that names the configuration section.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from desed_task.data.label_encoder import LabelEncoder
from desed_task.features import SEDFrontend
from desed_task.nnet.crnn import CRNN, CRNNSettings
from desed_task.nnet.crnn import time_pooling as _time_pooling
from desed_task.nnet.encoders import FrameEncoder, encoder_class
from desed_task.nnet.sed_model import SEDModel


def time_pooling(config: Mapping) -> int:
    """Output frames are this many CRNN front-end frames: the product of ``net.pooling``'s time factors."""
    return _time_pooling(config["net"]["pooling"])


def encoder_kwargs(config: Mapping) -> dict[str, Any]:
    """The encoder unit's own constructor arguments: its section's keys of the unit's ``settings_class``."""
    keys = encoder_class(config["encoder"]["name"]).settings_class.keys()
    return {key: config["encoder"][key] for key in keys}


def net_kwargs(config: Mapping) -> dict[str, Any]:
    """The CRNN's constructor arguments: the ``net`` keys of ``CRNNSettings`` (not its front-end's)."""
    return {key: config["net"][key] for key in CRNNSettings.keys()}


def build_label_encoder(config: Mapping) -> LabelEncoder:
    data = config["data"]
    return LabelEncoder(
        data["classes"],
        audio_len=data["audio_max_len"],
        frame_hop=config["net"]["frontend"]["hop_length"],
        net_pooling=time_pooling(config),
        sample_rate=data["fs"],
    )


def build_sed_frontend(config: Mapping) -> SEDFrontend:
    return SEDFrontend(sample_rate=config["data"]["fs"], **config["net"]["frontend"])


def build_encoder(config: Mapping) -> FrameEncoder:
    """The encoder unit of ``encoder`` with its front-end, random weights."""
    section = config["encoder"]
    cls = encoder_class(section["name"])
    try:
        frontend = cls.frontend_class(sample_rate=config["data"]["fs"], n_mels=cls.n_mels, **section["frontend"])
        return cls(frontend=frontend, **encoder_kwargs(config))
    except ValueError as err:
        raise ValueError(f"encoder: {err}") from err


def build_network(config: Mapping, encoder: FrameEncoder) -> CRNN:
    """The CRNN of ``net`` around ``encoder``."""
    try:
        return CRNN(encoder, n_classes=len(config["data"]["classes"]), **net_kwargs(config))
    except ValueError as err:
        raise ValueError(f"net: {err}") from err


def build_sed_model(config: Mapping, network: CRNN) -> SEDModel:
    """``network`` bundled with the CRNN front-end and label encoder of ``config``."""
    return SEDModel(network, build_sed_frontend(config), build_label_encoder(config))

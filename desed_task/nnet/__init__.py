"""The ATST-SED network (an encoder unit + CRNN), its bundle with front-ends and labels, and checkpoint loaders."""

from desed_task.nnet.checkpoints import (
    CheckpointError,
    load_pretrained_encoder,
    load_state_dict_checked,
    read_checkpoint,
    stage_state_dict,
)
from desed_task.nnet.crnn import CRNN
from desed_task.nnet.encoders import ENCODERS, FrameATSTEncoder, FrameEncoder, encoder_class
from desed_task.nnet.sed_model import SEDModel

__all__ = [
    "CRNN",
    "ENCODERS",
    "CheckpointError",
    "FrameATSTEncoder",
    "FrameEncoder",
    "SEDModel",
    "encoder_class",
    "load_pretrained_encoder",
    "load_state_dict_checked",
    "read_checkpoint",
    "stage_state_dict",
]

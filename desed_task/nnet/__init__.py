"""The ATST-SED network (an encoder unit + CRNN) and its checkpoint loaders."""
from desed_task.nnet.checkpoints import (
    CheckpointError,
    load_pretrained_encoder,
    load_state_dict_checked,
    read_checkpoint,
    stage_state_dict,
)
from desed_task.nnet.crnn import CRNN
from desed_task.nnet.encoders import ENCODERS, FrameATSTEncoder, FrameEncoder, encoder_class

__all__ = [
    "CRNN",
    "ENCODERS",
    "CheckpointError",
    "FrameATSTEncoder",
    "FrameEncoder",
    "encoder_class",
    "load_pretrained_encoder",
    "load_state_dict_checked",
    "read_checkpoint",
    "stage_state_dict",
]

"""The ATST-SED network (FrameATST encoder + CRNN) and its checkpoint loaders."""
from desed_task.nnet.checkpoints import (
    CheckpointError,
    load_pretrained_atst,
    load_stage_checkpoint,
    load_state_dict_checked,
    pretrained_atst_state_dict,
    read_checkpoint,
    stage_state_dict,
)
from desed_task.nnet.crnn import CRNN
from desed_task.nnet.frame_atst import FrameATST

__all__ = [
    "CRNN",
    "CheckpointError",
    "FrameATST",
    "load_pretrained_atst",
    "load_stage_checkpoint",
    "load_state_dict_checked",
    "pretrained_atst_state_dict",
    "read_checkpoint",
    "stage_state_dict",
]

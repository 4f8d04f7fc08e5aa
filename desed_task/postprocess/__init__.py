"""Post-processing of frame scores beyond the recipe's fixed median filter.

Each method is a unit (``method.Params`` subclass, registered in ``methods.METHODS``) with class-wise parameters
tuned for PSDS on a validation set and stored in a JSON parameter file (``params``): median windows per class
(``median``), and change-point-based sound event bounding boxes (cSEBBs, ``csebb``; Ebbers et al., Interspeech
2024). The recipe's decoding stays the default elsewhere.

Importing this package is light (numpy, pandas, scipy). The cSEBB method needs the optional, AGPL-3.0 package
``sebbs`` (``pip install --no-deps 'sebbs==1.0.2'``), imported only when cSEBBs are computed.
"""

from desed_task.postprocess.apply import postprocess_scores
from desed_task.postprocess.csebb import (
    Box,
    CSEBBClassParams,
    CSEBBParams,
    boxes_to_tables,
    csebb_boxes,
    csebb_events,
    csebb_grid,
    csebb_tables,
    require_sebbs,
    tune_csebb,
)
from desed_task.postprocess.postprocess_errors import MissingExtraError, PostprocessError
from desed_task.postprocess.median import MedianParams, median_filter_tables, median_windows_grid, tune_median
from desed_task.postprocess.method import Decoder, Params
from desed_task.postprocess.methods import METHODS, method_class
from desed_task.postprocess.params import params_from_dict, params_to_dict, read_params, write_params
from desed_task.postprocess.score_tables import frame_hop

__all__ = [
    "Box",
    "CSEBBClassParams",
    "CSEBBParams",
    "Decoder",
    "METHODS",
    "MedianParams",
    "MissingExtraError",
    "Params",
    "PostprocessError",
    "boxes_to_tables",
    "csebb_boxes",
    "csebb_events",
    "csebb_grid",
    "csebb_tables",
    "frame_hop",
    "median_filter_tables",
    "method_class",
    "median_windows_grid",
    "params_from_dict",
    "params_to_dict",
    "postprocess_scores",
    "read_params",
    "require_sebbs",
    "tune_csebb",
    "tune_median",
    "write_params",
]

"""Post-process score tables with a parameter file: the one entry point for the test stage and inference."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import pandas as pd

from desed_task.postprocess.method import Params
from desed_task.postprocess.params import read_params


def postprocess_scores(
    scores: Mapping[str, pd.DataFrame], params: Params | str | Path, source: str = "the scores"
) -> dict[str, pd.DataFrame]:
    """Post-processed sed_scores_eval score tables (``{clip id: table}``, as ``read_score_folder`` returns).

    ``params`` is a parameter object or the path of a parameter file; its method decides the tables (median
    parameters give tables on the same frames; cSEBB parameters give piecewise-constant tables, one row per
    stretch between box boundaries, which sed_scores_eval scores directly). Scores with other classes (or, for
    median, another hop) are an error.
    """
    if isinstance(params, (str, Path)):
        params = read_params(params)
    return params.apply(scores, source)

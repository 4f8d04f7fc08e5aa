"""Post-process score tables with a parameter file: the one entry point for the test stage and inference."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import pandas as pd

from desed_task.postprocess.params import MedianParams, Params, read_params


def postprocess_scores(
    scores: Mapping[str, pd.DataFrame], params: Params | str | Path, source: str = "the scores"
) -> dict[str, pd.DataFrame]:
    """Post-processed sed_scores_eval score tables (``{clip id: table}``, as ``read_score_folder`` returns).

    ``params`` is a parameter object or the path of a parameter file. Median parameters give tables on the same
    frames; cSEBB parameters give piecewise-constant tables (one row per stretch between box boundaries), which
    sed_scores_eval scores directly. Scores with other classes (or, for median, another hop) are an error.
    """
    if isinstance(params, (str, Path)):
        params = read_params(params)
    if isinstance(params, MedianParams):
        from desed_task.postprocess.median import median_filter_tables

        return median_filter_tables(dict(scores), params, source)
    from desed_task.postprocess.csebb import csebb_tables

    return csebb_tables(scores, params, source)

"""Decoding, metrics, test outputs and the evaluation command line (docs/recipe.md §6).

Each metric is a unit (``metric.Metric`` subclass, registered in ``metrics.METRICS``) that the test stage and the
command line reach through the registry.

Importing this package is light (numpy, pandas, scipy; no torch): sed_scores_eval, sed_eval, psds_eval and
matplotlib are imported inside the functions that use them.
"""

from desed_task.data.tables import TableError, clip_id_of
from desed_task.evaluation.decoding import (
    decode_batch,
    decode_events,
    decode_operating_points,
    median_filter_scores,
    operating_point_thresholds,
    score_dataframes,
)
from desed_task.evaluation.f1 import event_and_segment_f1, intersection_f1_macro, weak_f1_macro
from desed_task.evaluation.folders import (
    read_operating_points,
    read_score_folder,
    write_operating_points,
    write_score_folder,
)
from desed_task.evaluation.psds import (
    SCENARIO_1,
    SCENARIO_2,
    SCENARIOS,
    PSDSScenario,
    plot_psd_roc,
    psds_eval_scenarios,
    psds_from_operating_points,
    psds_sed_scores_eval,
)
from desed_task.evaluation.metric import Metric
from desed_task.evaluation.metrics import METRIC_KEYS, METRICS, metric_keys
from desed_task.evaluation.result_files import write_scores_only, write_test_outputs

__all__ = [
    "METRICS",
    "METRIC_KEYS",
    "SCENARIO_1",
    "SCENARIO_2",
    "SCENARIOS",
    "Metric",
    "PSDSScenario",
    "TableError",
    "clip_id_of",
    "decode_batch",
    "decode_events",
    "decode_operating_points",
    "event_and_segment_f1",
    "intersection_f1_macro",
    "median_filter_scores",
    "metric_keys",
    "operating_point_thresholds",
    "plot_psd_roc",
    "psds_eval_scenarios",
    "psds_from_operating_points",
    "psds_sed_scores_eval",
    "read_operating_points",
    "read_score_folder",
    "score_dataframes",
    "weak_f1_macro",
    "write_operating_points",
    "write_score_folder",
    "write_scores_only",
    "write_test_outputs",
]

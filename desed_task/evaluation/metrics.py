"""The metrics, in the order of the metric tables and files (``METRIC_KEYS``), and their submission by input.

A new metric is a ``desed_task.evaluation.metric.Metric`` subclass in its own file and one entry here: the test
stage's metrics and metric files, ``python -m desed_task.evaluation``'s table, ``--json`` and ``--help`` follow.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from desed_task.evaluation.evaluation_inputs import EvaluationInputs
from desed_task.evaluation.f1_metrics import EventSegmentF1, IntersectionF1
from desed_task.evaluation.metric import INPUT_ITEMS, Metric, Pending
from desed_task.evaluation.pool import ScoringPool
from desed_task.evaluation.psds_metrics import PsdsEvalPSDS, SedScoresEvalPSDS

log = logging.getLogger(__name__)

METRICS: dict[str, Metric] = {
    SedScoresEvalPSDS.name: SedScoresEvalPSDS(),
    PsdsEvalPSDS.name: PsdsEvalPSDS(),
    EventSegmentF1.name: EventSegmentF1(),
    IntersectionF1.name: IntersectionF1(),
}


def metric_keys() -> tuple[str, ...]:
    """The keys of every registered metric, in registry order; a ValueError if two metrics declare one key."""
    keys = [key for metric in METRICS.values() for key in metric.keys]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise ValueError(f"metric keys {repeated} are declared by more than one metric of METRICS: rename them")
    return tuple(keys)


#: the keys of the built-in metrics (``metric_keys()`` includes those registered later)
METRIC_KEYS = metric_keys()


def metrics_reading(kind: str) -> list[Metric]:
    """The registered metrics that read the input ``kind`` (``metric.INPUT_FLAGS``), in registry order."""
    return [metric for metric in METRICS.values() if metric.reads == kind]


def submit_metrics(
    pool: ScoringPool, kind: str, inputs: EvaluationInputs, plot_dir: Path | None = None
) -> dict[str, Pending]:
    """Submit to ``pool`` each registered metric that reads ``kind``, when ``inputs`` hold that input; by name."""
    pending: dict[str, Pending] = {}
    for metric in metrics_reading(kind):
        data = metric.data(inputs)
        if data is None:
            continue
        log.info("%s on %d %s", metric.name, len(data), INPUT_ITEMS[kind])
        pending[metric.name] = metric.submit(pool, data, inputs.truth, inputs.durations, plot_dir)
    return pending


def metric_values(pending: Mapping[str, Pending]) -> dict[str, float]:
    """The values of submitted metrics (by name), taken in the order of ``pending``, each metric's in the order of
    its ``keys``; a ValueError when a metric returns other keys than it declares."""
    values: dict[str, float] = {}
    for name, job in pending.items():
        result, declared = job.result(), METRICS[name].keys
        if set(result) != set(declared):
            raise ValueError(f"metric {name} returned the keys {sorted(result)}, but declares {list(declared)}")
        values.update({key: result[key] for key in declared})
    return values

"""psds_eval's operating points, their rates computed by scoring workers (``psds.psds_eval_scenarios``).

psds_eval 0.5.3's ``add_operating_point`` checks a detection table, names it by a hash of its sorted rows (and
skips it when an identical table came before), intersects it with the ground truth and turns the intersections
into counts and rates under each evaluator's DTC/GTC/CTTC criteria. Each operating point's rates depend only on
its own table, so chunks of operating points go to workers, each with a copy of the evaluators (ground truth and
criteria, no operating point yet); the rates come back and are added to the evaluators here, in threshold order,
skipping a table identical to an earlier one, with the names and thresholds ``add_operating_point`` would give.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from desed_task.evaluation.lazy import quiet_psds_eval
from desed_task.evaluation.pool import ScoringPool

Rates = tuple  # (counts, tpr, fpr, ctr) of one evaluator, as psds_eval computes them


def operating_point_rates(
    evaluators: Sequence, points: Sequence[tuple[int, float, pd.DataFrame]]
) -> list[tuple[int, float, str, list[Rates]]]:
    """For each ``(index, threshold, detections)`` (detections of the evaluators' clips, keyed by clip id): the
    index and threshold, the table's psds_eval id (its hash) and each evaluator's counts and rates, computed as
    ``psds._add_operating_points`` does."""
    first = evaluators[0]
    out = []
    with quiet_psds_eval():
        for index, threshold, detections in points:
            det_t = first._init_det_table(detections)
            op_id = first._operating_point_id(det_t)  # the hash: no operating point was added to these copies
            inter_t = first._ground_truth_intersections(det_t, first.ground_truth)
            rates = []
            for evaluator in evaluators:
                tp, dtc_ids = evaluator._detection_and_ground_truth_criteria(inter_t)
                cttc = evaluator._cross_trigger_criterion(inter_t, tp, dtc_ids)
                rates.append(
                    evaluator._confusion_matrix_and_rates(
                        tp.drop_duplicates("id_gt"), cttc.drop_duplicates(["id_det", "event_label_gt"])
                    )
                )
            out.append((index, threshold, op_id, rates))
    return out


def add_operating_points_with_workers(
    pool: ScoringPool, evaluators: list, operating_points: dict[float, pd.DataFrame]
) -> None:
    """``psds._add_operating_points`` with the rates computed by ``pool``'s workers, in interleaved chunks (the
    low thresholds, with the most detections, spread over the chunks). ``operating_points``: detections of the
    evaluators' clips, keyed by clip id (``psds.detections_for_clips``)."""
    points = [(i, threshold, table) for i, (threshold, table) in enumerate(sorted(operating_points.items()))]
    n_chunks = max(1, min(len(points), 2 * pool.workers))
    jobs = [pool.submit(operating_point_rates, evaluators, points[k::n_chunks]) for k in range(n_chunks)]
    results = sorted((row for job in jobs for row in job.result()), key=lambda row: row[0])
    added: set[str] = set()
    for index, threshold, op_id, rates in results:
        if op_id in added:
            continue  # psds_eval skips a table identical to an earlier one
        added.add(op_id)
        for evaluator, (counts, tpr, fpr, ctr) in zip(evaluators, rates):
            evaluator._add_op(
                opid=op_id,
                counts=counts,
                tpr=tpr,
                fpr=fpr,
                ctr=ctr,
                info={"name": f"Op {index + 1:02d}", "threshold": threshold},
            )

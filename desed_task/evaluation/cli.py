"""``python -m desed_task.evaluation``: score a system's outputs against DESED-format ground truth.

Thin wrapper over the library: each input selects a group of metrics, the values are printed as a table and
optionally written as JSON. Exit status 2 on a usage or input error, with a message naming the file.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Sequence

from desed_task.evaluation.f1 import event_and_segment_f1, intersection_f1_macro
from desed_task.evaluation.psds import SCENARIOS, psds_from_operating_points, psds_sed_scores_eval
from desed_task.evaluation.report import format_metrics
from desed_task.data.tables import TableError, read_durations, read_events
from desed_task.evaluation.folders import read_operating_points, read_score_folder

DESCRIPTION = """\
Score sound event detection outputs against a DESED-format ground truth. Give at least one of
--operating_points, --scores, --predictions; each one adds its metrics (values in [0, 1]):

  --operating_points DIR  psds1_psds_eval, psds2_psds_eval
  --scores DIR            psds1_sed_scores_eval, psds2_sed_scores_eval
  --predictions FILE      event_f1_macro, event_f1_micro, segment_f1_macro, segment_f1_micro,
                          intersection_f1_macro

PSDS scenario 1: dtc=gtc=0.7, alpha_ct=0, alpha_st=1, max_efpr=100 (cttc 0.3 for psds_eval, unused);
scenario 2: dtc=gtc=0.1, cttc=0.3, alpha_ct=0.5, alpha_st=1, max_efpr=100. Clips are matched by file
name without the audio extension (Y1.wav == Y1)."""

EXAMPLE = """\
example:
  python -m desed_task.evaluation --ground_truth validation.tsv --durations validation_durations.tsv \\
      --operating_points exp/student/predictions_operating_points \\
      --predictions exp/student/predictions_th_0.50.tsv --json results.json"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m desed_task.evaluation",
        description=DESCRIPTION,
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--ground_truth", required=True, type=Path, metavar="GT.tsv",
        help="strong labels, tab-separated with header: filename onset offset event_label (seconds); "
        "a clip without events may appear once with empty onset/offset/event_label",
    )
    parser.add_argument(
        "--durations", required=True, type=Path, metavar="DUR.tsv",
        help="clip durations, tab-separated with header: filename duration (seconds); every evaluated clip",
    )
    parser.add_argument(
        "--operating_points", type=Path, metavar="DIR",
        help="folder of detection tables predictions_th_<threshold>.tsv (filename onset offset event_label), "
        "one per decision threshold, e.g. the 50 that the test stage writes: PSDS with psds_eval",
    )
    parser.add_argument(
        "--scores", type=Path, metavar="DIR",
        help="folder of sed_scores_eval score files, one <clip id>.tsv per clip with columns onset offset "
        "<class...>: threshold-free PSDS with sed_scores_eval (clips without events are left out)",
    )
    parser.add_argument(
        "--predictions", type=Path, metavar="FILE",
        help="one detection table (filename onset offset event_label) at a single threshold, tab-separated .tsv "
        "or comma-separated .csv (a leading index column is ignored): event-, segment- and intersection-based F1",
    )
    parser.add_argument(
        "--json", type=Path, metavar="OUT",
        help="also write the metrics to this JSON file ({metric: value}, only the metrics computed)",
    )
    parser.add_argument("--quiet", action="store_true", help="print only the metric table (no progress logging)")
    return parser


def evaluate(
    ground_truth: Path,
    durations: Path,
    operating_points: Path | None = None,
    scores: Path | None = None,
    predictions: Path | None = None,
) -> dict[str, float]:
    """The metrics that the given inputs allow (see ``DESCRIPTION``)."""
    truth = read_events(ground_truth, "ground truth")
    lengths = read_durations(durations)
    metrics: dict[str, float] = {}
    if operating_points is not None:
        tables = read_operating_points(operating_points)
        logging.info("psds_eval on %d operating points from %s", len(tables), operating_points)
        for key, scenario in SCENARIOS.items():
            metrics[f"{key}_psds_eval"] = psds_from_operating_points(tables, truth, lengths, scenario)
    if scores is not None:
        score_tables = read_score_folder(scores)
        logging.info("sed_scores_eval on %d score files from %s", len(score_tables), scores)
        for key, value in psds_sed_scores_eval(score_tables, truth, lengths).items():
            metrics[f"{key}_sed_scores_eval"] = value
    if predictions is not None:
        detections = read_events(predictions, "detections")
        logging.info("F1 scores of %d detections from %s", len(detections), predictions)
        metrics.update(event_and_segment_f1(detections, truth))
        metrics["intersection_f1_macro"] = intersection_f1_macro(detections, truth, lengths)
    return metrics


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.operating_points is None and args.scores is None and args.predictions is None:
        parser.error("give at least one of --operating_points, --scores, --predictions")
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    try:
        metrics = evaluate(args.ground_truth, args.durations, args.operating_points, args.scores, args.predictions)
    except (TableError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except ValueError as error:
        print(f"error: the inputs could not be scored: {error}", file=sys.stderr)
        return 2
    sys.stdout.write(format_metrics(metrics))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(metrics, indent=2) + "\n")
    return 0

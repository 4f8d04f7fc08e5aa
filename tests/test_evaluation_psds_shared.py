"""psds_eval in both scenarios from one pass over the operating points gives psds_eval's own numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from desed_task.data.tables import clip_id_of
from desed_task.evaluation import SCENARIOS, psds_eval_scenarios, psds_from_operating_points, read_operating_points
from desed_task.evaluation.lazy import psds_eval, quiet_psds_eval
from desed_task.evaluation.psds import PSDS_EVAL_DEFAULT_CTTC, detections_for_clips


@pytest.fixture(scope="module")
def baseline(data_dir, tmp_path_factory):
    """Every tenth operating point of the DCASE baseline on the first 400 clips of the DESED validation set."""
    folder = data_dir / "desed_validation"
    points = read_operating_points(folder / "baseline_student" / "predictions_operating_points")
    durations = pd.read_csv(folder / "validation_durations.tsv", sep="\t").head(400)
    truth = pd.read_csv(folder / "validation.tsv", sep="\t")
    truth = truth[truth["filename"].isin(durations["filename"])]
    out = tmp_path_factory.mktemp("baseline_subset")
    durations.to_csv(out / "durations.tsv", sep="\t", index=False)
    truth.to_csv(out / "truth.tsv", sep="\t", index=False)
    return dict(list(points.items())[::10]), out / "truth.tsv", out / "durations.tsv"


def _reference_psds(points, truth_path, durations_path, scenario) -> float:
    """psds_eval's public API, one evaluator and ``add_operating_point`` per scenario."""
    metadata = pd.read_csv(durations_path, sep="\t")
    metadata["filename"] = metadata["filename"].map(clip_id_of)
    truth = pd.read_csv(truth_path, sep="\t").dropna(subset=["event_label"])
    truth["filename"] = truth["filename"].map(clip_id_of)
    cttc = PSDS_EVAL_DEFAULT_CTTC if scenario.cttc_threshold is None else scenario.cttc_threshold
    evaluator = psds_eval().PSDSEval(
        dtc_threshold=scenario.dtc_threshold,
        gtc_threshold=scenario.gtc_threshold,
        cttc_threshold=cttc,
        ground_truth=truth,
        metadata=metadata,
    )
    clip_ids = set(metadata["filename"])
    with quiet_psds_eval():
        for i, (threshold, table) in enumerate(sorted(points.items())):
            table = table.assign(filename=table["filename"].map(clip_id_of))
            table = table[table["filename"].isin(clip_ids)].reset_index(drop=True)
            evaluator.add_operating_point(table, info={"name": f"Op {i + 1:02d}", "threshold": threshold})
        return float(
            evaluator.psds(alpha_ct=scenario.alpha_ct, alpha_st=scenario.alpha_st, max_efpr=scenario.max_efpr).value
        )


def test_shared_pass_equals_one_evaluator_per_scenario_exactly(baseline, tmp_path):
    points, truth, durations = baseline
    plots = {key: tmp_path / f"{key}.png" for key in SCENARIOS}
    shared = psds_eval_scenarios(points, truth, durations, SCENARIOS, plots)
    for key, scenario in SCENARIOS.items():
        assert shared[key] == _reference_psds(points, truth, durations, scenario), key
        assert shared[key] == psds_from_operating_points(points, truth, durations, scenario)
        assert plots[key].is_file()
    assert 0.1 < shared["psds1"] < 0.6


def test_detections_for_clips_maps_names_to_clip_ids_and_keeps_only_known_clips():
    table = pd.DataFrame(
        {
            "filename": ["./Y1.wav", "Y1.wav", "Y2.wav", "Y3_1.000_2.000.wav"],
            "onset": [0.0, 1.0, 2.0, 0.5],
            "offset": [0.5, 1.5, 2.5, 1.0],
            "event_label": ["Dog", "Cat", "Dog", "Cat"],
        }
    )
    kept = detections_for_clips(table, {"Y1", "Y3_1.000_2.000"})
    assert kept["filename"].tolist() == ["Y1", "Y1", "Y3_1.000_2.000"]
    assert np.allclose(kept["onset"], [0.0, 1.0, 0.5])

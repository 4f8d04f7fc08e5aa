"""Class-wise median windows tuned for PSDS on real system outputs (the DCASE 2021 baseline's, rebuilt)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from operating_point_scores import DESED_CLASSES, HOP, validation_subset

from desed_task.evaluation import SCENARIO_1, SCENARIO_2, median_filter_scores, psds_sed_scores_eval, score_dataframes
from desed_task.postprocess import MedianParams, PostprocessError, frame_hop, postprocess_scores, tune_median
from desed_task.postprocess.median import RECIPE_STAGE2_WINDOWS, median_windows_grid

REPO = Path(__file__).resolve().parents[1]
WINDOWS = range(1, 42, 8)  # a coarse grid keeps the test short; the recipe's windows are added to it


def _recipe_psds(scores: dict[str, pd.DataFrame], windows, truth, durations, scenarios) -> dict[str, float]:
    """PSDS of the recipe's decoding, computed without the postprocess package."""
    clip_ids = sorted(scores)
    raw = np.stack([scores[c][list(DESED_CLASSES)].to_numpy().T for c in clip_ids])  # (B, C, T)
    timestamps = scores[clip_ids[0]][["onset"]].to_numpy().ravel().tolist() + [scores[clip_ids[0]]["offset"].iloc[-1]]
    tables = score_dataframes(median_filter_scores(raw, windows), clip_ids, DESED_CLASSES, np.array(timestamps))
    return psds_sed_scores_eval(tables, truth, durations, scenarios)


@pytest.mark.parametrize(
    "key, scenario",
    [
        ("psds1", SCENARIO_1),
        pytest.param("psds2", SCENARIO_2, marks=pytest.mark.slow),
    ],
)
def test_tuning_improves_or_equals_the_recipe_windows_on_its_data(key, scenario):
    scores, truth, durations = validation_subset(24)
    params = tune_median(scores, truth, durations, scenario=scenario, windows=WINDOWS)
    assert params.frame_hop == pytest.approx(HOP) and params.classes == list(DESED_CLASSES)
    assert set(params.window_frames.values()) <= set(WINDOWS) | {4, 6, 7, 20}
    tuned = psds_sed_scores_eval(postprocess_scores(scores, params), truth, durations, {key: scenario})[key]
    stage1 = _recipe_psds(scores, 7, truth, durations, {key: scenario})[key]
    stage2 = _recipe_psds(scores, list(RECIPE_STAGE2_WINDOWS.values()), truth, durations, {key: scenario})[key]
    assert tuned >= stage1 and tuned >= stage2
    assert tuned == pytest.approx(params.tuning["psds"], abs=1e-9)
    assert params.tuning["psds_of"]["fixed 7 frames"] == pytest.approx(stage1, abs=1e-9)
    assert params.tuning["psds_of"]["recipe_stage2"] == pytest.approx(stage2, abs=1e-9)
    assert params.tuning["scenario"]["dtc_threshold"] == scenario.dtc_threshold


@pytest.mark.slow
def test_parallel_tuning_gives_the_same_parameters():
    scores, truth, durations = validation_subset(24)
    one = tune_median(scores, truth, durations, windows=[7])
    two = tune_median(scores, truth, durations, windows=[7], jobs=2)
    assert one == two and one.tuning == two.tuning


def test_median_needs_one_fixed_hop():
    scores = {"c": pd.DataFrame({"onset": [0.0, 0.1, 0.3], "offset": [0.1, 0.3, 0.4], "a": [0.1, 0.5, 0.2]})}
    with pytest.raises(PostprocessError, match="one fixed hop"):
        frame_hop(scores)
    with pytest.raises(PostprocessError, match="one fixed hop"):
        postprocess_scores(scores, MedianParams({"a": 3}, 0.1))


def test_tuning_without_matching_clips_is_an_error():
    scores, truth, durations = validation_subset(24)
    renamed = {f"other_{c}": t for c, t in scores.items()}
    with pytest.raises(PostprocessError, match="no scored clip has ground-truth events"):
        tune_median(renamed, truth, durations, windows=[7])


def test_recipe_windows_are_in_the_grid_and_match_the_recipe_config():
    from desed_task.data import DESED_CLASSES

    stage2 = yaml.safe_load((REPO / "confs" / "stage2.yaml").read_text())["training"]["median_window"]
    stage1 = yaml.safe_load((REPO / "confs" / "stage1.yaml").read_text())["training"]["median_window"]
    assert list(RECIPE_STAGE2_WINDOWS) == list(DESED_CLASSES)
    assert list(RECIPE_STAGE2_WINDOWS.values()) == stage2
    grid = median_windows_grid()
    assert grid == list(range(1, 42)) and stage1 in grid
    assert set(median_windows_grid([30, 50])) == {4, 6, 7, 20, 30, 50}

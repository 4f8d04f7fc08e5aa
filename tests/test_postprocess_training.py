"""Tuned post-processing in the training scripts: validation scores written for tuning, and a test stage that
reports the tuned decoding's metrics beside the recipe's."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from conftest import tiny_config
from rescoring import rescored
from desed_task.evaluation.folders import read_score_folder
from desed_task.config.files import ConfigError
from desed_task.experiment.run import main
from desed_task.postprocess import MedianParams, tune_median, write_params

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def validation_scores(tiny_dataset, trained_checkpoint, tmp_path_factory) -> Path:
    """``--validate_from_checkpoint``: the validation sets scored, their raw scores and references written."""
    from desed_task.experiment.pipeline import run_experiment

    log_dir = tmp_path_factory.mktemp("validate")
    metrics = run_experiment(tiny_config(tiny_dataset, 1), log_dir, validate_from=str(trained_checkpoint))
    assert "val/teacher/synth_val_psds1" in metrics and not any(k.startswith("teacher/") for k in metrics)
    return Path(metrics["experiment_dir"]) / "validation" / "teacher" / "synth_val"


def test_validation_writes_what_tuning_reads(validation_scores):
    scores = read_score_folder(validation_scores / "scores" / "raw")
    truth = (validation_scores / "ground_truth.tsv").read_text().splitlines()
    assert truth[0].split("\t") == ["filename", "onset", "offset", "event_label"]
    assert {line.split("\t")[0].removesuffix(".wav") for line in truth[1:]} <= set(scores)
    assert (validation_scores / "durations.tsv").is_file()


def _tuned_median(validation_scores: Path, tmp_path: Path) -> Path:
    scores = read_score_folder(validation_scores / "scores" / "raw")
    params = tune_median(
        scores, validation_scores / "ground_truth.tsv", validation_scores / "durations.tsv", windows=(1, 5, 9)
    )
    path = tmp_path / "median.json"
    write_params(path, params)
    return path


def _conf(tmp_path: Path, dataset: Path) -> Path:
    import yaml

    path = tmp_path / "conf.yaml"
    config = tiny_config(dataset, 1)
    path.write_text(
        yaml.safe_dump(
            {
                "base": str(Path(__file__).parents[1] / "confs" / "demo_stage1.yaml"),
                "data": {"root": str(dataset)},
                "training": {
                    k: config["training"][k]
                    for k in ("batch_size", "batch_size_val", "num_workers", "n_test_thresholds", "enable_progress_bar")
                },
            }
        )
    )
    return path


def test_test_stage_reports_the_tuned_decoding_beside_the_recipes(
    validation_scores, tiny_dataset, trained_checkpoint, tmp_path
):
    params = _tuned_median(validation_scores, tmp_path)
    metrics = main(
        1,
        [
            "--conf_file",
            str(_conf(tmp_path, tiny_dataset)),
            "--log_dir",
            str(tmp_path / "exp"),
            "--gpus",
            "cpu",
            "--test_from_checkpoint",
            str(trained_checkpoint),
            "--postprocess",
            str(params),
        ],
    )
    exp_dir = Path(metrics["experiment_dir"])
    for model in ("student", "teacher"):
        recipe = rescored(exp_dir / "test" / model, tiny_dataset)
        tuned = rescored(exp_dir / "test" / model / "tuned_median", tiny_dataset)
        assert metrics[f"{model}/psds1_sed_scores_eval"] == pytest.approx(recipe["psds1_sed_scores_eval"], abs=1e-6)
        assert metrics[f"{model}/tuned_median/psds1_sed_scores_eval"] == pytest.approx(
            tuned["psds1_sed_scores_eval"], abs=1e-6
        )
    assert (exp_dir / "test" / "teacher" / "tuned_median" / "metrics.json").is_file()
    saved = json.loads((exp_dir / "metrics.json").read_text())
    assert "teacher/tuned_median/psds2_sed_scores_eval" in saved


@pytest.mark.skipif(importlib.util.find_spec("sebbs") is None, reason="needs the optional sebbs package")
def test_test_stage_with_csebb_parameters(validation_scores, tiny_dataset, trained_checkpoint, tmp_path):
    from desed_task.postprocess import tune_csebb

    scores = read_score_folder(validation_scores / "scores" / "raw")
    params = tune_csebb(
        scores,
        validation_scores / "ground_truth.tsv",
        validation_scores / "durations.tsv",
        step_filter_lengths=(0.48,),
        merge_thresholds_abs=(0.2,),
        merge_thresholds_rel=(2.0,),
    )
    write_params(tmp_path / "csebb.json", params)
    metrics = main(
        1,
        [
            "--conf_file",
            str(_conf(tmp_path, tiny_dataset)),
            "--log_dir",
            str(tmp_path / "exp"),
            "--gpus",
            "cpu",
            "--test_from_checkpoint",
            str(trained_checkpoint),
            "--postprocess",
            str(tmp_path / "csebb.json"),
        ],
    )
    tuned = rescored(Path(metrics["experiment_dir"]) / "test" / "teacher" / "tuned_csebb", tiny_dataset)
    assert metrics["teacher/tuned_csebb/psds1_sed_scores_eval"] == pytest.approx(
        tuned["psds1_sed_scores_eval"], abs=1e-6
    )


def test_parameters_that_do_not_fit_the_configuration_stop_before_anything_runs(tiny_dataset, tmp_path):
    from desed_task.experiment.builders import load_postprocess

    other = MedianParams({"Dog": 5, "Cat": 3}, frame_hop=0.064)
    write_params(tmp_path / "other.json", other)
    with pytest.raises(ConfigError, match="training.postprocess: .*different classes"):
        load_postprocess(tiny_config(tiny_dataset, 1, **{"training.postprocess": str(tmp_path / "other.json")}))
    classes = tiny_config(tiny_dataset, 1)["data"]["classes"]
    write_params(tmp_path / "hop.json", MedianParams({c: 5 for c in classes}, frame_hop=0.032))
    with pytest.raises(ConfigError, match="frame hop of 0.064 s but the median parameters were tuned at 0.032"):
        load_postprocess(tiny_config(tiny_dataset, 1, **{"training.postprocess": str(tmp_path / "hop.json")}))
    with pytest.raises(ConfigError, match="parameter file not found"):
        load_postprocess(tiny_config(tiny_dataset, 1, **{"training.postprocess": str(tmp_path / "none.json")}))

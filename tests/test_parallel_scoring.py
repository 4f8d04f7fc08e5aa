"""Scoring with worker processes gives exactly the serial numbers and files, on the real DESED validation ground
truth with scores shaped like a trained system's (``tools.eval_timing.synthetic_scores``)."""

from __future__ import annotations

import copy
import filecmp
import warnings

import numpy as np
import pandas as pd
import pytest

from desed_task.evaluation import median_filter_scores, psds_eval_scenarios, score_dataframes, write_test_outputs
from desed_task.evaluation.lazy import sed_scores_eval
from desed_task.evaluation.pool import ScoringPool, default_scoring_workers
from desed_task.evaluation.psds import SCENARIOS, psds_sed_scores_eval, scenario_psds, sed_scores_eval_inputs
from desed_task.evaluation.psds_shards import (
    clip_shards,
    event_covering_shards,
    submit_psds_sed_scores_eval,
    submit_scenario_psds,
)
from desed_task.evaluation.score_files import value_strings, write_score_folders
from tools.eval_timing import MEDIAN_WINDOW, synthetic_test_set

N_CLIPS = 300


@pytest.fixture(scope="module")
def pool():
    with ScoringPool(2) as workers:
        yield workers


@pytest.fixture(scope="module")
def desed(data_dir):
    """The first ``N_CLIPS`` clips of the DESED validation set: ground truth, durations, teacher score tables."""
    folder = data_dir / "desed_validation"
    durations = pd.read_csv(folder / "validation_durations.tsv", sep="\t").head(N_CLIPS)
    truth = pd.read_csv(folder / "validation.tsv", sep="\t")
    truth = truth[truth["filename"].isin(durations["filename"])].reset_index(drop=True)
    test_set = synthetic_test_set(truth, durations)
    encoder, scores = test_set.label_encoder, test_set.scores["teacher"]
    raw = score_dataframes(scores, test_set.clip_ids, encoder.labels, encoder.timestamps())
    smoothed = score_dataframes(
        median_filter_scores(scores, list(MEDIAN_WINDOW)), test_set.clip_ids, encoder.labels, encoder.timestamps()
    )
    return {"truth": truth, "durations": durations, "raw": raw, "smoothed": smoothed, "labels": encoder.labels}


def _files(folder):
    return sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())


@pytest.mark.slow
def test_test_stage_with_workers_writes_the_same_files_and_metrics(desed, pool, tmp_path):
    args = (desed["raw"], desed["smoothed"], desed["truth"], desed["durations"], desed["labels"])
    serial = write_test_outputs(tmp_path / "serial", *args, progress=False)
    parallel = write_test_outputs(tmp_path / "parallel", *args, progress=False, pool=pool)
    assert parallel == serial  # every metric, psds_eval and F1 included, to the last bit
    files = _files(tmp_path / "serial")
    assert files == _files(tmp_path / "parallel") and len(files) > 2 * N_CLIPS + 50
    texts = [f for f in files if f.suffix != ".png"]
    assert all(filecmp.cmp(tmp_path / "serial" / f, tmp_path / "parallel" / f, shallow=False) for f in texts)
    assert 0.3 < serial["psds1_sed_scores_eval"] < 1 and 0.3 < serial["psds1_psds_eval"] < 1


def test_sharded_sed_scores_eval_equals_its_own_computation_curves_included(desed, pool):
    inputs = sed_scores_eval_inputs(desed["smoothed"], desed["truth"], desed["durations"])
    pending = submit_scenario_psds(pool, *inputs, SCENARIOS)
    for key, scenario in SCENARIOS.items():
        value, per_class, (etpr, efpr) = scenario_psds(*inputs, scenario)
        shard_value, shard_per_class, (shard_etpr, shard_efpr) = pending[key].result()
        assert shard_value == value and shard_per_class == per_class
        assert np.array_equal(shard_etpr, etpr) and np.array_equal(shard_efpr, efpr)


@pytest.mark.slow
def test_validation_psds_with_workers_equals_the_serial_psds(desed, pool, tmp_path):
    serial = psds_sed_scores_eval(desed["raw"], desed["truth"], desed["durations"])
    parallel = submit_psds_sed_scores_eval(
        pool, desed["raw"], desed["truth"], desed["durations"], plot_dir=tmp_path
    ).result()
    assert parallel == serial
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "psd_roc_psds1_sed_scores_eval.png",
        "psd_roc_psds2_sed_scores_eval.png",
    ]


@pytest.mark.slow
def test_psds_eval_with_workers_skips_a_repeated_operating_point_as_psds_eval_does(data_dir, pool):
    from desed_task.evaluation import read_operating_points

    folder = data_dir / "desed_validation"
    points = read_operating_points(folder / "baseline_student" / "predictions_operating_points")
    points = dict(list(points.items())[::7])
    points[0.995] = points[min(points)].copy()  # the same detections at another threshold
    truth, durations = folder / "validation.tsv", folder / "validation_durations.tsv"
    assert psds_eval_scenarios(points, truth, durations, pool=pool) == psds_eval_scenarios(points, truth, durations)


def test_score_files_are_byte_for_byte_those_of_sed_scores_eval(desed, tmp_path):
    write = sed_scores_eval().base_modules.io.write_sed_scores
    odd = desed["raw"][next(iter(desed["raw"]))].copy()
    odd.iloc[0, 2:6] = [np.nan, -0.0, 1e-300, 123456789.125]
    odd.iloc[1, 2:4] = [5e-324, 1.0]
    tables = {**dict(list(desed["raw"].items())[:40]), "odd": odd}
    ints = odd.copy()
    ints["Dog"] = 1  # an integer column: written by write_sed_scores itself
    write_score_folders({tmp_path / "new": tables, tmp_path / "new_ints": {"ints": ints}})
    for name, table in {**tables, "ints": ints}.items():
        folder = "new_ints" if name == "ints" else "new"
        write(table, tmp_path / f"{name}.tsv")
        assert (tmp_path / folder / f"{name}.tsv").read_bytes() == (tmp_path / f"{name}.tsv").read_bytes(), name


def test_value_strings_are_numpys_shortest_repr_for_every_kind_of_float64(rng):
    values = rng.integers(0, 2**63, size=200_000, dtype=np.int64).view(np.float64)
    values = np.concatenate([values, rng.random(1000).astype(np.float32), [0.0, -0.0, np.inf, -np.inf, np.nan]])
    strings, inverse = value_strings(values)
    expected = values.astype(str)
    expected[np.isnan(values)] = ""
    assert strings[inverse].tolist() == expected.tolist()


def _warns_and_returns(value: int) -> int:
    warnings.warn(f"about {value}", UserWarning)
    return 2 * value


def _fails() -> None:
    raise KeyError("no such clip")


def test_a_workers_warnings_and_errors_reach_the_caller(pool):
    with pytest.warns(UserWarning, match="about 21"):
        assert pool.submit(_warns_and_returns, 21).result() == 42
    with pytest.raises(KeyError, match="no such clip"):
        pool.submit(_fails).result()


def test_without_workers_jobs_run_in_place_and_copies_carry_no_workers(pool):
    for workers in (0, 1):
        serial = ScoringPool(workers)
        with pytest.warns(UserWarning, match="about 1"):
            job = serial.submit(_warns_and_returns, 1)  # warned here, at once
        assert not serial.parallel and job.result() == 2
    assert pool.parallel and copy.deepcopy(pool)._executor is None
    with pytest.raises(ValueError, match="scoring workers must be >= 0"):
        ScoringPool(-1)


def test_default_workers_are_the_cores_the_loader_leaves_free(monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5}, raising=False)
    assert default_scoring_workers(4) == 2
    assert default_scoring_workers(8) == 1


def test_clip_shards_cover_the_clips_in_order():
    clips = [f"c{i:02d}" for i in range(10)]
    assert clip_shards(clips, 3) == [clips[0:3], clips[3:7], clips[7:]]
    assert clip_shards(clips[:2], 5) == [["c00"], ["c01"]]


def test_shards_hold_an_event_of_every_class_even_when_a_class_is_rare(desed, pool):
    """sed_scores_eval refuses clips without an event of some class: the shards are cut where each has one."""
    truth = desed["truth"]
    blender = truth.index[truth["event_label"] == "Blender"]
    rare = truth.drop(blender[1:]).reset_index(drop=True)  # one Blender event left, in one clip
    serial = psds_sed_scores_eval(desed["smoothed"], rare, desed["durations"])
    assert submit_psds_sed_scores_eval(pool, desed["smoothed"], rare, desed["durations"]).result() == serial


def test_event_covering_shards_are_contiguous_and_cover_every_class():
    events = {f"c{i}": [(0.0, 1.0, "Dog")] for i in range(8)}
    events["c6"] = [(0.0, 1.0, "Cat")]
    assert event_covering_shards(list(events), events, 2) == [[f"c{i}" for i in range(8)]]
    events["c1"] = [(0.0, 1.0, "Cat")]
    assert event_covering_shards(list(events), events, 2) == [["c0", "c1", "c2", "c3"], ["c4", "c5", "c6", "c7"]]
    assert event_covering_shards(list(events), events, 3) == [["c0", "c1", "c2"], ["c3", "c4", "c5", "c6", "c7"]]


@pytest.mark.slow
def test_a_run_validates_and_tests_with_workers_exactly_as_without(tiny_dataset, trained_checkpoint, tmp_path):
    from conftest import tiny_config

    from desed_task.experiment.pipeline import run_experiment

    runs = {}
    for workers in (0, 2):
        config = tiny_config(tiny_dataset, 1, **{"training.scoring_workers": workers})
        validation = run_experiment(config, tmp_path / f"validate{workers}", validate_from=str(trained_checkpoint))
        test = run_experiment(config, tmp_path / f"test{workers}", test_from=str(trained_checkpoint))
        runs[workers] = (
            {k: v for k, v in validation.items() if k.startswith("val/")},
            {k: v for k, v in test.items() if "/" in k},
        )
    assert runs[2] == runs[0]
    assert "val/teacher/synth_val_psds1" in runs[0][0] and "teacher/psds1_psds_eval" in runs[0][1]


@pytest.mark.parametrize("value", [-1, "two", 1.5, True])
def test_a_bad_scoring_workers_value_is_a_configuration_error_naming_the_key(value):
    from conftest import CONFS_DIR

    from desed_task.config.files import ConfigError, load_config

    with pytest.raises(ConfigError, match=r"training\.scoring_workers must be a non-negative integer .* or null"):
        load_config(CONFS_DIR / "stage1.yaml", {"training.scoring_workers": value})


def test_scoring_workers_null_becomes_the_cores_the_loader_leaves_free(monkeypatch):
    from conftest import CONFS_DIR

    from desed_task.experiment.builders import scoring_options
    from desed_task.config.files import load_config

    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(12)), raising=False)
    config = load_config(CONFS_DIR / "stage1.yaml")
    assert config["training"]["scoring_workers"] is None and config["training"]["num_workers"] == 8
    assert scoring_options(config).scoring_workers == 4
    config = load_config(CONFS_DIR / "stage1.yaml", {"training.scoring_workers": 0})
    assert scoring_options(config).scoring_workers == 0


@pytest.mark.slow
def test_the_timing_compares_serial_and_workers_on_the_same_numbers(data_dir):
    from tools.scoring_timing import compare_scoring, validation_sets

    folder = data_dir / "desed_validation"
    sets = validation_sets(folder / "validation.tsv", folder / "validation_durations.tsv", n_synthetic=50, n_real=60)
    assert len(sets["synth_val"].clip_ids) == 50 and sets["synth_val"].clip_ids[0].startswith("r0_")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # classes without events among so few clips
        results = compare_scoring(sets, workers=2, n_thresholds=3)
    assert results["validation_same"] and results["test_same"]
    assert results["validation_workers_cpu_s"] > 0 and results["workers_start_wall_s"] > 0


@pytest.mark.parametrize(
    "argv, message",
    [(["--workers", "1"], "--workers must be at least 2"), (["--json", "/no/such/folder/out.json"], "--json: folder")],
)
def test_the_timing_script_refuses_bad_flags_in_one_line(argv, message):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).parents[1] / "scripts" / "scoring_timing.py"
    done = subprocess.run([sys.executable, str(script), *argv], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and message in done.stderr
    assert len([line for line in done.stderr.splitlines() if "pkg_resources" not in line and line.strip()]) == 1

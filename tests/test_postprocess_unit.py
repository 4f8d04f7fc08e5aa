"""The post-processing unit: a new method is one file (tests/toy_postprocess.py) plus a registry entry, and it
tunes, applies and decodes through the same entry points as median and cSEBB (the ``tune``/``apply`` command
line, the parameter file, inference's ``--postprocess`` and the test stage's ``training.postprocess``)."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from operating_point_scores import DESED_CLASSES
from toy_postprocess import FloorParams, floored

from desed_task.evaluation import decode_events, read_score_folder
from desed_task.evaluation.evaluate_command import main as evaluate_main
from desed_task.postprocess import METHODS, PostprocessError, params_from_dict, read_params, write_params
from desed_task.postprocess.postprocess_command import main

SR = 16000


@pytest.fixture
def floor_registered(monkeypatch):
    monkeypatch.setitem(METHODS, FloorParams.method, FloorParams)


def test_a_new_method_tunes_and_applies_through_the_command_line(floor_registered, validation, tmp_path, capsys):
    params_path = tmp_path / "floor.json"
    assert (
        main(
            [
                "tune",
                "--method",
                "floor",
                "--scores",
                str(validation["scores"]),
                "--ground_truth",
                str(validation["truth"]),
                "--durations",
                str(validation["durations"]),
                "--out",
                str(params_path),
                "--floors",
                "0,0.2,0.5",
                "--quiet",
            ]
        )
        == 0
    )
    assert "floor: PSDS1" in capsys.readouterr().out
    stored = json.loads(params_path.read_text())
    assert stored["method"] == "floor" and list(stored["classes"]) == list(DESED_CLASSES)
    assert {v["floor"] for v in stored["classes"].values()} <= {0.0, 0.2, 0.5}
    params = read_params(params_path)
    assert isinstance(params, FloorParams) and params.tuning["selected"] in stored["tuning"]["psds_of"]
    write_params(tmp_path / "again.json", params)
    assert (tmp_path / "again.json").read_bytes() == params_path.read_bytes()

    out = tmp_path / "scores_floor"
    assert (
        main(
            ["apply", "--params", str(params_path), "--scores", str(validation["scores"]), "--out", str(out), "--quiet"]
        )
        == 0
    )
    assert "floor: 49 score files" in capsys.readouterr().out
    raw, applied = read_score_folder(validation["scores"]), read_score_folder(out)
    floors = np.array([params.floors[c] for c in DESED_CLASSES])
    for clip, table in raw.items():
        expected = floored(table[list(DESED_CLASSES)].to_numpy(float).T, floors).T
        np.testing.assert_allclose(applied[clip][list(DESED_CLASSES)].to_numpy(float), expected, atol=1e-6)
    metrics = tmp_path / "metrics.json"
    assert (
        evaluate_main(
            [
                "--ground_truth",
                str(validation["truth"]),
                "--durations",
                str(validation["durations"]),
                "--scores",
                str(out),
                "--quiet",
                "--json",
                str(metrics),
            ]
        )
        == 0
    )
    assert json.loads(metrics.read_text())["psds1_sed_scores_eval"] == pytest.approx(stored["tuning"]["psds"], abs=1e-6)


def test_the_registry_names_the_methods_and_the_file_keys_are_the_methods(floor_registered, capsys):
    with pytest.raises(PostprocessError, match=r"'method' must be one of \['median', 'csebb', 'floor'\]"):
        params_from_dict({"method": "flor", "classes": {"Cat": {"floor": 0.1}}})
    with pytest.raises(PostprocessError, match=r"classes.Cat: unknown key\(s\) \['window_frames'\]"):
        params_from_dict({"method": "floor", "classes": {"Cat": {"window_frames": 3}}})
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "floor   scores below a floor per class become 0" in capsys.readouterr().out


def test_a_new_method_decodes_at_inference(floor_registered, tiny_checkpoint, tmp_path, caplog):
    from desed_task.inference import SoundEventDetector
    from desed_task.inference.detect_command import main as detect_main

    rng = np.random.default_rng(5)
    audio = (0.1 * rng.standard_normal(10 * SR) * np.repeat(rng.random(10) > 0.5, SR)).astype(np.float32)
    plain = SoundEventDetector.from_checkpoint(tiny_checkpoint, device="cpu", precision="fp32")
    raw = plain(audio, sample_rate=SR)
    floors = {c: float(np.quantile(raw.scores[i], 0.5)) for i, c in enumerate(plain.classes)}  # halves each class
    write_params(tmp_path / "floor.json", FloorParams(floors))
    detector = SoundEventDetector.from_checkpoint(
        tiny_checkpoint, device="cpu", precision="fp32", postprocess=tmp_path / "floor.json"
    )
    assert detector.decoder.description == f"floors from {tmp_path / 'floor.json'}"
    result = detector(audio, sample_rate=SR, threshold=0.1)
    np.testing.assert_array_equal(result.scores, raw.scores)
    expected = floored(raw.scores, np.array([floors[c] for c in plain.classes]))
    np.testing.assert_array_equal(result.smoothed, expected)
    assert (expected == 0).any() and not np.array_equal(expected, raw.scores)
    events = decode_events(expected, 0.1, plain.classes, result.timestamps)
    assert sorted(map(tuple, result.events.to_numpy().tolist())) == sorted(events)

    sf.write(tmp_path / "rec.wav", audio, SR)
    with caplog.at_level(logging.INFO):
        assert (
            detect_main(
                [
                    str(tmp_path / "rec.wav"),
                    "--checkpoint",
                    str(tiny_checkpoint),
                    "--tsv",
                    str(tmp_path / "events.tsv"),
                    "--threshold",
                    "0.1",
                    "--postprocess",
                    str(tmp_path / "floor.json"),
                    "--precision",
                    "fp32",
                    "--quiet",
                ]
            )
            == 0
        )
    assert "decoding: floors from" in caplog.text
    table = pd.read_csv(tmp_path / "events.tsv", sep="\t")
    assert len(table) == len(result.events)


def test_the_test_stage_takes_a_new_method(floor_registered, tiny_dataset, tmp_path):
    from conftest import tiny_config
    from desed_task.experiment.builders import load_postprocess
    from desed_task.config.files import ConfigError

    classes = tiny_config(tiny_dataset, 1)["data"]["classes"]
    write_params(tmp_path / "floor.json", FloorParams({c: 0.25 for c in classes}))
    params = load_postprocess(tiny_config(tiny_dataset, 1, **{"training.postprocess": str(tmp_path / "floor.json")}))
    assert params == FloorParams({c: 0.25 for c in classes})
    write_params(tmp_path / "other.json", FloorParams({"Cat": 0.25}))
    with pytest.raises(ConfigError, match="training.postprocess: data.classes and the floor parameters"):
        load_postprocess(tiny_config(tiny_dataset, 1, **{"training.postprocess": str(tmp_path / "other.json")}))

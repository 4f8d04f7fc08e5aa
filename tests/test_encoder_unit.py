"""The encoder unit: a second encoder is one file (tests/toy_encoder.py) plus a registry entry, and it trains,
tests and detects through the same code as FrameATST; configurations in the earlier layout are read."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
import yaml

from conftest import CONFS_DIR, tiny_config
from desed_task.config.files import ConfigError, load_config, resolve_config
from desed_task.config.renamed_keys import RenamedKeyWarning
from desed_task.experiment.pipeline import run_experiment
from desed_task.nnet import ENCODERS
from rescoring import rescored
from toy_encoder import ToyEncoder


@pytest.fixture
def toy_registered(monkeypatch):
    monkeypatch.setitem(ENCODERS, ToyEncoder.name, ToyEncoder)


def test_all_trainable_layers_of_another_encoder_unit_counts_its_groups(toy_registered):
    config = resolve_config(
        {"encoder": {"name": "toy", "random_init": True}, "opt": {"encoder_trainable_layers": "all"}}
    )
    assert config["opt"]["encoder_trainable_layers"] == 2


@pytest.mark.slow
def test_a_second_encoder_trains_tests_and_detects_through_the_same_code(toy_registered, tiny_dataset, tmp_path):
    config = tiny_config(
        tiny_dataset,
        1,
        **{"encoder": {"name": "toy", "random_init": True, "width": 8, "frontend": {"hop_length": 128}}},
    )
    assert config["encoder"] == {
        "name": "toy",
        "init": None,
        "random_init": True,
        "width": 8,
        "frontend": {"n_fft": 512, "win_length": 512, "hop_length": 128, "f_min": 0.0, "f_max": 8000.0},
    }
    metrics = run_experiment(config, tmp_path / "stage1")
    again = rescored(Path(metrics["experiment_dir"]) / "test" / "teacher", tiny_dataset)
    assert metrics["teacher/psds1_sed_scores_eval"] == pytest.approx(again["psds1_sed_scores_eval"], abs=1e-6)
    checkpoint = torch.load(metrics["last_checkpoint"], weights_only=True)
    assert any(k.startswith("sed_student.toy_encoder.embed.") for k in checkpoint["state_dict"])

    stage2 = tiny_config(
        tiny_dataset,
        2,
        **{
            "encoder": config["encoder"],
            "opt.encoder_trainable_layers": 2,
            "training.init_checkpoint": metrics["last_checkpoint"],
        },
    )
    stage2_metrics = run_experiment(stage2, tmp_path / "stage2", fast_dev_run=True)
    again = rescored(Path(stage2_metrics["experiment_dir"]) / "test" / "student", tiny_dataset)
    assert stage2_metrics["student/psds1_sed_scores_eval"] == pytest.approx(again["psds1_sed_scores_eval"], abs=1e-6)

    from desed_task.inference import SoundEventDetector

    detector = SoundEventDetector.from_checkpoint(metrics["last_checkpoint"], device="cpu")
    assert detector.encoder_frontend.hop_length == 128 and detector.network.encoder.frame_rate == 15.625
    detection = detector(torch.zeros(16000 * 3).numpy(), sample_rate=16000)
    assert detection.scores.shape[0] == 10


def test_the_toy_encoder_loads_its_own_pretrained_layout(toy_registered, tmp_path):
    from desed_task.experiment.builders import build_network

    weights = {f"model.encoder.{k}": torch.randn_like(v) for k, v in ToyEncoder(width=8).state_dict().items()}
    path = tmp_path / "toy.ckpt"
    torch.save({"state_dict": {**weights, "head.w": torch.zeros(1)}}, path)
    config = resolve_config({"encoder": {"name": "toy", "init": str(path), "width": 8}})
    network = build_network(config)
    assert torch.equal(network.encoder.embed.weight, weights["model.encoder.embed.weight"])
    with pytest.raises(ConfigError, match="encoder.init is not set.*toy.ckpt from nowhere"):
        build_network(resolve_config({"encoder": {"name": "toy"}}))


def _earlier_layout(tmp_path, **changes) -> tuple:
    """demo_stage1.yaml as this project wrote it before the encoder unit, and the same in the current layout."""
    old = {
        "base": str(CONFS_DIR / "stage1.yaml"),
        "data": {"root": str(tmp_path), "fs": 16000, "net_subsample": 2},
        "opt": {"lr": 0.002, "cnn_lr": 0.002},
        "feats": {"sample_rate": 16000, "n_fft": 1024, "win_length": 1024, "hop_length": 512, "n_mels": 64},
        "atst_feats": {"sample_rate": 16000, "n_mels": 64, "top_db": 70.0, "top_db_scope": "clip"},
        "net": {
            "nb_filters": [16, 32, 32, 64, 64, 64],
            "pooling": [[2, 2], [1, 2], [1, 2], [1, 2], [1, 2], [1, 2]],
            "atst_embed_dim": 64,
            "atst_depth": 2,
            "atst_num_heads": 2,
        },
        "ultra": {"atst_random_init": True, "atst_dropout": 0.1, "activation_checkpointing": True},
    }
    for dotted, value in changes.items():
        section, key = dotted.split(".")
        old[section][key] = value
    path = tmp_path / "old.yaml"
    path.write_text(yaml.safe_dump(old))
    return path


def test_an_earlier_layout_is_read_with_one_warning_per_key(tmp_path):
    with pytest.warns(RenamedKeyWarning) as record:
        config = load_config(_earlier_layout(tmp_path))
    messages = [str(w.message) for w in record]
    for said in (
        "'atst_feats.top_db' is now called 'encoder.frontend.top_db'",
        "'opt.lr' is now called 'opt.rnn_lr'",
        "'net.atst_depth' is now called 'encoder.depth'",
        "'ultra.atst_dropout' is now called 'encoder.dropout'",
        "'data.net_subsample' is no longer a setting of its own (net.pooling gives 2)",
        "'feats.sample_rate' is no longer a setting of its own (data.fs gives 16000)",
        "'atst_feats.n_mels' is no longer a setting of its own (the frame_atst encoder gives 64)",
    ):
        assert sum(said in message for message in messages) == 1, said
    named = [message.split("'")[1] for message in messages]
    assert len(named) == len(set(named)) == 17  # each earlier key once: feats 5, atst_feats 4, net 3, ultra 3, opt.lr,
    # data.net_subsample
    encoder = config["encoder"]
    assert (encoder["embed_dim"], encoder["depth"], encoder["num_heads"], encoder["dropout"]) == (64, 2, 2, 0.1)
    assert encoder["random_init"] and encoder["activation_checkpointing"]
    assert encoder["frontend"]["top_db"] == 70.0 and encoder["frontend"]["top_db_scope"] == "clip"
    assert config["opt"]["rnn_lr"] == 0.002 and "lr" not in config["opt"]
    assert "net_subsample" not in config["data"] and "sample_rate" not in config["net"]["frontend"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_config(CONFS_DIR / "demo_stage1.yaml")  # the current layout: no warning


@pytest.mark.parametrize(
    "change,message",
    [
        ({"data.net_subsample": 4}, "data.net_subsample is 4 but net.pooling gives 2"),
        ({"feats.sample_rate": 22050}, "feats.sample_rate is 22050 but data.fs gives 16000"),
        ({"atst_feats.n_mels": 128}, "atst_feats.n_mels is 128 but the frame_atst encoder gives 64"),
    ],
)
def test_earlier_copies_of_derived_values_must_agree(tmp_path, change, message):
    with pytest.raises(ConfigError, match=message + ".*remove"):
        load_config(_earlier_layout(tmp_path, **change))


def test_a_copy_of_a_derived_value_is_named_as_written(tmp_path):
    with pytest.raises(
        ConfigError, match="net.frontend.sample_rate is 22050 but data.fs gives 16000.*remove net.frontend.sample_rate"
    ):
        resolve_config({"net": {"frontend": {"sample_rate": 22050}}})
    with pytest.warns(RenamedKeyWarning, match="'encoder.frontend.n_mels' is no longer a setting of its own") as record:
        config = resolve_config({"encoder": {"frontend": {"n_mels": 64}}})
    assert len(record) == 1 and "n_mels" not in config["encoder"]["frontend"]


def test_an_earlier_stage2_keeps_its_objective_and_fixed_ema(tmp_path):
    with pytest.warns(RenamedKeyWarning, match="training.objective: synth_psds, training.ema_warmup: false"):
        config = resolve_config({"training": {"stage": 2, "ema_warmup": True}, "ultra": {"atst_dropout": 0.0}})
    assert config["training"]["objective"] == "synth_psds" and config["training"]["ema_warmup"] is False
    given = resolve_config({"training": {"stage": 2, "objective": "val_loss"}, "opt": {"lr": 1e-3}})
    assert given["training"]["objective"] == "val_loss" and given["training"]["ema_warmup"] is False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        current = resolve_config({"training": {"stage": 2}, "encoder": {"dropout": 0.0}})
    assert current["training"]["objective"] == "val_loss" and current["training"]["ema_warmup"] is True


def test_an_earlier_stage1_base_implies_nothing_for_a_current_stage2_file(tmp_path):
    base = tmp_path / "old_stage1.yaml"
    base.write_text(
        yaml.safe_dump(
            {
                "base": str(CONFS_DIR / "stage1.yaml"),
                "opt": {"lr": 0.002},
                "atst_feats": {"sample_rate": 16000, "top_db": 70.0},
            }
        )
    )
    child = tmp_path / "stage2.yaml"
    child.write_text(yaml.safe_dump({"base": base.name, "training": {"stage": 2}}))
    with pytest.warns(RenamedKeyWarning) as record:
        config = load_config(child)
    assert not any("implies" in str(w.message) for w in record)
    assert config["training"]["objective"] == "val_loss" and config["training"]["ema_warmup"] is True
    assert config["opt"]["rnn_lr"] == 0.002 and config["encoder"]["frontend"]["top_db"] == 70.0

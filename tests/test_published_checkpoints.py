"""The authors' published stage-2 checkpoint (Stage2_wo_ext.ckpt) detects as it is, without a configuration:
its ``hyper_parameters`` in the original code's layout are mapped onto ours (``config/original_layout.py``).

The checkpoint is built in the published layout with every key of ``atst_sed_crnn_state_dict.tsv``, its encoder
at width 64 (``published_checkpoint.py``).
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import CONFS_DIR
from desed_task.data import DESED_CLASSES
from desed_task.config.files import ConfigError, load_config
from desed_task.config.original_layout import from_original_layout, is_original_layout
from desed_task.inference import SoundEventDetector
from desed_task.inference.detect_command import main as inference_main
from desed_task.nnet import CheckpointError
from golden_weights import CRNN_KEYS_TSV, read_key_table
from published_checkpoint import ORIGINAL_STAGE2_HPARAMS, original_hparams, write_published_checkpoint

SR = 16000


@pytest.fixture(scope="module")
def published(training_step_golden, tmp_path_factory):
    path = tmp_path_factory.mktemp("published") / "Stage2_wo_ext.ckpt"
    nets = write_published_checkpoint(training_step_golden, path, ORIGINAL_STAGE2_HPARAMS)
    return path, nets


@pytest.fixture(scope="module")
def noise_clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("clip") / "noise.wav"
    sf.write(path, 0.1 * np.random.default_rng(0).standard_normal(4 * SR).astype(np.float32), SR)
    return path


def test_the_built_checkpoint_has_every_published_key(published):
    _, nets = published
    assert set(nets["sed_teacher"]) == {key for key, _, _ in read_key_table(CRNN_KEYS_TSV)}


def test_the_original_layout_maps_onto_ours():
    assert is_original_layout(ORIGINAL_STAGE2_HPARAMS)
    assert not is_original_layout(load_config(CONFS_DIR / "stage2.yaml"))
    translation = from_original_layout(ORIGINAL_STAGE2_HPARAMS)
    config = translation.config
    assert config["data"] == {"fs": 16000, "classes": list(DESED_CLASSES), "audio_max_len": 10}
    assert config["net"].pop("frontend") == {
        "n_mels": 128,
        "n_fft": 2048,
        "win_length": 2048,
        "hop_length": 256,
        "f_min": 0,
        "f_max": 8000,
    }
    assert config["net"] == {
        "n_in_channel": 1,
        "nb_filters": [16, 32, 64, 128, 128, 128, 128],
        "pooling": [[2, 2], [2, 2], [1, 2], [1, 2], [1, 2], [1, 2], [1, 2]],
        "n_rnn_cell": 128,
        "rnn_layers": 2,
        "rnn_dropout": 0,
        "cnn_dropout": 0.5,
        "dropout": 0.5,
        "kernel_size": 3,
        "padding": 1,
    }
    assert config["encoder"] == {"dropout": 0.0, "embed_dim": 64, "depth": 12, "num_heads": 1}
    assert config["training"] == {"median_window": [6, 20, 7, 4, 7, 6, 6, 6, 6, 6]}
    notes = "\n".join(translation.notes)
    for said in (
        "data.classes: the default DESED list",
        "encoder.embed_dim = 64: from net.embedding_size",
        "net.frontend.n_fft = 2048: from feats.n_filters",
        "data.fs = 16000: from data.fs and feats.sample_rate",
        "net.cnn_dropout = 0.5: from net.dropout",
        "never read",
    ):
        assert said in notes


@pytest.mark.parametrize(
    "sections,message",
    [
        ({"net": {"activation": "relu"}}, "net.activation is 'relu'; this network implements only 'cg'"),
        ({"net": {"rnn_type": "BLSTM"}}, "net.rnn_type"),
        ({"net": {"kernel_size": [3, 3, 5, 3, 3, 3, 3]}}, "net.kernel_size is .*one kernel_size for every block"),
        ({"net": {"stride": [1, 2, 1, 1, 1, 1, 1]}}, "net.stride"),
        ({"net": {"nclass": 11}}, "net.nclass is 11 but the original stores no class names"),
        ({"feats": {"sample_rate": 44100}}, "sample rates disagree"),
        ({"data": {"net_subsample": 8}}, "data.net_subsample is 8 but net.pooling's time factors give 4"),
    ],
)
def test_an_original_network_this_project_does_not_implement_is_named(sections, message):
    with pytest.raises(ConfigError, match=message):
        from_original_layout(original_hparams(**sections))


def test_the_published_checkpoint_detects_without_a_configuration(published, noise_clip, caplog):
    path, nets = published
    with caplog.at_level(logging.INFO, logger="desed_task"):
        detector = SoundEventDetector.from_checkpoint(path, device="cpu")
    logged = caplog.text
    assert "original ATST-SED layout was mapped" in logged and "data.classes: the default DESED list" in logged
    assert detector.median_window == [6, 20, 7, 4, 7, 6, 6, 6, 6, 6]
    network_weights = detector.network.state_dict()
    assert all(torch.equal(network_weights[key], value) for key, value in nets["sed_teacher"].items())
    result = detector(noise_clip)
    assert result.scores.shape[0] == len(DESED_CLASSES)
    # The same network built from our own recipe configuration, at the checkpoint's sizes, detects the same.
    config = load_config(CONFS_DIR / "stage2.yaml", {"encoder.embed_dim": 64, "encoder.num_heads": 1})
    explicit = SoundEventDetector.from_checkpoint(path, config=config, device="cpu")
    np.testing.assert_allclose(explicit(noise_clip).scores, result.scores, atol=1e-6)


def test_the_published_checkpoint_through_the_command_line_without_config(published, noise_clip, tmp_path):
    out = tmp_path / "events.tsv"
    assert inference_main([str(noise_clip), "--checkpoint", str(published[0]), "--tsv", str(out), "--quiet"]) == 0
    assert out.read_text().splitlines()[0].split("\t") == ["filename", "onset", "offset", "event_label"]


def test_a_stored_configuration_that_does_not_fit_the_weights_asks_for_one(training_step_golden, tmp_path):
    path = tmp_path / "mismatch.ckpt"
    write_published_checkpoint(training_step_golden, path, original_hparams(net={"n_RNN_cell": 64}))
    with pytest.raises(CheckpointError, match="built from the configuration stored in the checkpoint.*--config"):
        SoundEventDetector.from_checkpoint(path, device="cpu")

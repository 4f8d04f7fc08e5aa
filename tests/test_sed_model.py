"""SEDModel: the bundle of front-ends, CRNN and labels, its builder, its file, and inference's independence from
training."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from desed_task.config.files import load_config
from desed_task.nnet import CheckpointError
from desed_task.nnet.sed_model_builder import build_encoder, build_network, build_sed_model
from desed_task.nnet.sed_model_file import load_sed_model, save_sed_model

CONFS = Path(__file__).resolve().parents[1] / "confs"


@pytest.fixture(scope="module")
def demo():
    config = load_config(CONFS / "demo_stage1.yaml")
    network = build_network(config, build_encoder(config)).eval()
    return config, build_sed_model(config, network)


def test_scores_are_the_network_on_both_streams_features(demo):
    config, model = demo
    audio = torch.randn(2, int(config["data"]["fs"] * config["data"]["audio_max_len"]))
    sed = model.sed_frontend.scale(model.sed_frontend.mel(audio))
    encoder = model.network.encoder.frontend.scale(model.network.encoder.frontend.mel(audio))
    with torch.no_grad():
        expected = model.network(sed, encoder)
        strong, weak = model.scores(audio)
    assert torch.equal(strong, expected[0]) and torch.equal(weak, expected[1])
    assert strong.shape == (2, len(config["data"]["classes"]), model.label_encoder.n_frames)


def test_the_builder_gives_every_part_the_configured_rate_and_hop(demo):
    config, model = demo
    rate, hop = config["data"]["fs"], config["net"]["frontend"]["hop_length"]
    assert model.sample_rate == model.sed_frontend.sample_rate == model.encoder_frontend.sample_rate == rate
    assert model.sed_frontend.hop_length == model.label_encoder.frame_hop == hop
    assert model.frame_samples == hop * model.network.time_pooling
    assert model.classes == list(config["data"]["classes"])


def test_batch_independent_keeps_network_and_labels(demo):
    _, model = demo
    independent = model.batch_independent()
    assert independent.network is model.network and independent.label_encoder is model.label_encoder
    assert independent.encoder_frontend.top_db_scope == "clip"


def test_a_saved_model_loads_with_its_weights_and_scores_the_same(demo, tmp_path):
    config, model = demo
    path = tmp_path / "model.pt"
    save_sed_model(path, model, config)
    loaded, stored = load_sed_model(path)
    assert stored["net"] == config["net"] and stored["data"]["classes"] == list(config["data"]["classes"])
    audio = torch.randn(1, int(config["data"]["fs"] * config["data"]["audio_max_len"]))
    with torch.no_grad():
        assert torch.equal(loaded.eval().scores(audio)[0], model.scores(audio)[0])


def test_a_model_file_detects_without_the_training_code(demo, tmp_path):
    config, model = demo
    path = tmp_path / "model.pt"
    save_sed_model(path, model, config)
    probe = (
        "import sys, numpy as np\n"
        "from desed_task.inference import SoundEventDetector\n"
        f"detector = SoundEventDetector.from_model_file({str(path)!r}, device='cpu', hop=10.0)\n"
        "result = detector(np.zeros(16000 * 4, dtype=np.float32), sample_rate=16000)\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('lightning', 'pytorch_lightning')\n"
        "          or m.startswith(('desed_task.training', 'desed_task.experiment'))]\n"
        "print(result.scores.shape[0], loaded)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.split("\n")[-2] == f"{len(config['data']['classes'])} []"


def test_a_file_without_a_model_is_named(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"state_dict": {}}, path)
    with pytest.raises(CheckpointError, match="is not a SEDModel file"):
        load_sed_model(path)


def test_a_stored_configuration_without_a_section_is_named(demo, tmp_path):
    config, model = demo
    path = tmp_path / "model.pt"
    save_sed_model(path, model, config)
    stored = torch.load(path, weights_only=True)
    del stored["sed_model_config"]["net"]
    torch.save(stored, path)
    with pytest.raises(CheckpointError, match="without net"):
        load_sed_model(path)


@pytest.mark.parametrize("module", ["desed_task.inference", "desed_task.nnet.sed_model_file"])
def test_inference_imports_no_training_code(module):
    probe = (
        f"import sys, {module}\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('lightning', 'pytorch_lightning')\n"
        "          or m.startswith(('desed_task.training', 'desed_task.experiment'))]\n"
        "print(loaded)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_the_network_of_an_experiment_is_built_without_its_assembly():
    probe = "import sys, desed_task.config.checkpoint\nprint('desed_task.experiment.builders' in sys.modules)\n"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


@pytest.mark.slow
def test_a_stage_checkpoint_detects_without_the_training_code(trained_checkpoint):
    """Reading the configuration a Lightning stage checkpoint stores and building its detector import neither
    Lightning nor the training or experiment code."""
    probe = (
        "import sys, desed_task.inference\n"
        "from desed_task.inference import SoundEventDetector\n"
        f"SoundEventDetector.from_checkpoint({str(trained_checkpoint)!r}, device='cpu')\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('lightning', 'pytorch_lightning')\n"
        "          or m.startswith(('desed_task.training', 'desed_task.experiment'))]\n"
        "print(loaded)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "[]"

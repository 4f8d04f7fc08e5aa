"""The bf16-against-float32 measurement (scripts/inference_precision.py) on a tiny network: every number it
reports is there and plausible, and the PSDS of both precisions are those of the evaluation on the same scores."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from desed_task.data import DESED_CLASSES, LabelEncoder
from desed_task.evaluation.psds import psds_sed_scores_eval
from desed_task.features import SEDFrontend
from desed_task.inference import SoundEventDetector
from desed_task.nnet import CRNN, FrameATSTEncoder, SEDModel
from tools.inference_precision import clips_per_second, compare_checkpoint_scores, score_folder


def test_clips_per_second_times_both_precisions_at_both_batches():
    network = CRNN(FrameATSTEncoder(embed_dim=32, depth=1, num_heads=2), nb_filters=(4,) * 7, n_rnn_cell=8)
    calls = []

    def make(precision, batch):
        calls.append((precision, batch))
        model = SEDModel(network, SEDFrontend(), LabelEncoder(DESED_CLASSES))
        return SoundEventDetector(model, hop=10.0, batch_size=batch, precision=precision)

    speed = clips_per_second(make, batches=(1, 2), n_chunks=2, rounds=1)
    assert sorted(calls) == [("bf16", 1), ("bf16", 2), ("fp32", 1), ("fp32", 2)]
    assert set(speed) == {"fp32_bs1", "fp32_bs2", "bf16_bs1", "bf16_bs2"}
    assert all(0 < value < 1e4 for value in speed.values())


def test_checkpoint_scores_in_both_precisions(tiny_checkpoint, tiny_dataset):
    checkpoint = tiny_checkpoint
    audio = tiny_dataset / "audio/validation/validation_16k"
    truth = tiny_dataset / "metadata/validation/validation.tsv"
    durations = tiny_dataset / "metadata/validation/validation_durations.tsv"
    result = compare_checkpoint_scores(checkpoint, audio, truth, durations)
    assert result["clips"] == len(list(audio.glob("*.wav")))
    assert 0 < result["max_score_diff"] < 0.1
    fp32 = score_folder(SoundEventDetector.from_checkpoint(checkpoint, device="cpu"), sorted(audio.glob("*.wav")))
    expected = psds_sed_scores_eval(fp32, truth, durations)
    assert result["psds1_fp32"] == expected["psds1"] and result["psds2_fp32"] == expected["psds2"]
    assert np.isclose(result["delta_psds1"], result["psds1_bf16"] - result["psds1_fp32"])


@pytest.mark.parametrize("flag", ["--ground_truth", "--ground-truth"])
def test_script_runs_from_another_folder_and_takes_both_spellings_of_a_flag(flag, tmp_path):
    """Without PYTHONPATH, from a folder outside the checkout: the script finds tools/ itself; the hyphenated
    spelling is an alias of the snake_case flag (both reach the check that the scoring flags go together), and a
    usage error is one line with exit status 2."""
    script = Path(__file__).resolve().parents[1] / "scripts" / "inference_precision.py"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, str(script), "--json", "out.json", flag, "truth.tsv"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in done.stderr.splitlines() if line.strip() and "pkg_resources" not in line]
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert "--checkpoint, --audio, --ground_truth and --durations go together" in lines[0]
    assert not (tmp_path / "out.json").exists()

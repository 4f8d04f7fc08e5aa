"""``python -m desed_task.inference``: real recordings, other sample rates and channel counts, short and long
clips, one DESED tsv, plots, and nothing written when something is wrong."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import soxr
import torch
from test_inference import tiny_task, write_checkpoint

from desed_task.data.audio import load_audio
from desed_task.inference.detect_command import main, plot_paths
from desed_task.inference.recordings import expand_inputs, table_names

AUDIO_DIR = Path(__file__).parent / "data" / "audio"
REAL = sorted(AUDIO_DIR.glob("*.wav"))
REPO = Path(__file__).parent.parent
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SR = 16000


@pytest.fixture(scope="module")
def recordings(tmp_path_factory) -> dict[str, float]:
    """The real recordings plus a 44.1 kHz stereo copy, a 0.6 s clip and a 65 s clip; name → duration (s)."""
    folder = tmp_path_factory.mktemp("recordings")
    english, sr = load_audio(AUDIO_DIR / "speech_english_10s_float32.wav")
    mandarin, _ = load_audio(AUDIO_DIR / "speech_mandarin_4s_pcm16.wav")
    stereo = soxr.resample(np.stack([mandarin, 0.3 * mandarin], axis=1), sr, 44100, quality="HQ")  # (n, 2)
    sf.write(folder / "mandarin_44k_stereo.wav", stereo, 44100, subtype="PCM_16")
    sf.write(folder / "short.wav", english[: int(0.6 * sr)], sr)
    noise = 0.05 * np.random.default_rng(0).standard_normal(65 * sr).astype(np.float32)
    noise[: len(english)] += english
    noise[30 * sr : 30 * sr + len(mandarin)] += mandarin
    sf.write(folder / "long.flac", noise, sr)
    paths = [*REAL, *sorted(folder.iterdir())]
    return {str(path): sf.info(str(path)).duration for path in paths}


@pytest.fixture(scope="module")
def quiet_checkpoint(tmp_path_factory) -> Path:
    """A small checkpoint whose network never fires (scores ≈ 0), for the error and silence paths."""
    tmp = tmp_path_factory.mktemp("cli_checkpoint")
    task, config = tiny_task(tmp)
    with torch.no_grad():
        for net in (task.sed_student, task.sed_teacher):
            net.dense.bias.fill_(-30.0)
    return write_checkpoint(task, config, tmp / "quiet.ckpt")


@pytest.mark.slow
def test_cli_on_recordings_with_a_trained_checkpoint(trained_checkpoint, recordings, tmp_path):
    tsv, plot = tmp_path / "out" / "events.tsv", tmp_path / "plots" / "sed.png"
    argv = [
        *recordings,
        "--checkpoint",
        str(trained_checkpoint),
        "--tsv",
        str(tsv),
        "--plot",
        str(plot),
        "--threshold",
        "0.3",
        "--hop",
        "8",
        "--device",
        "cpu",
        "--quiet",
    ]
    assert main(argv) == 0
    table = pd.read_csv(tsv, sep="\t")
    assert list(table.columns) == ["filename", "onset", "offset", "event_label"]
    durations = {Path(path).name: duration for path, duration in recordings.items()}
    assert set(table["filename"]) == set(durations)  # an untrained network at 0.3 fires in every file
    assert (table["onset"] >= 0).all() and (table["onset"] < table["offset"]).all()
    assert (table["offset"] <= table["filename"].map(durations) + 5e-4).all()  # 3 decimals written
    assert table.loc[table["filename"] == "long.flac", "offset"].max() > 60.0
    checkpoint_classes = torch.load(trained_checkpoint, weights_only=True)["hyper_parameters"]["data"]["classes"]
    assert set(table["event_label"]) <= set(checkpoint_classes)
    pngs = sorted(plot.parent.glob("*.png"))
    assert [p.name for p in pngs] == sorted(f"sed_{Path(p).stem}.png" for p in recordings)
    assert all(p.read_bytes()[:8] == PNG_MAGIC and p.stat().st_size > 10_000 for p in pngs)


def test_cli_silence_prints_no_events(quiet_checkpoint, tmp_path, capsys):
    silence = tmp_path / "silence.wav"
    sf.write(silence, np.zeros(5 * 16000, dtype=np.float32), 16000)
    assert (
        main(
            [
                str(silence),
                "--checkpoint",
                str(quiet_checkpoint),
                "--device",
                "cpu",
                "--threshold",
                ",".join(["0.5"] * 10),
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["filename\tonset\toffset\tevent_label"]


def test_python_m_exit_code_and_help(quiet_checkpoint, tmp_path):
    tsv = tmp_path / "events.tsv"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "desed_task.inference",
            str(tmp_path / "nowhere.wav"),
            "--checkpoint",
            str(quiet_checkpoint),
            "--tsv",
            str(tsv),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2 and "nowhere.wav" in run.stderr and not tsv.exists()
    assert "Traceback" not in run.stderr
    with pytest.raises(SystemExit) as usage:
        main(["a.wav"])  # --checkpoint is required
    assert usage.value.code == 2


def test_plot_paths_are_unique():
    assert plot_paths(Path("o/x.png"), ["a.wav"]) == [Path("o/x.png")]
    paths = plot_paths(Path("o/x.png"), ["a/r.wav", "b/r.wav", "r.flac", "r.wav", "c.wav"])
    assert paths == [
        Path("o/x_a_r.png"),
        Path("o/x_b_r.png"),
        Path("o/x_r_3.png"),
        Path("o/x_r_4.png"),
        Path("o/x_c.png"),
    ]


def test_folders_are_searched_and_names_are_base_names_unless_they_collide(quiet_checkpoint, tmp_path):
    tone = np.zeros(SR, dtype=np.float32)
    for relative in (
        "rec/day1/kitchen.wav",
        "rec/day2/kitchen.wav",
        "rec/day2/hall.flac",
        "rec/.hidden.wav",
        "rec/notes.txt",
        "other/kitchen.wav",
        "single.wav",
    ):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        if relative.endswith(".txt"):
            (tmp_path / relative).write_text("not audio")
        else:
            sf.write(tmp_path / relative, tone, SR)
    files, problems = expand_inputs([tmp_path / "rec", tmp_path / "single.wav", tmp_path / "rec" / "day2"])
    assert problems == []
    assert [f.relative_to(tmp_path).as_posix() for f in files] == [
        "rec/day1/kitchen.wav",
        "rec/day2/hall.flac",
        "rec/day2/kitchen.wav",
        "single.wav",
    ]  # sorted, once each
    assert table_names(files) == ["day1/kitchen.wav", "hall.flac", "day2/kitchen.wav", "single.wav"]
    assert table_names([tmp_path / "rec/day1/kitchen.wav", tmp_path / "other/kitchen.wav"]) == [
        "rec/day1/kitchen.wav",
        "other/kitchen.wav",
    ]
    tsv = tmp_path / "out.tsv"
    assert (
        main(
            [
                str(tmp_path / "rec"),
                "--checkpoint",
                str(quiet_checkpoint),
                "--tsv",
                str(tsv),
                "--threshold",
                "0",
                "--quiet",
            ]
        )
        == 0
    )
    table = pd.read_csv(tsv, sep="\t")
    assert sorted(set(table["filename"])) == ["day1/kitchen.wav", "day2/kitchen.wav", "hall.flac"]

"""Folder resampling: soxr HQ, structure kept, formats kept, parallel, idempotent, failures listed."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from desed_task.data import resample_folder

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def tree(tmp_path, rng) -> Path:
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    t = np.arange(44100) / 44100
    stereo = np.stack([0.5 * np.sin(2 * np.pi * 440 * t), 0.3 * np.sin(2 * np.pi * 3000 * t)], axis=1)
    sf.write(src / "a.wav", stereo, 44100, subtype="PCM_16")
    sf.write(src / "sub" / "b.flac", rng.uniform(-0.5, 0.5, 22050), 44100, subtype="PCM_16")
    sf.write(src / "c.wav", rng.uniform(-0.5, 0.5, 16000).astype(np.float32), 16000, subtype="FLOAT")
    (src / "notes.txt").write_text("not audio")
    (src / "bad.wav").write_bytes(b"RIFF garbage")
    return src


def test_resample_folder(tree, tmp_path):
    out = tmp_path / "out"
    report = resample_folder(tree, out, 16000, workers=2, progress=False)
    assert (report.converted, report.copied, report.skipped) == (2, 1, 0)
    assert len(report.failed) == 1 and "bad.wav" in report.failed[0]
    a, sr = sf.read(out / "a.wav", dtype="float32")
    assert sr == 16000 and a.shape == (16000, 2) and sf.info(str(out / "a.wav")).subtype == "PCM_16"
    source, _ = sf.read(tree / "a.wav", dtype="float32")
    np.testing.assert_allclose(a, soxr.resample(source, 44100, 16000, quality="HQ"), atol=2 / 32768)
    b = sf.info(str(out / "sub" / "b.flac"))
    assert (b.format, b.samplerate, b.frames) == ("FLAC", 16000, 8000)
    assert (out / "c.wav").read_bytes() == (tree / "c.wav").read_bytes()
    assert not (out / "notes.txt").exists() and not list(out.rglob("*.part"))

    again = resample_folder(tree, out, 16000, workers=1, progress=False)
    assert (again.converted, again.copied, again.skipped) == (0, 0, 3)


def test_script_exit_code_and_errors(tree, tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("resample_folder_script", ROOT / "scripts" / "resample_folder.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main([str(tree), str(tmp_path / "o"), "--workers", "1", "--quiet"]) == 1  # bad.wav failed
    assert "2 resampled, 1 copied" in capsys.readouterr().out
    (tree / "bad.wav").unlink()
    assert script.main([str(tree), str(tmp_path / "o"), "--workers", "1", "--quiet"]) == 0
    with pytest.raises(FileNotFoundError, match="nowhere"):
        resample_folder(tmp_path / "nowhere", tmp_path / "o2", progress=False)
    with pytest.raises(ValueError, match="the same"):
        resample_folder(tree, tree, progress=False)

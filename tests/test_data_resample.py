"""Folder resampling: soxr HQ, structure kept, formats kept, parallel, idempotent, failures listed."""

from __future__ import annotations

import importlib.util
import subprocess
import textwrap
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


def _readme_resampling_block() -> str:
    """The shell block of README.md's step 1 (resampling DESED)."""
    text = (ROOT / "README.md").read_text()
    start = text.index("```bash\n", text.index("## Reproducing the paper")) + len("```bash\n")
    return textwrap.dedent(text[start : text.index("```", start)])


def test_the_readme_resampling_gives_the_folders_the_configuration_reads(tmp_path):
    """README step 1, run as written on a 44.1 kHz tree of DESED's folder names, writes exactly the
    audio folders of confs/stage1.yaml under the data.root that holds the metadata."""
    from desed_task.config.files import DATA_PATH_KEYS, load_config
    from desed_task.experiment.paths import check_paths

    block = _readme_resampling_block()
    assert block.startswith("D=data/dcase/dataset ")
    config = load_config(
        ROOT / "confs" / "stage1.yaml", {"data.root": str(tmp_path), "encoder.init": None, "encoder.random_init": True}
    )
    data = config["data"]
    folders = {data[k] for k in DATA_PATH_KEYS if k.endswith("folder") and data[k]}
    for folder in folders:
        assert folder.endswith("_16k"), folder
        download = Path(folder.removesuffix("_16k"))  # DESED's folder as downloaded, at 44.1 kHz
        download.mkdir(parents=True)
        sf.write(download / "clip.wav", np.zeros(4410, np.float32), 44100)
    for key in DATA_PATH_KEYS:
        if not key.endswith("folder") and data[key]:
            Path(data[key]).parent.mkdir(parents=True, exist_ok=True)
            Path(data[key]).write_text("filename\n")
    # The loop as written, each resample_folder.py call listed and made in this process (same function, no
    # interpreter start per folder).
    script = block.replace("D=data/dcase/dataset", f"D={tmp_path}").replace(" --workers 8", "")
    script = script.replace("python scripts/resample_folder.py", "printf '%s\\t%s\\n'")
    calls = subprocess.run(["bash", "-euc", script], check=True, capture_output=True, text=True).stdout
    for line in calls.splitlines():
        source, target = line.split("\t")
        resample_folder(source, target, 16000, workers=1, progress=False)
    written = {str(p.parent) for p in tmp_path.rglob("*_16k/clip.wav")}
    assert written == folders
    assert all(sf.info(str(Path(f) / "clip.wav")).samplerate == 16000 for f in folders)
    check_paths(config, "train")  # every folder and table the training reads is there

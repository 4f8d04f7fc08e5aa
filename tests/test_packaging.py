"""What an installed wheel needs: every module in a package that setup.py lists, and training scripts that find
their configurations beside themselves rather than beside the package (which, installed, is in site-packages).

The wheel itself is built, installed and run from another folder by scripts/check_wheel.sh (CI).
"""

from __future__ import annotations

import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import setuptools

ROOT = Path(__file__).resolve().parents[1]


def _setup_arguments(monkeypatch) -> dict:
    """The keyword arguments setup.py passes to setuptools.setup, without building anything."""
    captured: dict = {}
    monkeypatch.setattr(setuptools, "setup", lambda **kwargs: captured.update(kwargs))
    monkeypatch.chdir(ROOT)
    runpy.run_path(str(ROOT / "setup.py"), run_name="__main__")
    return captured


def test_every_module_folder_is_a_package_that_setup_installs(monkeypatch):
    folders = {p.parent for p in (ROOT / "desed_task").rglob("*.py") if "__pycache__" not in p.parts}
    without_init = sorted(str(f.relative_to(ROOT)) for f in folders if not (f / "__init__.py").is_file())
    assert without_init == [], "folders of modules without __init__.py are left out of the wheel"
    packages = set(_setup_arguments(monkeypatch)["packages"])
    expected = {".".join(f.relative_to(ROOT).parts) for f in folders}
    assert expected <= packages, f"setup.py leaves out {sorted(expected - packages)}"
    assert {"desed_task.experiment", "desed_task.nnet.encoders"} <= packages


def test_the_developer_tools_stay_out_of_the_wheel(monkeypatch):
    """tools/ (benchmarks, the GPU check) is a package of the checkout, beside desed_task/, not of the wheel."""
    assert (ROOT / "tools" / "__init__.py").is_file() and not (ROOT / "desed_task" / "tools").exists()
    packages = _setup_arguments(monkeypatch)["packages"]
    assert [p for p in packages if p != "desed_task" and not p.startswith("desed_task.")] == []


@pytest.mark.parametrize("stage", [1, 2])
def test_training_scripts_default_to_the_confs_beside_them(tmp_path, stage):
    """A copy of the checkout elsewhere (or an installed package): the default is ../confs/ of the script."""
    (tmp_path / "train").mkdir()
    script = tmp_path / "train" / f"train_stage{stage}.py"
    shutil.copy(ROOT / "train" / script.name, script)
    namespace = runpy.run_path(str(script), run_name="imported")
    assert namespace["DEFAULT_CONF"] == tmp_path / "confs" / f"stage{stage}.yaml"
    shipped = runpy.run_path(str(ROOT / "train" / script.name), run_name="imported")["DEFAULT_CONF"]
    assert shipped == ROOT / "confs" / f"stage{stage}.yaml" and shipped.is_file()


@pytest.mark.slow
def test_training_script_help_run_from_another_folder_names_its_own_conf(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "train" / "train_stage1.py"), "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    unwrapped = "".join(result.stdout.split())  # argparse wraps long paths, also at hyphens
    assert "".join(str(ROOT / "confs" / "stage1.yaml").split()) in unwrapped


def test_library_parser_without_a_default_requires_a_configuration():
    from desed_task.experiment.run import build_parser

    with pytest.raises(SystemExit) as usage:
        build_parser(1).parse_args([])
    assert usage.value.code == 2

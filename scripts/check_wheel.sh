#!/usr/bin/env bash
# What a user gets from `pip install`: builds the wheel from the working tree, installs it (not editable) with its
# dependencies into a fresh virtual environment, and runs the package from a folder outside the checkout, so that
# a module missing from the wheel, or a path computed from the package's location, fails here and not for users.
#   scripts/check_wheel.sh [PYTHON]     PYTHON builds the wheel (default: .venv/bin/python, as `make install` makes)
# Checks, each timed: the wheel's files are desed_task/ and its dist-info only (the developer tools/ stay in the
# checkout) and `import tools` fails where it is installed; every module imports from site-packages;
# `train/train_stage1.py --help` names the confs/ beside the script; a stage-1 --fast_dev_run on the tiny synthetic
# dataset; detection (python -m desed_task.inference, no --config) with a checkpoint the installed package writes;
# scoring the DCASE baseline's published operating points on DESED validation (python -m desed_task.evaluation:
# PSDS1 0.334).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD_PY=${1:-$REPO/.venv/bin/python}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/desed_task_wheel.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
START=$SECONDS
step() { echo "== [$((SECONDS - START)) s] $*"; }

step "build the wheel from a copy of the working tree (no stale build/ folder)"
mkdir "$WORK/src"
(cd "$REPO" && git ls-files -z --cached --others --exclude-standard \
    | tar --null --files-from=- --ignore-failed-read -cf - 2>/dev/null) | tar -xf - -C "$WORK/src"
"$BUILD_PY" -m pip wheel --quiet --no-deps --no-build-isolation "$WORK/src" -w "$WORK/dist"
WHEEL=$(ls "$WORK"/dist/desed_task-*.whl)

step "the wheel holds desed_task/ and its dist-info, nothing else (the developer tools/ stay in the checkout)"
"$BUILD_PY" - "$WHEEL" <<'EOF'
import sys
import zipfile

names = zipfile.ZipFile(sys.argv[1]).namelist()
tops = sorted({name.split("/", 1)[0] for name in names})
assert len(tops) == 2 and tops[0] == "desed_task" and tops[1].startswith("desed_task-") \
    and tops[1].endswith(".dist-info"), f"top-level entries of the wheel: {tops}"
tools = [name for name in names if name.startswith(("tools/", "desed_task/tools/"))]
assert not tools, f"developer tools in the wheel: {tools[:5]}"
modules = [name for name in names if name.endswith(".py")]
print(f"{len(names)} files ({len(modules)} modules) under {', '.join(tops)}; no tools/, no desed_task/tools/")
EOF

step "fresh virtual environment: torch (CPU build where there is no NVIDIA driver), then the wheel"
"$BUILD_PY" -m venv "$WORK/venv"
PY=$WORK/venv/bin/python
"$REPO/scripts/install_torch.sh" "$PY" --quiet --no-compile
"$PY" -m pip install --quiet --no-compile "$WHEEL"

mkdir "$WORK/run" && cd "$WORK/run"
unset PYTHONPATH
step "every module imports from the installed wheel"
"$PY" - "$WORK/venv" <<'EOF'
import importlib
import pkgutil
import sys
from pathlib import Path

import desed_task

site = Path(sys.argv[1]).resolve()
assert site in Path(desed_task.__file__).resolve().parents, f"desed_task imported from {desed_task.__file__}"
names = [m.name for m in pkgutil.walk_packages(desed_task.__path__, "desed_task.")
         if not m.name.endswith(".__main__")]  # importing one runs its command line
for name in names:
    importlib.import_module(name)
assert "desed_task.experiment.run" in names and not any(n.startswith("desed_task.tools") for n in names)
print(f"{len(names)} modules from {Path(desed_task.__file__).parent}")
try:
    import tools
except ModuleNotFoundError:
    print("import tools: ModuleNotFoundError (the developer tools are not installed)")
else:
    sys.exit(f"import tools found {tools.__file__}: the developer tools are installed")
EOF

step "training script: its default configuration is the confs/ beside it"
"$PY" "$REPO/train/train_stage1.py" --help | tr -d ' \n' | grep -qF "$(echo "$REPO/confs/stage1.yaml" | tr -d ' ')"

step "tiny synthetic dataset and a configuration for it"
"$PY" "$REPO/scripts/make_synthetic_desed.py" --out data --preset tiny --quiet
cat > tiny_stage1.yaml <<EOF
base: $REPO/confs/demo_stage1.yaml
data:
  root: $WORK/run/data
training:
  batch_size: [2, 2, 2, 2]
  batch_size_val: 4
  num_workers: 0
  n_epochs: 1
  n_epochs_warmup: 1
  validation_interval: 1
  n_test_thresholds: 5
  enable_progress_bar: false
EOF

step "train_stage1.py --fast_dev_run"
"$PY" "$REPO/train/train_stage1.py" --gpus cpu --fast_dev_run --conf_file tiny_stage1.yaml --log_dir exp_fast \
    > fast_dev_run.log 2>&1 || { cat fast_dev_run.log; exit 1; }

step "a stage checkpoint written by the installed package (the task's own save hook, as Lightning calls it)"
"$PY" - <<'EOF'
import torch

from desed_task.experiment.builders import build_network, build_task
from desed_task.config.files import load_config

config = load_config("tiny_stage1.yaml")
task = build_task(config, "exp_ckpt", build_network(config, load_encoder=False))
checkpoint = {"state_dict": task.state_dict(), "hyper_parameters": dict(task.hparams)}
task.on_save_checkpoint(checkpoint)
torch.save(checkpoint, "tiny.ckpt")
EOF
CKPT=tiny.ckpt

step "python -m desed_task.inference with that checkpoint, no --config"
CLIP=$(ls data/audio/validation/validation_16k/*.wav | head -n 1)
"$PY" -m desed_task.inference "$CLIP" --checkpoint "$CKPT" --tsv events.tsv --quiet
head -n 1 events.tsv | grep -q "event_label"

step "python -m desed_task.evaluation on the DCASE baseline's operating points (published PSDS1 0.334)"
VAL=$REPO/tests/data/desed_validation
"$PY" -m desed_task.evaluation --ground_truth "$VAL/validation.tsv" --durations "$VAL/validation_durations.tsv" \
    --operating_points "$VAL/baseline_student/predictions_operating_points" --json metrics.json --quiet > /dev/null
"$PY" -c "import json, sys; m = json.load(open('metrics.json')); sys.exit(round(m['psds1_psds_eval'], 3) != 0.334)"

step "the wheel works from $WORK/run (total $((SECONDS - START)) s)"

#!/usr/bin/env bash
# Installs PyTorch into the given Python environment without pulling a multi-GB CUDA build on a CPU machine.
#   scripts/install_torch.sh PYTHON [PIP INSTALL OPTIONS...]     (e.g. --no-compile)
# Keeps an already installed torch. On a machine with an NVIDIA driver (nvidia-smi) it installs the
# default (CUDA) wheel; otherwise the CPU wheel "torch==VERSION+cpu", from a local wheel folder where pip
# is configured with one, else from PyTorch's CPU index. TORCH_VERSION overrides the version.
set -euo pipefail
PY=${1:?usage: install_torch.sh PYTHON [PIP INSTALL OPTIONS...]}
shift
VERSION=${TORCH_VERSION:-2.13.0}
if "$PY" -c "import torch" 2>/dev/null; then
    echo "torch $("$PY" -c 'import torch; print(torch.__version__)') already installed"
    exit 0
fi
if command -v nvidia-smi >/dev/null 2>&1; then
    "$PY" -m pip install "$@" "torch==$VERSION"
elif ! "$PY" -m pip install "$@" "torch==$VERSION+cpu" 2>/dev/null; then
    "$PY" -m pip install "$@" "torch==$VERSION+cpu" --extra-index-url https://download.pytorch.org/whl/cpu
fi

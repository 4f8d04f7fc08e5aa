#!/usr/bin/env bash
# The GPU check in one command (fits in 10 minutes on one GPU): CUDA tests, scripts/benchmark.py --device cuda,
# stage 2 at the paper's batch [24, 24, 48, 48] with the full-size network in bf16-mixed (without and with
# activation checkpointing) and float32 (out of memory recorded), a 2-GPU DDP smoke test when two GPUs are
# visible, and the full recipe's projected wall clock (scripts/recipe_time.py). Writes ONE JSON.
# See docs/performance.md.
#
#   scripts/gpu_check.sh OUT.json             on a machine with a GPU
#   scripts/gpu_check.sh OUT.json --dry-run   the same plan on the CPU with tiny sizes (to test the plan)
#
# Python: $PYTHON if set, else the repository's .venv, else python3.
set -euo pipefail
if [[ $# -lt 1 || $1 == -h || $1 == --help ]]; then
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -z ${PYTHON:-} ]]; then
    if [[ -x $root/.venv/bin/python ]]; then PYTHON=$root/.venv/bin/python; else PYTHON=python3; fi
fi
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
# A hard stop a little under 10 minutes; the JSON is rewritten after every part, so what finished is kept.
exec timeout --kill-after=10 590 "$PYTHON" "$root/scripts/gpu_check.py" "$@"

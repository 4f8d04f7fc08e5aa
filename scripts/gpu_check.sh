#!/usr/bin/env bash
# The GPU check in one command (stops at 590 s): CUDA tests, scripts/benchmark.py --device cuda, stage 2 at the
# paper's batch [24, 24, 48, 48] with the full-size network in bf16-mixed (without and with activation
# checkpointing) and float32 (out of memory recorded), a 2-GPU DDP smoke test when two GPUs are visible, the
# README's command lines (train_stage1.py, train_stage2.py, --test_from_checkpoint) on the synthetic demo data in
# float32 and bf16-mixed, and the full recipe's projected wall clock (scripts/recipe_time.py). Writes ONE JSON.
# See docs/performance.md. What the 590 s cut is recorded as skipped; --parts runs the rest in a second call.
#
#   scripts/gpu_check.sh OUT.json                   on a machine with a GPU
#   scripts/gpu_check.sh OUT.json --dry_run         the same plan on the CPU with tiny sizes (to test the plan)
#   scripts/gpu_check.sh OUT.json --parts cli_runs  only the named parts (cuda_tests benchmark stage2_paper_batch
#                                                   ddp cli_runs recipe_time)
# Python: $PYTHON if set, else the repository's .venv, else python3.
set -euo pipefail
if [[ $# -lt 1 || $1 == -h || $1 == --help ]]; then
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -z ${PYTHON:-} ]]; then
    if [[ -x $root/.venv/bin/python ]]; then PYTHON=$root/.venv/bin/python; else PYTHON=python3; fi
fi
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
# A hard stop a little under 10 minutes; the JSON is rewritten after every part, so what finished is kept.
exec timeout --kill-after=10 590 "$PYTHON" "$root/scripts/gpu_check.py" "$@"

#!/usr/bin/env bash
# The checks that need CUDA, as one command for a machine with a GPU (about 8 minutes on one H100/H200):
# the sync-free step under torch.cuda.set_sync_debug_mode("error"), throughput at GPU scale (fp32, bf16,
# channels-last, torch.compile), trainer overhead against a plain loop, and each speed switch on and off.
# Results: benchmarks/results/*.json, copied to $OUT when it is set. Usage: bash benchmarks/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
# the project's venv where there is one, else the machine's python3 (on a lent GPU machine: a CUDA torch;
# the checks import only sslterm's core, from this tree, so textual and plotext need not be installed)
if [ -z "${PY:-}" ]; then
    if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
OUT=${OUT:-}
status=0
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || status=1
"$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA'; print(torch.__version__, torch.cuda.get_device_name(0))" \
    || exit 1
echo "## sync-free step (tests/test_sync_free.py on CUDA)"
"$PY" -m pytest -q -p no:cacheprovider tests/test_sync_free.py || status=1
echo "## throughput"
"$PY" -m benchmarks.throughput --device cuda || status=1
echo "## trainer overhead"
"$PY" -m benchmarks.trainer --device cuda --steps 500 --repeats 3 || status=1
echo "## switches"
"$PY" -m benchmarks.switches --device cuda --steps 50 --repeats 3 || status=1
if [ -n "$OUT" ]; then
    mkdir -p "$OUT/results" && cp benchmarks/results/*.json "$OUT/results/"
fi
exit $status

#!/usr/bin/env bash
# The checks that need CUDA, as one command for a machine with a GPU (about 8 minutes on one H200):
#  1. every shipped experiment (and experiments/gpu) trains 2 steps on CUDA; the sync-free step under
#     torch.cuda.set_sync_debug_mode("error") for the representative experiments, bf16, channels-last and
#     torch.compile; the dashboard's system line reading the GPU of a real run (Pilot);
#  2. one shipped experiment per modality for 200 steps through the CLI, torchrun --nproc-per-node=1 with NCCL,
#     and `sslterm stop` of a CUDA run (benchmarks/gpu_runs.py);
#  3. SimCLR ResNet-18 throughput at batch 512 (fp32, bf16, channels-last, torch.compile), trainer overhead
#     against a plain loop, each speed switch on and off.
# Each part has its own time limit, so one that hangs does not cost the rest. Results: benchmarks/results/*.json,
# with the logs in $OUT/gpu_check.tgz when $OUT is set. Exits non-zero when any part fails.
# Usage: bash benchmarks/gpu_check.sh [parts, default "tests runs throughput trainer switches"]
set -uo pipefail
cd "$(dirname "$0")/.."
# the project's venv where there is one, else the machine's python3 (on a lent GPU machine: a CUDA torch;
# packages it lacks can come as wheels in .whl/, installed into /tmp/site)
if [ -z "${PY:-}" ]; then
    if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        && export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
OUT=${OUT:-}
LOGS=/tmp/sslterm-gpu-check
mkdir -p "$LOGS"
PARTS=${*:-tests runs throughput switches trainer}
status=0
failed=""

part() {  # part NAME SECONDS COMMAND...: run one part under its own limit, its output also in $LOGS/NAME.log
    local name=$1 limit=$2; shift 2
    echo "## $name (limit ${limit}s)"
    local t0=$SECONDS
    timeout --kill-after=10 "$limit" "$@" 2>&1 | tee "$LOGS/$name.log"
    local rc=${PIPESTATUS[0]}
    echo "## $name: exit $rc after $((SECONDS - t0)) s"
    if [ "$rc" -ne 0 ]; then status=1; failed="$failed $name"; fi
    if [ -n "$OUT" ]; then  # one archive, rewritten after each part: the logs and this machine's results
        cp benchmarks/results/{gpu_runs,throughput,switches,trainer}.json "$LOGS/" 2>/dev/null
        tar -czf "$OUT/gpu_check.tgz" -C "$LOGS" .
    fi
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || status=1
"$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA'; print(torch.__version__, torch.cuda.get_device_name(0))" \
    || exit 1
for p in $PARTS; do
    case $p in
        tests) SSLTERM_TEST_DEVICE=cuda SSLTERM_GPU_LINE="$LOGS/system_line.txt" part tests 150 \
                   "$PY" -m pytest -q -p no:cacheprovider -n 4 tests/test_experiments.py tests/test_gpu_recipes.py \
                   tests/test_sync_free.py tests/test_gpu_dashboard.py \
                   tests/test_distributed.py::test_one_process_trains_on_the_device_pick_device_chooses \
                   tests/test_distributed.py::test_torchrun_with_one_process_joins_the_group_and_runs_the_distributed_path ;;
        runs) part runs 130 "$PY" -m benchmarks.gpu_runs --steps 200 ;;
        throughput) part throughput 130 "$PY" -m benchmarks.throughput --device cuda ;;
        trainer) part trainer 70 "$PY" -m benchmarks.trainer --device cuda --steps 500 --repeats 3 ;;
        switches) part switches 100 "$PY" -m benchmarks.switches --device cuda --steps 50 --repeats 3 ;;
        *) echo "unknown part $p (allowed: tests runs throughput trainer switches)"; exit 2 ;;
    esac
done
echo "## gpu_check: exit $status${failed:+ (failed:$failed)}"
exit $status

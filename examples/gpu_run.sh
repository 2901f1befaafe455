#!/usr/bin/env bash
# The GPU study of the examples, in one call on a machine with one CUDA GPU (sized for an H200,
# about 6 minutes; every step has its own time limit and the 1M-cell step is skipped when the
# budget is short).
#
#   bash examples/gpu_run.sh            # results in $OUT (the device tool) or
#                                       # examples/results/bench_gpu/
#
# 1. installs scvi-tools 1.5.1 from the wheels in $WHEELS (default: examples/wheels/, built
#    beforehand with examples/gpu_wheels.sh on a machine with network) unless it is importable
#    already;
# 2. runs the CUDA-marked tests of tests/test_examples.py;
# 3. writes 100k- and 1M-cell data sets with examples/make_data.py;
# 4. runs examples/bench_training.py at 100k cells: the host data path at fp32 (the baseline),
#    the device-backed data with bf16/16-mixed and TF32 over batch sizes 128..16384 with sqrt
#    learning-rate scaling, torch.compile, DataLoader workers, and the same baseline on the CPU;
#    then the best levers at 1M cells. All runs land in one table (--append).
#
# Exit status: that of the first failing step (the later steps still run when they can).
set -uo pipefail
cd "$(dirname "$0")/.."
START=$SECONDS
BUDGET=${BUDGET:-420}                 # seconds for the whole script
PY=${PYTHON:-python3}
WHEELS=${WHEELS:-examples/wheels}
RESULTS=${OUT:-examples/results/bench_gpu}
DATA=${DATA_DIR:-/tmp/scvi_gpu_data}
mkdir -p "$RESULTS" "$DATA"
LOG="$RESULTS/gpu_run.log"
: >"$LOG"
STATUS=0

step() {  # step SECONDS NAME COMMAND...: run with a time limit, log, remember the first failure
    local limit=$1 name=$2
    shift 2
    echo "== $name ($(( SECONDS - START )) s elapsed)" | tee -a "$LOG"
    timeout "$limit" "$@" >>"$LOG" 2>&1
    local rc=$?
    echo "== $name: exit $rc" | tee -a "$LOG"
    if [ $rc -ne 0 ] && [ $STATUS -eq 0 ]; then STATUS=$rc; fi
    return $rc
}

left() { echo $(( BUDGET - (SECONDS - START) )); }

{ nvidia-smi -L; $PY -V; $PY -c 'import torch; print("torch", torch.__version__, "cuda",
  torch.version.cuda, torch.cuda.is_available())'; } 2>&1 | tee -a "$LOG"

if ! $PY -c 'import importlib.metadata as m, sys; sys.exit(m.version("scvi-tools") != "1.5.1")' \
    2>/dev/null; then
    step 120 install $PY -m pip install --no-index --find-links "$WHEELS" \
        "scvi-tools==1.5.1" pytest matplotlib || { echo "install failed: see $LOG"; exit 5; }
fi

CPUS=$(nproc)
step 60 make_data_100k $PY examples/make_data.py --n-cells 100000 --n-genes 2000 --seed 0 \
    --jobs "$CPUS" --overwrite --out "$DATA/100k.h5ad"

step 120 cuda_tests $PY -m pytest tests/test_examples.py -m cuda -q -p no:cacheprovider -x

B="$PY examples/bench_training.py --data $DATA/100k.h5ad --no-progress-bar --seed 0 \
   --max-epochs 2 --out $RESULTS"
step 60 bench_baseline $B --accelerator gpu --batch-sizes 128,1024,4096 --label "host-csr fp32" \
    --overwrite
step 120 bench_levers $B --accelerator gpu --append --data-on-device --matmul-precision high \
    --lr-scaling sqrt --batch-sizes 128,1024,4096,16384 --precision 32-true,bf16-mixed
step 45 bench_fp16 $B --accelerator gpu --append --data-on-device --matmul-precision high \
    --lr-scaling sqrt --batch-sizes 4096 --precision 16-mixed
step 90 bench_compile $B --accelerator gpu --append --data-on-device --matmul-precision high \
    --lr-scaling sqrt --batch-sizes 4096 --precision bf16-mixed --compile
step 45 bench_workers $B --accelerator gpu --append --batch-sizes 1024 --num-workers 4 \
    --persistent-workers
step 60 bench_cpu $B --accelerator cpu --append --batch-sizes 1024 --max-time 40 \
    --label "host-csr fp32 (CPU, $CPUS cores)"

if [ "$(left)" -gt 120 ]; then
    step 60 make_data_1m $PY examples/make_data.py --n-cells 1000000 --n-genes 2000 --seed 0 \
        --jobs "$CPUS" --overwrite --out "$DATA/1m.h5ad" &&
    step "$(( $(left) > 150 ? 150 : $(left) ))" bench_1m $PY examples/bench_training.py \
        --data "$DATA/1m.h5ad" --no-progress-bar --seed 0 --max-epochs 2 --out "$RESULTS" \
        --append --accelerator gpu --data-on-device --matmul-precision high --lr-scaling sqrt \
        --batch-sizes 4096,16384 --precision bf16-mixed --label "1M device-data"
else
    echo "== 1M cells skipped: $(left) s left of $BUDGET" | tee -a "$LOG"
fi

cat "$RESULTS/bench_training.md" 2>/dev/null
echo "done in $(( SECONDS - START )) s, status $STATUS; results in $RESULTS" | tee -a "$LOG"
exit $STATUS

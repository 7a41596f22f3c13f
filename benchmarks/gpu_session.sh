#!/usr/bin/env bash
# Everything this project checks on a GPU, as ONE device call that finishes inside 8 minutes (the session has
# 15 device-minutes, counted from the machine's start): build the extension once, then the GPU tests, a
# compute-sanitizer memcheck of a small mixed step, the fused-Adam benchmark (fp32 and bf16, M-opt included)
# and training iterations/s (LeNet, CNN3, ResNet-32: eager, channels-last, compile). Logs and results go to
# $OUT (what the device tool returns).
#
# From a session that is lent a GPU (`status`: can_start_another true), in the repo root:
#   mkdir -p data && cp -r ../shared/data/cifar10-jpeg ../shared/data/MNIST data/     # data/ is git-ignored
#   run(command="bash benchmarks/gpu_session.sh", carry=["data"], timeout_s=540)
# then copy the files back into benchmarks/results/ and commit them with the device, versions and date.
# On a machine without a GPU the same command is a dry run: the build step builds the CPU ops and every
# GPU step records "no GPU".
#
# Invariants:
#  - TORCH_CUDA_ARCH_LIST and TORCH_EXTENSIONS_DIR are exported once, for every process of the script, and
#    the steps after the build load the library it made (LRKIT_EXT_LIBRARY): no later step can rebuild.
#  - Each step appends its result to $OUT/steps.tsv as soon as it ends, whatever the earlier steps did; a
#    step whose prerequisite failed records why it did not run.
#  - Each step's limit is cut to what is left of the script's budget (BUDGET_S, 450 s by default), so the
#    script ends in time; both benchmarks stop on the limit's SIGINT and still write what they measured.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/out/gpu-session}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD LRKIT_DATA_DIR=${LRKIT_DATA_DIR:-$PWD/data} MPLBACKEND=Agg
export TORCH_EXTENSIONS_DIR=${TORCH_EXTENSIONS_DIR:-$PWD/build/torch_ext}
py=${PYTHON:-python3}
budget=${BUDGET_S:-450}
t_start=$(date +%s)
results="$OUT/steps.tsv"
built=$TORCH_EXTENSIONS_DIR/lrkit-gpu-session-library.txt  # outside $OUT: the device tool returns 8 files at most
mkdir -p "$TORCH_EXTENSIONS_DIR"; rm -f "$built"
printf 'step\tresult\tseconds\n' > "$results"

record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> "$results"; echo "-- $1: $2 (${3} s)"; }

# step NAME LIMIT_S NEEDS(gpu|build|none, comma-separated) CMD...: runs CMD under its limit and records it.
step() {
  local name=$1 limit=$2 needs=$3; shift 3
  local left=$(( budget - ($(date +%s) - t_start) ))
  (( limit > left )) && limit=$left
  echo; echo "== $name ($(date +%T), limit $limit s)"
  if [[ ,$needs, == *,gpu,* && $gpu_cap == none ]]; then record "$name" "no GPU" 0; return; fi
  if [[ ,$needs, == *,build,* && -z ${LRKIT_EXT_LIBRARY:-} ]]; then record "$name" "not run: the build failed" 0; return; fi
  if (( limit < 5 )); then record "$name" "not run: the script's ${budget} s budget is spent" 0; return; fi
  local t0=$(date +%s) rc
  timeout --signal=INT --kill-after=10 "$limit" "$@"
  rc=$?
  local dt=$(( $(date +%s) - t0 ))
  case $rc in
    0) record "$name" "ok" "$dt" ;;
    124|130|137) record "$name" "timed out (limit $limit s)" "$dt" ;;
    *) record "$name" "failed (exit $rc)" "$dt" ;;
  esac
}

{
echo "== machine ($(date -u +%FT%TZ))"
gpu_cap=$($py -c "import torch; c = torch.cuda.get_device_capability() if torch.cuda.is_available() else None; print(f'{c[0]}.{c[1]}' if c else 'none')" 2>/dev/null || echo none)
$py -c "import torch, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU')"
if [[ $gpu_cap != none ]]; then
  export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-$gpu_cap}
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
fi
echo "GPU compute capability: $gpu_cap; TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-unset}; extensions in $TORCH_EXTENSIONS_DIR"
record machine "gpu $gpu_cap" 0

# the build: CPU ops everywhere, the CUDA kernels where a GPU is; its library path is handed to every later step
step build 150 none $py -c "
import sys, torch
from lrkit.optim import _ext
ok = _ext.load(verbose=True)
cuda = _ext.has_cuda_kernel() and _ext.has_cuda_kernel('mopt_l1')
print('extension loaded:', ok, '| library:', _ext.library(), '| CUDA kernels:', cuda, '| error:', _ext.error())
if ok and (cuda or not torch.cuda.is_available()):
    open('$built', 'w').write(_ext.library())
sys.exit(0 if ok and (cuda or not torch.cuda.is_available()) else 1)"
[[ -s $built ]] && export LRKIT_EXT_LIBRARY=$(cat "$built")

step "GPU tests" 60 gpu,build $py -m pytest -q -p no:cacheprovider -rs --junitxml="$OUT/tests-cuda.xml" \
  tests/optim/test_fused_adam_cuda.py tests/policies/test_scheduler.py -k "cuda or capturable"

if command -v compute-sanitizer >/dev/null || [[ $gpu_cap == none || -z ${LRKIT_EXT_LIBRARY:-} ]]; then  # the step says why not
  step "memcheck of a mixed step" 40 gpu,build compute-sanitizer --tool memcheck --error-exitcode 3 \
    --log-file "$OUT/memcheck.log" $py benchmarks/memcheck_step.py
else
  record "memcheck of a mixed step" "not run: compute-sanitizer is not installed" 0
fi

step "bench fused-adam fp32" 70 gpu,build $py -m lrkit.cli.main bench fused-adam --device cuda \
  --sizes 1e6 1e7 1e8 1e9 --many-small 500 --mopt-sizes 1e7 1e8 --steps 20 --out "$OUT/fused_adam-cuda-fp32.json"
step "bench fused-adam bf16" 40 gpu,build $py -m lrkit.cli.main bench fused-adam --device cuda --dtype bfloat16 \
  --sizes 1e6 1e8 --many-small 500 --mopt-sizes --steps 20 --out "$OUT/fused_adam-cuda-bf16.json"

step "bench train LeNet, CNN3, ResNet-32" 90 gpu,build $py -m lrkit.cli.main bench train --device cuda \
  --recipe table4 table5 table6 --steps 200 --warmup 20 --no-progress --variants eager channels_last compile \
  --out "$OUT/train-cuda.json"

# batched vs single training: K = 1, 4, 16 replicas of LeNet, CNN3 and ResNet-32 in one process (lrkit bench
# batched --quick); its JSON, written after every timing, keeps what was measured if the limit cuts it off
# (the eighth file the device tool returns)
step "bench batched LeNet, CNN3, ResNet-32" 90 gpu $py -m lrkit.cli.main bench batched --device cuda --quick \
  --no-progress --max-memory-gb 40 --out "$OUT/batched-cuda.json"

# at most 8 files come back from the device tool (here 8: the log, steps.tsv, the test report, the memcheck log
# and four JSON documents): the .md tables are made again from the JSON
rm -f "$OUT"/*.md
echo; echo "== done in $(( $(date +%s) - t_start )) s"; cat "$results"
} 2>&1 | tee "$OUT/gpu_session.log"

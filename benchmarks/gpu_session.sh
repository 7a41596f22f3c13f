#!/usr/bin/env bash
# Everything this project checks on a GPU, as ONE device call of at most about 9 minutes (the device tool allows
# 10 per call and 15 per session): build the extension, run the GPU tests, the fused-Adam benchmark, the
# training-throughput benchmark (CNN3 and ResNet-32, eager / channels-last / compile / CUDA graphs) and a
# CIFAR-10 reproduction slice on the GPU. Logs and result files go to $OUT (what the device tool returns).
#
# From a session that is lent a GPU (`status`: can_start_another true), in the repo root:
#   mkdir -p data && cp -r ../shared/data/cifar10-jpeg ../shared/data/MNIST data/     # data/ is git-ignored
#   run(command="bash benchmarks/gpu_session.sh", carry=["data"], timeout_s=600)
# then copy the files back into benchmarks/results/ (and reproductions/results/) and commit them.
# The GPU machine's image has torch, numpy, tqdm, seaborn, pytest but no SQLAlchemy; nothing here needs it.
# Each step has its own time limit, so a slow step costs its share only and the later ones still run; both
# benchmarks stop on the limit's SIGINT and still write what they measured ("interrupted" in the JSON, exit 130).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/out/gpu-session}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD LRKIT_DATA_DIR=${LRKIT_DATA_DIR:-$PWD/data} MPLBACKEND=Agg
py=${PYTHON:-python3}
step() { echo; echo "== $1 ($(date +%T), limit $2 s)"; }
lim() { local t=$1; shift; timeout --signal=INT --kill-after=10 "$t" "$@"; echo "-- exit $?"; }

{
step "machine" 30
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
$py -c "import torch, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())"
ls "$LRKIT_DATA_DIR"

step "build the extension (JIT: CPU ops + CUDA kernels, sm_90)" 170
TORCH_CUDA_ARCH_LIST=9.0 lim 170 $py -c "
from lrkit.optim import _ext
ok = _ext.load(verbose=True)
print('extension loaded:', ok, '| error:', _ext.error(), '| CUDA kernel:', _ext.has_cuda_kernel())"

step "GPU tests (FusedAdam's CUDA kernels; torch's capturable Adam under PolicyLR)" 80
lim 60 $py -m pytest -q -p no:cacheprovider -rs tests/optim/test_fused_adam_cuda.py
lim 20 $py -m pytest -q -p no:cacheprovider -rs tests/policies/test_scheduler.py -k capturable

step "lrkit bench fused-adam on the GPU" 70
lim 70 $py -m lrkit.cli.main bench fused-adam --device cuda --sizes 1e6 1e7 1e8 1e9 --many-small 500 --steps 20 \
  --out "$OUT/fused_adam-cuda.json"

step "lrkit bench train on the GPU: ResNet-32 (Table 6's task), then CNN3 (Table 5's)" 140
lim 90 $py -m lrkit.cli.main bench train --device cuda --recipe table6 --steps 300 --warmup 30 --no-progress \
  --variants eager channels_last cuda-graphs cuda-graphs+channels_last --out "$OUT/train-resnet32-cuda.json"
lim 50 $py -m lrkit.cli.main bench train --device cuda --recipe table5 --steps 300 --warmup 30 --no-progress \
  --variants eager channels_last cuda-graphs --out "$OUT/train-cnn3-cuda.json"

step "Table 5 short profile on the GPU (CUDA graphs): the 19 rows' it/s with evaluations" 60
lim 60 $py -m lrkit.cli.main reproduce table5 --profile short --device cuda --compile reduce-overhead --no-progress \
  --out "$OUT/table5-short-cuda"
# at most 8 files come back: keep the JSON (the .md tables are made again from it by lrkit.*.bench.write)
rm -f "$OUT"/*.md "$OUT/table5-short-cuda/curves.png"
ls -la "$OUT" "$OUT/table5-short-cuda"
} 2>&1 | tee "$OUT/gpu_session.log"

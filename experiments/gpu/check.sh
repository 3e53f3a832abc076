#!/usr/bin/env bash
# GPU check for a lent H200 (device tool): one call, under 8 minutes, one JSON line per measurement.
#
#   run(command="bash experiments/gpu/check.sh", timeout_s=540)
#
# The machine has python3 with torch/numpy/scipy/tqdm/pillow and no network: adainf runs from the source tree
# (PYTHONPATH) without installing. Measurements:
#   1. nvidia-smi and the torch/CUDA versions;
#   2. the test suite's GPU tests (CPU/GPU augmentation agreement);
#   3. adainf bench augment (symmetric, batch 512) on the GPU;
#   4. adainf bench train: SimCLR ResNet-18, batch 512, bf16, eager and torch.compile;
#   5. a 2,000-step SimCLR run (ResNet-18, batch 512, bf16) on CIFAR-sized random data, with its wall time;
#      50k images at batch 512 are ~98 steps per epoch-equivalent, so seconds/epoch = 98 * seconds/step;
#   6. a plain run vs `torchrun --nproc_per_node=1 -m adainf train`: the same first-step loss (under 60 s).
set -uo pipefail
cd "$(dirname "$0")/../.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PY=${PY:-python3}
OUT=${OUT:-/tmp/adainf-gpu}; mkdir -p "$OUT"

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | sed 's/^/# nvidia-smi: /'
$PY -c 'import json, torch; print(json.dumps({"check": "env", "torch": torch.__version__, "cuda": torch.version.cuda, "device": torch.cuda.get_device_name(0)}))'

timeout 120 $PY -m pytest -q -m gpu tests/adainf 2>&1 | tail -3 | sed 's/^/# pytest gpu: /'

timeout 60 $PY -m adainf bench augment --preset symmetric --batch 512 --device cuda --iters 50 --json
timeout 150 $PY -m adainf bench train --method simclr --backbone resnet18 --batch 512 --device cuda --precision bf16 --steps 20 --json
timeout 240 $PY -m adainf bench train --method simclr --backbone resnet18 --batch 512 --device cuda --precision bf16 --compile --steps 20 --json

# A real run: random CIFAR-sized data written as an npz, 2,000 steps, online evaluation at the end.
$PY - <<'PY'
import numpy as np
from adainf import data
rng = np.random.default_rng(0)
data.save_npz("/tmp/adainf-gpu-random.npz", rng.integers(0, 256, (50_000, 32, 32, 3), dtype=np.uint8),
              rng.integers(0, 10, 50_000), compress=False)
PY
start=$(date +%s.%N)
timeout 200 $PY -m adainf train --method simclr --backbone resnet18 --batch 512 --steps 2000 --device cuda \
  --precision bf16 --data /tmp/adainf-gpu-random.npz --out-dir "$OUT" --name simclr-2k --no-progress --json \
  data.test=/tmp/adainf-gpu-random.npz eval_every=0 log_every=100 ckpt_every=2000
end=$(date +%s.%N)
$PY -c "import json; s=$end-$start; print(json.dumps({'check': 'simclr_2000_steps', 'wall_s': s, 'seconds_per_epoch_equivalent_50k': s / 2000 * 50000 / 512}))"

# 6. The torchrun entry on one GPU: 5 steps of the same SimCLR run (fp32, no final evaluation) as a plain process
#    and under `torchrun --standalone --nproc_per_node=1`; the first-step losses must agree. With one process the
#    trainer takes its single-process path, so this checks the launcher and the environment detection.
TR_ARGS=(train --method simclr --backbone resnet18 --batch 256 --steps 100 --until 5 --device cuda --precision fp32
         --data /tmp/adainf-gpu-random.npz --out-dir "$OUT" --no-progress eval_every=0 log_every=1)
timeout 25 $PY -m adainf "${TR_ARGS[@]}" --name torchrun-check-plain > /dev/null
timeout 35 $PY -m torch.distributed.run --standalone --nproc_per_node=1 -m adainf "${TR_ARGS[@]}" \
  --name torchrun-check-1proc > /dev/null 2> "$OUT/torchrun-check.log"
$PY - "$OUT" <<'PY'
import json, sys
from adainf import runs
out = sys.argv[1]
first = {}
for name in ("plain", "1proc"):
    rows = [r for r in runs.read_metrics(f"{out}/torchrun-check-{name}") if r.get("kind") == "train"]
    first[name] = rows[0]["loss"] if rows else None
a, b = first["plain"], first["1proc"]
rel = abs(a - b) / abs(a) if a is not None and b is not None else None
print(json.dumps({"check": "torchrun_1gpu_vs_plain", "first_loss_plain": a, "first_loss_torchrun": b,
                  "rel_diff": rel, "ok": rel is not None and rel <= 1e-4}))
PY

#!/usr/bin/env bash
# Side-by-side SimCLR training speed on this machine's CPU, in one go: the peer (lightly's CIFAR-10 SimCLR
# recipe: torchvision resnet18 with the CIFAR stem, SimCLRProjectionHead, NTXentLoss, SimCLRTransform in
# DataLoader workers) against `adainf bench train`, then the ours/peer ratio of source images per second.
#
#   bash experiments/bench_train.sh            # from the repo root (or anywhere: it cd's to the repo)
#
# Runs, in order (batch 256 source images, two views each, forward + backward + SGD step; the peer times
# 8 steps after 2 warm-up steps; see experiments/bench_train_peer.py for the exact recipe):
#   1. the peer, fp32, DataLoader with 2 worker processes (the realistic peer set-up on this 2-core machine:
#      the two augmentation workers compete with the two training threads for the same cores):
#        /tmp/peer-venv/bin/python experiments/bench_train_peer.py --workers 2
#   2. the peer, fp32, no workers (augmentation inline between steps), for reference:
#        /tmp/peer-venv/bin/python experiments/bench_train_peer.py --workers 0
#   3. the peer, channels_last + bf16 autocast, 2 workers (the fastest the peer gets with a two-flag change):
#        /tmp/peer-venv/bin/python experiments/bench_train_peer.py --workers 2 --channels-last --bf16
#      (PEER_FAST=0 skips it)
#   4. ours: .venv/bin/adainf bench train --method simclr --backbone resnet18 --batch 256 --json
#      (guarded: if it fails, the peer numbers are still printed and no ratio is given)
#   5. ratio = ours images_per_s / peer images_per_s, against each peer run. Both sides count source images
#      per second with two views each, so the views/s ratio is the same number.
#
# Each run takes a few minutes on 2 cores (fp32 ResNet-18 with the CIFAR stem is many seconds per step at
# batch 256). Timings are only meaningful on an otherwise idle machine: before each run the script waits
# (up to IDLE_WAIT seconds, default 600) until the CPUs are idle, and the peer reports the CPU time other
# processes used during its timed window (cpu_s_other_processes, with a warning on stderr when it matters).
#
# The peer venv is throw-away and lives outside the project; adainf does NOT depend on lightly or torchvision,
# and nothing here is part of its install or its tests. Create it once (multi-GB: torch is the CUDA build; it
# runs on the CPU here):
#
#   python3 -m venv /tmp/peer-venv
#   /tmp/peer-venv/bin/pip install torch==2.14.1 torchvision==0.29.1 lightly
#   /tmp/peer-venv/bin/python -c "import lightly.transforms, torchvision"
#
# (On this machine pip takes torch/torchvision from the local wheel index and lightly from PyPI; lightly 1.6.0
# resolved with torch 2.14.1 / torchvision 0.29.1 without conflicts.)
#
# Overrides: PEER_PY (peer interpreter), ADAINF (our CLI), PEER_ARGS (extra args for every peer run, e.g.
# "--steps 4" or another npz path; default data /work/shared/data/cifar10-5k-train.npz), PEER_FAST=0,
# IDLE_WAIT (seconds, 0 = don't wait).
# Stdout: a '#' comment line before each JSON object, one JSON object per run, then the ratios.

set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
PEER_PY="${PEER_PY:-/tmp/peer-venv/bin/python}"
ADAINF="${ADAINF:-$ROOT/.venv/bin/adainf}"
PEER_ARGS="${PEER_ARGS:-}"
PEER_FAST="${PEER_FAST:-1}"
IDLE_WAIT="${IDLE_WAIT:-600}"

last_json() { grep '^{' | tail -n 1; }

# Busy share (percent) of all CPUs over one second, from /proc/stat.
busy_pct() {
    local a b
    a=($(head -n 1 /proc/stat)); sleep 1; b=($(head -n 1 /proc/stat))
    local tot=0 idle i
    for i in 1 2 3 4 5 6 7 8; do tot=$((tot + b[i] - a[i])); done
    idle=$((b[4] - a[4] + b[5] - a[5]))
    echo $(( tot > 0 ? 100 * (tot - idle) / tot : 0 ))
}

# Wait until the machine has been idle (< 10% busy) for 3 consecutive seconds, at most IDLE_WAIT seconds.
wait_idle() {
    local waited=0 calm=0 pct
    while (( waited < IDLE_WAIT )); do
        pct="$(busy_pct)"; waited=$((waited + 1))
        if (( pct < 10 )); then calm=$((calm + 1)); (( calm >= 3 )) && return 0; else calm=0; fi
    done
    (( IDLE_WAIT > 0 )) && echo "# warning: machine still busy after ${IDLE_WAIT}s (last ${pct}%); timing anyway"
    return 0
}

echo "# machine: $(nproc) CPUs, $(uname -m); $(date -u +%Y-%m-%dT%H:%M:%SZ)"

if [[ ! -x "$PEER_PY" ]]; then
    echo "bench_train.sh: no peer interpreter at $PEER_PY; create it with the commands in this file's header" >&2
    exit 1
fi

LAST=""
run_peer() {  # $1 = label, rest = args; prints the command and the JSON, leaves the JSON in LAST
    local label="$1"; shift
    wait_idle
    echo "# peer, $label: $PEER_PY experiments/bench_train_peer.py $* $PEER_ARGS"
    # shellcheck disable=SC2086
    LAST="$("$PEER_PY" experiments/bench_train_peer.py "$@" $PEER_ARGS | last_json)"  # step log -> stderr
    echo "${LAST:-# (no JSON)}"
}

run_peer "fp32, 2 workers" --workers 2; PEER1="$LAST"
run_peer "fp32, 0 workers" --workers 0; PEER2="$LAST"
PEER3=""
if [[ "$PEER_FAST" != 0 ]]; then
    run_peer "channels_last + bf16 autocast, 2 workers" --workers 2 --channels-last --bf16; PEER3="$LAST"
fi
if [[ -z "$PEER1$PEER2$PEER3" ]]; then
    echo "bench_train.sh: the peer benchmark printed no result" >&2
    exit 1
fi

wait_idle
echo "# ours: $ADAINF bench train --method simclr --backbone resnet18 --batch 256 --json"
OURS=""
if OUT="$("$ADAINF" bench train --method simclr --backbone resnet18 --batch 256 --json)"; then
    OURS="$(printf '%s\n' "$OUT" | last_json)"
fi
if [[ -z "$OURS" ]]; then
    echo "# ours: FAILED or printed no JSON (is 'adainf bench train' implemented and .venv built?); no ratio"
    exit 0
fi
echo "$OURS"

python3 -c '
import json, sys
ours = json.loads(sys.argv[1])
o = ours.get("images_per_s")
if not o:
    sys.exit("# ratio: our JSON has no images_per_s: " + sys.argv[1])
labels = ("peer fp32, 2 workers", "peer fp32, 0 workers", "peer channels_last+bf16, 2 workers")
for label, line in zip(labels, sys.argv[2:]):
    if not line:
        print(f"# ratio vs {label}: no peer number")
        continue
    p = json.loads(line)["images_per_s"]
    print(f"# ratio ours/peer ({label}): {o / p:.2f}  ({o:.1f} vs {p:.1f} source images/s, two views each)")
' "$OURS" "$PEER1" "$PEER2" "$PEER3"

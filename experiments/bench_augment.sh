#!/usr/bin/env bash
# Side-by-side augmentation speed on this machine, in one go: the peer (lightly's SimCLRTransform, the
# torchvision/PIL pipeline, per image) against adainf's batched tensor augmentation, then ours/peer ratios.
#
#   bash experiments/bench_augment.sh            # from the repo root (or anywhere: it cd's to the repo)
#
# Runs, in order:
#   1. the peer in one process, one call per image (torch 1 thread, as in a DataLoader worker):
#        /tmp/peer-venv/bin/python experiments/bench_augment_peer.py
#   2. the peer as a torch DataLoader with 2 worker processes, batch 512 (the realistic set-up on 2 cores):
#        /tmp/peer-venv/bin/python experiments/bench_augment_peer.py --workers 2
#   3. ours: .venv/bin/adainf bench augment --preset symmetric --batch 512 --json
#      (guarded: if it fails, the peer numbers are still printed and no ratio is given)
#   4. ratio = ours images_per_s / peer images_per_s, against each peer mode. Both sides count source images
#      per second with two views each, so the views/s ratio is the same number.
#
# The peer venv is throw-away and lives outside the project; adainf does NOT depend on lightly or torchvision,
# and nothing here is part of its install or its tests. Create it once (multi-GB: torch is the CUDA build):
#
#   python3 -m venv /tmp/peer-venv
#   /tmp/peer-venv/bin/pip install torch==2.14.1 torchvision==0.29.1 lightly
#   /tmp/peer-venv/bin/python -c "import lightly.transforms, torchvision"
#
# (On this machine pip takes torch/torchvision from the local wheel index and lightly from PyPI; lightly 1.6.0
# resolved with torch 2.14.1 / torchvision 0.29.1 without conflicts.)
#
# Overrides: PEER_PY (peer interpreter), ADAINF (our CLI), PEER_ARGS (extra args for the peer script, e.g.
# "--random 5000" or another npz path; default data /work/shared/data/cifar10-5k-train.npz).
# Stdout: a '#' comment line before each JSON object, one JSON object per run, then the ratios.

set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
PEER_PY="${PEER_PY:-/tmp/peer-venv/bin/python}"
ADAINF="${ADAINF:-$ROOT/.venv/bin/adainf}"
PEER_ARGS="${PEER_ARGS:-}"

last_json() { grep '^{' | tail -n 1; }

echo "# machine: $(nproc) CPUs, $(uname -m); $(date -u +%Y-%m-%dT%H:%M:%SZ)"

if [[ ! -x "$PEER_PY" ]]; then
    echo "bench_augment.sh: no peer interpreter at $PEER_PY; create it with the commands in this file's header" >&2
    exit 1
fi

echo "# peer, one process: $PEER_PY experiments/bench_augment_peer.py $PEER_ARGS"
# shellcheck disable=SC2086
PEER1="$("$PEER_PY" experiments/bench_augment_peer.py $PEER_ARGS | last_json)"
echo "$PEER1"
echo "# peer, DataLoader: $PEER_PY experiments/bench_augment_peer.py --workers 2 $PEER_ARGS"
# shellcheck disable=SC2086
PEER2="$("$PEER_PY" experiments/bench_augment_peer.py --workers 2 $PEER_ARGS 2>/dev/null | last_json)"
echo "$PEER2"
if [[ -z "$PEER1$PEER2" ]]; then
    echo "bench_augment.sh: the peer benchmark printed no result" >&2
    exit 1
fi

echo "# ours: $ADAINF bench augment --preset symmetric --batch 512 --json"
OURS=""
if OUT="$("$ADAINF" bench augment --preset symmetric --batch 512 --json)"; then
    OURS="$(printf '%s\n' "$OUT" | last_json)"
fi
if [[ -z "$OURS" ]]; then
    echo "# ours: FAILED or printed no JSON (is 'adainf bench augment' implemented and .venv built?); no ratio"
    exit 0
fi
echo "$OURS"

python3 -c '
import json, sys
ours = json.loads(sys.argv[1])
o = ours.get("images_per_s")
if not o:
    sys.exit("# ratio: our JSON has no images_per_s: " + sys.argv[1])
for label, line in (("peer, 1 process, 1 thread", sys.argv[2]), ("peer, DataLoader 2 workers", sys.argv[3])):
    if not line:
        print(f"# ratio vs {label}: no peer number")
        continue
    p = json.loads(line)["images_per_s"]
    print(f"# ratio ours/peer ({label}): {o / p:.2f}  ({o:.0f} vs {p:.0f} source images/s, two views each)")
' "$OURS" "$PEER1" "$PEER2"

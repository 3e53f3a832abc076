"""How the kernel-bandwidth scale shapes the CIFAR augmentation graph (the choice of DEFAULT_SCALE).

Question: on the real 5k set at the reference strength 0.5 only (no inflation, no other strength — so the
choice cannot be tuned to the properties e04 tests), how do λ_11, α, the self-transition mass and the share
of stored pairs depend on scale = h / (median distance between two views of one image)?

Command (about 3 minutes on 2 cores):
    .venv/bin/python experiments/e04b_bandwidth_sweep.py --encoder runs/enc400
Writes experiments/results/e04b_bandwidth_sweep.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from adainf import augment, data
from adainf.recommend import feature_space, graph_terms, view_features
from bounds.graph import reference_bandwidth

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--encoder", default=None)
    p.add_argument("--scales", type=float, nargs="+", default=[1.0, 0.5, 0.35, 0.25, 0.2, 0.15, 0.1])
    p.add_argument("--out", default="experiments/results/e04b_bandwidth_sweep.json")
    args = p.parse_args()
    real = data.load(str(SHARED / "cifar10-5k-train.npz"))
    embed, space, _ = feature_space(args.encoder)
    f = view_features(real.to_tensor(), augment.resolve_views(0.5), 4, embed)  # (5000, 4, d)
    median = reference_bandwidth(f)
    rows = []
    for scale in args.scales:
        t0 = time.perf_counter()
        t = graph_terms(f, real.labels, bandwidth=scale * median, k=10)
        rows.append({"scale": scale, "bandwidth": scale * median, **t,
                     "stored_fraction": t["edges"] / len(real) ** 2, "seconds": time.perf_counter() - t0})
        print(f"scale {scale:5.2f}: lambda_11 {t['lam']:.4f}  alpha {t['alpha']:.4f}  self "
              f"{t['self_transition_mass']:.4f}  components {t['n_components']}  stored "
              f"{rows[-1]['stored_fraction']:.3f}  dropped<= {t['max_dropped_fraction']:.1e}", flush=True)
    Path(args.out).write_text(json.dumps({"command": " ".join(["python", *sys.argv]), "feature_space": space,
                                          "median_view_distance": median, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()

"""`adainf recommend` on CIFAR-10: the recommendation over R, its timing, and λ predicted vs measured.

Questions (issue 5):
  1. Is the recommended augmentation strength non-increasing in R, and the recommended N non-decreasing in
     TV, on CIFAR (R ∈ {0, 1, 4, 10, 20}; TV ∈ {0, 0.1, 0.3, 0.6})?
  2. Does it recover the paper's empirical optimum without training: the standard preset (crop min-scale
     0.08, strength 1) at R = 0, and a weaker one (min-scale ≥ 0.2, strength ≤ 0.5) at R = 20? If not,
     which term dominates?
  3. How well does the no-generated-set prediction of λ_{k+1} (the real graph with its self-loops diluted to
     the Kish size n(1 + R) for N = 1) match λ measured with oracle inflation (real held-out images from
     cifar10-extra-20k), read from experiments/results/e04_cifar_graph.csv (same subset, views, bandwidth)?
One measurement (`adainf.recommend.measure`) serves every R and TV (`rank`); the wall time of one
`adainf recommend` call on the 5k set is the measurement's time.

Command (about 6 minutes on 2 cores; measure alone 317 s with one core busy with another job):
    .venv/bin/python experiments/e05_recommend_cifar.py --encoder runs/enc400
Writes experiments/results/e05_recommend_cifar.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np

from adainf import augment, data
from adainf.recommend import feature_space, measure, rank, reference_bandwidth, view_features
from bounds.graph import build_graph
from bounds.inflation import effective_size, lambda_curve

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
RATIOS = (0.0, 1.0, 4.0, 10.0, 20.0)
TVS = (0.0, 0.1, 0.3, 0.6)


def _predicted_vs_oracle(encoder: str | None, e04_csv: Path) -> list[dict]:
    """λ predicted by self-loop dilution vs measured with oracle inflation, on e04's own real subset and views.

    Same 2,000 real images, same seed-0 views and bandwidth as e04's seed-0 rows, so the R = 0 entries agree
    and the R > 0 ones isolate the prediction.
    """
    if not e04_csv.exists():
        return []
    rows = [r for r in csv.DictReader(e04_csv.open()) if int(r["seed"]) == 0]
    n_real = int(rows[0]["n_real"])
    real = data.load(str(SHARED / "cifar10-5k-train.npz"))
    real = real.subset(np.sort(np.random.default_rng(0).permutation(len(real))[:n_real]))  # as e04
    embed, _, _ = feature_space(encoder)
    x = real.to_tensor()
    h = reference_bandwidth(x, embed, seed=0)
    out = []
    for s in sorted({float(r["strength"]) for r in rows}):
        f = view_features(x, augment.at_strength(s), 4, embed, seed=0)
        g = build_graph(f, bandwidth=h, rng=np.random.default_rng(0))
        curve = lambda_curve(g.adjacency, k=10, n_sources=n_real, multiples=(1, 2, 5))
        for r in rows:
            if float(r["strength"]) == s:
                ratio = int(r["n_extra"]) / n_real
                out.append({"strength": s, "ratio": ratio, "lam_oracle": float(r["lam"]),
                            "lam_predicted": curve.predict(effective_size(n_real, ratio, 1.0))})
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--encoder", default=None)
    p.add_argument("--n-real", type=int, default=5000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="experiments/results/e05_recommend_cifar.json")
    args = p.parse_args()

    m = measure(20.0, data_name=str(SHARED / "cifar10-5k-train.npz"), encoder=args.encoder, n_real=args.n_real, seed=args.seed,
                progress=sys.stderr.isatty())
    table = []
    for tv in TVS:
        for ratio in RATIOS:
            r = rank({**m, "tv_estimate": {"tv": tv, "source": "given"}}, ratio)
            best = r["candidates"][0]
            table.append({"tv": tv, "ratio": ratio, "dup": best["dup"],
                          "strength": best["augment"]["strength"],
                          "crop_min_scale": best["augment"]["view1"]["crop_min_scale"],
                          "jitter_prob": best["augment"]["view1"]["jitter_prob"],
                          "alpha": best["alpha"], "lambda": best["lambda"], "bound": best["bound"],
                          "connectivity_term": best["terms"]["connectivity_term"],
                          "labeling_term": best["terms"]["labeling_term"], "gap_term": best["gap_term"]})
    # the full ranked grid at the default TV, for R = 0 and 20 (which term decides)
    grids = {str(ratio): rank(m, ratio)["candidates"] for ratio in (0.0, 20.0)}
    e04 = Path(args.out).parent / "e04_cifar_graph.csv"
    summary = {
        "command": " ".join(["python", *sys.argv]), "feature_space": m["feature_space"], "n_real": m["n_real"],
        "bandwidth": m["bandwidth"], "measure_seconds": m["seconds"],
        "curves": {s: asdict(c) for s, c in m["curves"].items()}, "alphas": m["alphas"],
        "table": table, "grids": grids,
        "lambda_predicted_vs_oracle": _predicted_vs_oracle(args.encoder, e04),
    }
    Path(args.out).write_text(json.dumps(summary, indent=1, default=float) + "\n")
    print(f"measure: {m['seconds']:.0f} s, {m['n_real']} real images, {m['feature_space']}")
    print(" tv   R    N   strength  min_scale  alpha   lambda   conn   label   gap    bound")
    for t in table:
        print(f"{t['tv']:.1f} {t['ratio']:4g} {t['dup']:4g} {t['strength']:8g} {t['crop_min_scale']:9.3f} "
              f"{t['alpha']:.4f} {t['lambda']:.4f} {t['connectivity_term']:6.3f} {t['labeling_term']:6.3f} "
              f"{t['gap_term']:5.3f} {t['bound']:7.3f}")
    for row in summary["lambda_predicted_vs_oracle"]:
        print(f"strength {row['strength']:g} R={row['ratio']:g}: lambda predicted {row['lam_predicted']:.4f} vs "
              f"oracle {row['lam_oracle']:.4f}")


if __name__ == "__main__":
    main()

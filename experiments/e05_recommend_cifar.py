"""`adainf recommend` on CIFAR-10: the recommendation over R, its timing, and λ predicted vs measured.

Questions (issue 5):
  1. Is the recommended augmentation strength non-increasing in R, and the recommended N non-decreasing in
     TV, on CIFAR (R ∈ {0, 1, 4, 10, 20}; TV ∈ {0, 0.1, 0.3, 0.6})?
  2. Does it recover the paper's empirical optimum without training: the standard preset (crop min-scale
     0.08, strength 1) at R = 0, and a weaker one (min-scale ≥ 0.2, strength ≤ 0.5) at R = 20? If not,
     which term dominates?
  3. How well does the no-generated-set prediction of λ_{k+1} (1/λ = a + b/n over nested real subsamples,
     evaluated at the Kish size n(1 + R) for N = 1) match λ measured with oracle inflation (real held-out
     images from cifar10-extra-20k), read from experiments/results/e04_cifar_graph.csv?
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
import statistics
import sys
from dataclasses import asdict
from pathlib import Path

from adainf.recommend import measure, rank
from bounds.inflation import effective_size

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
RATIOS = (0.0, 1.0, 4.0, 10.0, 20.0)
TVS = (0.0, 0.1, 0.3, 0.6)


def _predicted_vs_oracle(m: dict, e04_csv: Path) -> list[dict]:
    if not e04_csv.exists():
        return []
    rows = list(csv.DictReader(e04_csv.open()))
    out = []
    for s, curve in m["curves"].items():
        for n_extra in sorted({int(r["n_extra"]) for r in rows}):
            sel = [r for r in rows if float(r["strength"]) == float(s) and int(r["n_extra"]) == n_extra]
            if not sel:
                continue
            n_real = int(sel[0]["n_real"])
            ratio = n_extra / n_real
            lam = [float(r["lam"]) for r in sel]
            out.append({"strength": float(s), "n_real": n_real, "ratio": ratio,
                        "lam_measured_mean": statistics.fmean(lam),
                        "lam_measured_sd": statistics.stdev(lam) if len(lam) > 1 else 0.0,
                        "lam_predicted": curve.predict(effective_size(n_real, ratio, 1.0)) * 1.0})
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--encoder", default=None)
    p.add_argument("--n-real", type=int, default=5000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="experiments/results/e05_recommend_cifar.json")
    args = p.parse_args()

    data = str(SHARED / "cifar10-5k-train.npz")
    m = measure(20.0, data_name=data, encoder=args.encoder, n_real=args.n_real, seed=args.seed,
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
    m_small = measure(0.0, data_name=data, encoder=args.encoder, n_real=2000, seed=args.seed) if e04.exists() \
        else None
    summary = {
        "command": " ".join(["python", *sys.argv]), "feature_space": m["feature_space"], "n_real": m["n_real"],
        "bandwidth": m["bandwidth"], "measure_seconds": m["seconds"],
        "curves": {s: asdict(c) for s, c in m["curves"].items()}, "alphas": m["alphas"],
        "table": table, "grids": grids,
        "lambda_predicted_vs_oracle": _predicted_vs_oracle(m_small, e04) if m_small else [],
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
              f"oracle {row['lam_measured_mean']:.4f} ± {row['lam_measured_sd']:.4f}")


if __name__ == "__main__":
    main()

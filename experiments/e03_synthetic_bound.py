"""The paper's §4.3 synthetic model, computed exactly: λ_{k+1}, α and the bound over sample size n and radius r.

Question: in the two-Gaussian model with uniform-disc augmentation (AdaInf §4.3, Fig. 5), do the paper's
trends hold — λ_{k+1} rises with n and with r, α rises with r, argmin_r of the bound falls as n grows?
Construction and readings are in `bounds.synthetic` (σ² = 0.7 per coordinate, augmented points labelled by
the Bayes side x₁ > 0, source labels = generating component, uniform source weights, k = 2, quadrature cell
r/32). Nothing here is tuned to produce a trend.

Command (about a minute on 2 cores):
    .venv/bin/python experiments/e03_synthetic_bound.py
Writes experiments/results/e03_synthetic_bound.csv (every (n, r, seed) row), .json (summary + command) and
experiments/results/e03_synthetic_bound.png (seaborn: λ_3, α and the bound against r, one line per n).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import sys
from itertools import pairwise
from pathlib import Path

from bounds.synthetic import bound_grid

NS = (50, 100, 200, 400)
RS = (0.2, 0.4, 0.6, 0.8, 1.2, 1.6, 2.4)
SEEDS = (0, 1, 2)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--k", type=int, default=2)
    p.add_argument("--out", default="experiments/results/e03_synthetic_bound")
    args = p.parse_args()
    rows = bound_grid(NS, RS, k=args.k, seeds=SEEDS)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.with_suffix(".csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    def mean(n: int, r: float, key: str) -> float:
        vals = [row[key] for row in rows if row["n"] == n and row["r"] == r]
        return math.inf if any(math.isinf(v) for v in vals) else statistics.mean(vals)

    table = {n: {r: {key: mean(n, r, key) for key in ("lam", "alpha", "bound")} for r in RS} for n in NS}
    best_r = {n: min(RS, key=lambda r: (table[n][r]["bound"], r)) for n in NS}
    summary = {
        "command": "python " + " ".join(sys.argv), "k": args.k, "ns": NS, "rs": RS, "seeds": SEEDS,
        "mean_over_seeds": {str(n): {str(r): v for r, v in t.items()} for n, t in table.items()},
        "argmin_r_of_mean_bound": {str(n): r for n, r in best_r.items()},
        "lambda_rises_with_r": all(
            table[n][a]["lam"] <= table[n][b]["lam"] for n in NS for a, b in pairwise(RS)),
        "lambda_rises_with_n": {str(r): [table[n][r]["lam"] for n in NS] for r in RS},
        "alpha_rises_with_r": all(
            table[n][a]["alpha"] <= table[n][b]["alpha"] for n in NS for a, b in pairwise(RS)),
    }
    out.with_suffix(".json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    _plot(rows, out.with_suffix(".png"))
    print(json.dumps({k: v for k, v in summary.items() if k != "mean_over_seeds"}, default=str))


def _plot(rows: list[dict[str, float | int]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    finite = [{**r, "bound": r["bound"] if math.isfinite(r["bound"]) else float("nan")} for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, key, title in zip(axes, ("lam", "alpha", "bound"), ("λ_3 (connectivity)", "α (per view)",
                                                                 "bound 4α/λ + 8α (∞ not drawn)"), strict=True):
        sns.lineplot(data={"r": [r["r"] for r in finite], key: [r[key] for r in finite],
                           "n": [str(r["n"]) for r in finite]}, x="r", y=key, hue="n", marker="o", ax=ax,
                     errorbar="sd")
        ax.set_title(title)
    axes[2].set_yscale("log")
    fig.suptitle("AdaInf §4.3 model: two 2-D Gaussians (σ²=0.7), disc augmentation of radius r, k=2; mean ± sd over 3 seeds")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()

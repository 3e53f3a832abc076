"""The augmentation graph on CIFAR-10: λ_{k+1} and α over augmentation strength x oracle inflation x seed.

Question (issue 4, item 3): in an adainf encoder's feature space, with the kernel bandwidth tied to the
augmentation and held fixed (`adainf.recommend.reference_bandwidth`, scale `DEFAULT_SCALE` x the median
same-source view distance at strength 0.5 on the real set), do the four properties hold?
  (i)   oracle inflation (more real images from cifar10-extra-20k, weight 1) does not lower λ_{k+1};
  (ii)  stronger augmentation raises both α and λ_{k+1};
  (iii) α is unchanged, within sampling error, by oracle inflation;
  (iv)  the estimates are stable across seeds (views redrawn, bandwidth recomputed).
Real set: a fixed random subset of cifar10-5k-train (all sizes nested); inflation: nested random prefixes of
cifar10-extra-20k, with their true labels (an oracle generator). Nothing here is tuned to produce a trend.

Command (31 minutes on 2 cores shared with another job):
    .venv/bin/python experiments/e04_cifar_graph.py --encoder runs/enc400
Writes experiments/results/e04_cifar_graph.csv (every row) and .json (summary per cell + the command).
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from adainf import data
from adainf.recommend import DEFAULT_SCALE, feature_space, inflation_grid

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--encoder", default=None, help="run directory of an adainf encoder (default: pixels)")
    p.add_argument("--n-real", type=int, default=2000)
    p.add_argument("--extra-sizes", type=int, nargs="+", default=[0, 2000, 8000])
    p.add_argument("--strengths", type=float, nargs="+", default=[0.25, 0.5, 0.75, 1.0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--views", type=int, default=4)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--scale", type=float, default=DEFAULT_SCALE)
    p.add_argument("--out", default="experiments/results/e04_cifar_graph")
    args = p.parse_args()

    t0 = time.perf_counter()
    real = data.load(str(SHARED / "cifar10-5k-train.npz"))
    real = real.subset(np.sort(np.random.default_rng(0).permutation(len(real))[: args.n_real]))
    extra = data.load(str(SHARED / "cifar10-extra-20k.npz"))
    embed, space, notes = feature_space(args.encoder)
    rows = inflation_grid(real, extra, embed, strengths=args.strengths, extra_sizes=args.extra_sizes,
                          seeds=args.seeds, views=args.views, k=args.k, bandwidth_scale=args.scale,
                          progress=sys.stderr.isatty())
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.with_suffix(".csv"), "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    cells = []
    for s in args.strengths:
        for n_extra in args.extra_sizes:
            sel = [r for r in rows if r["strength"] == str(s) and r["n_extra"] == n_extra]
            cell = {"strength": s, "n_extra": n_extra}
            for key in ("lam", "alpha", "self_transition_mass"):
                vals = [r[key] for r in sel]
                cell[key] = statistics.fmean(vals)
                cell[key + "_sd"] = statistics.stdev(vals) if len(vals) > 1 else 0.0
            cells.append(cell)
    summary = {"command": " ".join(["python", *sys.argv]), "feature_space": space, "assumptions": notes,
               "n_real": len(real), "k": args.k, "views": args.views, "scale": args.scale, "cells": cells,
               "seconds": time.perf_counter() - t0}
    out.with_suffix(".json").write_text(json.dumps(summary, indent=1) + "\n")
    print("strength  n_extra   lambda_{k+1}        alpha               self-mass")
    for c in cells:
        print(f"{c['strength']:8.2f}  {c['n_extra']:7d}   {c['lam']:.4f} ± {c['lam_sd']:.4f}   "
              f"{c['alpha']:.4f} ± {c['alpha_sd']:.4f}   {c['self_transition_mass']:.4f}")


if __name__ == "__main__":
    main()

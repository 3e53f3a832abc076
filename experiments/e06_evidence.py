"""Evidence study: does the estimated bound predict which configuration trains best, at CPU scale?

Questions (issue 6):
  1. Accuracy (kNN, linear probe; mean ± sd over seeds) over augmentation strength {0.25, 0.5, 0.75, 1} ×
     inflation {none, oracle N=1, generated N=1, generated N=10}, SimCLR with a fixed step budget.
  2. Spearman's ρ between −bound and accuracy across the 16 settings, with a bootstrap interval; which term
     carries the signal.
  3. Does the best strength shift weaker as inflation grows (the paper's Fig. 3)?
  4. AdaInf ≥ vanilla ≥ none, as in the paper's data-scarce row (74.83 → 79.15 at full scale)?

Setting (all in `adainf.study.StudyConfig`): real set cifar10-5k-train (the paper's data-scarce size), test set
cifar10-test-5k, a width-16 ConvNet, 400 SimCLR steps of 256 images, 2 seeds; oracle extra images =
cifar10-extra-20k (R = 4), generated = 20,000 samples of adainf's own diffusion model trained on the 5k set
(experiments/e07_generate.py; TV 0.63 to real in encoder space). Bound terms per setting from
`estimate_bound` (what `adainf bound` runs) on 1,000 real images plus extra images at the same ratio, in the
feature space of the reference cell's encoder (strength 1, no inflation, seed 0).

Command (about 70 minutes on 2 cores; resumable — an interrupted study continues where it stopped):
    .venv/bin/python experiments/e06_evidence.py
Re-run one cell (its row is replaced):
    .venv/bin/python experiments/e06_evidence.py --only 0.5:generated-adainf:1
Needs the generated set first (about 55 minutes):
    .venv/bin/python experiments/e07_generate.py      # writes runs/e07/gen20k.npz
Writes experiments/results/e06_evidence.json (every cell, every bound, the summary, the commands), .csv (one
row per setting) and .png (bound vs accuracy and heatmaps).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from adainf import study

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def _cell(spec: str, cfg: study.StudyConfig) -> study.Cell:
    try:
        s, name, seed = spec.split(":")
        inf = next(i for i in cfg.inflations if i.name == name)
        return study.Cell(float(s), inf, int(seed))
    except (ValueError, StopIteration):
        names = ", ".join(i.name for i in cfg.inflations)
        raise SystemExit(f"--only {spec!r}: expected STRENGTH:INFLATION:SEED with INFLATION one of {names}") from None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=str(SHARED / "cifar10-5k-train.npz"))
    p.add_argument("--test", default=str(SHARED / "cifar10-test-5k.npz"))
    p.add_argument("--oracle", default=str(SHARED / "cifar10-extra-20k.npz"))
    p.add_argument("--generated", default="runs/e07/gen20k.npz")
    p.add_argument("--steps", type=int, default=study.StudyConfig.steps)
    p.add_argument("--out", default="experiments/results/e06_evidence")
    p.add_argument("--runs", default=study.StudyConfig.out_dir, help="parent folder of the cells' run directories")
    p.add_argument("--only", action="append", help="STRENGTH:INFLATION:SEED; repeatable")
    p.add_argument("--summary-only", action="store_true", help="recompute the summary from the saved rows")
    args = p.parse_args()
    cfg = study.StudyConfig(data=args.data, test=args.test,
                            sources=(("oracle", args.oracle), ("generated", args.generated)),
                            steps=args.steps, out_dir=args.runs)
    out = Path(args.out)
    results = out.with_suffix(".json")
    try:
        if args.summary_only:
            state = study.load_results(results)
        else:
            only = [_cell(s, cfg) for s in args.only] if args.only else None
            state = study.run(cfg, only=only, results=results)
    except ValueError as e:
        sys.exit(f"error: {e}")
    summary = study.summarize(state)
    state["summary"] = summary
    state["commands"] = {"study": study.command(), "generated set": ".venv/bin/python experiments/e07_generate.py"}
    study.write_json(results, state)
    with out.with_suffix(".csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(summary["settings"][0]))
        w.writeheader()
        w.writerows(summary["settings"])
    if summary["spearman"]:
        study.plot(summary, out.with_suffix(".png"))
    json.dump({k: summary[k] for k in ("spearman", "best_strength", "ordering")}, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()

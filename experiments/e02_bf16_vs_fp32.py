"""Do bf16 autocast and fp32 train the same? Loss curves of one short run in each precision.

Question: with the same seed (same init, batches and augmentations), does the bf16-autocast loss curve follow
the fp32 one closely enough that `precision=auto` (bf16 where the hardware has it) is a safe default?

Command (about 5 minutes on 2 cores):
    .venv/bin/python experiments/e02_bf16_vs_fp32.py --steps 200
Writes experiments/results/e02_bf16_vs_fp32.json: both curves, the per-step relative difference and the
online kNN accuracy (k=200, T=0.1) at the end of each run, on the bundled sample.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from adainf import methods, runs
from adainf.train import train


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--out", default="experiments/results/e02_bf16_vs_fp32.json")
    args = p.parse_args()
    curves, evals, seconds = {}, {}, {}
    for precision in ("fp32", "bf16"):
        cfg = methods.resolve_config(None, [
            "model.backbone=convnet", f"train.steps={args.steps}", f"train.batch_size={args.batch}",
            "train.warmup_steps=20", f"precision={precision}", "device=cpu", "eval_every=0", "log_every=5",
            f"ckpt_every={args.steps}", "out_dir=runs/e02", f"name={precision}-{int(time.time())}",
        ], method="simclr")
        result = train(cfg, progress=sys.stderr.isatty())
        curves[precision] = [r["loss"] for r in runs.read_metrics(result.run_dir) if r["kind"] == "train"]
        evals[precision], seconds[precision] = result.eval, result.seconds
    rel = [abs(b - a) / abs(a) for a, b in zip(curves["fp32"], curves["bf16"], strict=True)]
    summary = {
        "command": "python " + " ".join(sys.argv),
        "steps": args.steps, "batch": args.batch, "backbone": "convnet(width=32)", "method": "simclr",
        "loss_fp32": curves["fp32"], "loss_bf16": curves["bf16"],
        "rel_diff_mean": statistics.mean(rel), "rel_diff_max": max(rel),
        "final_loss": {k: v[-1] for k, v in curves.items()},
        "knn_top1": {k: v.get("knn_top1") for k, v in evals.items()}, "seconds": seconds,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if not k.startswith("loss_")}))


if __name__ == "__main__":
    main()

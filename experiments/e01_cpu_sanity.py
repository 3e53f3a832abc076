"""Does the trainer learn on CPU? kNN accuracy of a small ConvNet, trained vs. at random init.

Question: after a CPU-sized SimCLR run on the 5k CIFAR-10 set (the paper's data-scarce size), is the kNN
accuracy on the 5k test set clearly above the same network at random initialisation (target: +8 points)?

Command (about 9 minutes per seed on 2 cores):
    .venv/bin/python experiments/e01_cpu_sanity.py --seeds 0 1 --steps 2000
Writes experiments/results/e01_cpu_sanity.json (all numbers, the config and the command).
Probe: offline kNN (k=200, T=0.1, cosine) on frozen backbone features of the 5k real training images,
evaluated on cifar10-test-5k; also the offline linear probe (100 epochs on frozen features).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from adainf import data, evaluate, methods
from adainf.methods import SSLModel
from adainf.train import train

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--out", default="experiments/results/e01_cpu_sanity.json")
    args = p.parse_args()

    train_path, test_path = str(SHARED / "cifar10-5k-train.npz"), str(SHARED / "cifar10-test-5k.npz")
    real, test = data.load(train_path), data.load(test_path)
    rows = []
    for seed in args.seeds:
        cfg = methods.resolve_config(None, [
            f"data.train={train_path}", f"data.test={test_path}", "model.backbone=convnet",
            f"model.width={args.width}", f"train.steps={args.steps}", f"train.batch_size={args.batch}",
            "train.warmup_steps=50", f"seed={seed}", "device=cpu", "eval_every=0", "log_every=50",
            f"ckpt_every={args.steps}", "out_dir=runs/e01", f"name=seed{seed}-{int(time.time())}",
        ], method="simclr")

        def knn(model: SSLModel) -> dict[str, float]:
            return evaluate.evaluate_encoder(
                model.backbone, real.to_tensor(), torch.from_numpy(real.labels), test.to_tensor(),
                torch.from_numpy(test.labels), num_classes=10, device="cpu")

        torch.manual_seed(seed)
        init = knn(SSLModel(cfg))  # the same initialisation `train` starts from (seeded identically)
        result = train(cfg, progress=sys.stderr.isatty())
        trained = evaluate.evaluate_run(result.run_dir, device="cpu")
        rows.append({"seed": seed, "run_dir": str(result.run_dir), "train_seconds": result.seconds,
                     "init_knn_top1": init["knn_top1"], "init_offline_linear_top1": init["offline_linear_top1"],
                     "knn_top1": trained["knn_top1"], "offline_linear_top1": trained["offline_linear_top1"]})
        print(json.dumps(rows[-1]), file=sys.stderr)

    def mean_std(key: str) -> list[float]:
        vals = [r[key] for r in rows]
        return [statistics.mean(vals), statistics.stdev(vals) if len(vals) > 1 else 0.0]

    summary = {
        "command": "python " + " ".join(sys.argv),
        "steps": args.steps, "batch": args.batch, "backbone": f"convnet(width={args.width})", "method": "simclr",
        "rows": rows,
        "init_knn_top1": mean_std("init_knn_top1"), "knn_top1": mean_std("knn_top1"),
        "init_offline_linear_top1": mean_std("init_offline_linear_top1"),
        "offline_linear_top1": mean_std("offline_linear_top1"),
        "knn_gain_points": 100 * (mean_std("knn_top1")[0] - mean_std("init_knn_top1")[0]),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "rows"}))


if __name__ == "__main__":
    main()

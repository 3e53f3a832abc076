"""Can a CPU-trained diffusion model make a generated set that is measurably closer to CIFAR-10 than noise?

Question: a ~1.2M-parameter U-Net (adainf.generate defaults: width 32, 2x2 patches, cosine schedule, EMA),
trained <= 60 min on 2 CPU cores on the 5k CIFAR-10 training set, then sampling 20k images by DDIM in
<= 20 min: are its samples closer to the real test set than a per-pixel Gaussian fitted to the training
set, by the domain-classifier TV lower bound and the Fréchet distance (bounds.gap), with two disjoint
real test halves as the floor?

Command (about 55 + 15 minutes on 2 cores; on a machine shared with other jobs add --threads 1):
    .venv/bin/python experiments/e07_generate.py --steps 4000 --max-minutes 55 --n 20000 --sample-steps 10
Optional: --encoder RUN_DIR also measures the gap in a trained adainf encoder's feature space.
Writes experiments/results/e07_generate.json (numbers, config, timings, command) and
experiments/results/e07_generate.png (the first 128 samples). Re-running continues the run directory
(runs/e07/gen) from its last checkpoint instead of starting over.

Budget, measured on the shared 2-core machine while another job kept both cores busy (load 4-6), torch
threads = 1:
    .venv/bin/python experiments/e07_generate.py --steps 20 --n 256 --sample-steps 10 --sample-batch 128 \
        --threads 1 --run-dir /tmp/e07t/gen --samples /tmp/e07t/g.npz --out /tmp/e07t/r.json --grid /tmp/e07t/g.png
gave 0.65 s per training step of 64 images (0.67-0.85 s in earlier 20-step timings) and 8.4 s for 256
images at 10 DDIM steps (33 ms per image; 40 ms at batch 128 earlier). So 4000 steps take 43-57 min at
the contended rate (the 55-minute guard stops training earlier if needed; the step count reached is
reported), and 20k samples 11-14 min. With 2 threads and another job on the cores, the same work ran
3-10x slower (thread oversubscription), hence --threads 1 on a shared machine.

Result (2026-12-05, RESULTS.md): 4,000 steps in 43.4 min with --threads 1 --max-minutes 45, 20k samples in
10.6 min; closer to real than the per-pixel Gaussian by TV and Fréchet distance in enc400's feature space.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

from adainf import data, generate, runs
from adainf.recommend import encoder_embedding, pixel_embedding

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=4000, help="training steps (batch 64)")
    p.add_argument("--max-minutes", type=float, default=55.0, help="training wall-clock guard")
    p.add_argument("--n", type=int, default=20_000, help="images to sample")
    p.add_argument("--sample-steps", type=int, default=10, help="DDIM steps")
    p.add_argument("--sample-batch", type=int, default=256)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--encoder", default=None, help="adainf train run dir: also measure in its feature space")
    p.add_argument("--run-dir", default="runs/e07/gen")
    p.add_argument("--samples", default="runs/e07/gen20k.npz")
    p.add_argument("--out", default="experiments/results/e07_generate.json")
    p.add_argument("--grid", default="experiments/results/e07_generate.png")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    train_path, test_path = SHARED / "cifar10-5k-train.npz", SHARED / "cifar10-test-5k.npz"
    run_dir = Path(args.run_dir)

    # 1. Train (or continue a previous call's run).
    cfg = generate.GenerateConfig(data=str(train_path), steps=args.steps, seed=args.seed, device="cpu")
    resume = (run_dir / "config.json").is_file()
    t0 = time.perf_counter()
    result = generate.train(None if resume else cfg, run_dir, resume=resume, max_seconds=60 * args.max_minutes)
    train_seconds = time.perf_counter() - t0
    rows = [r for r in runs.read_metrics(run_dir) if r.get("kind") == "train"]

    # 2. Sample, 3. grid.
    summary = generate.sample(run_dir, args.n, args.samples, batch=args.sample_batch, steps=args.sample_steps,
                              seed=args.seed)
    samples = data.load_npz(args.samples).images
    generate.save_grid(samples[:128], args.grid, columns=16)

    # 4. Quality against the real test set, beside the real-vs-real floor and the per-pixel Gaussian.
    real_test, real_train = data.load_npz(test_path).images, data.load_npz(train_path).images
    spaces = {"pixel_projection_128": pixel_embedding(dim=128, seed=0)}
    if args.encoder:
        spaces[f"encoder:{args.encoder}"] = encoder_embedding(args.encoder)
    quality = {}
    for name, embed in spaces.items():
        report = generate.quality(real_test, samples, embed, rng=np.random.default_rng(args.seed),
                                  baseline_fit=real_train)
        quality[name] = report.to_dict()
        g, b, f = report.generated, report.baseline, report.floor
        print(f"{name}: Frechet gen {g.frechet:.4f} | baseline {b.frechet:.4f} | floor {f.frechet:.4f};  "
              f"TV(quadratic) gen {g.tv_quadratic.tv:.3f} | baseline {b.tv_quadratic.tv:.3f} | "
              f"floor {f.tv_quadratic.tv:.3f}", file=sys.stderr)

    out = {
        "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
        "config": json.loads((run_dir / "config.json").read_text()),
        "code_version": runs.code_version(),
        "torch_threads": torch.get_num_threads(),
        "train": {"steps_reached": result.steps, "seconds_this_call": train_seconds, "resumed": resume,
                  "parameters": result.parameters, "final_loss": result.final_loss,
                  "loss_first_rows": [r["loss"] for r in rows[:3]], "loss_last_rows": [r["loss"] for r in rows[-3:]]},
        "sample": summary,
        "grid": args.grid,
        "real": str(test_path),
        "baseline_fit": str(train_path),
        "quality": quality,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(args.out).with_name(f".{Path(args.out).name}.tmp")
    tmp.write_text(json.dumps(out, indent=2) + "\n")
    tmp.replace(args.out)
    print(json.dumps({k: out[k] for k in ("train", "sample")}, indent=2))


if __name__ == "__main__":
    main()

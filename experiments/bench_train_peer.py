"""Peer half of the training-speed comparison: lightly's SimCLR recipe for CIFAR-10, timed on this CPU.

Runs in a separate, throw-away venv; adainf does NOT depend on lightly or torchvision (see
experiments/bench_train.sh for how to create /tmp/peer-venv). Standalone: imports nothing from adainf.

Commands (from the repo root):

    /tmp/peer-venv/bin/python experiments/bench_train_peer.py                  # fp32, 2 DataLoader workers
    /tmp/peer-venv/bin/python experiments/bench_train_peer.py --workers 0      # fp32, augment in-process
    /tmp/peer-venv/bin/python experiments/bench_train_peer.py --channels-last --bf16   # 2 workers

What it measures: wall-clock source images per second of full SimCLR training steps (DataLoader batch ->
forward of both views -> NT-Xent -> backward -> SGD step), batch 256, two views per source image, on the CPU
(the torch build is the CUDA one; no GPU is used). --warmup steps (default 2) are run untimed, then --steps
steps (default 8) are timed back to back; waiting for the DataLoader is inside the timed window, so with
workers > 0 augmentation overlaps training only as far as the 2 cores allow. images_per_s = 256 * steps / s.

The recipe is lightly's current CIFAR-10 SimCLR configuration, `examples/simclr.py` together with the `cifar10`
row of `benchmarks/simclr/datasets.py` in lightly's repository ("the settings this repository benchmarked
SimCLR on CIFAR-10 with"). Those files use `lightly.backbones`, `lightly.nn.encode` and `lightly.optim`,
which lightly 1.6.0 (installed here) does not ship, so the few lines involved are restated below:

* backbone: `torchvision.models.resnet18()` with lightly's `small_image_stem` (conv1 -> 3x3 stride-1
  Conv2d(3, 64, bias=False), maxpool -> Identity) and fc -> Identity, i.e. `TorchvisionResNetBackbone`;
  output (B, 512). This is the same network shape as the CIFAR-10 benchmark in lightly's docs
  (`docs/source/getting_started/benchmarks/cifar10_benchmark.py`: `ResNetGenerator('resnet-18')`, 3x3 stride-1
  stem, no max-pool, children[:-1] + AdaptiveAvgPool2d(1)). `--stem standard` gives the ImageNet stem
  (7x7 stride-2 conv + max-pool, as in lightly's older `examples/pytorch/simclr.py`: resnet18 children[:-1]);
  it is ~15x fewer FLOPs on 32x32 inputs and is NOT the CIFAR recipe.
* head: `lightly.models.modules.SimCLRProjectionHead(512, 512, 128)` (Linear-BN-ReLU-Linear-BN).
* loss: `lightly.loss.NTXentLoss(temperature=0.5)`.
* forward: both views concatenated into one (512, 3, 32, 32) batch through backbone + head, then split
  (the example's `encode(..., group_by="shape")`; BatchNorm sees 2N). `--two-forwards` runs the views one at a
  time instead, as lightly's older examples did (same FLOPs).
* optimiser: SGD lr 0.06 (the literal for batch 256), momentum 0.9, weight decay 5e-4 on everything except
  norm parameters and biases (lightly 1.6.0's `get_weight_decay_parameters`, the same split as the example's
  `param_groups`). No scheduler (it does not change step time).
* transform: `lightly.transforms.SimCLRTransform(input_size=32, cj_strength=0.5, gaussian_blur=0.0,
  normalize=CIFAR10 mean/std)`: random resized crop (0.08, 1), hflip 0.5, colour jitter p=0.8 with 0.4/0.4/0.4/0.1,
  grayscale p=0.2, no blur, ToTensor, Normalize. lightly 1.6.0 has no CIFAR10_NORMALIZE; the usual CIFAR-10
  statistics are used (they change no timing).
* data: the uint8 images of an AdaInf-style npz (key `image`, (N, 32, 32, 3)), default
  /work/shared/data/cifar10-5k-train.npz, turned into PIL images once up front; a map-style Dataset applies the
  transform per item (as torchvision's CIFAR10(transform=...) does) and returns (views, label);
  DataLoader(batch_size=256, shuffle=True, drop_last=True, num_workers=--workers, default collate,
  persistent_workers when workers > 0). Steps cycle over epochs if needed.
* precision: fp32 by default (lightly's docs CIFAR-10 benchmark and the example run fp32; the newer
  benchmarks/simclr/benchmark.py uses Lightning's bf16-mixed). --bf16 wraps forward + loss in
  torch.autocast("cpu", dtype=torch.bfloat16); --channels-last puts the model and each input batch in
  channels_last memory format. Each combination is a separate run/report.

Threads: the main process uses torch's default (one per core here); each DataLoader worker is set to 1 thread
by torch. With 2 cores and 2 workers the workers compete with the training threads: that is the realistic peer
set-up on this machine, and --workers 0 (augmentation inline, between steps) is the reference.

Contamination check: over the timed window the script compares the machine's busy CPU time (/proc/stat) with
its own (main process + workers, /proc/<pid>/stat) and reports the rest as cpu_s_other_processes, with a
warning on stderr when it exceeds 5% of the window's CPU capacity; run on an otherwise idle machine.

Stdout: ONE JSON object. Per-step times and losses go to stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import sys
import time

DEFAULT_DATA = "/work/shared/data/cifar10-5k-train.npz"
CIFAR10_MEAN_STD = {"mean": [0.4914, 0.4822, 0.4465], "std": [0.2470, 0.2435, 0.2616]}


def small_image_stem(model):
    """lightly's `small_image_stem` (lightly/backbones/torchvision_resnet.py), restated: 3x3 stride-1 conv1,
    no max-pool."""
    from torch import nn

    conv1 = model.conv1
    model.conv1 = nn.Conv2d(
        conv1.in_channels, conv1.out_channels, kernel_size=3, stride=1, padding=1, bias=False
    )
    model.maxpool = nn.Identity()
    return model


def build_backbone(stem: str):
    """torchvision resnet18 -> (B, 512) features, as lightly's TorchvisionResNetBackbone (fc -> Identity)."""
    from torch import nn
    from torchvision.models import resnet18

    net = resnet18()
    if stem == "small_image":
        net = small_image_stem(net)
    net.fc = nn.Identity()
    return net


class _Views:
    """Map-style dataset: index -> (list of two views, label), the transform applied per item."""

    def __init__(self, images: list, labels, transform):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        return self.transform(self.images[i]), int(self.labels[i])


def _busy_ticks() -> int:
    """Busy CPU ticks of the whole machine so far (/proc/stat: all but idle and iowait)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v) - v[3] - v[4]


def _proc_ticks(pids) -> int:
    """utime + stime ticks of the given processes (0 for any that is gone)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total


def load_images(path: str) -> tuple[list, list, str]:
    import numpy as np
    from PIL import Image

    with np.load(path) as d:
        arr = np.ascontiguousarray(d["image"])
        labels = np.asarray(d["label"]) if "label" in d.files else np.zeros(len(arr), dtype=np.int64)
    if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[-1] != 3:
        raise SystemExit(
            f"{path}: expected uint8 (N, H, W, 3) under key 'image', got {arr.dtype} {arr.shape}"
        )
    return [Image.fromarray(a, mode="RGB") for a in arr], list(labels), f"{path} {tuple(arr.shape)}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "data", nargs="?", default=DEFAULT_DATA, help=f"npz with uint8 'image' (default {DEFAULT_DATA})"
    )
    p.add_argument(
        "--workers", type=int, default=2, metavar="K", help="DataLoader worker processes (default 2)"
    )
    p.add_argument("--batch", type=int, default=256, help="source images per step (default 256)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    p.add_argument("--steps", type=int, default=8, help="timed steps (default 8)")
    p.add_argument("--channels-last", action="store_true", help="model and inputs in channels_last format")
    p.add_argument(
        "--bf16", action="store_true", help="torch.autocast('cpu', dtype=torch.bfloat16) forward+loss"
    )
    p.add_argument(
        "--stem",
        choices=("small_image", "standard"),
        default="small_image",
        help="resnet18 stem: small_image = lightly's CIFAR recipe (default); standard = ImageNet stem",
    )
    p.add_argument(
        "--two-forwards",
        action="store_true",
        help="one forward per view (older lightly examples) instead of both views in one batch",
    )
    p.add_argument(
        "--threads", type=int, default=0, help="torch threads in the main process (0 = torch default)"
    )
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.steps < 1 or args.warmup < 0:
        p.error("--steps must be >= 1 and --warmup >= 0")

    import lightly
    import numpy as np
    import PIL
    import torch
    import torchvision
    from lightly.loss import NTXentLoss
    from lightly.models.modules import SimCLRProjectionHead
    from lightly.models.utils import get_weight_decay_parameters
    from lightly.transforms import SimCLRTransform
    from torch.utils.data import DataLoader

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device("cpu")

    transform = SimCLRTransform(input_size=32, cj_strength=0.5, gaussian_blur=0.0, normalize=CIFAR10_MEAN_STD)
    images, labels, source = load_images(args.data)
    if len(images) < args.batch:
        raise SystemExit(f"{source}: fewer images than one batch of {args.batch}")

    backbone = build_backbone(args.stem)
    head = SimCLRProjectionHead(512, 512, 128)
    criterion = NTXentLoss(temperature=0.5)
    model = torch.nn.Sequential(backbone, head).to(device)
    mem_fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    decay, no_decay = get_weight_decay_parameters([backbone, head])
    optimizer = torch.optim.SGD(
        [{"params": decay, "weight_decay": 5e-4}, {"params": no_decay, "weight_decay": 0.0}],
        lr=0.06,
        momentum=0.9,
    )
    model.train()

    loader = DataLoader(
        _Views(images, labels, transform),
        batch_size=args.batch,
        shuffle=True,
        drop_last=True,
        num_workers=args.workers,
        persistent_workers=args.workers > 0,
        generator=torch.Generator().manual_seed(args.seed),
    )

    def batches():
        while True:
            yield from loader

    def step(views) -> float:
        x0, x1 = (v.to(device, non_blocking=True).contiguous(memory_format=mem_fmt) for v in views)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            if args.two_forwards:
                z0, z1 = model(x0), model(x1)
            else:
                z0, z1 = model(torch.cat([x0, x1])).chunk(2)
            loss = criterion(z0.float(), z1.float())
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())

    it = batches()
    t_start = time.perf_counter()
    for i in range(args.warmup):
        t = time.perf_counter()
        views, _ = next(it)
        loss = step(views)
        print(f"warm-up step {i}: {time.perf_counter() - t:.2f} s, loss {loss:.4f}", file=sys.stderr)
    warmup_s = time.perf_counter() - t_start

    workers = getattr(getattr(loader, "_iterator", None), "_workers", None) or []
    pids = [os.getpid()] + [w.pid for w in workers]
    busy0, ours0 = _busy_ticks(), _proc_ticks(pids)
    step_s, losses = [], []
    t0 = time.perf_counter()
    for i in range(args.steps):
        t = time.perf_counter()
        views, _ = next(it)
        assert tuple(views[0].shape) == (args.batch, 3, 32, 32), tuple(views[0].shape)
        losses.append(step(views))
        step_s.append(time.perf_counter() - t)
        print(f"step {i}: {step_s[-1]:.2f} s, loss {losses[-1]:.4f}", file=sys.stderr)
    dt = time.perf_counter() - t0
    hz = os.sysconf("SC_CLK_TCK")
    busy_s, ours_s = (_busy_ticks() - busy0) / hz, (_proc_ticks(pids) - ours0) / hz
    other_s = max(busy_s - ours_s, 0.0)
    if other_s > 0.05 * dt * (os.cpu_count() or 1):
        print(
            f"WARNING: other processes used {other_s:.1f} CPU-s during the {dt:.1f} s timed window; "
            "the number is contaminated, rerun on an idle machine",
            file=sys.stderr,
        )
    if not all(math.isfinite(v) for v in losses):
        raise SystemExit(f"non-finite loss: {losses}")

    stem_txt = (
        "CIFAR stem: conv1 3x3 stride 1, no max-pool"
        if args.stem == "small_image"
        else "ImageNet stem: conv1 7x7 stride 2 + max-pool"
    )
    result = {
        "peer": "lightly SimCLR (cifar10 recipe)",
        "lightly": lightly.__version__,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "pillow": PIL.__version__,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "device": "cpu",
        "threads": torch.get_num_threads(),
        "batch": args.batch,
        "workers": args.workers,
        "images_per_s": round(args.batch * args.steps / dt, 2),
        "views_per_s": round(2 * args.batch * args.steps / dt, 2),
        "s_per_step": round(dt / args.steps, 3),
        "s_per_step_min": round(min(step_s), 3),
        "s_per_step_max": round(max(step_s), 3),
        "steps_timed": args.steps,
        "warmup_steps": args.warmup,
        "warmup_s": round(warmup_s, 2),
        "precision": "bf16 autocast" if args.bf16 else "fp32",
        "channels_last": args.channels_last,
        "backbone": f"torchvision resnet18 ({stem_txt}; fc -> Identity, 512-d)",
        "head": "SimCLRProjectionHead(512, 512, 128)",
        "loss": "NTXentLoss(temperature=0.5)",
        "forward": "one forward per view" if args.two_forwards else "both views in one batch (2N)",
        "optimizer": "SGD lr 0.06 momentum 0.9 wd 5e-4 (no wd on norms/biases)",
        "transform": "SimCLRTransform(input_size=32, cj_strength=0.5, gaussian_blur=0.0, normalize=CIFAR-10)",
        "data": source,
        "cpu_s_ours": round(ours_s, 1),
        "cpu_s_other_processes": round(other_s, 1),
        "loss_first": round(losses[0], 4),
        "loss_last": round(losses[-1], 4),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Peer half of the augmentation speed comparison: lightly's SimCLRTransform (torchvision + PIL, per image).

Runs in a separate, throw-away venv; adainf does NOT depend on lightly or torchvision (see
experiments/bench_augment.sh for how to create /tmp/peer-venv). Standalone: imports nothing from adainf.

Commands (from the repo root):

    /tmp/peer-venv/bin/python experiments/bench_augment_peer.py               # one process, per image
    /tmp/peer-venv/bin/python experiments/bench_augment_peer.py --workers 2   # DataLoader, 2 workers, batch 512

What it measures: wall-clock throughput of `lightly.transforms.SimCLRTransform(input_size=32)` with lightly's
defaults untouched (random resized crop scale (0.08, 1), hflip 0.5, colour jitter p=0.8 with
brightness/contrast/saturation 0.8 and hue 0.2, grayscale p=0.2, PIL gaussian blur p=0.5 with sigma in
(0.1, 2), ToTensor, ImageNet normalisation). Each call takes one 32x32 RGB PIL image and returns two views
(two float tensors (3, 32, 32)); images_per_s counts source images, views_per_s = 2 * images_per_s.

* Per-process mode (default): the transform is called image by image in this one process, as a DataLoader
  worker does. It is timed with torch.set_num_threads(1) (what every DataLoader worker sets) -> images_per_s,
  and also with torch's default thread count -> images_per_s_default_threads. Warm-up images are not timed.
* --workers K: a torch DataLoader with K worker processes (fork), batch 512, shuffle, default collate (the
  realistic peer set-up on this 2-core machine is K=2). One untimed warm-up epoch starts the (persistent)
  workers; then --epochs full epochs over the images are timed, collation into (512, 3, 32, 32) batches
  included. images_per_s is for the whole loader.

Input: the images of an AdaInf-style npz (key `image`, uint8 (N, 32, 32, 3)), default
/work/shared/data/cifar10-5k-train.npz, or --random N uniformly random uint8 images. They are turned into
PIL images once, before timing (torchvision's CIFAR10 dataset does Image.fromarray per item instead: a few
microseconds, left out of both modes). At least 3,000 images are timed (--n, cycling through the set).

Stdout: ONE JSON object. The transform's repr goes to stderr (and, on one line, into the JSON's "transform").
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time

DEFAULT_DATA = "/work/shared/data/cifar10-5k-train.npz"


def describe(obj: object) -> str:
    """repr of a transform, with lightly's own classes (default object repr) spelled out with their fields."""
    inner = getattr(obj, "transforms", None)
    if isinstance(inner, (list, tuple)) and len(inner) > 1 and all(t is inner[0] for t in inner):
        return f"{type(obj).__name__}({len(inner)} views, each {describe(inner[0])})"
    if isinstance(inner, (list, tuple)) and type(obj).__name__ in ("Compose", "MultiViewTransform",
                                                                   "SimCLRTransform"):
        body = ",\n".join("  " + describe(t).replace("\n", "\n  ") for t in inner)
        return f"{type(obj).__name__}(\n{body}\n)"
    view = getattr(obj, "transform", None)
    if type(obj).__name__.endswith("ViewTransform") and view is not None:
        return f"{type(obj).__name__}({describe(view)})"
    text = repr(obj)
    if " object at 0x" in text:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(obj).items() if not k.startswith("_"))
        text = f"{type(obj).__name__}({fields})"
    return text


def load_images(args: argparse.Namespace) -> tuple[list, str]:
    import numpy as np
    from PIL import Image

    if args.random:
        rng = np.random.default_rng(0)
        arr = rng.integers(0, 256, size=(args.random, 32, 32, 3), dtype=np.uint8)
        source = f"random uint8 ({args.random}, 32, 32, 3)"
    else:
        with np.load(args.data) as d:
            arr = np.ascontiguousarray(d["image"])
        if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[-1] != 3:
            raise SystemExit(f"{args.data}: expected uint8 (N, H, W, 3) under key 'image', got "
                             f"{arr.dtype} {arr.shape}")
        source = f"{args.data} {tuple(arr.shape)}"
    return [Image.fromarray(a, mode="RGB") for a in arr], source


def time_per_process(transform, images: list, n: int, warmup: int) -> float:
    """Seconds to transform n images (cycling), one call per image, after `warmup` untimed calls."""
    m = len(images)
    for i in range(warmup):
        transform(images[i % m])
    t0 = time.perf_counter()
    for i in range(n):
        views = transform(images[i % m])
    dt = time.perf_counter() - t0
    assert len(views) == 2 and tuple(views[0].shape) == (3, 32, 32), [tuple(v.shape) for v in views]
    return dt


class _Views:
    """Map-style dataset: index -> the two SimCLR views of that image (label left out; collation stacks)."""

    def __init__(self, images: list, transform, n: int):
        self.images, self.transform, self.n = images, transform, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        return self.transform(self.images[i % len(self.images)])


def time_loader(transform, images: list, n: int, workers: int, batch: int, epochs: int) -> tuple[float, int]:
    """(seconds, images) for `epochs` timed epochs of a DataLoader over n images, after one warm-up epoch."""
    import torch
    from torch.utils.data import DataLoader

    loader = DataLoader(_Views(images, transform, n), batch_size=batch, shuffle=True, num_workers=workers,
                        persistent_workers=workers > 0, generator=torch.Generator().manual_seed(0))
    for _ in loader:  # warm-up epoch: starts the workers, fills caches
        pass
    seen = 0
    t0 = time.perf_counter()
    for _ in range(epochs):
        for v1, v2 in loader:
            seen += v1.shape[0]
    dt = time.perf_counter() - t0
    assert tuple(v1.shape[1:]) == (3, 32, 32) and v2.shape == v1.shape
    return dt, seen


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("data", nargs="?", default=DEFAULT_DATA, help=f"npz with uint8 'image' (default {DEFAULT_DATA})")
    p.add_argument("--random", type=int, default=0, metavar="N", help="use N random 32x32 images instead of data")
    p.add_argument("--n", type=int, default=5000, help="images timed per measurement (>= 3000; default 5000)")
    p.add_argument("--warmup", type=int, default=300, help="untimed images first, per-process mode (default 300)")
    p.add_argument("--workers", type=int, default=0, metavar="K",
                   help="time a DataLoader with K worker processes instead (0 = per-process mode, default)")
    p.add_argument("--batch", type=int, default=512, help="DataLoader batch size (default 512)")
    p.add_argument("--epochs", type=int, default=2, help="timed DataLoader epochs of --n images (default 2)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.n < 3000:
        p.error("--n must be at least 3000")

    import lightly
    import numpy as np
    import PIL
    import torch
    import torchvision
    from lightly.transforms import SimCLRTransform

    random.seed(args.seed)
    np.random.seed(args.seed)  # lightly's GaussianBlur draws from numpy's global generator
    torch.manual_seed(args.seed)

    transform = SimCLRTransform(input_size=32)  # lightly's defaults, untouched
    text = describe(transform)
    print(text, file=sys.stderr)

    images, source = load_images(args)
    default_threads = torch.get_num_threads()
    result: dict = {
        "peer": "lightly SimCLRTransform",
        "lightly": lightly.__version__,
        "torchvision": torchvision.__version__,
        "torch": torch.__version__,
        "pillow": PIL.__version__,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "data": source,
    }
    if args.workers <= 0:
        dt_default = time_per_process(transform, images, args.n, args.warmup)
        torch.set_num_threads(1)  # what a DataLoader worker runs with
        dt_one = time_per_process(transform, images, args.n, args.warmup)
        torch.set_num_threads(default_threads)
        result.update({
            "mode": "per-process, one call per image",
            "images_per_s": round(args.n / dt_one, 1),
            "views_per_s": round(2 * args.n / dt_one, 1),
            "n_images": args.n,
            "processes": 1,
            "threads": 1,
            "images_per_s_default_threads": round(args.n / dt_default, 1),
            "default_threads": default_threads,
        })
    else:
        dt, seen = time_loader(transform, images, args.n, args.workers, args.batch, args.epochs)
        result.update({
            "mode": f"torch DataLoader, {args.workers} workers, batch {args.batch}",
            "images_per_s": round(seen / dt, 1),
            "views_per_s": round(2 * seen / dt, 1),
            "n_images": seen,
            "processes": args.workers,
            "workers": args.workers,
            "batch": args.batch,
            "threads_per_worker": 1,
        })
    result["transform"] = " ".join(text.split())
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

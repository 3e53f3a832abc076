"""Build the bundled CIFAR-10 sample, adainf/assets/cifar10-mini.npz, that the default run trains on.

Draws a class-balanced, seeded subset of the shared CIFAR-10 copy (a JPEG-derived copy, see DESIGN.md):
200 images per class from cifar10-5k-train.npz (2,000 train) and 100 per class from cifar10-test-5k.npz
(1,000 test). Within each split the chosen images keep their order in the source file. The result is one
compressed npz with keys train_image, train_label, test_image, test_label (uint8 N×32×32×3 RGB, int64),
written atomically; the same inputs and seed give a byte-identical file. Prints a JSON summary.

Command (from the repository root):

    .venv/bin/python experiments/make_bundled_sample.py

Options: --data-dir (default ../shared/data), --train-per-class 200, --test-per-class 100, --seed 0,
--out adainf/assets/cifar10-mini.npz.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from adainf.data import ImageSet, describe, load_bundled, load_npz, write_npz_atomic

REPO = Path(__file__).resolve().parent.parent


def balanced_subset(ds: ImageSet, per_class: int, rng: np.random.Generator) -> ImageSet:
    """Picks `per_class` images of every class at random, returned in their original order."""
    chosen = []
    for c in range(ds.num_classes or 0):
        members = np.flatnonzero(ds.labels == c)
        if members.size < per_class:
            raise SystemExit(f"{ds.source}: class {c} has {members.size} images, fewer than {per_class}")
        chosen.append(rng.choice(members, size=per_class, replace=False))
    return ds.subset(np.sort(np.concatenate(chosen)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--train-per-class", type=int, default=200)
    parser.add_argument("--test-per-class", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPO / "adainf" / "assets" / "cifar10-mini.npz")
    args = parser.parse_args()

    # One generator for both splits, train first: the seed fixes the whole file.
    rng = np.random.default_rng(args.seed)
    train = balanced_subset(
        load_npz(args.data_dir / "cifar10-5k-train.npz", num_classes=10), args.train_per_class, rng
    )
    test = balanced_subset(
        load_npz(args.data_dir / "cifar10-test-5k.npz", num_classes=10), args.test_per_class, rng
    )
    write_npz_atomic(
        args.out,
        {"train_image": train.images, "train_label": train.labels,
         "test_image": test.images, "test_label": test.labels},
    )  # fmt: skip

    summary = {"file": str(args.out), "bytes": args.out.stat().st_size, "seed": args.seed}
    if args.out.resolve() == (REPO / "adainf" / "assets" / "cifar10-mini.npz").resolve():
        # Read back through the package loader, which is what users get.
        summary |= {split: describe(load_bundled(split)) for split in ("train", "test")}
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()

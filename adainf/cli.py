"""The `adainf` command line. Each handler turns arguments into one library call.

Examples:
    adainf data info                                   # the bundled CIFAR-10 sample (no download needed)
    adainf data info --data cifar10 --root ~/data      # official CIFAR-10 release under ~/data
    adainf data info --data gen.npz --json             # an AdaInf-style npz, summary as one JSON object
    adainf convert generated_pngs/ gen.npz             # image folder -> npz (RGB; label -1 unless class folders)
    adainf bench augment --preset symmetric --batch 512 --json
    adainf bench load --data ../shared/data/cifar10-extra-20k.npz --json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

DATA_HELP = (
    "dataset: omitted or 'bundled' = the CIFAR-10 sample shipped with adainf; 'cifar10' / 'cifar100' = the "
    "official release under --root; a path to an AdaInf-style .npz (keys image, label); or an image folder"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="adainf", description="Contrastive learning inflated with generated data.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data = sub.add_parser("data", help="inspect datasets").add_subparsers(dest="data_command", required=True)
    p = data.add_parser("info", help="summarise a dataset: size, shape, labels, class counts")
    _add_data_args(p)
    p.add_argument("--split", choices=["train", "test"], default="train", help="split to load (default: train)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(handler=_data_info)

    p = sub.add_parser("convert", help="convert an image folder (PNG/JPEG) to an AdaInf-style npz, in RGB")
    p.add_argument("image_dir", type=Path, help="flat folder (labels -1) or one sub-folder per class")
    p.add_argument("out", type=Path, help="output .npz (written atomically)")
    p.add_argument("--json", action="store_true", help="print the summary of the written set as JSON")
    p.set_defaults(handler=_convert)

    bench = sub.add_parser("bench", help="throughput benchmarks").add_subparsers(dest="bench_command", required=True)
    p = bench.add_parser("augment", help="batched augmentation throughput (two views per source image)")
    p.add_argument("--preset", default="symmetric", help="augmentation preset (default: symmetric)")
    p.add_argument("--batch", type=int, default=512, help="source images per batch (default: 512)")
    p.add_argument("--size", type=int, default=32, help="image side in pixels (default: 32)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    p.add_argument("--iters", type=int, default=20, help="timed batches after warm-up (default: 20)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(handler=_bench_augment)

    p = bench.add_parser("load", help="time loading a dataset and the peak memory it adds")
    p.add_argument("--data", default=None, help=DATA_HELP)
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(handler=_bench_load)

    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except (ValueError, OSError) as e:  # DataError is a ValueError: one clear line, no traceback
        print(f"adainf: error: {e}", file=sys.stderr)
        return 2


def _add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default=None, help=DATA_HELP)
    p.add_argument("--root", type=Path, default=None, help="folder holding the CIFAR files (default: $ADAINF_DATA "
                   "or ~/.cache/adainf/<name>)")
    p.add_argument("--no-download", action="store_true", help="never try to download missing CIFAR files")


def _print(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(result))
        return
    width = max(len(k) for k in result)
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")


def _data_info(args: argparse.Namespace) -> int:
    from adainf import data

    ds = data.load(args.data, split=args.split, root=args.root, download=not args.no_download)
    _print(data.describe(ds), args.json)
    return 0


def _convert(args: argparse.Namespace) -> int:
    from adainf import data

    ds = data.convert_image_folder(args.image_dir, args.out)
    _print(data.describe(ds), args.json)
    return 0


def _bench_augment(args: argparse.Namespace) -> int:
    from adainf.bench import bench_augment

    result = bench_augment(args.preset, args.batch, device=args.device, iters=args.iters, image_size=args.size)
    _print(result, args.json)
    return 0


def _bench_load(args: argparse.Namespace) -> int:
    from adainf.bench import bench_load

    _print(bench_load(args.data), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The `adainf` command line. Each handler turns arguments into one library call.

Examples:
    adainf data info                                   # the bundled CIFAR-10 sample (no download needed)
    adainf data info --data cifar10 --root ~/data      # official CIFAR-10 release under ~/data
    adainf data info --data gen.npz --json             # an AdaInf-style npz, summary as one JSON object
    adainf convert generated_pngs/ gen.npz             # image folder -> npz (RGB; label -1 unless class folders)
    adainf bench augment --preset symmetric --batch 512 --json
    adainf bench load --data ../shared/data/cifar10-extra-20k.npz --json
    adainf recommend --ratio 20 --out config.json      # N and augmentation for CIFAR-10 + 1M, before training
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

DATA_HELP = (
    "dataset: omitted or 'bundled' = the CIFAR-10 sample shipped with adainf; 'cifar10' / 'cifar100' = the "
    "official release under --root; a path to an AdaInf-style .npz (keys image, label); or an image folder"
)


def main(argv: list[str] | None = None) -> int:
    if int(os.environ.get("RANK", "0")) != 0:
        # Under torchrun every rank runs the command (`-m adainf` or the `adainf` script); rank 0 alone prints
        # its result (one JSON object for --json). stderr stays, so an error on any rank is still reported.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process
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

    p = sub.add_parser("train", help="pre-train an encoder (budgeted in steps), writing a run directory",
                       description="Pre-train an encoder. Priority: method preset < --config file < flags < "
                       "SECTION.KEY=VALUE overrides (e.g. train.steps=2000 augment.view1.hue=0.1).")
    p.add_argument("overrides", nargs="*", metavar="SECTION.KEY=VALUE", help="config overrides")
    p.add_argument("--config", default=None, help="JSON/TOML config (e.g. from `adainf recommend --out`)")
    p.add_argument("--resume", type=Path, default=None, help="continue RUN_DIR from its last checkpoint")
    p.add_argument("--until", type=int, default=None,
                   help="stop after this step (checkpointed) keeping the full schedule; --resume continues later")
    p.add_argument("--method", choices=["simclr", "mocov2", "byol", "barlow"], default=None,
                   help="method; its AdaInf recipe supplies the defaults (default: simclr)")
    p.add_argument("--backbone", choices=["resnet18", "convnet"], default=None, help="default: resnet18")
    p.add_argument("--width", type=int, default=None, help="backbone base width (default: 64)")
    p.add_argument("--data", default=None, help=DATA_HELP)
    p.add_argument("--root", default=None, help="folder of the CIFAR releases")
    p.add_argument("--generated", default=None, help="npz of generated images (inflation); label -1 = unlabeled")
    p.add_argument("--dup", type=float, default=None,
                   help="real weight N: a real image is drawn N times as often as a generated one (default: 1)")
    p.add_argument("--augment", default=None,
                   help="augmentation for both views: a preset name or a strength in [0, 1]")
    p.add_argument("--steps", type=int, default=None, help="optimisation steps (default: 100000)")
    p.add_argument("--batch", type=int, default=None, help="source images per step, two views each (default 256)")
    p.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:1 (default: auto)")
    p.add_argument("--precision", choices=["auto", "bf16", "fp32"], default=None,
                   help="auto = bf16 autocast where the hardware supports it (default: auto)")
    p.add_argument("--seed", type=int, default=None, help="seed of init, batches and augmentation (default: 0)")
    p.add_argument("--out-dir", default=None, help="parent folder of run directories (default: runs)")
    p.add_argument("--name", default=None, help="run directory name (default: method-backbone-timestamp)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.set_defaults(handler=_train)

    p = sub.add_parser("eval", help="offline evaluation of a run: kNN and a linear probe on frozen features")
    p.add_argument("run_dir", type=Path, help="a run directory written by `adainf train`")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda (default: auto)")
    p.add_argument("--k", type=int, default=200, help="kNN neighbours (default: 200)")
    p.add_argument("--temperature", type=float, default=0.1, help="kNN temperature (default: 0.1)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(handler=_eval)

    p = sub.add_parser("bound", help="estimate the bound's terms (alpha, lambda_{k+1}, beta, TV) for one setting",
                       description="Views -> features -> augmentation graph -> terms of the reconstructed AdaInf "
                       "bound c_l*alpha/lambda + c_a*alpha + (1-beta)*TV (see adainf/recommend.py).")
    p.add_argument("--augment", default="symmetric", help="preset name or strength in [0, 1] (default: symmetric)")
    p.add_argument("--dup", type=float, default=1.0, help="real weight N relative to a generated image (default 1)")
    p.add_argument("--data", default=None, help=DATA_HELP)
    p.add_argument("--root", default=None, help="folder of the CIFAR releases")
    p.add_argument("--generated", default=None, help="npz of generated images (omit: no inflation)")
    p.add_argument("--encoder", default=None, help="run directory whose backbone embeds the views "
                   "(default: a random projection of pixels, a weak stand-in)")
    p.add_argument("--n-real", type=int, default=2000, help="real sources sampled (default 2000)")
    p.add_argument("--n-generated", type=int, default=None, help="generated sources (default: as many as real)")
    p.add_argument("--views", type=int, default=4, help="augmented views per source (default 4)")
    p.add_argument("--k", type=int, default=10, help="representation dimension k: lambda_{k+1} (default 10)")
    p.add_argument("--reference", default="0.5",
                   help="augmentation that fixes the kernel bandwidth for every setting compared (default 0.5)")
    p.add_argument("--tv", type=float, default=0.0, help="assumed TV(real, generated) when --generated is absent")
    p.add_argument("--bandwidth-scale", type=float, default=None,
                   help="kernel bandwidth as a multiple of the median distance between two views of one image "
                   "at the reference augmentation (default 0.25; RESULTS.md shows the sweep)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="device for the encoder (default: cpu)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(handler=_bound)

    gen = sub.add_parser("generate", help="train a small diffusion model; sample an npz of generated images")
    gen = gen.add_subparsers(dest="generate_command", required=True)
    p = gen.add_parser("train", help="train the diffusion model on a real set, writing RUN_DIR (resumable)",
                       description="Train a U-Net with the DDPM objective and EMA weights. Priority: defaults < "
                       "flags < --set KEY=VALUE overrides (fields of adainf.generate.GenerateConfig).")
    p.add_argument("run_dir", type=Path, help="run directory: new, or an existing one with --resume")
    # An option, not a second positional: argparse cannot mix RUN_DIR, flags and trailing positionals.
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="config override, repeatable (e.g. --set lr=1e-3 --set schedule=linear)")
    p.add_argument("--data", default=None, help=DATA_HELP)
    p.add_argument("--root", default=None, help="folder of the CIFAR releases")
    p.add_argument("--steps", type=int, default=None, help="optimisation steps (default: 20000)")
    p.add_argument("--batch", type=int, default=None, help="images per step (default: 64)")
    p.add_argument("--resolution", type=int, default=None, help="image side; others are resized (default: 32)")
    p.add_argument("--width", type=int, default=None, help="U-Net base channels, a multiple of 8 (default: 32)")
    p.add_argument("--class-conditional", action="store_const", const=True, default=None,
                   help="condition on labels; samples then carry labels (default: unconditional, label -1)")
    p.add_argument("--seed", type=int, default=None, help="seed of init and of every draw (default: 0)")
    p.add_argument("--device", default=None, help="auto, cpu, cuda (default: auto)")
    p.add_argument("--precision", choices=["auto", "bf16", "fp32"], default=None, help="default: auto")
    p.add_argument("--resume", action="store_true", help="continue RUN_DIR from its last checkpoint")
    p.add_argument("--until", type=int, default=None, help="stop after this step (checkpointed); --resume later")
    p.add_argument("--max-minutes", type=float, default=None, help="stop (checkpointed) after this wall time")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.set_defaults(handler=_generate_train)

    p = gen.add_parser("sample", help="sample N images by DDIM from a generator run into an AdaInf-style npz")
    p.add_argument("run_dir", type=Path, help="a run directory written by `adainf generate train`")
    p.add_argument("--n", type=int, required=True, help="number of images")
    p.add_argument("--out", type=Path, required=True, help="output .npz (written atomically)")
    p.add_argument("--batch", type=int, default=256, help="images per network call (default: 256)")
    p.add_argument("--steps", type=int, default=None, help="DDIM steps (default: the run's sample_steps)")
    p.add_argument("--seed", type=int, default=0, help="seed of the initial noise (default: 0)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda (default: auto)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(handler=_generate_sample)

    p = sub.add_parser(
        "recommend", help="pick the real weight N and augmentation strength for an inflation ratio, before training",
        description="Estimate the reconstructed AdaInf bound 4*alpha/lambda_{k+1} + 8*alpha + (1-beta)*TV over "
        "real weight N x augmentation strength at inflation ratio R = n_generated / n_real, and recommend the "
        "best setting. Without --generated, lambda at ratio R is predicted from nested real subsamples (an "
        "ideal generator) and TV is --tv. Ranked table on stderr; --json prints the result on stdout.")
    p.add_argument("--ratio", type=float, required=True,
                   help="R = n_generated / n_real you are about to train with (e.g. 20 for CIFAR-10 + 1M)")
    p.add_argument("--data", default=None, help=DATA_HELP)
    p.add_argument("--root", default=None, help="folder of the CIFAR releases")
    p.add_argument("--generated", default=None,
                   help="npz of generated images: measures TV and adds them to the graph (default: predicted)")
    p.add_argument("--tv", type=float, default=None,
                   help="assumed TV(real, generated) in [0, 1] without --generated (default 0.1, flagged)")
    p.add_argument("--method", choices=["simclr", "mocov2", "byol", "barlow"], default="simclr",
                   help="method whose recipe --out writes (the bound does not depend on it; default simclr)")
    p.add_argument("--encoder", default=None, help="run directory whose backbone embeds the views "
                   "(default: a random projection of pixels, a weak stand-in)")
    p.add_argument("--dups", type=float, nargs="+", default=[1, 2, 5, 10, 20],
                   help="real weights N to consider (default: 1 2 5 10 20)")
    p.add_argument("--strengths", type=float, nargs="+", default=[0.25, 0.5, 0.75, 1.0],
                   help="augmentation strengths in [0, 1] (0.5 = symmetric_adainf, 1 = symmetric; "
                   "default: 0.25 0.5 0.75 1)")
    p.add_argument("--n-real", type=int, default=2000, help="real images sampled (default 2000)")
    p.add_argument("--views", type=int, default=4, help="augmented views per image (default 4)")
    p.add_argument("--k", type=int, default=10, help="representation dimension k: lambda_{k+1} (default 10)")
    p.add_argument("--bandwidth-scale", type=float, default=None,
                   help="kernel bandwidth as a multiple of the median distance between two views of one image "
                   "at strength 0.5 (default 0.25)")
    p.add_argument("--out", type=Path, default=None, help="write the recommended config (for train --config)")
    p.add_argument("--plot", type=Path, default=None, help="write a heatmap of the bound (PNG; needs seaborn)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="device for the encoder (default: cpu)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(handler=_recommend)

    bench = sub.add_parser("bench", help="throughput benchmarks").add_subparsers(dest="bench_command", required=True)
    p = bench.add_parser("augment", help="batched augmentation throughput (two views per source image)")
    p.add_argument("--preset", default="symmetric", help="augmentation preset (default: symmetric)")
    p.add_argument("--batch", type=int, default=512, help="source images per batch (default: 512)")
    p.add_argument("--size", type=int, default=32, help="image side in pixels (default: 32)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    p.add_argument("--iters", type=int, default=20, help="timed batches after warm-up (default: 20)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(handler=_bench_augment)

    p = bench.add_parser("train", help="training throughput: full steps (augment + forward + backward + update)")
    p.add_argument("--method", choices=["simclr", "mocov2", "byol", "barlow"], default="simclr")
    p.add_argument("--backbone", choices=["resnet18", "convnet"], default="resnet18")
    p.add_argument("--batch", type=int, default=256, help="source images per step, two views each (default 256)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda (default: auto)")
    p.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto")
    p.add_argument("--compile", action="store_true", help="torch.compile the backbone")
    p.add_argument("--no-channels-last", action="store_true", help="keep NCHW activations")
    p.add_argument("--steps", type=int, default=5, help="timed steps after 2 warm-up steps (default: 5)")
    p.add_argument("overrides", nargs="*", metavar="SECTION.KEY=VALUE",
                   help="config overrides, e.g. model.stem_padding=1 model.proj_hidden=512")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(handler=_bench_train)

    p = bench.add_parser("spectrum", help="time lambda_1..lambda_m of a synthetic kNN-like graph (bounds.spectrum)")
    p.add_argument("--nodes", type=int, default=1_000_000, help="graph size (default: 10^6)")
    p.add_argument("--m", type=int, default=11, help="number of smallest eigenvalues, lambda_1..lambda_m (default 11)")
    p.add_argument("--solver", choices=["auto", "dense", "eigsh", "lobpcg"], default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--compare-networkx", action="store_true",
                   help="lambda_2 only, also timed with networkx's algebraic_connectivity")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(handler=_bench_spectrum)

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


def _given(**values: Any) -> dict[str, Any]:
    """The options the user set; the rest keep the library's defaults (defined once, there)."""
    return {k: v for k, v in values.items() if v is not None}


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


_TRAIN_FLAGS = {  # flag -> config key
    "method": "train.method", "backbone": "model.backbone", "width": "model.width", "data": "data.train",
    "root": "data.root", "generated": "data.generated", "dup": "data.real_weight", "steps": "train.steps",
    "batch": "train.batch_size", "device": "device", "precision": "precision", "seed": "seed",
    "out_dir": "out_dir", "name": "name",
}


def _train(args: argparse.Namespace) -> int:
    from adainf.methods import resolve_config
    from adainf.train import NonFiniteLoss, train

    try:
        if args.resume is not None:
            result = train(None, resume=args.resume, until=args.until,  # type: ignore[arg-type]
                           progress=not args.no_progress)
        else:
            flags = [f"{key}={json.dumps(getattr(args, flag))}" for flag, key in _TRAIN_FLAGS.items()
                     if getattr(args, flag) is not None]
            cfg = resolve_config(args.config, flags + list(args.overrides), method=args.method,
                                 augment_views=args.augment)
            result = train(cfg, until=args.until, progress=not args.no_progress)
    except NonFiniteLoss as e:
        print(f"adainf: training stopped: {e}", file=sys.stderr)
        return 3
    summary = {"run_dir": str(result.run_dir), "steps": result.steps, "final_loss": result.final_loss,
               "seconds": result.seconds, **result.eval}
    _print(summary, args.json)
    return 0


def _eval(args: argparse.Namespace) -> int:
    from adainf.evaluate import evaluate_run

    _print(evaluate_run(args.run_dir, device=args.device, k=args.k, temperature=args.temperature), args.json)
    return 0


def _bench_train(args: argparse.Namespace) -> int:
    from adainf.bench import bench_train

    result = bench_train(args.method, args.backbone, args.batch, device=args.device, precision=args.precision,
                         compile=args.compile, channels_last=not args.no_channels_last, steps=args.steps,
                         overrides=args.overrides)
    _print(result, args.json)
    return 0


def _bound(args: argparse.Namespace) -> int:
    from adainf.recommend import estimate_bound

    result = estimate_bound(
        augment_views=args.augment, real_weight=args.dup, data_name=args.data, generated=args.generated,
        root=args.root, encoder=args.encoder, n_real=args.n_real, n_generated=args.n_generated, views=args.views,
        k=args.k, reference=args.reference, tv=args.tv, seed=args.seed, device=args.device,
        **_given(bandwidth_scale=args.bandwidth_scale))
    _print(result, args.json)
    return 0


def _recommend(args: argparse.Namespace) -> int:
    from adainf import config
    from adainf.recommend import plot_bound, recommend, recommended_config

    result = recommend(
        args.ratio, data_name=args.data, root=args.root, generated=args.generated, tv=args.tv,
        encoder=args.encoder, dups=args.dups, strengths=args.strengths, n_real=args.n_real, views=args.views,
        k=args.k, seed=args.seed, device=args.device, progress=not args.no_progress and sys.stderr.isatty(),
        **_given(bandwidth_scale=args.bandwidth_scale))
    _print_candidates(result, sys.stderr)
    if args.out is not None:
        config.save(recommended_config(result, method=args.method, data_name=args.data,
                                       generated=args.generated), args.out)
        print(f"# wrote {args.out}: adainf train --config {args.out}", file=sys.stderr)
    if args.plot is not None:
        plot_bound(result, args.plot)
        print(f"# wrote {args.plot}", file=sys.stderr)
    if args.json:
        print(json.dumps(result))
    else:
        rec = result["recommended"]
        aug = rec["augment"]
        print(f"recommended: N = {rec['dup']:g}, augmentation strength {aug['strength']:g}"
              f"{' (' + aug['preset'] + ')' if aug['preset'] else ''}: crop_min_scale "
              f"{aug['view1']['crop_min_scale']:.3f}, jitter_prob {aug['view1']['jitter_prob']:.2f}, "
              f"brightness {aug['view1']['brightness']:.2f}; bound {rec['bound']:.3f}")
    return 0


def _print_candidates(result: dict[str, Any], out: Any, top: int = 10) -> None:
    print(f"# R = {result['ratio']:g}, {result['n_real']} real images, features: {result['feature_space']}, "
          f"{result['seconds']:.1f} s", file=out)
    for note in result["assumptions"]:
        print(f"# assumption: {note}", file=out)
    print(f"{'rank':>4} {'N':>5} {'strength':>8} {'alpha':>7} {'lambda':>7} {'beta':>6} {'gap':>6} {'bound':>8}",
          file=out)
    for i, c in enumerate(result["candidates"][:top], 1):
        print(f"{i:>4} {c['dup']:>5g} {c['augment']['strength']:>8g} {c['alpha']:>7.4f} {c['lambda']:>7.4f} "
              f"{c['beta']:>6.3f} {c['gap_term']:>6.3f} {c['bound']:>8.3f}", file=out)


def _bench_spectrum(args: argparse.Namespace) -> int:
    from adainf.bench import bench_spectrum

    result = bench_spectrum(args.nodes, m=args.m, solver=args.solver, seed=args.seed,
                            compare_networkx=args.compare_networkx)
    _print(result, args.json)
    return 0


def _bench_load(args: argparse.Namespace) -> int:
    from adainf.bench import bench_load

    _print(bench_load(args.data), args.json)
    return 0


_GENERATE_FLAGS = {  # flag -> GenerateConfig field
    "data": "data", "root": "root", "steps": "steps", "batch": "batch_size", "resolution": "resolution",
    "width": "width", "class_conditional": "class_conditional", "seed": "seed", "device": "device",
    "precision": "precision",
}


def _generate_train(args: argparse.Namespace) -> int:
    from adainf import generate
    from adainf.train import NonFiniteLoss

    assignments = [f"{key}={json.dumps(getattr(args, flag))}" for flag, key in _GENERATE_FLAGS.items()
                   if getattr(args, flag) is not None] + list(args.overrides)
    if args.resume and assignments:
        raise ValueError(f"{args.run_dir}: --resume continues with the run's own config.json; drop the config flags")
    cfg = None if args.resume else generate.resolve_config(assignments)
    max_seconds = None if args.max_minutes is None else 60 * args.max_minutes
    try:
        result = generate.train(cfg, args.run_dir, resume=args.resume, until=args.until, max_seconds=max_seconds,
                                progress=not args.no_progress)
    except NonFiniteLoss as e:
        print(f"adainf: training stopped: {e}", file=sys.stderr)
        return 3
    _print({"run_dir": str(result.run_dir), "steps": result.steps, "final_loss": result.final_loss,
            "seconds": result.seconds, "parameters": result.parameters}, args.json)
    return 0


def _generate_sample(args: argparse.Namespace) -> int:
    from adainf.generate import sample

    result = sample(args.run_dir, args.n, args.out, batch=args.batch, steps=args.steps, seed=args.seed,
                    device=args.device, progress=not args.no_progress)
    _print(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())

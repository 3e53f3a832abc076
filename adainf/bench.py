"""Throughput benchmarks (`adainf bench ... --json`).

`bench_augment` times `adainf.augment.views` on random uint8 images made on the device, so no dataset is
needed. `bench_load` times `adainf.data.load` on a file and reports the memory it took. Its unit is *source images per second with both views produced*: the same unit as a per-image
two-view transform such as lightly's SimCLRTransform or solo-learn's NCropAugmentation, so the numbers
compare directly with a PIL/torchvision peer measured per image.

Example:
    >>> from adainf.bench import bench_augment
    >>> bench_augment("symmetric", batch=512)  # doctest: +SKIP
    {'images_per_s': ..., 'views_per_s': ..., 'preset': 'symmetric', 'device': 'cpu', ...}
"""

from __future__ import annotations

import resource
import statistics
import sys
import time

import torch

from adainf.augment import resolve_views, views

__all__ = ["bench_augment", "bench_load", "bench_train"]


def bench_augment(
    preset: str,
    batch: int,
    device: str = "cpu",
    warmup: int = 3,
    iters: int = 20,
    seed: int = 0,
    image_size: int = 32,
) -> dict[str, float | int | str]:
    """Time the two views of a batch of `batch` random images.

    Args:
        preset: a name in `adainf.augment.PRESETS` or a strength in [0, 1] (as for `resolve_views`).
        batch: source images per call.
        device: "cpu", "cuda", "cuda:1", ...
        warmup: untimed calls first (scratch buffers, caches, CUDA context).
        iters: timed calls; the median time per call is reported, robust to a noisy shared machine.
        seed: seeds the images and the augmentation generator.
        image_size: side of the square source images (CIFAR: 32).

    Returns:
        images_per_s (source images per second, both views produced), views_per_s (twice that),
        preset, device, batch, seconds_per_batch (median) and threads (torch intra-op threads).
    """
    if batch < 1 or iters < 1 or warmup < 0:
        raise ValueError(f"need batch >= 1, iters >= 1, warmup >= 0; got {batch}, {iters}, {warmup}")
    pair = resolve_views(preset)
    dev = torch.device(device)
    generator = torch.Generator(device=dev).manual_seed(seed)
    images = torch.randint(
        0, 256, (batch, 3, image_size, image_size), dtype=torch.uint8, device=dev, generator=generator
    )

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    for _ in range(warmup):
        views(images, pair, generator)
    sync()
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        views(images, pair, generator)
        sync()
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    return {
        "images_per_s": batch / seconds,
        "views_per_s": 2 * batch / seconds,
        "preset": preset,
        "device": str(dev),
        "batch": batch,
        "seconds_per_batch": seconds,
        "threads": torch.get_num_threads(),
    }


def bench_load(data: str) -> dict[str, float | int | str]:
    """Time `adainf.data.load(data)` once and measure the peak memory it added.

    Memory is the growth of the process's peak resident set (`ru_maxrss`) across the load, so it counts
    every transient buffer (decompression included), not only the result; run it in a fresh process (the
    CLI does) so that no earlier, larger peak hides the load's own.

    Returns:
        seconds, peak_rss_increase_bytes, array_bytes (images + labels), memory_ratio (their quotient),
        n and source.
    """
    from adainf import data as data_module

    before = _peak_rss_bytes()
    start = time.perf_counter()
    ds = data_module.load(data)
    seconds = time.perf_counter() - start
    grown = max(0, _peak_rss_bytes() - before)
    array_bytes = int(ds.images.nbytes + ds.labels.nbytes)
    return {
        "seconds": seconds,
        "peak_rss_increase_bytes": grown,
        "array_bytes": array_bytes,
        "memory_ratio": grown / array_bytes,
        "n": len(ds),
        "source": ds.source,
    }


def _peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # kilobytes on Linux, bytes on macOS


def bench_train(
    method: str,
    backbone: str,
    batch: int,
    *,
    device: str = "auto",
    precision: str = "auto",
    compile: bool = False,
    channels_last: bool = True,
    steps: int = 5,
    warmup: int = 2,
    width: int = 64,
    image_size: int = 32,
    overrides: list[str] | None = None,
) -> dict[str, float | int | str | bool]:
    """Time full training steps (`adainf.train.train_step`: augmentation, forward, backward, update, probe).

    The model, optimizer and hyper-parameters are the method's AdaInf preset, the data random uint8 images
    resident on the device, so this measures exactly the loop `adainf train` runs, minus logging.

    Returns:
        images_per_s (source images per second, two views each), seconds_per_step (median), and the set-up.
    """
    from adainf import methods
    from adainf.train import build, resolve_device, train_step

    if batch < 1 or steps < 1 or warmup < 0:
        raise ValueError(f"need batch >= 1, steps >= 1, warmup >= 0; got {batch}, {steps}, {warmup}")
    dev = resolve_device(device)
    cfg = methods.resolve_config(method=method, overrides=[
        f"model.backbone={backbone}", f"model.width={width}", f"train.batch_size={batch}",
        f"train.steps={warmup + steps}", "train.warmup_steps=0", f"precision={precision}",
        f"channels_last={channels_last}", f"compile={compile}", f"device={dev}", *(overrides or []),
    ])
    tr = build(cfg, 10, dev)
    g = torch.Generator(device=dev).manual_seed(0)
    images = torch.randint(0, 256, (batch, 3, image_size, image_size), dtype=torch.uint8, device=dev, generator=g)
    labels = torch.randint(0, 10, (batch,), device=dev, generator=g)

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    for step in range(warmup):
        train_step(tr, images, labels, step)
    sync()
    times = []
    for step in range(warmup, warmup + steps):
        start = time.perf_counter()
        loss, _ = train_step(tr, images, labels, step)
        float(loss)  # wait for the step, as the loop does when it logs
        sync()
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    return {
        "images_per_s": batch / seconds,
        "seconds_per_step": seconds,
        "method": method,
        "backbone": backbone,
        "batch": batch,
        "device": str(dev),
        "precision": "bf16" if tr.amp_dtype is torch.bfloat16 else "fp32",
        "channels_last": channels_last,
        "compile": compile,
        "threads": torch.get_num_threads(),
        "overrides": " ".join(overrides or []),
    }

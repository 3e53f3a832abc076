"""Throughput benchmarks (`adainf bench ... --json`).

`bench_augment` times `adainf.augment.views` on random uint8 images made on the device, so no dataset is
needed. `bench_load` times `adainf.data.load` on a file and reports the memory it took. `bench_spectrum` times
`bounds.spectrum` on a synthetic kNN-like graph with planted clusters (optionally against networkx). Its unit is *source images per second with both views produced*: the same unit as a per-image
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
from typing import Any

import torch

from adainf.augment import resolve_views, views

__all__ = ["bench_augment", "bench_load", "bench_spectrum", "bench_train", "planted_knn_graph"]


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


def planted_knn_graph(
    n_nodes: int,
    *,
    n_clusters: int,
    n_geometric: int,
    n_random: int,
    cross_frac: float,
    rng: Any,  # numpy.random.Generator
) -> Any:
    """Symmetric unit-weight kNN-like graph with planted clusters, a hard case for eigensolvers.

    Each of `n_clusters` clusters is a noisy circle in R^3 (a 1-D "augmentation manifold") far from the
    others; every node is joined to its `n_geometric` nearest neighbours (inside its cluster) and to `n_random`
    random nodes, drawn from the whole graph with probability `cross_frac` and from its own cluster otherwise;
    symmetrised with max(W, W^T), unit weights. The random edges make each cluster an expander, the rare
    cross-cluster ones make lambda_2 ... lambda_C small but non-zero: a nearly degenerate band.

    Returns:
        scipy.sparse.csr_array (n_nodes, n_nodes).
    """
    import numpy as np
    import scipy.sparse
    from scipy.spatial import cKDTree

    cluster = np.sort(rng.integers(0, n_clusters, size=n_nodes))
    angle = rng.uniform(0.0, 2.0 * np.pi, size=n_nodes)
    centres = 100.0 * rng.standard_normal((n_clusters, 3))
    points = centres[cluster] + np.stack([np.cos(angle), np.sin(angle), np.zeros(n_nodes)], axis=1)
    points += 0.01 * rng.standard_normal(points.shape)
    _, nbr = cKDTree(points).query(points, k=n_geometric + 1, workers=-1)
    rows = [np.repeat(np.arange(n_nodes), n_geometric)]
    cols = [nbr[:, 1:].ravel()]

    counts = np.bincount(cluster, minlength=n_clusters)
    starts = np.cumsum(counts) - counts
    src = np.repeat(np.arange(n_nodes), n_random)
    own = starts[cluster[src]] + (rng.random(src.size) * counts[cluster[src]]).astype(np.int64)
    anywhere = rng.integers(0, n_nodes, size=src.size)
    rows.append(src)
    cols.append(np.where(rng.random(src.size) < cross_frac, anywhere, own))

    r, c = np.concatenate(rows), np.concatenate(cols)
    keep = r != c
    w = scipy.sparse.coo_array((np.ones(keep.sum()), (r[keep], c[keep])), shape=(n_nodes, n_nodes)).tocsr()
    w.data[:] = 1.0  # duplicates summed by tocsr; unit weights
    w = w.maximum(w.T)
    return scipy.sparse.csr_array(w)



def bench_spectrum(
    nodes: int,
    *,
    m: int = 11,
    clusters: int = 12,
    geometric: int = 6,
    random: int = 4,
    cross_frac: float = 0.005,
    solver: str = "auto",
    seed: int = 0,
    compare_networkx: bool = False,
) -> dict[str, Any]:
    """Time the m smallest normalized-Laplacian eigenvalues of `planted_knn_graph(nodes)`.

    `seconds` times `bounds.spectrum.laplacian_spectrum` alone (input checks, components, solver); building the
    graph is `build_seconds`; `peak_rss_mb` is the process peak (graph + solver). With `compare_networkx`,
    lambda_2 only, also timed with networkx's `algebraic_connectivity(normalized=True)` on the same graph.
    """
    import numpy as np

    from bounds.spectrum import laplacian_spectrum

    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    a = planted_knn_graph(nodes, n_clusters=clusters, n_geometric=geometric, n_random=random,
                          cross_frac=cross_frac, rng=rng)
    build_seconds = time.perf_counter() - t0
    m = 2 if compare_networkx else m
    t0 = time.perf_counter()
    spec = laplacian_spectrum(a, m, solver=solver, rng=np.random.default_rng(seed))
    seconds = time.perf_counter() - t0
    result: dict[str, Any] = {
        "nodes": nodes, "edges": int(a.nnz // 2), "mean_degree": a.nnz / nodes, "components": spec.n_components,
        "build_seconds": build_seconds, "seconds": seconds, "peak_rss_mb": _peak_rss_bytes() / 2**20,
        "eigenvalues": [float(x) for x in spec.eigenvalues], "solver": spec.solver,
    }
    if compare_networkx:
        import networkx as nx

        graph = nx.from_scipy_sparse_array(a)
        t0 = time.perf_counter()
        lam2 = float(nx.algebraic_connectivity(graph, normalized=True, seed=seed))
        nx_seconds = time.perf_counter() - t0
        result.update(networkx_seconds=nx_seconds, networkx_lambda2=lam2,
                      lambda2_abs_diff=abs(lam2 - float(spec.eigenvalues[1])), speedup=nx_seconds / seconds)
    return result

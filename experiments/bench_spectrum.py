"""Benchmark ``bounds.spectrum`` on a synthetic kNN-like augmentation graph with planted clusters.

Question: can λ_2 … λ_11 of a 10^6-node graph with ~10 neighbours per node be computed in ≤ 60 s and ≤ 4 GB
on 2 CPU cores, and how does λ_2 on 10^4 nodes compare with networkx's ``algebraic_connectivity``?

Commands (from the repository root)::

    .venv/bin/python experiments/bench_spectrum.py --nodes 1000000
    .venv/bin/python experiments/bench_spectrum.py --nodes 10000 --compare-networkx

Each prints one JSON object on stdout. The graph: ``--clusters`` planted clusters, each a noisy circle in R^3
(a 1-D "augmentation manifold") far from the others; every node is joined to its ``--geometric``
nearest neighbours (within its cluster, by construction) and to ``--random`` random nodes, drawn from the
whole graph with probability ``--cross-frac`` and from its own cluster otherwise; symmetrised with
max(W, Wᵀ), unit weights. The random edges make each cluster an expander, the rare cross-cluster ones make
λ_2 … λ_C small but non-zero, so λ_2 … λ_11 are a non-trivial, nearly degenerate band. Seeded (``--seed``).
``seconds`` times ``smallest_eigenvalues`` alone (input check, components, solver); graph construction is
reported separately as ``build_seconds``. ``peak_rss_mb`` is the process peak (graph + solver).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

import numpy as np
import scipy.sparse
from scipy.spatial import cKDTree

from bounds.spectrum import laplacian_spectrum


def planted_knn_graph(
    n_nodes: int,
    *,
    n_clusters: int,
    n_geometric: int,
    n_random: int,
    cross_frac: float,
    rng: np.random.Generator,
) -> scipy.sparse.csr_array:
    """Symmetric unit-weight kNN-like graph with planted clusters (see the module docstring)."""
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


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nodes", type=int, default=1_000_000)
    p.add_argument("--clusters", type=int, default=12)
    p.add_argument("--geometric", type=int, default=6, help="geometric nearest neighbours per node")
    p.add_argument("--random", type=int, default=4, help="random neighbours per node")
    p.add_argument(
        "--cross-frac", type=float, default=0.005, help="share of random edges leaving the cluster"
    )
    p.add_argument("--m", type=int, default=11, help="number of smallest eigenvalues (λ_1 … λ_m)")
    p.add_argument("--solver", default="auto", choices=["auto", "dense", "eigsh", "lobpcg"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--compare-networkx", action="store_true", help="time λ_2 against networkx")
    args = p.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    a = planted_knn_graph(
        args.nodes,
        n_clusters=args.clusters,
        n_geometric=args.geometric,
        n_random=args.random,
        cross_frac=args.cross_frac,
        rng=rng,
    )
    build_seconds = time.perf_counter() - t0
    m = 2 if args.compare_networkx else args.m

    t0 = time.perf_counter()
    spec = laplacian_spectrum(a, m, solver=args.solver, rng=np.random.default_rng(args.seed))
    seconds = time.perf_counter() - t0
    result: dict[str, object] = {
        "nodes": args.nodes,
        "edges": int(a.nnz // 2),
        "mean_degree": a.nnz / args.nodes,
        "components": spec.n_components,
        "build_seconds": round(build_seconds, 3),
        "seconds": round(seconds, 3),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "eigenvalues": [float(x) for x in spec.eigenvalues],
        "solver": spec.solver,
    }
    if args.compare_networkx:
        import networkx as nx

        graph = nx.from_scipy_sparse_array(a)
        t0 = time.perf_counter()
        lam2_nx = nx.algebraic_connectivity(graph, normalized=True, seed=args.seed)
        nx_seconds = time.perf_counter() - t0
        result.update(
            networkx_seconds=round(nx_seconds, 3),
            networkx_lambda2=float(lam2_nx),
            lambda2_abs_diff=abs(float(lam2_nx) - float(spec.eigenvalues[1])),
            speedup=round(nx_seconds / seconds, 2),
        )
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

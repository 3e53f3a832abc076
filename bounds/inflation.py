"""What inflation does to the bound's terms, predicted from the real data alone.

A user about to inflate n real images with R·n generated ones (real weight N) wants the bound *before* the
generated set exists. Three facts make that possible:

1. **α does not move.** The pairwise α of `bounds.graph` is the cross-label fraction of the overlap mass
   between distinct sources — an expectation over the data distribution, which an ideal generator
   (P_g = P_d) leaves unchanged (paper-notes §2.4: "inflated data do not affect α").
2. **λ_{k+1} moves through the sample size only.** With the bandwidth held fixed, adding samples from the
   same distribution changes the estimated graph only by diluting each source's self-overlap W_ii among
   more neighbours. For a weighted sample the dilution is governed by Kish's effective sample size
   n_eff = (Σ w)² / Σ w², which for n real images of weight N and R·n generated ones of weight 1 is

       n_eff = n (N + R)² / (N² + R)                                           (:func:`effective_size`)

   (n at R = 0; n (1 + R) at N = 1; → n as N → ∞, when the real images dominate the draw).
3. **So λ at n_eff is the measured graph with its self-loops diluted.** A source's share of self-mass is
   k_ii / (k_ii + (n − 1) k̄_i); at n_eff sources it is k_ii / (k_ii + (n_eff − 1) k̄_i). Scaling every W_ii by
   (n − 1)/(n_eff − 1) (:func:`dilute_self_loops`) gives that graph; :func:`lambda_curve` evaluates λ_{k+1}
   on a grid of n_eff and :meth:`LambdaCurve.predict` interpolates in log n. On CIFAR (RESULTS.md) this
   predicts λ under oracle inflation within 6 % in 6 of 8 (strength, R) cells, worst −24 % next to
   fragmentation; a first version that extrapolated 1/λ = a + b/n from nested subsamples underestimated the
   gain by 15–70 %, because λ over subsamples is not one simple curve (slow growth near fragmentation, fast
   growth after it).

The bound over the grid (:func:`grid_bounds`) then uses β = N / (N + R) and the gap term (1 − β)·TV, with
TV measured (a generated set in hand) or assumed — which is why the real weight N trades the gap term
against n_eff: a larger N shrinks (1 − β) TV but also n_eff, and so λ.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse

from bounds.bound import BoundTerms, beta, generalization_bound


def effective_size(n_real: float, ratio: float, real_weight: float) -> float:
    """Kish effective sample size n (N + R)² / (N² + R) of n real images (weight N) and R·n generated (1).

    Raises:
        ValueError: if n_real ≤ 0, R < 0 or N ≤ 0 (or any is not finite).
    """
    for name, v, ok in (("n_real", n_real, n_real > 0), ("ratio", ratio, ratio >= 0),
                        ("real_weight", real_weight, real_weight > 0)):
        if not (math.isfinite(v) and ok):
            raise ValueError(f"{name} out of range: {v!r}")
    return n_real * (real_weight + ratio) ** 2 / (real_weight**2 + ratio)


@dataclass(frozen=True)
class LambdaCurve:
    """λ_{k+1} of the self-loop-diluted graph on a grid of effective sizes (module docstring, fact 3).

    Attributes:
        sizes: effective sample sizes n_eff of the grid, increasing (the first is the measured graph's n).
        lams: λ_{k+1} at those sizes.
    """

    sizes: tuple[float, ...]
    lams: tuple[float, ...]

    def predict(self, n: float) -> float:
        """λ_{k+1} at effective size n: linear interpolation in log n, constant beyond the grid's ends."""
        return float(np.interp(np.log(n), np.log(self.sizes), self.lams))


def dilute_self_loops(adjacency: scipy.sparse.sparray, factor: float) -> scipy.sparse.csr_array:
    """The graph with every self-loop weight W_ii multiplied by `factor` (off-diagonal weights unchanged).

    Raises:
        ValueError: if the adjacency is not square or factor is negative or not finite.
    """
    a = scipy.sparse.csr_array(adjacency)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"adjacency must be square, got shape {a.shape}")
    if not (math.isfinite(factor) and factor >= 0):
        raise ValueError(f"factor must be a non-negative finite number, got {factor!r}")
    diag = a.diagonal()
    return scipy.sparse.csr_array(a + scipy.sparse.diags_array((factor - 1.0) * diag))


def lambda_curve(
    adjacency: scipy.sparse.sparray, *, k: int, n_sources: float,
    multiples: Sequence[float] = (1, 2, 4, 8, 16, 32),
) -> LambdaCurve:
    """λ_{k+1} predicted at n_eff = multiple × n_sources by diluting the self-loops of a measured graph.

    An ideal generator adds sources from the same distribution: each source's overlap mass with *other*
    sources grows with their number while its self-overlap W_ii does not, so the share of self-mass falls
    like (n − 1)/(n_eff − 1). The prediction is the graph with W_ii scaled by that factor. It captures the
    self-mass part of the gain; where sources are sparse at the kernel's scale (low dimension, narrow kernel),
    more sources also add new off-diagonal paths, which it does not see, so it is conservative there (about
    half the gain on a uniform square, `tests/bounds/test_inflation.py`). On CIFAR features, where the graph
    already holds half of all pairs, it matched oracle inflation closely (RESULTS.md).

    Args:
        adjacency: (n, n) measured graph (self-loops included), e.g. `bounds.graph.build_graph(...).adjacency`.
        k: λ_{k+1} is returned.
        n_sources: the sample size n the graph was built from (Kish size when weighted).
        multiples: increasing grid of n_eff / n; below 1 concentrates the self-loops (a smaller sample).

    Raises:
        ValueError: on an empty or non-increasing grid, an n_eff ≤ 1, or n_sources ≤ 1.
    """
    from bounds.spectrum import laplacian_spectrum

    m = np.asarray(multiples, dtype=np.float64)
    if not n_sources > 1:
        raise ValueError(f"n_sources must be > 1, got {n_sources!r}")
    if m.ndim != 1 or m.size == 0 or np.any(np.diff(m) <= 0) or m[0] * n_sources <= 1:
        raise ValueError(f"multiples must be increasing with multiple x n_sources > 1, got {list(multiples)}")
    sizes = m * n_sources
    lams = []
    for n_eff in sizes:
        w = dilute_self_loops(adjacency, (n_sources - 1.0) / (n_eff - 1.0))
        lams.append(float(laplacian_spectrum(w, int(k) + 1).eigenvalues[k]))
    return LambdaCurve(sizes=tuple(sizes.tolist()), lams=tuple(lams))


@dataclass(frozen=True)
class Candidate:
    """One grid point: a real weight N and an augmentation strength, with its predicted bound."""

    dup: float
    strength: float
    n_eff: float
    terms: BoundTerms


def grid_bounds(
    alphas: dict[float, float], curves: dict[float, LambdaCurve], *, n_real: int, ratio: float,
    dups: Sequence[float], tv: float, **constants: float,
) -> list[Candidate]:
    """The bound at every (N, strength), sorted best first (ties: weaker augmentation, then smaller N).

    Args:
        alphas: strength → α (n-independent, fact 1).
        curves: strength → λ curve (fact 3).
        n_real: real images n.
        ratio: R = n_generated / n_real (0: no inflation; then N is irrelevant and only N = dups[0] is kept).
        dups: real weights N to consider.
        tv: TV(P_d, P_g), measured or assumed.
        **constants: passed to :func:`bounds.bound.generalization_bound` (c_lambda, c_alpha, c_gap).

    Raises:
        ValueError: if a strength lacks a curve or α, or an argument is out of range.
    """
    if set(alphas) != set(curves) or not alphas:
        raise ValueError("alphas and curves must cover the same, non-empty set of strengths")
    if not dups:
        raise ValueError("dups must not be empty")
    out = []
    for dup in (dups if ratio > 0 else dups[:1]):
        n_eff = effective_size(n_real, ratio, dup)
        b = beta(n_real, ratio * n_real, dup)
        for s, alpha in alphas.items():
            terms = generalization_bound(alpha=alpha, lam=curves[s].predict(n_eff), beta=b,
                                         tv=tv if ratio > 0 else 0.0, **constants)
            out.append(Candidate(dup=float(dup), strength=float(s), n_eff=n_eff, terms=terms))
    out.sort(key=lambda c: (c.terms.total, c.strength, c.dup))
    return out

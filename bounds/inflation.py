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
3. **The dilution has a simple form.** A node's share of self-mass is k_ii / (k_ii + (n_eff − 1) k̄_i), so
   the normalized-Laplacian eigenvalues behave like λ(n) ≈ λ_∞ · n / (n + c): 1/λ is affine in 1/n,

       1/λ(n) = a + b / n,   λ_∞ = 1/a.                                        (:class:`LambdaCurve`)

   :func:`fit_lambda_curve` fits (a, b) by least squares on λ measured over nested subsamples of the real
   data; :meth:`LambdaCurve.predict` evaluates it at n_eff. The prediction is validated against oracle
   inflation (real held-out images as a perfect generator) in RESULTS.md.

The bound over the grid (:func:`grid_bounds`) then uses β = N / (N + R) and the gap term (1 − β)·TV, with
TV measured (a generated set in hand) or assumed — which is why the real weight N trades the gap term
against n_eff: a larger N shrinks (1 − β) TV but also n_eff, and so λ.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

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
    """1/λ_{k+1}(n) = a + b/n, fitted on nested subsamples (module docstring, fact 3).

    Attributes:
        a: 1/λ_∞ (> 0 for a usable fit).
        b: the finite-sample penalty (≥ 0 when λ grows with n).
        sizes: the subsample sizes measured.
        lams: λ_{k+1} measured at those sizes.
        extrapolated: False when the fit was unusable and :meth:`predict` returns the largest measurement.
    """

    a: float
    b: float
    sizes: tuple[float, ...]
    lams: tuple[float, ...]
    extrapolated: bool

    def predict(self, n: float) -> float:
        """λ_{k+1} at sample size n (0.0 means disconnected: the bound is infinite)."""
        if not self.extrapolated:
            return self.lams[-1]
        # Normalized-Laplacian eigenvalues lie in [0, 2]; a fit far outside the measured sizes may not.
        return float(min(2.0, max(0.0, 1.0 / (self.a + self.b / n))))


def fit_lambda_curve(sizes: Sequence[float], lams: Sequence[float]) -> LambdaCurve:
    """Least-squares fit of 1/λ = a + b/n over the positive measurements.

    Falls back to "no extrapolation" (predict the measurement at the largest size) when fewer than two
    λ > 0 are available or the fit is unphysical (a ≤ 0: λ_∞ would be infinite or negative). A fitted b < 0
    (λ *falling* with n, which a fixed-bandwidth graph should not do) is kept as measured — it predicts
    λ falling with inflation, and the caller sees it in the curve.

    Args:
        sizes: increasing sample sizes (> 0).
        lams: λ_{k+1} at those sizes (≥ 0; 0 = more components than k).

    Raises:
        ValueError: on mismatched lengths, an empty input, non-positive sizes or negative λ.
    """
    n = np.asarray(sizes, dtype=np.float64)
    lam = np.asarray(lams, dtype=np.float64)
    if n.ndim != 1 or n.shape != lam.shape or n.size == 0:
        raise ValueError(f"sizes and lams must be equal-length 1-D sequences, got {n.shape} and {lam.shape}")
    if np.any(n <= 0) or np.any(lam < 0) or not np.all(np.isfinite(lam)):
        raise ValueError("sizes must be positive and lams finite and non-negative")
    order = np.argsort(n)
    n, lam = n[order], lam[order]
    pos = lam > 0
    curve = LambdaCurve(a=math.nan, b=math.nan, sizes=tuple(n.tolist()), lams=tuple(lam.tolist()),
                        extrapolated=False)
    if pos.sum() < 2:
        return curve
    x, y = 1.0 / n[pos], 1.0 / lam[pos]
    b, a = np.polyfit(x, y, 1)
    if not a > 0:
        return curve
    return LambdaCurve(a=float(a), b=float(b), sizes=curve.sizes, lams=curve.lams, extrapolated=True)


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

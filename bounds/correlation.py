"""Rank correlation between a predictor and an outcome across configurations, with a bootstrap interval.

The evidence question of the project is whether the estimated bound orders training configurations as their
accuracies do. With a dozen configurations a point estimate of Spearman's ρ is noisy, so it comes with a
percentile bootstrap interval over configurations (Efron & Tibshirani 1993, ch. 13).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks 1..n of a 1-D array, ties sharing the mean of the ranks they span."""
    x = np.asarray(x, dtype=float)
    order = np.argsort(x, kind="mergesort")
    r = np.empty(len(x))
    sorted_x = x[order]
    # boundaries of runs of equal values in sorted order
    starts = np.flatnonzero(np.r_[True, sorted_x[1:] != sorted_x[:-1]])
    ends = np.r_[starts[1:], len(x)]
    for s, e in zip(starts, ends, strict=True):
        r[order[s:e]] = 0.5 * (s + 1 + e)  # mean of ranks s+1 .. e
    return r


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's ρ: the Pearson correlation of the average ranks; nan when either side is constant.

    Raises:
        ValueError: for arrays of different lengths, fewer than 2 points, or nan values.
    """
    x, y = _check_pair(x, y)
    rx, ry = ranks(x) - (len(x) + 1) / 2, ranks(y) - (len(y) + 1) / 2
    denom = np.sqrt((rx @ rx) * (ry @ ry))
    return float(rx @ ry / denom) if denom > 0 else float("nan")


@dataclass(frozen=True)
class Correlation:
    """ρ with its percentile bootstrap interval.

    Attributes:
        rho: Spearman's ρ on all points.
        low, high: the (1 − level)/2 and (1 + level)/2 quantiles of ρ over bootstrap resamples.
        level: coverage of the interval.
        n: number of points (configurations).
        n_boot: resamples that had a defined ρ (a resample with a constant side has none and is dropped).
    """

    rho: float
    low: float
    high: float
    level: float
    n: int
    n_boot: int


def bootstrap_spearman(
    x: np.ndarray, y: np.ndarray, *, n_boot: int = 10_000, level: float = 0.95, seed: int = 0
) -> Correlation:
    """Spearman's ρ between x and y with a percentile bootstrap interval, resampling points with replacement.

    Raises:
        ValueError: as `spearman`, or for n_boot < 1 or level outside (0, 1).
    """
    x, y = _check_pair(x, y)
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(x), size=(n_boot, len(x)))  # (n_boot, n)
    rhos = np.array([spearman(x[i], y[i]) for i in idx])
    rhos = rhos[np.isfinite(rhos)]
    if rhos.size == 0:
        lo = hi = float("nan")
    else:
        lo, hi = (float(q) for q in np.quantile(rhos, [(1 - level) / 2, (1 + level) / 2]))
    return Correlation(rho=spearman(x, y), low=lo, high=hi, level=level, n=len(x), n_boot=int(rhos.size))


def _check_pair(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
    if len(x) != len(y):
        raise ValueError(f"x and y differ in length: {len(x)} vs {len(y)}")
    if len(x) < 2:
        raise ValueError(f"need at least 2 points, got {len(x)}")
    # ±inf is allowed: an infinite bound (a disconnected graph) still ranks last; nan has no rank.
    if np.isnan(x).any() or np.isnan(y).any():
        raise ValueError("x and y must not contain nan")
    return x, y

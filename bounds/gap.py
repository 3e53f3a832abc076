"""The real/generated gap, estimated from two given feature arrays.

AdaInf's bound pays for generated data through the term (1 - beta) * TV(P_real, P_gen) (Theorem 3.1: the
TV distance between P_real and the mixture beta*P_real + (1-beta)*P_gen is exactly (1-beta)*TV(P_real,
P_gen)). This module estimates the gap on fixed features (an encoder's or Inception's), three ways:

- `tv_lower_bound`: a domain classifier's held-out TPR - FPR, a lower bound on TV with a confidence interval;
- `mmd2_unbiased`: the unbiased kernel MMD^2 with a permutation p-value (a two-sample test, monotone proxy);
- `frechet_distance`: the Frechet distance between Gaussian fits (FID on Inception features), the proxy the
  paper itself uses.

Conventions: samples are rows, `real`/`x` is (n, d) and `generated`/`y` is (m, d), float, finite, the same d.
A 1-D feature is passed as `x[:, None]`. Randomness only through an explicit `numpy.random.Generator`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.special

Classifier = Literal["logistic", "quadratic"]
_CLASSIFIERS: tuple[str, ...] = ("logistic", "quadratic")


# --------------------------------------------------------------------------------------------------------------
# total variation: domain-classifier lower bound
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TVEstimate:
    """A domain-classifier lower bound on TV(P_real, P_gen), with its provenance.

    Attributes:
        tv: max(tv_raw, 0), the point estimate of the lower bound.
        tv_raw: held-out TPR - FPR = 2 * balanced_accuracy - 1 (may be slightly negative when the sets agree).
        ci_low: lower end of the `confidence` interval for the classifier's population TPR - FPR; since that
            quantity is <= TV for the fitted (then fixed) classifier, `ci_low` is a high-confidence lower bound
            on TV itself.
        ci_high: upper end of that interval. It bounds the classifier's TPR - FPR, *not* TV from above.
        balanced_accuracy: (TPR + TNR) / 2 on the held-out half.
        n_per_class_test: held-out samples per class (the classes are balanced).
        classifier: which classifier was fitted ("logistic" or "quadratic").
        confidence: nominal coverage of [ci_low, ci_high].
    """

    tv: float
    tv_raw: float
    ci_low: float
    ci_high: float
    balanced_accuracy: float
    n_per_class_test: int
    classifier: str
    confidence: float


def tv_lower_bound(
    real: np.ndarray,
    generated: np.ndarray,
    *,
    rng: np.random.Generator,
    test_fraction: float = 0.5,
    confidence: float = 0.95,
    classifier: Classifier = "logistic",
    l2_penalty: float = 1.0,
) -> TVEstimate:
    """Lower-bound TV(P_real, P_gen) by how well a classifier tells real from generated samples.

    For any fixed measurable set A, TV(P, Q) = sup_A |P(A) - Q(A)| >= P(A) - Q(A). Taking A = {h says "real"}
    for a classifier h fitted on a training half, P(A) - Q(A) = TPR - FPR = 2 * balanced accuracy - 1, which
    is estimated without bias on the held-out half (where h is fixed). The Bayes classifier attains equality.

    Steps: subsample the larger set to the size of the smaller (so accuracy is balanced by construction);
    split each class into train/held-out parts of the same sizes (stratified, via `rng`); standardise with
    the training statistics; fit an L2-regularised logistic regression (L-BFGS); threshold at probability 1/2.

    Args:
        real: (n, d) features of real samples.
        generated: (m, d) features of generated samples.
        rng: source of the subsampling and the split.
        test_fraction: fraction of each (balanced) class held out, in (0, 1).
        confidence: coverage of the interval, in (0, 1).
        classifier: "logistic" (linear decision boundary; Bayes-optimal for Gaussians with a shared covariance)
            or "quadratic" (logistic regression on [x, x**2], per-feature quadratic boundaries; catches
            differences in spread that a linear classifier cannot see).
        l2_penalty: weight of 0.5 * ||w||^2 added to the *summed* log-loss (sklearn's 1 / C), intercept not
            penalised; must be > 0.

    Returns:
        A `TVEstimate`.

    Raises:
        ValueError: on malformed arrays, fewer than 2 samples in the smaller set, or an option out of range.

    References:
        AdaInf (Wang, Zhang, Wang, ICLR 2024), Theorem 3.1: the gap term is (1 - beta) * TV(P_real, P_gen).
        Lopez-Paz & Oquab, "Revisiting classifier two-sample tests", ICLR 2017 (classifier two-sample tests).
        paper-notes §1.5 and §6 item 2.

    Notes:
        Confidence interval. TPR and FPR are frequencies of independent binomial samples (held-out real and
        generated points, with h fixed). Each gets an exact Clopper-Pearson interval at level
        1 - (1 - confidence) / 2, and the interval for the difference is [TPR_lo - FPR_hi, TPR_hi - FPR_lo].
        By the union bound both rate intervals hold simultaneously with probability >= `confidence`, so the
        interval is valid (conservative) for any sample size. It is conditional on the training half, i.e. on
        the fitted h; it says nothing about how close h is to the Bayes classifier, which is why the result
        is a lower bound on TV and not an estimate of it.
    """
    x_real = _check_features(real, "real")
    x_gen = _check_features(generated, "generated")
    _check_same_dim(x_real, x_gen)
    if classifier not in _CLASSIFIERS:
        raise ValueError(f"classifier must be one of {_CLASSIFIERS}, got {classifier!r}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if not (math.isfinite(l2_penalty) and l2_penalty > 0):
        raise ValueError(f"l2_penalty must be a positive finite number, got {l2_penalty}")

    n = min(len(x_real), len(x_gen))
    n_test = round(test_fraction * n)
    if n_test < 1 or n - n_test < 1:
        raise ValueError(
            f"need at least one training and one held-out sample per class; got {n} per class after balancing "
            f"and test_fraction={test_fraction}"
        )
    # Balance and split in one permutation per class: the first n_test indices are held out.
    idx_real = rng.permutation(len(x_real))[:n]
    idx_gen = rng.permutation(len(x_gen))[:n]
    train_x = np.concatenate([x_real[idx_real[n_test:]], x_gen[idx_gen[n_test:]]])
    train_y = np.concatenate([np.ones(n - n_test), np.zeros(n - n_test)])
    test_real, test_gen = x_real[idx_real[:n_test]], x_gen[idx_gen[:n_test]]

    mean, scale = train_x.mean(axis=0), train_x.std(axis=0)
    scale[scale == 0] = 1.0  # a constant feature carries no signal; leave it centred at 0

    def features(a: np.ndarray) -> np.ndarray:
        z = (a - mean) / scale
        return np.hstack([z, z**2]) if classifier == "quadratic" else z

    w, b = _fit_logistic(features(train_x), train_y, l2_penalty=l2_penalty)
    tp = int(np.count_nonzero(features(test_real) @ w + b > 0))  # real called real
    fp = int(np.count_nonzero(features(test_gen) @ w + b > 0))  # generated called real
    tpr, fpr = tp / n_test, fp / n_test
    tv_raw = tpr - fpr

    per_rate = 1.0 - (1.0 - confidence) / 2.0  # Bonferroni over the two rates
    tpr_lo, tpr_hi = _clopper_pearson(tp, n_test, per_rate)
    fpr_lo, fpr_hi = _clopper_pearson(fp, n_test, per_rate)
    return TVEstimate(
        tv=max(tv_raw, 0.0),
        tv_raw=tv_raw,
        ci_low=tpr_lo - fpr_hi,
        ci_high=tpr_hi - fpr_lo,
        balanced_accuracy=(tpr + 1.0 - fpr) / 2.0,
        n_per_class_test=n_test,
        classifier=classifier,
        confidence=confidence,
    )


def _fit_logistic(z: np.ndarray, y: np.ndarray, *, l2_penalty: float) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression, labels y in {0, 1}; returns (w, b) of the logit z @ w + b.

    Minimises sum_i log(1 + exp(-s_i (z_i w + b))) + l2_penalty / 2 * ||w||^2, s_i = 2 y_i - 1, by L-BFGS with
    the analytic gradient. The objective is strictly convex in w (l2_penalty > 0) and the data are
    standardised, so L-BFGS converges from zero in a few dozen iterations.
    """
    s = 2.0 * y - 1.0
    d = z.shape[1]

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:d], theta[d]
        margin = s * (z @ w + b)
        # logaddexp(0, -m) = log(1 + exp(-m)) without overflow for large |m|
        loss = np.logaddexp(0.0, -margin).sum() + 0.5 * l2_penalty * (w @ w)
        g = -s * scipy.special.expit(-margin)  # d loss / d logit
        grad = np.empty(d + 1)
        grad[:d] = z.T @ g + l2_penalty * w
        grad[d] = g.sum()
        return float(loss), grad

    from scipy import optimize  # here, not at the top: with scipy.stats it cost ~0.7 s of every CLI start-up

    res = optimize.minimize(
        objective, np.zeros(d + 1), jac=True, method="L-BFGS-B", options={"maxiter": 1000}
    )
    return res.x[:d], float(res.x[d])


def _clopper_pearson(k: int, n: int, level: float) -> tuple[float, float]:
    """Exact (Clopper-Pearson) two-sided interval for a binomial proportion k / n at coverage `level`."""
    from scipy import stats

    tail = (1.0 - level) / 2.0
    lo = 0.0 if k == 0 else float(stats.beta.ppf(tail, k, n - k + 1))
    hi = 1.0 if k == n else float(stats.beta.ppf(1.0 - tail, k + 1, n - k))
    return lo, hi


# --------------------------------------------------------------------------------------------------------------
# kernel MMD
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MMDResult:
    """Unbiased Gaussian-kernel MMD^2 with a permutation test.

    Attributes:
        mmd2: the unbiased estimate MMD^2_u (can be negative when the distributions agree).
        p_value: (1 + #{permuted statistics >= mmd2}) / (1 + permutations); nan when permutations == 0.
        bandwidth: sigma of the kernel exp(-||a - b||^2 / (2 sigma^2)).
        n_x: samples in x.
        n_y: samples in y.
        permutations: number of random relabellings used for the p-value.
    """

    mmd2: float
    p_value: float
    bandwidth: float
    n_x: int
    n_y: int
    permutations: int


_MEDIAN_SUBSAMPLE = 1000  # points used for the median heuristic: the median is stable long before 1e4 points
_ROW_CHUNK = 1024  # kernel rows materialised at a time: (1024, n_x + n_y) float64 ~ 80 MB at 10k points


def mmd2_unbiased(
    x: np.ndarray,
    y: np.ndarray,
    *,
    bandwidth: float | None = None,
    rng: np.random.Generator | None = None,
    permutations: int = 200,
) -> MMDResult:
    """Unbiased squared maximum mean discrepancy with a Gaussian kernel, and its permutation p-value.

    MMD^2_u = 1/(m(m-1)) sum_{i != j} k(x_i, x_j) + 1/(n(n-1)) sum_{i != j} k(y_i, y_j)
              - 2/(mn) sum_{i, j} k(x_i, y_j),     k(a, b) = exp(-||a - b||^2 / (2 bandwidth^2)).

    Args:
        x: (m, d) samples of P (m >= 2).
        y: (n, d) samples of Q (n >= 2).
        bandwidth: kernel width sigma > 0. None: the median heuristic, sigma = median of the pairwise
            Euclidean distances of the pooled sample (Gretton et al. 2012, §8), computed on a random subsample
            of at most 1000 pooled points (drawn from `rng`).
        rng: source of the permutations and of the median subsample. None means `np.random.default_rng(0)`,
            so a call without `rng` is reproducible; pass a generator to vary it.
        permutations: number of random relabellings of the pooled sample for the p-value (>= 0; 0 skips the
            test and reports p_value = nan).

    Returns:
        An `MMDResult`.

    Raises:
        ValueError: on malformed arrays, fewer than 2 samples in either set, bandwidth <= 0 or permutations < 0.

    References:
        Gretton, Borgwardt, Rasch, Schoelkopf, Smola, "A Kernel Two-Sample Test", JMLR 13 (2012), Lemma 6
        (unbiased estimator, Eq. 3 for m != n) and §8 (median heuristic). paper-notes §6 item 2 (MMD as a
        monotone proxy of the gap).

    Notes:
        The pooled kernel matrix K of size N = m + n is never stored. For a relabelling with indicator a of
        the "x" group (b = 1 - a), the statistic needs only a'Ka, a'Kb and b'Kb (the diagonal of a Gaussian
        kernel is 1 and is removed exactly). So the observed split and all permutations are columns of an
        (N, P + 1) indicator matrix A, and K @ A is accumulated in row blocks of 1024: O(N^2 (d + P)) time and
        O(1024 N + N P) memory. 5k vs 5k with 200 permutations takes a few seconds on two cores.
        The p-value (1 + #{T_perm >= T}) / (1 + P) is valid (exact level) for any P.
    """
    x = _check_features(x, "x")
    y = _check_features(y, "y")
    _check_same_dim(x, y)
    m, n = len(x), len(y)
    if m < 2 or n < 2:
        raise ValueError(f"need at least 2 samples in each set, got {m} and {n}")
    if permutations < 0:
        raise ValueError(f"permutations must be >= 0, got {permutations}")
    if rng is None:
        rng = np.random.default_rng(0)
    pooled = np.concatenate([x, y])
    big_n = m + n
    if bandwidth is None:
        bandwidth = _median_distance(pooled, rng=rng)
    elif not (math.isfinite(bandwidth) and bandwidth > 0):
        raise ValueError(f"bandwidth must be a positive finite number, got {bandwidth}")

    # Column 0 is the observed split; columns 1..P are relabellings with the same group sizes.
    labels = np.zeros((big_n, permutations + 1))
    labels[:m, 0] = 1.0
    for p in range(1, permutations + 1):
        labels[rng.permutation(big_n)[:m], p] = 1.0

    k_labels = np.empty_like(labels)  # K @ labels, (N, P + 1)
    k_ones = np.empty(big_n)  # K @ 1, (N,)
    sq_norms = np.einsum("ij,ij->i", pooled, pooled)
    gamma = 1.0 / (2.0 * bandwidth**2)
    for start in range(0, big_n, _ROW_CHUNK):
        stop = min(start + _ROW_CHUNK, big_n)
        d2 = sq_norms[start:stop, None] + sq_norms[None, :] - 2.0 * pooled[start:stop] @ pooled.T
        np.maximum(d2, 0.0, out=d2)  # cancellation can leave -1e-13 for near-duplicates
        kernel = np.exp(-gamma * d2)  # (chunk, N)
        rows = np.arange(stop - start)
        kernel[rows, start + rows] = 1.0  # the exact diagonal, so that removing it below is exact
        k_labels[start:stop] = kernel @ labels
        k_ones[start:stop] = kernel.sum(axis=1)

    # a'Ka, a'Kb, b'Kb for every column (b = 1 - a); each includes the diagonal only in the within terms.
    s_xx = np.einsum("ip,ip->p", labels, k_labels)
    s_xy = labels.T @ k_ones - s_xx
    s_yy = k_ones.sum() - 2.0 * s_xy - s_xx
    stats = (s_xx - m) / (m * (m - 1)) + (s_yy - n) / (n * (n - 1)) - 2.0 * s_xy / (m * n)

    observed = float(stats[0])
    if permutations == 0:
        p_value = float("nan")
    else:
        # a relabelling can reproduce the observed split up to rounding; count ties as >= with slack
        tol = 1e-12 * max(1.0, abs(observed))
        p_value = float((1 + np.count_nonzero(stats[1:] >= observed - tol)) / (1 + permutations))
    return MMDResult(
        mmd2=observed, p_value=p_value, bandwidth=float(bandwidth), n_x=m, n_y=n, permutations=permutations
    )


def _median_distance(points: np.ndarray, *, rng: np.random.Generator) -> float:
    """Median pairwise Euclidean distance among (a random subsample of) `points`, falling back to the median
    of the positive distances when more than half coincide, and to 1.0 when all points are equal."""
    if len(points) > _MEDIAN_SUBSAMPLE:
        points = points[rng.choice(len(points), _MEDIAN_SUBSAMPLE, replace=False)]
    sq = np.einsum("ij,ij->i", points, points)
    d2 = sq[:, None] + sq[None, :] - 2.0 * points @ points.T
    iu = np.triu_indices(len(points), k=1)
    dist = np.sqrt(np.maximum(d2[iu], 0.0))
    med = float(np.median(dist))
    if med > 0:
        return med
    positive = dist[dist > 0]
    return float(np.median(positive)) if positive.size else 1.0


# --------------------------------------------------------------------------------------------------------------
# Frechet distance
# --------------------------------------------------------------------------------------------------------------


def frechet_distance(x: np.ndarray, y: np.ndarray) -> float:
    """Frechet (2-Wasserstein) distance between Gaussian fits of two samples, as in FID.

    FD = ||mu_x - mu_y||^2 + Tr(Sigma_x + Sigma_y - 2 (Sigma_x Sigma_y)^{1/2}), with sample means and
    unbiased (ddof = 1) covariances, as in the reference FID implementation (`np.cov`).

    Args:
        x: (m, d) samples (m >= 2).
        y: (n, d) samples (n >= 2).

    Returns:
        The distance, a float >= 0 (on Inception-pool3 features this is FID).

    Raises:
        ValueError: on malformed arrays or fewer than 2 samples in either set.

    References:
        Heusel, Ramsauer, Unterthiner, Nessler, Hochreiter, "GANs Trained by a Two Time-Scale Update Rule
        Converge to a Local Nash Equilibrium", NeurIPS 2017 (FID). Dowson & Landau 1982 (the closed form).
        paper-notes §1.5 (FID is the paper's practical proxy of the gap).
    """
    x = _check_features(x, "x")
    y = _check_features(y, "y")
    _check_same_dim(x, y)
    if len(x) < 2 or len(y) < 2:
        raise ValueError(f"need at least 2 samples in each set, got {len(x)} and {len(y)}")
    return frechet_distance_gaussian(
        x.mean(axis=0), np.cov(x, rowvar=False), y.mean(axis=0), np.cov(y, rowvar=False)
    )


def frechet_distance_gaussian(
    mean_x: np.ndarray, cov_x: np.ndarray, mean_y: np.ndarray, cov_y: np.ndarray
) -> float:
    """Frechet distance between N(mean_x, cov_x) and N(mean_y, cov_y); see `frechet_distance`.

    Args:
        mean_x: (d,) mean.
        cov_x: (d, d) symmetric positive semi-definite covariance.
        mean_y: (d,) mean.
        cov_y: (d, d) symmetric positive semi-definite covariance.

    Returns:
        The distance, a float >= 0.

    Raises:
        ValueError: if the shapes disagree or an input is not finite.

    Notes:
        Tr((Sigma_x Sigma_y)^{1/2}) is computed as sum_i sqrt(mu_i), mu_i the eigenvalues of the *symmetric*
        PSD matrix Sigma_x^{1/2} Sigma_y Sigma_x^{1/2} (similar to Sigma_x Sigma_y, so the same spectrum).
        Both square roots go through `eigh` with eigenvalues clipped at 0, which avoids the complex output
        and the singular-matrix failures of `scipy.linalg.sqrtm` on rank-deficient covariances (e.g. fewer
        samples than dimensions). Rounding can leave -1e-12 in the total; the result is clipped at 0.
    """
    mean_x, mean_y = np.atleast_1d(np.asarray(mean_x, float)), np.atleast_1d(np.asarray(mean_y, float))
    cov_x, cov_y = np.atleast_2d(np.asarray(cov_x, float)), np.atleast_2d(np.asarray(cov_y, float))
    d = mean_x.shape[0]
    if mean_x.shape != (d,) or mean_y.shape != (d,) or cov_x.shape != (d, d) or cov_y.shape != (d, d):
        raise ValueError(
            f"shapes disagree: means {mean_x.shape}, {mean_y.shape}; covariances {cov_x.shape}, {cov_y.shape}"
        )
    for name, a in (("mean_x", mean_x), ("cov_x", cov_x), ("mean_y", mean_y), ("cov_y", cov_y)):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} contains non-finite values")
    cov_x, cov_y = (cov_x + cov_x.T) / 2.0, (cov_y + cov_y.T) / 2.0
    evals, evecs = np.linalg.eigh(cov_x)
    sqrt_x = (evecs * np.sqrt(np.clip(evals, 0.0, None))) @ evecs.T
    middle = sqrt_x @ cov_y @ sqrt_x
    mu = np.linalg.eigvalsh((middle + middle.T) / 2.0)
    tr_sqrt = float(np.sqrt(np.clip(mu, 0.0, None)).sum())
    diff = mean_x - mean_y
    fd = float(diff @ diff + np.trace(cov_x) + np.trace(cov_y) - 2.0 * tr_sqrt)
    return max(fd, 0.0)


# --------------------------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------------------------


def _check_features(a: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(a, dtype=float)
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D (n_samples, n_features) array, got shape {arr.shape}; "
            "pass a single feature as x[:, None]"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains non-finite values")
    return arr


def _check_same_dim(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature dimensions differ: {a.shape[1]} vs {b.shape[1]}")

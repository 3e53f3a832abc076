from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import scipy.spatial.distance
import scipy.stats

from bounds import gap
from bounds.gap import frechet_distance, frechet_distance_gaussian, mmd2_unbiased, tv_lower_bound


def _gaussian_shift_tv(delta: float, sigma: float) -> float:
    # TV(N(0, s^2), N(delta, s^2)) = 2 Phi(delta / (2 s)) - 1
    return 2.0 * scipy.stats.norm.cdf(delta / (2.0 * sigma)) - 1.0


# ---------------------------------------------------------------------------------------------- TV lower bound


def test_tv_identical_distributions_interval_contains_zero(rng):
    x = rng.normal(size=(2000, 5))
    y = rng.normal(size=(2000, 5))
    est = tv_lower_bound(x, y, rng=rng)
    assert est.ci_low <= 0.0 <= est.ci_high
    assert est.tv == max(est.tv_raw, 0.0)
    assert est.tv < 0.1


def test_tv_disjoint_sets_is_one(rng):
    x = rng.normal(size=(500, 3))
    y = rng.normal(size=(500, 3)) + 20.0
    est = tv_lower_bound(x, y, rng=rng)
    assert est.tv >= 0.95
    assert est.ci_low >= 0.95
    assert est.balanced_accuracy == pytest.approx((1.0 + est.tv_raw) / 2.0)


@pytest.mark.parametrize(("delta", "sigma"), [(0.5, 1.0), (1.0, 1.0), (2.0, 1.0), (3.0, 2.0)])
def test_tv_matches_gaussian_shift_closed_form(delta, sigma):
    # In 1-D a logistic regression is a threshold, and the Bayes classifier for a mean shift is the
    # threshold at delta/2, so the classifier's TPR - FPR should reach the analytic TV up to sampling error.
    rng = np.random.default_rng(1)
    x = rng.normal(0.0, sigma, size=(6000, 1))
    y = rng.normal(delta, sigma, size=(6000, 1))
    est = tv_lower_bound(x, y, rng=rng)
    exact = _gaussian_shift_tv(delta, sigma)
    assert est.ci_low <= exact <= est.ci_high
    assert est.ci_low <= exact  # a lower bound: never significantly above the truth
    assert abs(est.tv - exact) < 0.04


def test_tv_ci_lower_end_is_a_lower_bound_across_seeds():
    # Small samples: the interval is wide, and its lower end must stay below the true TV for every seed
    # (conservative interval; a miss rate of 5% would show up as >= 1 miss in 20 with probability ~0.64).
    exact = _gaussian_shift_tv(1.0, 1.0)
    misses = 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        est = tv_lower_bound(rng.normal(size=(200, 1)), rng.normal(1.0, size=(200, 1)), rng=rng)
        misses += est.ci_low > exact
    assert misses <= 1


def test_quadratic_classifier_detects_a_variance_change(rng):
    # N(0, 1) vs N(0, 3^2): the means agree, so a linear boundary sees nothing; the densities cross at
    # |x| = c with c^2 = 2 ln(s) s^2 / (s^2 - 1), and TV = P1(|x| < c) - P2(|x| < c).
    s = 3.0
    c = math.sqrt(2.0 * math.log(s) * s**2 / (s**2 - 1.0))
    exact = (2 * scipy.stats.norm.cdf(c) - 1) - (2 * scipy.stats.norm.cdf(c / s) - 1)
    x = rng.normal(0.0, 1.0, size=(4000, 1))
    y = rng.normal(0.0, s, size=(4000, 1))
    quad = tv_lower_bound(x, y, rng=rng, classifier="quadratic")
    lin = tv_lower_bound(x, y, rng=rng, classifier="logistic")
    assert quad.classifier == "quadratic"
    assert quad.ci_low <= exact <= quad.ci_high
    assert quad.ci_low > lin.ci_high


def test_tv_balances_and_splits(rng):
    x = rng.normal(size=(300, 2))
    y = rng.normal(size=(1000, 2))
    est = tv_lower_bound(x, y, rng=rng, test_fraction=0.4)
    assert est.n_per_class_test == 120
    assert est.confidence == 0.95


def test_tv_is_reproducible_with_a_seed():
    data = np.random.default_rng(5).normal(size=(400, 4))
    a = tv_lower_bound(data[:200], data[200:] + 0.3, rng=np.random.default_rng(3))
    b = tv_lower_bound(data[:200], data[200:] + 0.3, rng=np.random.default_rng(3))
    assert a == b


def test_tv_interval_widens_with_confidence(rng):
    x, y = rng.normal(size=(400, 2)), rng.normal(0.5, size=(400, 2))
    narrow = tv_lower_bound(x, y, rng=np.random.default_rng(0), confidence=0.5)
    wide = tv_lower_bound(x, y, rng=np.random.default_rng(0), confidence=0.99)
    assert narrow.tv_raw == wide.tv_raw
    assert wide.ci_low < narrow.ci_low <= narrow.tv_raw <= narrow.ci_high < wide.ci_high


def test_clopper_pearson_matches_known_values():
    # k = 0 has the closed form upper end 1 - (tail)^(1/n); k = n mirrors it.
    lo, hi = gap._clopper_pearson(0, 20, 0.95)
    assert lo == 0.0 and hi == pytest.approx(1.0 - 0.025 ** (1 / 20), rel=1e-10)
    lo, hi = gap._clopper_pearson(20, 20, 0.95)
    assert hi == 1.0 and lo == pytest.approx(0.025 ** (1 / 20), rel=1e-10)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"classifier": "svm"}, "classifier"),
        ({"test_fraction": 1.0}, "test_fraction"),
        ({"confidence": 0.0}, "confidence"),
        ({"l2_penalty": 0.0}, "l2_penalty"),
    ],
)
def test_tv_rejects_bad_options(rng, kwargs, match):
    with pytest.raises(ValueError, match=match):
        tv_lower_bound(rng.normal(size=(20, 2)), rng.normal(size=(20, 2)), rng=rng, **kwargs)


def test_tv_rejects_bad_arrays(rng):
    with pytest.raises(ValueError, match="2-D"):
        tv_lower_bound(rng.normal(size=20), rng.normal(size=20), rng=rng)
    with pytest.raises(ValueError, match="dimensions differ"):
        tv_lower_bound(rng.normal(size=(20, 2)), rng.normal(size=(20, 3)), rng=rng)
    with pytest.raises(ValueError, match="non-finite"):
        tv_lower_bound(np.full((20, 2), np.nan), rng.normal(size=(20, 2)), rng=rng)
    with pytest.raises(ValueError, match="training and one held-out"):
        tv_lower_bound(rng.normal(size=(1, 2)), rng.normal(size=(20, 2)), rng=rng)


# ---------------------------------------------------------------------------------------------- MMD


def _mmd2_double_loop(x: np.ndarray, y: np.ndarray, sigma: float) -> float:
    def k(a: np.ndarray, b: np.ndarray) -> float:
        return math.exp(-float(np.sum((a - b) ** 2)) / (2.0 * sigma**2))

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2.0 * xy


@pytest.mark.parametrize("chunk", [1024, 3])
def test_mmd2_matches_double_loop(rng, monkeypatch, chunk):
    monkeypatch.setattr(gap, "_ROW_CHUNK", chunk)  # also exercises the row-blocked accumulation
    x = rng.normal(size=(7, 3))
    y = rng.normal(0.5, 1.5, size=(5, 3))
    res = mmd2_unbiased(x, y, bandwidth=1.3, rng=rng, permutations=10)
    assert res.mmd2 == pytest.approx(_mmd2_double_loop(x, y, 1.3), abs=1e-12)
    assert (res.n_x, res.n_y, res.permutations, res.bandwidth) == (7, 5, 10, 1.3)


def test_mmd2_median_heuristic_bandwidth(rng):
    x, y = rng.normal(size=(40, 3)), rng.normal(size=(30, 3))
    res = mmd2_unbiased(x, y, rng=rng, permutations=0)
    expected = np.median(scipy.spatial.distance.pdist(np.concatenate([x, y])))
    assert res.bandwidth == pytest.approx(expected, rel=1e-10)
    assert math.isnan(res.p_value)
    assert res.mmd2 == pytest.approx(_mmd2_double_loop(x, y, expected), abs=1e-12)


def test_mmd_identical_distributions_not_significant():
    rng = np.random.default_rng(2)
    res = mmd2_unbiased(rng.normal(size=(300, 4)), rng.normal(size=(300, 4)), rng=rng, permutations=200)
    assert res.p_value > 0.05
    assert abs(res.mmd2) < 0.01


def test_mmd_far_apart_is_maximally_significant(rng):
    permutations = 200
    res = mmd2_unbiased(
        rng.normal(size=(100, 4)), rng.normal(size=(120, 4)) + 10.0, rng=rng, permutations=permutations
    )
    assert res.p_value == pytest.approx(1.0 / (permutations + 1))
    assert res.mmd2 > 0.1


def test_mmd_is_reproducible_and_defaults_to_a_fixed_seed(rng):
    x, y = rng.normal(size=(50, 2)), rng.normal(0.3, size=(60, 2))
    assert mmd2_unbiased(x, y) == mmd2_unbiased(x, y)
    assert mmd2_unbiased(x, y, rng=np.random.default_rng(4)) == mmd2_unbiased(
        x, y, rng=np.random.default_rng(4)
    )


def test_mmd_rejects_bad_input(rng):
    x = rng.normal(size=(10, 2))
    with pytest.raises(ValueError, match="at least 2"):
        mmd2_unbiased(x, x[:1], rng=rng)
    with pytest.raises(ValueError, match="bandwidth"):
        mmd2_unbiased(x, x, bandwidth=0.0, rng=rng)
    with pytest.raises(ValueError, match="permutations"):
        mmd2_unbiased(x, x, rng=rng, permutations=-1)


# ---------------------------------------------------------------------------------------------- Frechet distance


def _fd_reference(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    # the textbook formula with scipy's general matrix square root (pytorch-fid's computation)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean))


def _random_spd(rng: np.random.Generator, d: int) -> np.ndarray:
    a = rng.normal(size=(d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


def test_fd_equals_formula_on_empirical_moments(rng):
    x = rng.normal(size=(50, 4)) @ rng.normal(size=(4, 4))
    y = rng.normal(1.0, size=(40, 4)) @ rng.normal(size=(4, 4))
    expected = _fd_reference(x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))
    assert frechet_distance(x, y) == pytest.approx(expected, rel=1e-9)


def test_fd_gaussian_closed_form_diagonal():
    # commuting covariances: FD = ||mu1 - mu2||^2 + sum_i (s1_i - s2_i)^2 (standard deviations)
    s1, s2 = np.array([1.0, 2.0, 0.5]), np.array([3.0, 1.0, 0.5])
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    exact = np.sum((mu1 - mu2) ** 2) + np.sum((s1 - s2) ** 2)
    assert frechet_distance_gaussian(mu1, np.diag(s1**2), mu2, np.diag(s2**2)) == pytest.approx(
        exact, rel=1e-12
    )


def test_fd_of_large_samples_approaches_the_population_value(rng):
    d = 3
    mu1, mu2 = np.zeros(d), np.array([1.0, -0.5, 0.25])
    c1, c2 = _random_spd(rng, d), _random_spd(rng, d)
    exact = _fd_reference(mu1, c1, mu2, c2)
    x = rng.multivariate_normal(mu1, c1, size=200_000)
    y = rng.multivariate_normal(mu2, c2, size=200_000)
    assert frechet_distance(x, y) == pytest.approx(exact, rel=0.02)


def test_fd_identical_distributions_is_near_zero(rng):
    x, y = rng.normal(size=(20_000, 5)), rng.normal(size=(20_000, 5))
    scale = np.trace(np.cov(x, rowvar=False))
    assert 0.0 <= frechet_distance(x, y) < 0.005 * scale
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-10)


def test_fd_is_symmetric(rng):
    x = rng.normal(size=(100, 6)) @ rng.normal(size=(6, 6))
    y = rng.normal(size=(80, 6)) * 2.0 + 1.0
    assert frechet_distance(x, y) == pytest.approx(frechet_distance(y, x), rel=1e-9)


def test_fd_rank_deficient_covariances_are_real_and_non_negative(rng):
    # fewer samples than dimensions: singular covariances, where sqrtm of the product is ill-conditioned
    x, y = rng.normal(size=(5, 20)), rng.normal(size=(6, 20))
    fd = frechet_distance(x, y)
    assert isinstance(fd, float) and math.isfinite(fd) and fd >= 0.0


def test_fd_rejects_bad_input(rng):
    with pytest.raises(ValueError, match="at least 2"):
        frechet_distance(rng.normal(size=(1, 3)), rng.normal(size=(5, 3)))
    with pytest.raises(ValueError, match="shapes disagree"):
        frechet_distance_gaussian(np.zeros(2), np.eye(3), np.zeros(2), np.eye(2))

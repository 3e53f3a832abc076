"""Spearman's ρ against scipy, on ties and monotone maps, and its bootstrap interval."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from bounds.correlation import bootstrap_spearman, ranks, spearman


def test_ranks_average_ties():
    np.testing.assert_array_equal(ranks(np.array([10.0, 30.0, 20.0, 30.0])), [1.0, 3.5, 2.0, 3.5])
    np.testing.assert_array_equal(ranks(np.array([np.inf, 1.0, np.inf])), [2.5, 1.0, 2.5])


@pytest.mark.parametrize("seed", range(5))
def test_spearman_matches_scipy_with_and_without_ties(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=17)
    y = x + rng.normal(size=17)
    assert spearman(x, y) == pytest.approx(scipy.stats.spearmanr(x, y).statistic, abs=1e-12)
    xt, yt = np.round(x), np.round(y)  # many ties
    assert spearman(xt, yt) == pytest.approx(scipy.stats.spearmanr(xt, yt).statistic, abs=1e-12)


def test_spearman_is_invariant_to_monotone_maps_and_flips_sign():
    x = np.array([0.3, 1.2, -0.5, 2.0, 0.9])
    y = np.array([1.0, 2.0, 0.0, 5.0, 1.5])
    assert spearman(x, y) == pytest.approx(spearman(np.exp(x), y ** 3))
    assert spearman(-x, y) == pytest.approx(-spearman(x, y))
    assert spearman(x, x) == pytest.approx(1.0)
    assert np.isnan(spearman(x, np.ones(5)))


def test_an_infinite_value_ranks_last():
    x = np.array([1.0, 2.0, np.inf])
    assert spearman(x, np.array([0.0, 1.0, 2.0])) == pytest.approx(1.0)


def test_bootstrap_interval_contains_rho_and_tightens_with_n():
    rng = np.random.default_rng(0)
    small = rng.normal(size=12)
    c = bootstrap_spearman(small, small + 0.5 * rng.normal(size=12), n_boot=2000, seed=1)
    assert c.low <= c.rho <= c.high and c.n == 12 and c.n_boot <= 2000
    big = rng.normal(size=300)
    cb = bootstrap_spearman(big, big + 0.5 * rng.normal(size=300), n_boot=500, seed=1)
    assert cb.high - cb.low < c.high - c.low
    # independent data: the interval covers 0
    ci = bootstrap_spearman(rng.normal(size=40), rng.normal(size=40), n_boot=2000, seed=2)
    assert ci.low < 0 < ci.high


def test_bad_input_raises():
    with pytest.raises(ValueError, match="differ in length"):
        spearman(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="at least 2"):
        spearman(np.ones(1), np.ones(1))
    with pytest.raises(ValueError, match="nan"):
        spearman(np.array([1.0, np.nan]), np.ones(2))
    with pytest.raises(ValueError, match="level"):
        bootstrap_spearman(np.arange(3.0), np.arange(3.0), level=1.0)

"""Tests for bounds.inflation: Kish size, the 1/λ = a + b/n fit, and the grid's monotone choices."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.sparse

from bounds.inflation import LambdaCurve, dilute_self_loops, effective_size, grid_bounds, lambda_curve


@pytest.mark.parametrize(("n", "ratio", "dup"), [(10, 0.0, 1.0), (10, 3.0, 2.5), (7, 20.0, 10.0), (4, 0.5, 1.0)])
def test_effective_size_is_kish_of_the_weight_vector(n: int, ratio: float, dup: float) -> None:
    n_gen = round(ratio * n)
    w = np.r_[np.full(n, dup), np.ones(n_gen)]
    assert effective_size(n, n_gen / n, dup) == pytest.approx(w.sum() ** 2 / (w**2).sum(), rel=1e-12)


def test_effective_size_limits_and_errors() -> None:
    assert effective_size(100, 0.0, 7.0) == pytest.approx(100)
    assert effective_size(100, 4.0, 1.0) == pytest.approx(500)
    assert effective_size(100, 4.0, 1e9) == pytest.approx(100, rel=1e-6)
    for args in ((0, 1.0, 1.0), (10, -1.0, 1.0), (10, 1.0, 0.0), (10, math.inf, 1.0)):
        with pytest.raises(ValueError):
            effective_size(*args)


def _complete_with_loops(n: int, w: float, s: float) -> scipy.sparse.csr_array:
    return scipy.sparse.csr_array(np.full((n, n), w) + np.eye(n) * (s - w))


def test_dilute_self_loops_scales_only_the_diagonal() -> None:
    rng = np.random.default_rng(3)
    a = rng.uniform(0, 1, (6, 6))
    a = a + a.T
    d = dilute_self_loops(scipy.sparse.csr_array(a), 0.25).toarray()
    np.testing.assert_allclose(np.diag(d), 0.25 * np.diag(a), rtol=1e-15)
    off = ~np.eye(6, dtype=bool)
    np.testing.assert_array_equal(d[off], a[off])
    with pytest.raises(ValueError):
        dilute_self_loops(scipy.sparse.csr_array(a), -1.0)


def test_lambda_curve_on_a_complete_graph_with_self_loops_is_exact() -> None:
    # K_n with off-diagonal weight w and self-loops s: λ_2 = … = λ_n = n w / ((n − 1) w + s). Diluting s by
    # (n − 1)/(n_eff − 1) must give n w / ((n − 1) w (1 + s / ((n_eff − 1) w))).
    n, w, s, k = 40, 0.01, 0.3, 3
    c = lambda_curve(_complete_with_loops(n, w, s), k=k, n_sources=n, multiples=(1, 2, 8))
    for n_eff, lam in zip(c.sizes, c.lams, strict=True):
        s_eff = s * (n - 1) / (n_eff - 1)
        assert lam == pytest.approx(n * w / ((n - 1) * w + s_eff), rel=1e-9)
    assert c.sizes == (40.0, 80.0, 320.0)
    assert c.lams[0] < c.lams[1] < c.lams[2]  # inflation raises λ by diluting self-mass
    # interpolation in log n between grid points, constant beyond the ends
    assert c.predict(40.0) == pytest.approx(c.lams[0]) and c.predict(1e9) == pytest.approx(c.lams[-1])
    mid = c.predict(math.sqrt(80.0 * 320.0))
    assert mid == pytest.approx((c.lams[1] + c.lams[2]) / 2)
    with pytest.raises(ValueError):
        lambda_curve(_complete_with_loops(n, w, s), k=k, n_sources=n, multiples=(2, 1))
    with pytest.raises(ValueError):
        lambda_curve(_complete_with_loops(n, w, s), k=k, n_sources=n, multiples=(1 / n, 1))


def test_lambda_curve_moves_toward_a_larger_sample() -> None:
    # Sources uniform on the unit square, narrow kernel (self-mass ~15 %): the λ predicted at 4n from n
    # sources must rise above the n-source λ and land closer to the λ of 4n real sources than that does.
    # Dilution captures only the self-mass part of the gain (more sources here also add new paths), so the
    # test asserts the direction and that the gap shrinks, not equality.
    from bounds.graph import build_graph, graph_terms

    def sample(n: int, seed: int) -> np.ndarray:
        r = np.random.default_rng(seed)
        return r.uniform(0, 1, (n, 2))[:, None, :] + 0.03 * r.standard_normal((n, 4, 2))

    small, pred, big = [], [], []
    for seed in range(4):
        g = build_graph(sample(300, seed), bandwidth=0.04)
        c = lambda_curve(g.adjacency, k=2, n_sources=300, multiples=(1, 4))
        small.append(c.lams[0])
        pred.append(c.lams[1])
        big.append(graph_terms(build_graph(sample(1200, 100 + seed), bandwidth=0.04), k=2).lam)
    assert all(p > s for p, s in zip(pred, small, strict=True))
    assert abs(np.mean(pred) - np.mean(big)) < abs(np.mean(small) - np.mean(big))


def _curve(lam_inf: float, b: float) -> LambdaCurve:
    """A planted λ(n) = 1 / (1/λ_∞ + b/n) on a fine grid (the grid's interpolation is then exact enough)."""
    sizes = tuple(np.geomspace(100, 1e6, 400).tolist())
    return LambdaCurve(sizes=sizes, lams=tuple(1 / (1 / lam_inf + b / n) for n in sizes))


def test_planted_answer_strength_falls_as_the_ratio_grows() -> None:
    # Strong augmentation: large α, well connected already (small finite-sample penalty b). Weak: small α,
    # poorly connected at n real images (large b), so only inflation makes it competitive.
    strengths = [0.25, 0.5, 0.75, 1.0]
    alphas = {0.25: 0.10, 0.5: 0.14, 0.75: 0.18, 1.0: 0.22}
    curves = {0.25: _curve(0.5, 20_000.0), 0.5: _curve(0.55, 3000.0), 0.75: _curve(0.6, 800.0),
              1.0: _curve(0.65, 100.0)}
    chosen = []
    for ratio in (0, 1, 4, 10, 20, 100):
        best = grid_bounds(alphas, curves, n_real=1000, ratio=ratio, dups=[1, 2, 5, 10, 20], tv=0.0)[0]
        chosen.append(best.strength)
    assert all(x >= y for x, y in itertools.pairwise(chosen))
    assert chosen[0] == 1.0 and chosen[-1] < chosen[0]
    assert set(chosen) <= set(strengths)


def test_recommended_dup_never_falls_as_tv_grows() -> None:
    # Monotone comparative statics: TV enters only through (1 - β) TV = TV R / (N + R), decreasing in N,
    # so the optimal N cannot decrease as TV grows (exact ties aside). Random instances, fixed seed.
    rng = np.random.default_rng(0)
    for _ in range(40):
        strengths = [0.2, 0.4, 0.6, 0.8, 1.0]
        alphas = dict(zip(strengths, np.sort(rng.uniform(0.05, 0.5, 5)), strict=True))
        curves = {s: _curve(float(rng.uniform(0.2, 1.0)), float(rng.uniform(0, 5000))) for s in strengths}
        ratio = float(rng.choice([1, 4, 10, 20]))
        dups = [1, 2, 5, 10, 20, 50]
        chosen = [grid_bounds(alphas, curves, n_real=500, ratio=ratio, dups=dups, tv=tv)[0].dup
                  for tv in np.linspace(0, 1, 11)]
        assert all(x <= y for x, y in itertools.pairwise(chosen)), chosen


def test_grid_terms_are_the_bound_of_the_predicted_lambda() -> None:
    alphas = {0.5: 0.2}
    curves = {0.5: _curve(0.5, 1000.0)}
    cands = grid_bounds(alphas, curves, n_real=1000, ratio=4.0, dups=[1, 10], tv=0.3)
    by_dup = {c.dup: c for c in cands}
    n_eff = 1000 * (10 + 4) ** 2 / (10**2 + 4)
    lam = curves[0.5].predict(n_eff)
    t = by_dup[10].terms
    assert by_dup[10].n_eff == pytest.approx(n_eff)
    assert t.lam == pytest.approx(lam) and t.beta == pytest.approx(10 / 14)
    assert t.total == pytest.approx(4 * 0.2 / lam + 8 * 0.2 + (4 / 14) * 0.3)
    # no inflation: one N, no gap term
    cands0 = grid_bounds(alphas, curves, n_real=1000, ratio=0.0, dups=[1, 10], tv=0.3)
    assert len(cands0) == 1 and cands0[0].terms.gap_term == 0.0 and cands0[0].terms.beta == 1.0
    with pytest.raises(ValueError):
        grid_bounds(alphas, {}, n_real=10, ratio=1.0, dups=[1], tv=0.0)

"""Tests for bounds.inflation: Kish size, the 1/λ = a + b/n fit, and the grid's monotone choices."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from bounds.inflation import LambdaCurve, effective_size, fit_lambda_curve, grid_bounds


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


def test_fit_recovers_an_exact_curve_and_predicts() -> None:
    a, b = 1 / 0.6, 900.0  # λ_∞ = 0.6
    sizes = [500, 1000, 2000]
    lams = [1 / (a + b / n) for n in sizes]
    c = fit_lambda_curve(sizes, lams)
    assert c.extrapolated
    assert c.a == pytest.approx(a, rel=1e-10) and c.b == pytest.approx(b, rel=1e-10)
    assert c.predict(40_000) == pytest.approx(1 / (a + b / 40_000), rel=1e-10)
    assert c.predict(1e12) == pytest.approx(0.6, rel=1e-6)


def test_fit_falls_back_without_two_positive_points_or_with_a_nonpositive_intercept() -> None:
    c = fit_lambda_curve([100, 200, 400], [0.0, 0.0, 0.05])
    assert not c.extrapolated and c.predict(1e6) == 0.05
    c = fit_lambda_curve([100, 200], [0.0, 0.0])
    assert c.predict(1e6) == 0.0  # still disconnected: the bound stays infinite
    # 1/λ = -1 + 400/n: λ explodes with n, an unphysical fit -> the largest measurement
    c = fit_lambda_curve([100, 200], [1 / 3, 1.0])
    assert not c.extrapolated and c.predict(1e6) == 1.0
    with pytest.raises(ValueError):
        fit_lambda_curve([100, 200], [0.1])
    with pytest.raises(ValueError):
        fit_lambda_curve([0, 200], [0.1, 0.2])


def _curve(lam_inf: float, b: float) -> LambdaCurve:
    sizes = (250.0, 500.0, 1000.0)
    return fit_lambda_curve(sizes, [1 / (1 / lam_inf + b / n) for n in sizes])


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

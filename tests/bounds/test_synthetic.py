from __future__ import annotations

import math

import numpy as np
import pytest

from bounds.spectrum import laplacian_spectrum
from bounds.synthetic import (
    augmentation_matrix,
    bound_grid,
    circular_segment_fraction,
    disc_overlap_area,
    labeling_error,
    synthetic_terms,
)


def _uniform_disc(rng: np.random.Generator, centre: np.ndarray, r: float, m: int) -> np.ndarray:
    rad = r * np.sqrt(rng.random(m))
    th = rng.uniform(0.0, 2.0 * np.pi, m)
    return centre + np.stack([rad * np.cos(th), rad * np.sin(th)], axis=1)


def _within_3_sigma(estimate: float, exact: float, m: int) -> bool:
    sigma = math.sqrt(max(exact * (1.0 - exact), 1e-12) / m)
    return abs(estimate - exact) <= 3.0 * sigma + 1e-12


# ---------------------------------------------------------------------------------------- closed forms


def test_disc_overlap_area_endpoints():
    r = 0.7
    assert disc_overlap_area(0.0, r) == pytest.approx(math.pi * r * r, rel=1e-14)
    assert disc_overlap_area(2 * r, r) == 0.0
    assert disc_overlap_area(3 * r, r) == 0.0
    d = np.array([0.0, 0.5, 1.0, 1.39, 1.4, 2.0])
    a = disc_overlap_area(d, r)
    assert a.shape == d.shape and np.all(np.diff(a[:4]) < 0) and np.all(a[4:] == 0.0)
    with pytest.raises(ValueError):
        disc_overlap_area(-0.1, r)
    with pytest.raises(ValueError):
        disc_overlap_area(0.1, 0.0)


@pytest.mark.parametrize("d_over_r", [0.3, 1.0, 1.7])
def test_disc_overlap_area_vs_monte_carlo(d_over_r):
    rng = np.random.default_rng(0)
    r, m = 1.3, 200_000
    x = _uniform_disc(rng, np.zeros(2), r, m)
    frac = np.mean(np.sum((x - np.array([d_over_r * r, 0.0])) ** 2, axis=1) <= r * r)
    exact = disc_overlap_area(d_over_r * r, r) / (math.pi * r * r)
    assert _within_3_sigma(frac, exact, m)


def test_segment_fraction_endpoints_and_monte_carlo():
    r = 0.9
    assert circular_segment_fraction(0.0, r) == pytest.approx(0.5, abs=1e-15)
    assert circular_segment_fraction(r, r) == 0.0
    assert circular_segment_fraction(2 * r, r) == 0.0
    rng = np.random.default_rng(1)
    m = 200_000
    x = _uniform_disc(rng, np.zeros(2), r, m)
    for d in (0.1, 0.45, 0.8):
        assert _within_3_sigma(np.mean(x[:, 0] > d), circular_segment_fraction(d, r), m)


# -------------------------------------------------------------------------------------------- matrix M


def _two_disc_exact(d: float, r: float, p1: float, p2: float) -> np.ndarray:
    a = disc_overlap_area(d, r) / (math.pi * r * r)
    m12 = math.sqrt(p1 * p2) / (p1 + p2) * a
    return np.array([[1 - a + p1 / (p1 + p2) * a, m12], [m12, 1 - a + p2 / (p1 + p2) * a]])


def test_one_disc_is_identity():
    m = augmentation_matrix(np.array([[0.3, -0.2]]), 0.5)
    np.testing.assert_allclose(m, [[1.0]], rtol=1e-12)


@pytest.mark.parametrize(("d_over_r", "weights"), [(0.4, None), (1.1, None), (0.9, np.array([10.0, 1.0]))])
def test_two_discs_match_closed_form(d_over_r, weights):
    r = 0.5
    pts = np.array([[0.0137, -0.0311], [0.0137 + d_over_r * r * 0.6, -0.0311 + d_over_r * r * 0.8]])
    p = np.array([0.5, 0.5]) if weights is None else weights / weights.sum()
    exact = _two_disc_exact(d_over_r * r, r, *p)
    m = augmentation_matrix(pts, r, weights=weights, h=r / 64)
    np.testing.assert_allclose(m, exact, atol=0.07 / 64)  # the documented |ΔM| ≲ 0.07 h/r


def test_two_discs_quadrature_converges():
    # Lattice-point errors are not monotone per halving, so compare mean errors over random placements.
    r = 0.5
    rng = np.random.default_rng(3)
    placements = []
    for _ in range(12):
        d = rng.uniform(0.1, 1.9) * r
        c0, th = rng.random(2), rng.uniform(0, 2 * np.pi)
        placements.append((d, np.array([c0, c0 + d * np.array([np.cos(th), np.sin(th)])])))
    mean_err = []
    for cells in (4, 16, 64):
        errs = [
            np.abs(augmentation_matrix(pts, r, h=r / cells) - _two_disc_exact(d, r, 0.5, 0.5)).max()
            for d, pts in placements
        ]
        mean_err.append(np.mean(errs))
    assert mean_err[1] < mean_err[0] / 2.5 and mean_err[2] < mean_err[1] / 2.5
    assert mean_err[2] < 5e-4


def test_disjoint_discs_give_diagonal_identity():
    pts = np.array([[0.0, 0.0], [1.01, 0.0], [5.0, 5.0]])  # d > 2r for every pair
    m = augmentation_matrix(pts, 0.5, weights=np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(m, np.eye(3), atol=1e-13)


@pytest.fixture
def random_case():
    rng = np.random.default_rng(7)
    pts = rng.normal(size=(40, 2))
    w = rng.uniform(0.5, 10.0, size=40)
    return pts, w


def test_symmetry_row_sum_identity_and_spectrum(random_case):
    pts, w = random_case
    m = augmentation_matrix(pts, 0.4, weights=w, h=0.4 / 16)
    p = w / w.sum()
    np.testing.assert_allclose(m, m.T, atol=1e-15)
    # Σ_j √(p_j / p_i) M_ij = 1, i.e. M √p = √p
    np.testing.assert_allclose((m * np.sqrt(p)[None, :]).sum(axis=1) / np.sqrt(p), 1.0, rtol=1e-12)
    gam = np.linalg.eigvalsh(m)
    assert gam.min() >= -1e-12 and gam.max() == pytest.approx(1.0, abs=1e-12)
    assert np.all(m >= 0)


def test_reduction_matches_brute_force_augmented_graph():
    """Nonzero spectrum of M = spectrum of D^{-1/2} W D^{-1/2} on the augmented grid points (dense)."""
    r, h = 0.5, 0.5 / 8
    pts = np.array([[0.01, 0.02], [0.6, 0.1], [0.3, 0.55], [1.7, 0.0]])
    p = np.array([0.4, 0.1, 0.3, 0.2])
    # Augmented points: lattice cell centres ((a + 1/2) h, (b + 1/2) h) covering the bounding box.
    lo = np.floor((pts.min(axis=0) - r) / h) - 1
    hi = np.ceil((pts.max(axis=0) + r) / h) + 1
    ax = (np.arange(lo[0], hi[0]) + 0.5) * h
    ay = (np.arange(lo[1], hi[1]) + 0.5) * h
    gx, gy = np.meshgrid(ax, ay, indexing="ij")
    x = np.stack([gx.ravel(), gy.ravel()], axis=1)
    member = np.stack([np.sum((x - c) ** 2, axis=1) <= r * r for c in pts], axis=1).astype(float)  # (m, n)
    x, member = x[member.any(axis=1)], member[member.any(axis=1)]
    dens = member / member.sum(axis=0, keepdims=True)  # A(x | x̄_i), a probability on the grid
    w_pair = (dens * p) @ dens.T  # w(x, x') = Σ_i p_i A(x|i) A(x'|i)
    deg = w_pair.sum(axis=1)
    abar = w_pair / np.sqrt(np.outer(deg, deg))
    top = np.sort(np.linalg.eigvalsh(abar))[::-1]
    gam = np.sort(np.linalg.eigvalsh(augmentation_matrix(pts, r, weights=p, h=h)))[::-1]
    np.testing.assert_allclose(top[:4], gam, atol=1e-10)
    np.testing.assert_allclose(top[4:], 0.0, atol=1e-10)


def test_bad_arguments_raise():
    with pytest.raises(ValueError):
        augmentation_matrix(np.zeros((3, 3)), 0.5)
    with pytest.raises(ValueError):
        augmentation_matrix(np.zeros((2, 2)), 0.5, h=0.6)
    with pytest.raises(ValueError):
        augmentation_matrix(np.zeros((2, 2)), 0.5, weights=np.array([1.0, 0.0]))
    with pytest.raises(ValueError):
        labeling_error(np.zeros((2, 2)), np.array([0, 1]), 0.5, form="other")
    with pytest.raises(ValueError):
        labeling_error(np.zeros((2, 2)), np.array([0, 2]), 0.5)
    with pytest.raises(ValueError):
        synthetic_terms(5, 0.5, k=5)


# ------------------------------------------------------------------------------------------ labeling α


def test_labeling_error_vs_monte_carlo():
    rng = np.random.default_rng(11)
    pts = np.array([[0.2, 0.3], [-0.35, -1.0], [0.05, 0.0], [-0.6, 0.4], [1.5, 0.0]])
    labels = np.array([1, 1, 0, 0, 1])  # the 2nd and 3rd lie on the wrong side of x₁ = 0
    p = np.array([0.1, 0.3, 0.2, 0.25, 0.15])
    r, m = 0.5, 100_000
    idx = rng.choice(5, size=m, p=p)
    views = _uniform_disc(rng, pts[idx], r, m)
    views2 = _uniform_disc(rng, pts[idx], r, m)
    per_view = np.mean((views[:, 0] > 0).astype(int) != labels[idx])
    pairwise = np.mean((views[:, 0] > 0) != (views2[:, 0] > 0))
    exact_view = labeling_error(pts, labels, r, weights=p, form="per_view")
    exact_pair = labeling_error(pts, labels, r, weights=p, form="pairwise")
    assert 0.2 < exact_view < 0.8 and 0.05 < exact_pair < 0.5  # a non-trivial case
    assert _within_3_sigma(per_view, exact_view, m)
    assert _within_3_sigma(pairwise, exact_pair, m)
    assert exact_pair <= 2 * exact_view


def test_labeling_error_zero_far_from_boundary_and_increasing_in_r():
    pts = np.array([[-1.0, 0.2], [1.2, -0.3], [0.8, 0.0]])
    labels = np.array([0, 1, 1])
    for form in ("per_view", "pairwise"):
        assert labeling_error(pts, labels, 0.79, form=form) == 0.0
    rs = [0.5, 0.85, 1.0, 1.5, 2.5, 5.0]
    alphas = [labeling_error(pts, labels, r) for r in rs]
    assert alphas[0] == 0.0 and np.all(np.diff(alphas[1:]) > 0)
    assert alphas[-1] < 0.5


# ------------------------------------------------------------------------------------ the whole setting


def test_disconnected_sample_gives_exact_zero_and_infinite_bound():
    t = synthetic_terms(30, 0.02, k=2, seed=0)  # tiny discs: (almost) every point is its own component
    assert t.n_components > 3
    assert t.lam == 0.0 and np.all(t.eigenvalues == 0.0)
    assert math.isinf(t.bound.total) and math.isinf(t.bound_phi)


def test_zero_multiplicity_equals_number_of_clusters():
    # 3 clusters of overlapping discs, far apart: λ has exactly 3 zeros, then a positive value.
    rng = np.random.default_rng(5)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    pts = np.concatenate([c + 0.1 * rng.normal(size=(6, 2)) for c in centres])
    m = augmentation_matrix(pts, 0.5, h=0.5 / 16)
    spec = laplacian_spectrum(m / len(pts), 5, solver="dense")  # uniform p: W = M / n
    assert spec.n_components == 3
    assert np.count_nonzero(spec.eigenvalues == 0.0) == 3 and spec.eigenvalues[3] > 1e-3


def test_synthetic_terms_consistency():
    t = synthetic_terms(60, 0.6, k=2, seed=1, grid_h=0.6 / 16)
    assert t.eigenvalues.shape == (3,) and t.lam == t.eigenvalues[2]
    assert 0.0 <= t.lam <= 1.0 and 0.0 <= t.alpha <= 1.0
    if t.n_components <= 2:
        assert t.lam > 0 and t.bound.total == pytest.approx(4 * t.alpha / t.lam + 8 * t.alpha)
    # deterministic in the seed; weights change nothing when uniform
    t2 = synthetic_terms(60, 0.6, k=2, seed=1, grid_h=0.6 / 16, weights=np.ones(60))
    assert t2.lam == pytest.approx(t.lam, abs=1e-12) and t2.alpha == t.alpha


def test_bound_grid_rows():
    rows = bound_grid([20, 30], [0.3, 0.6], k=2, seeds=[0, 1], grid_h=0.05)
    assert len(rows) == 8
    assert [(row["n"], row["r"], row["seed"]) for row in rows][:3] == [
        (20, 0.3, 0),
        (20, 0.3, 1),
        (20, 0.6, 0),
    ]
    assert set(rows[0]) >= {"n", "r", "seed", "alpha", "lam", "bound"}

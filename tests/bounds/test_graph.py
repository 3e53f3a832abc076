"""Tests for bounds.graph: hand cases, truncation against the untruncated graph, mixtures with known answers."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import bounds.graph as graph_module
from bounds.graph import AugmentationGraph, GraphTerms, build_graph, graph_terms, reference_bandwidth
from bounds.labeling import graph_labeling_error
from bounds.spectrum import smallest_eigenvalues


def _dense_reference(f: np.ndarray, h: float, p: np.ndarray) -> np.ndarray:
    """Untruncated W_ij = p_i p_j k_ij by explicit loops (i = j over distinct views)."""
    n, m, _ = f.shape
    w = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            vals = [
                np.exp(-np.sum((f[i, a] - f[j, b]) ** 2) / (2 * h * h))
                for a in range(m)
                for b in range(m)
                if i != j or a != b
            ]
            w[i, j] = p[i] * p[j] * np.mean(vals)
    return w


def _mixture(
    n: int, *, sep: float, sig_aug: float, rng: np.random.Generator, m: int = 4, d: int = 2, sd: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Two Gaussian clusters (means ±sep/2 on axis 0, std sd); views = source + N(0, sig_aug²)."""
    y = rng.integers(0, 2, n)
    x = sd * rng.standard_normal((n, d))
    x[:, 0] += np.where(y == 1, sep / 2, -sep / 2)
    return x[:, None, :] + sig_aug * rng.standard_normal((n, m, d)), y


def test_exact_two_sources_two_views() -> None:
    f = np.array([[[0.0], [1.0]], [[3.0], [3.5]]])
    g = build_graph(f, bandwidth=1.0, weights=np.array([3.0, 1.0]))
    e = lambda s: np.exp(-s / 2.0)  # kernel of a squared distance, h = 1
    k00 = e(1.0)  # pairs (0,1),(1,0) of distinct views: both at distance 1
    k11 = e(0.25)
    k01 = (e(9.0) + e(12.25) + e(4.0) + e(6.25)) / 4
    p = np.array([0.75, 0.25])
    expected = np.outer(p, p) * np.array([[k00, k01], [k01, k11]])
    np.testing.assert_allclose(g.adjacency.toarray(), expected, rtol=1e-13, atol=0)
    np.testing.assert_allclose(g.source_weights, p)
    assert g.n_sources == 2 and g.n_views == 2 and g.bandwidth == 1.0
    assert g.cutoff == pytest.approx(np.sqrt(2 * np.log(1e8)))
    assert g.max_dropped_fraction == 0.0  # nothing dropped: the only pair is within the cutoff


def test_reference_bandwidth_hand_case() -> None:
    # source 0 view distances: |0-1|=1, |0-3|=3, |1-3|=2; source 1: 0, 10, 10 → median of {0,1,2,3,10,10} = 2.5
    f = np.array([[[0.0], [1.0], [3.0]], [[0.0], [0.0], [10.0]]])
    assert reference_bandwidth(f) == pytest.approx(2.5)
    assert reference_bandwidth(f, scale=2.0) == pytest.approx(5.0)
    with pytest.raises(ValueError):
        reference_bandwidth(f, scale=0.0)
    with pytest.raises(ValueError):
        reference_bandwidth(np.zeros((3, 2, 1)))


@pytest.mark.parametrize("method", ["tree", "dense"])
def test_truncation_bound_against_untruncated(method: str) -> None:
    rng = np.random.default_rng(1)
    f = rng.uniform(0, 3, size=(50, 3, 2))
    p = rng.uniform(0.5, 2.0, size=50)
    h, eps = 0.15, 1e-3
    g = build_graph(f, bandwidth=h, weights=p, eps=eps, method=method)
    w = g.adjacency.toarray()
    ref = _dense_reference(f, h, p / p.sum())
    assert np.all(w >= 0)
    assert np.array_equal(w, w.T)
    # stored entries are exact; dropped ones are < ε p_i p_j
    pp = np.outer(g.source_weights, g.source_weights)
    stored = w > 0
    np.testing.assert_allclose(w[stored], ref[stored], rtol=1e-12)
    assert np.all(ref[~stored] < eps * pp[~stored])
    dropped = ref.sum(axis=1) - w.sum(axis=1)
    actual = dropped / w.sum(axis=1)
    assert actual.max() > 0  # the test exercises truncation
    assert g.max_dropped_fraction >= actual.max()
    assert np.abs(w - ref).max() <= eps * pp.max()


@pytest.mark.parametrize(("method", "dense_fraction"), [("tree", None), ("dense", 0.0), ("dense", 1.0)])
def test_selected_pairs_are_exactly_those_with_a_view_pair_within_the_cutoff(
    method: str, dense_fraction: float | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Wide view clouds (r_i large) next to tight ones: the dense method's centroid pruning must keep every
    # pair whose closest views are within the cutoff, and nothing else — on both of its evaluation paths
    # (block matrix product: fraction 0; per-pair kernels: fraction 1).
    if dense_fraction is not None:
        monkeypatch.setattr(graph_module, "_DENSE_FRACTION", dense_fraction)
    rng = np.random.default_rng(5)
    f = rng.uniform(0, 4, size=(120, 1, 3)) + rng.uniform(0.0, 0.6, size=(120, 1, 1)) * rng.standard_normal(
        (120, 4, 3))
    g = build_graph(f, bandwidth=0.1, eps=1e-4, method=method)
    views = f.reshape(-1, 3)
    dist = np.linalg.norm(views[:, None] - views[None], axis=-1).reshape(120, 4, 120, 4).min(axis=(1, 3))
    expected = (dist <= g.cutoff) & ~np.eye(120, dtype=bool)
    stored = g.adjacency.toarray() > 0
    np.fill_diagonal(stored, False)
    assert 0 < expected.sum() < 120 * 119 / 2  # a sparse selection: pruning is exercised
    np.testing.assert_array_equal(stored, expected)
    ref = _dense_reference(f, 0.1, np.full(120, 1 / 120))
    np.testing.assert_allclose(g.adjacency.toarray()[stored], ref[stored], rtol=1e-10)


def test_tree_and_dense_agree() -> None:
    rng = np.random.default_rng(2)
    f, _ = _mixture(200, sep=3.0, sig_aug=0.3, rng=rng)
    gt = build_graph(f, bandwidth=0.3, method="tree")
    gd = build_graph(f, bandwidth=0.3, method="dense")
    assert gt.adjacency.nnz == gd.adjacency.nnz
    assert abs(gt.adjacency - gd.adjacency).max() <= 1e-14 * gt.adjacency.max()
    assert gt.max_dropped_fraction == pytest.approx(gd.max_dropped_fraction, rel=1e-9)


def test_separated_clusters_components_and_zero_alpha() -> None:
    rng = np.random.default_rng(3)
    centers = np.array([[0.0, 0.0], [100.0, 0.0], [0.0, 100.0]])
    y = np.repeat(np.arange(3), 30)
    x = centers[y] + 0.3 * rng.standard_normal((90, 2))
    f = x[:, None, :] + 0.2 * rng.standard_normal((90, 4, 2))
    g = build_graph(f, bandwidth=0.5)
    for k in (1, 2):
        t = graph_terms(g, k=k, labels=y)
        assert t.lam == 0.0
        assert t.n_components == 3
        assert t.alpha_pairwise == 0.0
        # the components short-cut agrees with the eigensolver
        np.testing.assert_array_equal(t.eigenvalues, smallest_eigenvalues(g.adjacency, k + 1))
    t3 = graph_terms(g, k=3, labels=y)
    assert np.all(t3.eigenvalues[:3] == 0.0) and t3.lam > 0.05
    assert 0 < t3.self_transition_mass < 1
    assert graph_terms(g, k=3).alpha_pairwise is None


def test_overlapping_clusters_alpha_grows_as_clusters_approach() -> None:
    alphas = []
    for sep in (4.0, 2.0, 1.0):
        f, y = _mixture(400, sep=sep, sig_aug=0.3, rng=np.random.default_rng(4))
        alphas.append(graph_terms(build_graph(f, bandwidth=0.3), k=2, labels=y).alpha_pairwise)
    assert alphas[0] > 0
    assert alphas[0] < alphas[1] < alphas[2]


def _terms_over_seeds(n: int, seeds: range, *, sig_aug: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    lam, alpha = [], []
    for s in seeds:
        f, y = _mixture(n, sep=3.0, sig_aug=sig_aug, rng=np.random.default_rng(1000 * n + s))
        t = graph_terms(build_graph(f, bandwidth=0.3), k=2, labels=y)
        lam.append(t.lam)
        alpha.append(t.alpha_pairwise)
    return np.array(lam), np.array(alpha)


def _se(x: np.ndarray) -> float:
    return float(x.std(ddof=1) / np.sqrt(x.size))


def test_property_i_more_samples_do_not_lower_lambda() -> None:
    lam_n, _ = _terms_over_seeds(200, range(6))
    lam_4n, _ = _terms_over_seeds(800, range(6))
    se = np.hypot(_se(lam_n), _se(lam_4n))
    assert lam_4n.mean() >= lam_n.mean() - 3 * se


def test_property_ii_stronger_augmentation_raises_lambda_and_alpha() -> None:
    rng = np.random.default_rng(5)
    n, m, d = 600, 4, 2
    y = rng.integers(0, 2, n)
    x = rng.standard_normal((n, d))
    x[:, 0] += np.where(y == 1, 1.5, -1.5)
    z = rng.standard_normal((n, m, d))  # common random numbers across strengths
    terms = [
        graph_terms(build_graph(x[:, None, :] + s * z, bandwidth=0.3), k=2, labels=y) for s in (0.1, 0.4, 1.0)
    ]
    lams = [t.lam for t in terms]
    alphas = [t.alpha_pairwise for t in terms]
    assert lams[0] < lams[1] < lams[2]
    assert alphas[0] < alphas[1] < alphas[2]


def _alpha_over_seeds(n: int, seeds: range) -> np.ndarray:
    # α only (the same value graph_terms reports), skipping the eigensolver to keep the test fast
    alpha = []
    for s in seeds:
        f, y = _mixture(n, sep=3.0, sig_aug=0.3, rng=np.random.default_rng(1000 * n + s))
        alpha.append(graph_labeling_error(build_graph(f, bandwidth=0.3).adjacency, y, self_loops=False))
    return np.array(alpha)


def test_property_iii_alpha_unchanged_by_more_samples() -> None:
    a_n = _alpha_over_seeds(400, range(6))
    a_4n = _alpha_over_seeds(1600, range(6))
    se = np.hypot(_se(a_n), _se(a_4n))
    assert abs(a_4n.mean() - a_n.mean()) <= 3 * se


def test_alpha_excludes_the_finite_sample_self_overlap() -> None:
    # Few sources, narrow kernel: self-loops carry a large share of the mass, and that share falls with n.
    # α from graph_terms must not move with n (it is the distinct-source fraction); the self-loop-inclusive
    # cross-label mass does, so this test fails if the diagonal leaks into α.
    rows = {}
    for n in (60, 960):
        vals = []
        for s in range(8):
            f, y = _mixture(n, sep=2.0, sig_aug=0.1, rng=np.random.default_rng(77 * n + s))
            g = build_graph(f, bandwidth=0.1)
            t = graph_terms(g, k=2, labels=y)
            with_self = graph_labeling_error(g.adjacency, y)
            assert t.alpha_pairwise == pytest.approx(with_self / (1 - t.self_transition_mass), rel=1e-9)
            vals.append((t.alpha_pairwise, with_self, t.self_transition_mass))
        rows[n] = np.array(vals)
    assert rows[60][:, 2].mean() > 2 * rows[960][:, 2].mean()  # the regime: self share falls with n
    se = np.hypot(_se(rows[60][:, 0]), _se(rows[960][:, 0]))
    assert abs(rows[60][:, 0].mean() - rows[960][:, 0].mean()) <= 3 * se
    assert rows[960][:, 1].mean() - rows[60][:, 1].mean() > 3 * np.hypot(_se(rows[60][:, 1]), _se(rows[960][:, 1]))


def test_weights_enter_as_product_and_inflation_is_concatenation() -> None:
    rng = np.random.default_rng(6)
    f_real = rng.standard_normal((20, 3, 2))
    f_gen = rng.standard_normal((30, 3, 2))
    f = np.concatenate([f_real, f_gen])
    weights = np.r_[np.full(20, 5.0), np.ones(30)]
    g_w = build_graph(f, bandwidth=0.7, weights=weights)
    g_u = build_graph(f, bandwidth=0.7)
    p = weights / weights.sum()
    kernel = g_u.adjacency.toarray() * 50**2  # uniform p = 1/n
    np.testing.assert_allclose(g_w.adjacency.toarray(), np.outer(p, p) * kernel, rtol=1e-12, atol=0)
    np.testing.assert_allclose(g_w.source_weights, p)
    # scaling all weights changes nothing
    g_s = build_graph(f, bandwidth=0.7, weights=7 * weights)
    np.testing.assert_allclose(g_s.adjacency.toarray(), g_w.adjacency.toarray(), rtol=1e-14)


def test_results_are_frozen_and_validated() -> None:
    f = np.random.default_rng(7).standard_normal((10, 2, 3))
    g = build_graph(f, bandwidth=1.0)
    assert isinstance(g, AugmentationGraph)
    t = graph_terms(g, k=1)
    assert isinstance(t, GraphTerms)
    with pytest.raises(dataclasses.FrozenInstanceError):
        g.bandwidth = 2.0  # type: ignore[misc]
    with pytest.raises(ValueError):
        build_graph(f[:, :1], bandwidth=1.0)  # m < 2
    with pytest.raises(ValueError):
        build_graph(f, bandwidth=0.0)
    with pytest.raises(ValueError):
        build_graph(f, bandwidth=1.0, eps=1.0)
    with pytest.raises(ValueError):
        build_graph(f, bandwidth=1.0, weights=-np.ones(10))
    with pytest.raises(ValueError):
        build_graph(f, bandwidth=1.0, method="knn")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        graph_terms(g, k=10)

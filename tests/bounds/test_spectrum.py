"""Tests for bounds.spectrum: closed forms, dense references, networkx, fragmented graphs, invariants."""

from __future__ import annotations

import time

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse

from bounds.spectrum import (
    Spectrum,
    connected_components,
    laplacian_spectrum,
    normalized_adjacency,
    normalized_laplacian,
    smallest_eigenvalues,
    spectral_gap,
)

SOLVERS = ["auto", "dense", "eigsh", "lobpcg"]


def _dense_reference(a: np.ndarray, m: int | None = None) -> np.ndarray:
    """Eigenvalues of L = D^{-1/2}(D - A)D^{-1/2} (all, or the m smallest), independently of the module."""
    d = a.sum(axis=1)
    s = np.where(d > 0, 1.0 / np.sqrt(np.where(d > 0, d, 1.0)), 0.0)
    lap = s[:, None] * (np.diag(d) - a) * s[None, :]
    if m is None:
        return np.linalg.eigvalsh(lap)
    return scipy.linalg.eigh(lap, eigvals_only=True, subset_by_index=(0, m - 1), driver="evr")


def _random_graph(rng: np.random.Generator, n: int, p: float) -> np.ndarray:
    w = rng.random((n, n)) * (rng.random((n, n)) < p)
    a = np.triu(w, 1)
    a = a + a.T
    ring = np.arange(n)  # a weighted ring keeps it connected
    a[ring, (ring + 1) % n] = a[(ring + 1) % n, ring] = 0.5
    return a


def _cycle(n: int) -> scipy.sparse.csr_array:
    i = np.arange(n)
    return scipy.sparse.csr_array(
        (np.ones(2 * n), (np.r_[i, i], np.r_[(i + 1) % n, (i - 1) % n])), shape=(n, n)
    )


def _path(n: int) -> scipy.sparse.csr_array:
    i = np.arange(n - 1)
    return scipy.sparse.csr_array((np.ones(2 * n - 2), (np.r_[i, i + 1], np.r_[i + 1, i])), shape=(n, n))


# --- closed forms -----------------------------------------------------------------------------------


def test_two_disconnected_cliques_with_self_loops_have_exactly_two_zeros_then_ones():
    a = scipy.linalg.block_diag(np.ones((5, 5)), np.ones((7, 7)))  # self-loops included
    spec = laplacian_spectrum(a, 6)
    # L = I - J/n per clique -> spectrum {0, 1, ..., 1} per component
    assert spec.eigenvalues[:2].tolist() == [0.0, 0.0]  # exact zeros
    np.testing.assert_allclose(spec.eigenvalues[2:], 1.0, atol=1e-12)
    assert spec.n_components == 2 and spec.n_zero == 2


def test_complete_graph_without_self_loops():
    n = 9
    a = np.ones((n, n)) - np.eye(n)
    lam = smallest_eigenvalues(a, n)
    assert lam[0] == 0.0
    np.testing.assert_allclose(lam[1:], n / (n - 1), atol=1e-12)


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("n", [7, 200])
def test_cycle_closed_form(n, solver):
    m = min(n, 11)
    expected = np.sort(1.0 - np.cos(2 * np.pi * np.arange(n) / n))[:m]
    np.testing.assert_allclose(smallest_eigenvalues(_cycle(n), m, solver=solver), expected, atol=1e-9)


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("n", [5, 150])
def test_path_closed_form(n, solver):
    m = min(n, 11)
    expected = 1.0 - np.cos(np.pi * np.arange(m) / (n - 1))
    np.testing.assert_allclose(smallest_eigenvalues(_path(n), m, solver=solver), expected, atol=1e-9)


def test_star_closed_form():
    # Star K_{1,s}: bipartite, L has eigenvalues 0, 1 (multiplicity s - 1), 2.
    s = 8
    a = np.zeros((s + 1, s + 1))
    a[0, 1:] = a[1:, 0] = 1.0
    lam = smallest_eigenvalues(a, s + 1)
    np.testing.assert_allclose(lam, [0.0] + [1.0] * (s - 1) + [2.0], atol=1e-12)
    assert lam.max() <= 2.0


def test_isolated_nodes_are_components_with_eigenvalue_zero():
    # Chung's / networkx's convention: L_ii = 0 at a degree-0 node, so every component, isolated nodes
    # included, contributes exactly one 0.
    a = np.zeros((6, 6))
    a[0, 1] = a[1, 0] = 1.0  # an edge: eigenvalues 0, 2
    a[2, 2] = 1.0  # a node with only a self-loop: eigenvalue 0 (it is not isolated)
    a[3, 4] = a[4, 3] = 2.0  # another edge: 0, 2
    # node 5 isolated
    spec = laplacian_spectrum(a, 6)
    assert spec.n_components == 4 and spec.n_isolated == 1
    assert spec.eigenvalues[:4].tolist() == [0.0, 0.0, 0.0, 0.0]  # exact
    np.testing.assert_allclose(spec.eigenvalues[4:], 2.0, atol=1e-12)
    np.testing.assert_allclose(spec.eigenvalues, _dense_reference(a), atol=1e-12)
    lap = normalized_laplacian(a)
    assert lap[5, 5] == 0.0 and lap[2, 2] == 0.0 and lap[0, 0] == 1.0


def test_block_model_closed_form():
    """Block similarity model of paper-notes §2.1 ([GROUP], Thm 3.3): r+1 classes of n nodes,
    A = (1-a) I + (a-b) I_{r+1} ⊗ J_n + b J (self-similarity 1, same class a, cross class b).

    Every row sums to d = (1-a) + n a + n r b, so Ā = A/d and the eigenvectors of A are those of the
    Kronecker terms:
      * the all-ones vector:                    A-eigenvalue d                  -> λ = 0            (×1)
      * class-constant vectors summing to 0:    (1-a) + n(a-b)                  -> λ = (r+1) n b / d (×r)
      * vectors summing to 0 inside each class: (1-a)                           -> λ = 1 - (1-a)/d  (×(r+1)(n-1))
    With b < a the middle value is the smaller, so the stated λ_{k+1} = 1 - (1-a)/((1-a) + n a + n r b)
    is λ_{r+2} (= λ_{k+1} for every k ≥ r+1, e.g. the paper's k ≥ 2r regime), NOT λ_{k+1} for k ≤ r, where
    λ_{k+1} = (r+1) n b / d. The formula is right for k ≥ r+1 and wrong (too large) for k ≤ r.
    """
    n, r, a_s, b_s = 6, 3, 0.5, 0.05
    c = r + 1
    big_n = n * c
    adj = (
        (1 - a_s) * np.eye(big_n)
        + (a_s - b_s) * np.kron(np.eye(c), np.ones((n, n)))
        + b_s * np.ones((big_n, big_n))
    )
    d = (1 - a_s) + n * a_s + n * r * b_s
    stated = 1 - (1 - a_s) / ((1 - a_s) + n * a_s + n * r * b_s)
    cross = c * n * b_s / d
    expected = np.array([0.0] + [cross] * r + [stated] * (c * (n - 1)))

    dense = np.linalg.eigvalsh(np.eye(big_n) - adj / d)  # dense eigh of the block matrix itself
    np.testing.assert_allclose(dense, expected, atol=1e-12)
    lam = smallest_eigenvalues(adj, big_n)
    np.testing.assert_allclose(lam, expected, atol=1e-12)
    assert cross < stated
    for k in range(1, r + 1):
        assert spectral_gap(adj, k) == pytest.approx(cross, abs=1e-12)
    assert spectral_gap(adj, r + 1) == pytest.approx(stated, abs=1e-12)  # λ_{r+2}: the stated formula


# --- references ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("seed", [0, 1])
def test_random_graphs_match_dense_eigh(solver, seed):
    rng = np.random.default_rng(seed)
    a = _random_graph(rng, 300, 0.03)
    ref = _dense_reference(a)[:11]
    for adj in (a, scipy.sparse.csr_array(a)):
        spec = laplacian_spectrum(adj, 11, solver=solver, rng=np.random.default_rng(seed))
        np.testing.assert_allclose(spec.eigenvalues, ref, atol=1e-8)
        assert spec.solver == ("dense" if solver == "auto" else solver)


def _knn_like(rng: np.random.Generator, n: int, n_clusters: int, cross: float) -> scipy.sparse.csr_array:
    """Sparse kNN-like graph: a ring lattice of 6 neighbours inside each cluster plus random edges."""
    cluster = np.sort(rng.integers(0, n_clusters, n))
    rows, cols = [], []
    for c in range(n_clusters):
        idx = np.flatnonzero(cluster == c)
        for shift in (1, 2, 3):
            rows.append(idx)
            cols.append(np.roll(idx, shift))
        rows.append(idx)
        cols.append(rng.choice(idx, idx.size))
    src = rng.integers(0, n, int(cross * n))
    rows.append(src)
    cols.append(rng.integers(0, n, src.size))
    r, c = np.concatenate(rows), np.concatenate(cols)
    keep = r != c
    w = scipy.sparse.csr_array((rng.random(keep.sum()) + 0.5, (r[keep], c[keep])), shape=(n, n))
    return scipy.sparse.csr_array(w + w.T)


@pytest.fixture(scope="module")
def knn_5000() -> tuple[scipy.sparse.csr_array, np.ndarray]:
    rng = np.random.default_rng(3)
    a = _knn_like(rng, 5000, 5, 0.002)
    return a, _dense_reference(a.toarray(), 11)


@pytest.mark.parametrize("solver", ["auto", "eigsh", "lobpcg"])
def test_large_sparse_knn_like_graph_matches_dense(solver, knn_5000):
    # 5,000 nodes: above the dense threshold, so "auto" runs ARPACK; dense eigh is the reference.
    # Five nearly disconnected clusters give a near-degenerate band λ_2..λ_5 that must not lose members.
    a, ref = knn_5000
    assert ref[4] < 0.02 < ref[5]  # the planted band is really there
    spec = laplacian_spectrum(a, 11, solver=solver, rng=np.random.default_rng(0))
    assert spec.solver == ("eigsh" if solver == "auto" else solver)
    # ARPACK with tol=1e-10 reaches 1e-8; LOBPCG converges residuals (not eigenvalues) to sqrt(tol) and
    # the eigenvalue error is ~residual²/gap, comfortably below 1e-8 here too.
    np.testing.assert_allclose(spec.eigenvalues, ref, atol=1e-8)


def test_nearly_disconnected_cliques_lose_no_eigenvalue():
    # Eight 300-node clusters joined by a handful of weak edges: λ_2..λ_8 form a tight cluster near 0.
    rng = np.random.default_rng(5)
    blocks = [rng.random((300, 300)) < 0.05 for _ in range(8)]
    a = scipy.linalg.block_diag(*blocks).astype(float)
    a = np.triu(a, 1)
    for i in range(8):  # chain the clusters with one weak edge each
        a[300 * i, (300 * (i + 1)) % 2400] = 1e-3
    a = a + a.T
    ref = _dense_reference(a)[:11]
    assert ref[7] < 1e-3 < ref[8]
    for solver in ("eigsh", "lobpcg"):
        lam = smallest_eigenvalues(scipy.sparse.csr_array(a), 11, solver=solver)
        np.testing.assert_allclose(lam, ref, atol=1e-8, err_msg=solver)


def test_matches_networkx():
    nx = pytest.importorskip("networkx")
    g = nx.connected_watts_strogatz_graph(400, 6, 0.1, seed=1)
    rng = np.random.default_rng(0)
    for u, v in g.edges:
        g[u][v]["weight"] = rng.random() + 0.1
    # algebraic_connectivity drops self-loops before it builds L, so compare λ_2 on the loop-free graph
    adj = nx.to_scipy_sparse_array(g, nodelist=range(400))
    lam2 = nx.algebraic_connectivity(g, normalized=True, tol=1e-12, method="tracemin_lu", seed=0)
    assert spectral_gap(adj, 1) == pytest.approx(lam2, abs=1e-8)
    g.add_edge(7, 7, weight=0.3)  # a self-loop counts once in the degree, in both libraries' matrices
    ref = nx.normalized_laplacian_matrix(g, nodelist=range(400)).toarray()
    adj = nx.to_scipy_sparse_array(g, nodelist=range(400))
    np.testing.assert_allclose(normalized_laplacian(adj).toarray(), ref, atol=1e-12, rtol=0)
    np.testing.assert_allclose(normalized_laplacian(adj.toarray()), ref, atol=1e-12, rtol=0)
    # networkx's isolated-node convention (L_ii = 0) is ours too
    g.add_node(400)
    ref = nx.normalized_laplacian_matrix(g, nodelist=range(401)).toarray()
    adj = nx.to_scipy_sparse_array(g, nodelist=range(401))
    np.testing.assert_allclose(normalized_laplacian(adj).toarray(), ref, atol=1e-12, rtol=0)


# --- disconnected / fragmented -------------------------------------------------------------------------


def test_fragmented_regime_counts_components_fast():
    rng = np.random.default_rng(0)
    sizes = rng.integers(2, 30, 200)
    blocks = [np.ones((s, s)) - np.eye(s) for s in sizes]  # 200 small cliques
    a = scipy.sparse.block_diag(blocks + [scipy.sparse.csr_array((5, 5))], format="csr")  # + 5 isolated
    n_comp, labels = connected_components(a)
    assert n_comp == 205 and labels.shape == (a.shape[0],)
    t0 = time.perf_counter()
    spec = laplacian_spectrum(a, 210)
    elapsed = time.perf_counter() - t0
    assert elapsed < 1.0
    assert spec.n_zero == 205 and spec.n_components == 205 and spec.n_isolated == 5
    # the next eigenvalue: the smallest n/(n-1) over the cliques (largest clique)
    assert spec.eigenvalues[205] == pytest.approx(sizes.max() / (sizes.max() - 1), abs=1e-12)
    with pytest.warns(RuntimeWarning, match="components"):
        assert spectral_gap(a, 204) == 0.0
    assert spectral_gap(a, 205) > 0.0


def test_disconnected_large_components_merge():
    # Two large components (ARPACK each) plus small ones (dense); spectrum = union.
    rng = np.random.default_rng(2)
    big1, big2 = _knn_like(rng, 2100, 1, 0.0), _knn_like(rng, 2050, 2, 0.001)
    small = scipy.sparse.csr_array(np.ones((4, 4)) - np.eye(4))
    a = scipy.sparse.block_diag([big1, small, big2], format="csr")
    spec = laplacian_spectrum(a, 11)
    ref = _dense_reference(a.toarray(), 11)
    assert spec.eigenvalues[:3].tolist() == [0.0, 0.0, 0.0]
    np.testing.assert_allclose(spec.eigenvalues, ref, atol=1e-8)
    assert spec.solver == "dense+eigsh"


# --- invariants and boundaries ---------------------------------------------------------------------


@pytest.mark.parametrize("n", [3, 10, 60])
def test_eigenvalues_lie_in_zero_two(n, rng):
    w = rng.random((n, n))
    lam = smallest_eigenvalues(w + w.T, n)
    assert lam.min() >= 0.0 and lam.max() <= 2.0
    assert np.all(np.diff(lam) >= 0)


def test_sqrt_degree_vector_is_in_the_null_space(rng):
    a = _random_graph(rng, 50, 0.2)
    v = np.sqrt(a.sum(axis=1))
    np.testing.assert_allclose(normalized_laplacian(a) @ v, 0.0, atol=1e-12)
    abar = normalized_adjacency(scipy.sparse.csr_array(a))
    np.testing.assert_allclose(abar @ v, v, atol=1e-12)


@pytest.mark.parametrize("solver", SOLVERS)
def test_scaling_leaves_spectrum_unchanged(solver, rng):
    a = _random_graph(rng, 120, 0.05)
    lam = smallest_eigenvalues(a, 8, solver=solver)
    for c in (1e-6, 3.0, 1e5):
        np.testing.assert_allclose(smallest_eigenvalues(c * a, 8, solver=solver), lam, atol=1e-9)


def test_spectrum_is_a_frozen_record():
    spec = laplacian_spectrum(_cycle(10), 3)
    assert isinstance(spec, Spectrum) and spec.n_nodes == 10
    with pytest.raises(AttributeError):
        spec.n_nodes = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("adjacency", "kwargs", "match"),
    [
        (np.ones((3, 4)), {}, "square"),
        (np.array([[0.0, -1.0], [-1.0, 0.0]]), {}, "non-negative"),
        (np.array([[0.0, 1.0], [2.0, 0.0]]), {}, "symmetric"),
        (np.array([[0.0, np.nan], [np.nan, 0.0]]), {}, "non-finite"),
        (np.ones((3, 3)), {"m": 4}, "m must be"),
        (np.ones((3, 3)), {"m": 0}, "m must be"),
        (np.ones((3, 3)), {"solver": "arpack"}, "arpack"),
        (np.ones((3, 3)), {"tol": 0.0}, "tol"),
    ],
)
def test_invalid_inputs_raise(adjacency, kwargs, match):
    kwargs = {"m": 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        smallest_eigenvalues(adjacency, kwargs.pop("m"), **kwargs)


def test_spectral_gap_rejects_bad_k():
    with pytest.raises(ValueError, match="k must be"):
        spectral_gap(np.ones((3, 3)), 0)
    with pytest.raises(ValueError, match="k must be"):
        spectral_gap(np.ones((3, 3)), 3)


def test_auto_falls_back_when_arpack_does_not_converge(monkeypatch):
    import scipy.sparse.linalg

    from bounds import spectrum as sp_mod

    rng = np.random.default_rng(3)
    w = rng.random((2500, 2500)) < 0.004
    a = scipy.sparse.csr_array(np.triu(w, 1) + np.triu(w, 1).T, dtype=float)

    def stall(*args, **kwargs):
        raise scipy.sparse.linalg.ArpackNoConvergence("no convergence", np.array([]), np.array([]))

    monkeypatch.setattr(sp_mod, "_eigsh_top", stall)
    spec = sp_mod.laplacian_spectrum(a, 5)
    np.testing.assert_allclose(spec.eigenvalues, sp_mod.smallest_eigenvalues(a, 5, solver="dense"), atol=1e-8)
    assert "dense" in spec.solver
    with pytest.raises(scipy.sparse.linalg.ArpackNoConvergence):
        sp_mod.laplacian_spectrum(a, 5, solver="eigsh")

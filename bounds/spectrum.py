"""Spectra of augmentation graphs: the normalized Laplacian and its smallest eigenvalues.

Conventions (HaoChen et al. 2021, §3; AdaInf Theorem 4.1):

- The adjacency A is an (n, n) symmetric array of non-negative edge weights, dense (``np.ndarray``) or
  sparse (any ``scipy.sparse`` array or matrix). Self-loops are allowed and count once in the degree.
- Degrees d = A·1; normalized adjacency Ā = D^{-1/2} A D^{-1/2}; normalized Laplacian L = I − Ā (but see
  isolated nodes below). The
  eigenvalues of Ā are 1 = γ_1 ≥ γ_2 ≥ … ≥ −1 and those of L are λ_i = 1 − γ_i, so 0 = λ_1 ≤ λ_2 ≤ … ≤ 2.
  λ_{k+1} is the (k+1)-th *smallest* eigenvalue of L (1-based), the connectivity term of the bound
  4α/λ_{k+1} + 8α; a small λ_{k+1} means the graph has k+1 weakly connected parts.
- Isolated nodes (degree 0, not even a self-loop) follow Chung's definition (Spectral Graph Theory, 1997,
  §1.2), which is also networkx's ``normalized_laplacian_matrix``: L = D^{-1/2} (D − A) D^{-1/2} with
  D^{-1/2} := 0 where d = 0. So their row and column of Ā are 0 *and* L_ii = 0 there (L ≠ I − Ā only at
  isolated nodes): an isolated node is a component of its own and contributes the eigenvalue 0, like any
  other component. Hence the eigenvalue 0 has multiplicity exactly the number of connected components,
  and λ_{k+1} = 0 exactly when the graph has more than k components. (Defining L_ii = 1 instead would make
  each isolated node a spurious eigenvalue 1 and break that equivalence.)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.linalg
import scipy.sparse
import scipy.sparse.csgraph
import scipy.sparse.linalg

Solver = Literal["auto", "dense", "eigsh", "lobpcg"]
_SOLVERS = ("auto", "dense", "eigsh", "lobpcg")

# Components up to this many nodes are solved with dense LAPACK (``eigh`` with ``subset_by_index``): exact to
# round-off and never stalls, but O(n³) — 0.05 s at 600 nodes, 1.8 s at 2,000 on 2 cores, where ARPACK on a
# sparse matrix takes a fraction of that (and falls back to LAPACK under "auto" if it does not converge).
_DENSE_MAX_NODES = 600
# When ARPACK does not converge under solver="auto", components up to this size are solved densely.
_DENSE_FALLBACK_MAX_NODES = 10_000
# Components up to this size are solved in batches (one ``numpy.linalg.eigvalsh`` call per size), so that
# tens of thousands of tiny components (the fragmented regime) cost a few vectorized calls, not a loop.
_BATCH_MAX_NODES = 32
# A forced iterative solver still uses dense LAPACK on components this small or smaller than a few times
# the number of wanted eigenvalues (ARPACK needs k < n and room for its Krylov basis).
_ITERATIVE_MIN_NODES = 64


@dataclass(frozen=True)
class Spectrum:
    """The smallest eigenvalues of a normalized Laplacian, with the facts needed to read them.

    Attributes:
        eigenvalues: (m,) the m smallest eigenvalues λ_1 ≤ … ≤ λ_m of L, in [0, 2]; the zeros owed to the
            components are exactly 0.0.
        n_nodes: number of nodes n.
        n_components: number of connected components, isolated nodes included.
        n_isolated: number of isolated nodes (degree 0); each is a component and contributes a 0.
        solver: the solvers actually used, joined by ``+`` (e.g. ``"dense+eigsh"``); ``"none"`` when every
            node is isolated.
    """

    eigenvalues: np.ndarray
    n_nodes: int
    n_components: int
    n_isolated: int
    solver: str

    @property
    def n_zero(self) -> int:
        """Multiplicity of the eigenvalue 0 among those computed (= n_components when m ≥ n_components)."""
        return int(np.count_nonzero(self.eigenvalues == 0.0))


def _check_adjacency(adjacency: object) -> scipy.sparse.csr_array | np.ndarray:
    """Validate an adjacency matrix; return it as float64 (CSR if sparse, ndarray if dense)."""
    if scipy.sparse.issparse(adjacency):
        a = scipy.sparse.csr_array(adjacency, dtype=np.float64)
        a.sum_duplicates()
        values = a.data
    else:
        a = np.asarray(adjacency, dtype=np.float64)
        values = a
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"adjacency must be a square 2-D array, got shape {a.shape}")
    if values.size and not np.all(np.isfinite(values)):
        raise ValueError("adjacency has non-finite entries (nan or inf)")
    if values.size and values.min() < 0:
        raise ValueError(f"adjacency must be non-negative, found entry {values.min()!r}")
    scale = float(values.max()) if values.size else 0.0
    asym = abs(a - a.T)
    asym_max = float(asym.max()) if (asym.nnz if scipy.sparse.issparse(asym) else asym.size) else 0.0
    if asym_max > 1e-12 * max(scale, np.finfo(np.float64).tiny):
        raise ValueError(f"adjacency must be symmetric, max |A - A^T| = {asym_max!r}")
    return a


def _degrees(a: scipy.sparse.csr_array | np.ndarray) -> np.ndarray:
    return np.asarray(a.sum(axis=1), dtype=np.float64).ravel()


def _inv_sqrt_degrees(d: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        s = 1.0 / np.sqrt(d)
    s[d == 0] = 0.0  # isolated nodes: row/column of Ā defined as 0
    return s


def normalized_adjacency(adjacency: np.ndarray | scipy.sparse.sparray) -> np.ndarray | scipy.sparse.csr_array:
    """Normalized adjacency Ā = D^{-1/2} A D^{-1/2}.

    Args:
        adjacency: (n, n) symmetric non-negative edge weights, dense or ``scipy.sparse``.

    Returns:
        (n, n) Ā, a ``csr_array`` if the input is sparse, else an ndarray. Rows and columns of isolated
        nodes are 0.

    Raises:
        ValueError: if `adjacency` is not square, symmetric, finite and non-negative.

    References:
        HaoChen et al. 2021, §3 (Ā and its top eigenvectors); AdaInf (Wang et al. 2024), Theorem 4.1.
    """
    a = _check_adjacency(adjacency)
    s = _inv_sqrt_degrees(_degrees(a))
    if scipy.sparse.issparse(a):
        scaled = scipy.sparse.diags_array(s) @ a @ scipy.sparse.diags_array(s)
        return scipy.sparse.csr_array(scaled)
    return s[:, None] * a * s[None, :]


def normalized_laplacian(adjacency: np.ndarray | scipy.sparse.sparray) -> np.ndarray | scipy.sparse.csr_array:
    """Normalized Laplacian L = D^{-1/2} (D − A) D^{-1/2} (= I − Ā except at isolated nodes, where L_ii = 0).

    Args:
        adjacency: (n, n) symmetric non-negative edge weights, dense or ``scipy.sparse``.

    Returns:
        (n, n) L, a ``csr_array`` if the input is sparse, else an ndarray. Isolated nodes have L_ii = 0
        (Chung 1997; networkx), so each contributes the eigenvalue 0 as the component it is.

    Raises:
        ValueError: if `adjacency` is not square, symmetric, finite and non-negative.

    References:
        HaoChen et al. 2021, §3; AdaInf (Wang et al. 2024), Theorem 4.1.
    """
    a = _check_adjacency(adjacency)
    d = _degrees(a)
    s = _inv_sqrt_degrees(d)
    has_edge = (d > 0).astype(np.float64)  # the identity, without the isolated nodes (Chung 1997)
    if scipy.sparse.issparse(a):
        abar = scipy.sparse.diags_array(s) @ a @ scipy.sparse.diags_array(s)
        return scipy.sparse.csr_array(scipy.sparse.diags_array(has_edge) - abar)
    return np.diag(has_edge) - s[:, None] * a * s[None, :]


def connected_components(adjacency: np.ndarray | scipy.sparse.sparray) -> tuple[int, np.ndarray]:
    """Connected components of the (undirected) graph.

    Args:
        adjacency: (n, n) symmetric non-negative edge weights, dense or ``scipy.sparse``. Zero weights are
            no edge; an isolated node is a component of its own.

    Returns:
        ``(n_components, labels)`` with labels an (n,) int array in ``range(n_components)``.

    Raises:
        ValueError: if `adjacency` is not square, symmetric, finite and non-negative.
    """
    a = _check_adjacency(adjacency)
    return _components(scipy.sparse.csr_array(a))


def _components(a: scipy.sparse.csr_array) -> tuple[int, np.ndarray]:
    n_comp, labels = scipy.sparse.csgraph.connected_components(a, directed=False)
    return int(n_comp), labels


def _clip(lam: np.ndarray) -> np.ndarray:
    return np.clip(lam, 0.0, 2.0)


def _dense_smallest(lap: np.ndarray, m: int) -> np.ndarray:
    """m smallest eigenvalues of a dense symmetric Laplacian block (one connected component)."""
    n = lap.shape[0]
    m = min(m, n)
    if m == n or n <= _BATCH_MAX_NODES:
        lam = np.linalg.eigvalsh(lap)[:m]
    else:
        lam = scipy.linalg.eigh(lap, eigvals_only=True, subset_by_index=(0, m - 1), driver="evr")
    return lam


def _deflated_operator(abar: scipy.sparse.csr_array, v: np.ndarray) -> scipy.sparse.linalg.LinearOperator:
    """Ā − 3 v vᵀ: moves the known top eigenpair (1, v) of a connected component to −2 < every other γ."""
    n = abar.shape[0]

    def matvec(x: np.ndarray) -> np.ndarray:
        x = np.ravel(x)
        return abar @ x - (3.0 * (v @ x)) * v

    def matmat(x: np.ndarray) -> np.ndarray:
        return abar @ x - 3.0 * np.outer(v, v @ x)

    return scipy.sparse.linalg.LinearOperator(
        (n, n), matvec=matvec, matmat=matmat, rmatvec=matvec, dtype=np.float64
    )


def _eigsh_top(
    abar: scipy.sparse.csr_array, v: np.ndarray, k: int, tol: float, rng: np.random.Generator
) -> np.ndarray:
    """k largest eigenvalues of Ā restricted to v⊥ (ARPACK implicitly restarted Lanczos)."""
    n = abar.shape[0]
    # A Krylov basis well beyond 2k keeps near-degenerate clusters of γ's (nearly disconnected clusters)
    # from losing members between restarts, at the price of (ncv · n) doubles of memory.
    ncv = min(n - 1, max(2 * k + 1, k + 32))
    v0 = rng.standard_normal(n)
    gamma = scipy.sparse.linalg.eigsh(
        _deflated_operator(abar, v),
        k=k,
        which="LA",
        tol=tol,
        ncv=ncv,
        v0=v0,
        maxiter=max(1000, n),
        return_eigenvectors=False,
    )
    return np.sort(gamma)[::-1]


def _lobpcg_top(
    abar: scipy.sparse.csr_array, v: np.ndarray, k: int, tol: float, rng: np.random.Generator
) -> np.ndarray:
    """k largest eigenvalues of Ā restricted to v⊥ (block LOBPCG with v as a hard constraint)."""
    n = abar.shape[0]
    block = min(n // 3, k + max(5, k))  # extra block vectors guard near-degenerate clusters
    x = rng.standard_normal((n, block))
    # LOBPCG's tol is on residual norms; the eigenvalue error is about residual² / gap, so sqrt(tol)
    # already gives eigenvalues far more accurate than tol when the clusters are separated.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        gamma, _ = scipy.sparse.linalg.lobpcg(
            abar, x, Y=v[:, None], largest=True, tol=min(np.sqrt(tol), 1e-5), maxiter=2000
        )
    return np.sort(gamma)[::-1][:k]


def laplacian_spectrum(
    adjacency: np.ndarray | scipy.sparse.sparray,
    m: int,
    *,
    solver: Solver = "auto",
    tol: float = 1e-10,
    rng: np.random.Generator | None = None,
) -> Spectrum:
    """The m smallest eigenvalues of the normalized Laplacian, with components and solver recorded.

    The spectrum of L is the union of the spectra of its connected components, so components are found
    first (``scipy.sparse.csgraph``), the m smallest eigenvalues of each are computed, and the lists merged.
    Each component contributes one exact 0.0 (its null vector D^{1/2}1 is known; an isolated node is a
    1×1 zero block of L).

    Args:
        adjacency: (n, n) symmetric non-negative edge weights, dense or ``scipy.sparse``.
        m: how many eigenvalues, 1 ≤ m ≤ n.
        solver: ``"auto"`` (dense LAPACK for components of ≤ 2,000 nodes, ARPACK ``eigsh`` above),
            ``"dense"`` (LAPACK for every component), ``"eigsh"`` or ``"lobpcg"`` (that iterative solver for
            every component with more than max(64, 4m) nodes, LAPACK for the smaller ones).
        tol: relative accuracy asked of the iterative solvers (ARPACK's ``tol``; LOBPCG gets its square
            root as residual tolerance). Ignored by LAPACK.
        rng: source of the iterative solvers' random start vectors; ``None`` means a fixed seed (0), so
            results are reproducible.

    Returns:
        ``Spectrum`` whose ``eigenvalues`` are the m smallest λ, ascending, in [0, 2].

    Raises:
        ValueError: if the adjacency is invalid, m is not in [1, n], solver is unknown or tol ≤ 0.

    References:
        HaoChen et al. 2021, §3 (augmentation graph, λ_{k+1}); AdaInf (Wang et al. 2024), Theorem 4.1.

    Notes:
        Large components use the top of Ā instead of the bottom of L: λ = 1 − γ, and the largest γ are
        extreme eigenvalues, which Lanczos finds without any factorization (shift-invert around 0 would
        need a sparse LU of a singular L, far too costly at 10^6 nodes). The known top eigenvector
        v = D^{1/2}1/‖D^{1/2}1‖ is deflated by working with Ā − 3vvᵀ, which sends γ = 1 to −2, below the
        rest of the spectrum in [−1, 1]; ARPACK then looks for m − 1 eigenvalues and λ_1 = 0 is exact.
        Shifting to the PSD operator I + Ā would not help: Krylov spaces are shift-invariant. ARPACK
        (``which="LA"``, Krylov basis ncv = max(2k+1, k+32)) was measured faster than LOBPCG without a
        preconditioner on kNN-like graphs, and with tol = 1e-10 its Ritz values are accurate to about
        1e-10 absolute; exact multiplicities (symmetric graphs such as cycles) are recovered through
        round-off and the large basis, and *disconnected* copies never reach it because components are
        split first. The result λ = 1 − γ is accurate in absolute, not relative, terms (≈1e-10), which
        is what a bound 4α/λ needs unless λ itself is below ~1e-8. Round-off is clipped into [0, 2].
    """
    if solver not in _SOLVERS:
        raise ValueError(f"solver must be one of {_SOLVERS}, got {solver!r}")
    if not (isinstance(tol, (int, float)) and tol > 0):
        raise ValueError(f"tol must be a positive number, got {tol!r}")
    a = _check_adjacency(adjacency)
    n = a.shape[0]
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or not 1 <= m <= n:
        raise ValueError(f"m must be an integer in [1, n={n}], got {m!r}")
    m = int(m)
    rng = np.random.default_rng(0) if rng is None else rng

    a = scipy.sparse.csr_array(a)
    d = _degrees(a)
    s = _inv_sqrt_degrees(d)
    abar = scipy.sparse.csr_array(scipy.sparse.diags_array(s) @ a @ scipy.sparse.diags_array(s))
    n_comp, labels = _components(a)

    sizes = np.bincount(labels, minlength=n_comp)
    isolated = np.zeros(n_comp, dtype=bool)
    isolated[labels[d == 0]] = True  # weights are non-negative, so degree 0 means no edge at all
    n_isolated = int(np.count_nonzero(isolated))
    parts: list[np.ndarray] = [np.zeros(min(m, n_isolated))]
    used: set[str] = set()

    # Nodes sorted by component: component c occupies order[starts[c]:starts[c] + sizes[c]].
    order = np.argsort(labels, kind="stable")
    starts = np.cumsum(sizes) - sizes
    pos = np.empty(n, dtype=np.int64)
    pos[order] = np.arange(n) - np.repeat(starts, sizes)

    iter_min = max(_ITERATIVE_MIN_NODES, 4 * m)
    if solver == "auto":
        is_dense = sizes <= _DENSE_MAX_NODES
    elif solver == "dense":
        is_dense = np.ones(n_comp, dtype=bool)
    else:
        is_dense = sizes <= iter_min
    is_dense &= ~isolated

    # Small components, batched by size: one eigvalsh on a (count, size, size) stack per size.
    coo = abar.tocoo()
    batch = is_dense & (sizes <= _BATCH_MAX_NODES)
    for size in np.unique(sizes[batch]):
        comps = np.flatnonzero(batch & (sizes == size))
        slot = np.full(n_comp, -1, dtype=np.int64)
        slot[comps] = np.arange(comps.size)
        keep = slot[labels[coo.row]] >= 0
        rows, cols, vals = coo.row[keep], coo.col[keep], coo.data[keep]
        stack = np.zeros((comps.size, size, size))
        stack[slot[labels[rows]], pos[rows], pos[cols]] = -vals
        stack[:, np.arange(size), np.arange(size)] += 1.0
        lam = np.linalg.eigvalsh(stack)[:, : min(m, size)]
        lam[:, 0] = 0.0
        parts.append(_clip(lam).ravel())
        used.add("dense")

    # Larger components one at a time.
    abar_sorted = None
    for c in np.flatnonzero(~isolated & ~batch):
        if abar_sorted is None:
            abar_sorted = scipy.sparse.csr_array(abar[order][:, order])
        lo, hi = starts[c], starts[c] + sizes[c]
        block = scipy.sparse.csr_array(abar_sorted[lo:hi, lo:hi])
        if is_dense[c]:
            lam = _dense_smallest(np.eye(hi - lo) - block.toarray(), m)
            used.add("dense")
        else:
            sqrt_d = np.sqrt(d[order[lo:hi]])
            v = sqrt_d / np.linalg.norm(sqrt_d)
            top = _eigsh_top if solver in ("auto", "eigsh") else _lobpcg_top
            try:
                gamma = top(block, v, min(m, hi - lo) - 1, tol, rng)
                used.add("eigsh" if top is _eigsh_top else "lobpcg")
            except scipy.sparse.linalg.ArpackNoConvergence:
                if solver != "auto":
                    raise
                # ARPACK can stall on a component with a very flat top spectrum; "auto" then falls back
                # to LAPACK where the dense matrix fits, and to LOBPCG beyond.
                if hi - lo <= _DENSE_FALLBACK_MAX_NODES:
                    gamma = 1.0 - _dense_smallest(np.eye(hi - lo) - block.toarray(), min(m, hi - lo))[1:]
                    used.add("dense")
                else:
                    gamma = _lobpcg_top(block, v, min(m, hi - lo) - 1, tol, rng)
                    used.add("lobpcg")
            lam = np.concatenate([[0.0], 1.0 - gamma])
        lam = _clip(np.sort(lam))
        lam[0] = 0.0
        parts.append(lam)

    eigenvalues = np.sort(np.concatenate(parts))[:m]
    return Spectrum(
        eigenvalues=eigenvalues,
        n_nodes=n,
        n_components=n_comp,
        n_isolated=n_isolated,
        solver="+".join(sorted(used)) or "none",
    )


def smallest_eigenvalues(
    adjacency: np.ndarray | scipy.sparse.sparray,
    m: int,
    *,
    solver: Solver = "auto",
    tol: float = 1e-10,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """The m smallest eigenvalues of the normalized Laplacian L = D^{-1/2} (D − A) D^{-1/2}, ascending.

    Args:
        adjacency: (n, n) symmetric non-negative edge weights, dense or ``scipy.sparse``.
        m: how many eigenvalues, 1 ≤ m ≤ n.
        solver: see ``laplacian_spectrum``.
        tol: see ``laplacian_spectrum``.
        rng: see ``laplacian_spectrum``.

    Returns:
        (m,) array λ_1 ≤ … ≤ λ_m in [0, 2]. The eigenvalue 0 appears exactly (0.0) once per connected
        component, isolated nodes included.

    Raises:
        ValueError: if the adjacency is invalid, m is not in [1, n], solver is unknown or tol ≤ 0.

    References:
        HaoChen et al. 2021, §3; AdaInf (Wang et al. 2024), Theorem 4.1.

    Notes:
        See ``laplacian_spectrum`` for the solver choice and accuracy.
    """
    return laplacian_spectrum(adjacency, m, solver=solver, tol=tol, rng=rng).eigenvalues


def spectral_gap(
    adjacency: np.ndarray | scipy.sparse.sparray,
    k: int,
    *,
    solver: Solver = "auto",
    tol: float = 1e-10,
    rng: np.random.Generator | None = None,
) -> float:
    """λ_{k+1}, the (k+1)-th smallest eigenvalue of the normalized Laplacian (the bound's connectivity).

    Args:
        adjacency: (n, n) symmetric non-negative edge weights, dense or ``scipy.sparse``.
        k: representation dimension, 1 ≤ k < n.
        solver: see ``laplacian_spectrum``.
        tol: see ``laplacian_spectrum``.
        rng: see ``laplacian_spectrum``.

    Returns:
        λ_{k+1} ∈ [0, 2]; exactly 0.0 if and only if the graph has more than k connected components
        (isolated nodes included). A ``RuntimeWarning`` is issued then, since the bound 4α/λ_{k+1} is
        infinite: the disconnection *is* the connectivity signal, but it is rarely what a caller expects.

    Raises:
        ValueError: if the adjacency is invalid, k is not in [1, n − 1], or an option is invalid.

    References:
        HaoChen et al. 2021, §3 and Theorem 3.8 (λ-form 4α/λ_{k+1} + 8α); AdaInf (Wang et al. 2024),
        Theorem 4.1.
    """
    a = _check_adjacency(adjacency)
    n = a.shape[0]
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k < n:
        raise ValueError(f"k must be an integer in [1, n - 1 = {n - 1}], got {k!r}")
    spec = laplacian_spectrum(a, int(k) + 1, solver=solver, tol=tol, rng=rng)
    lam = float(spec.eigenvalues[k])
    if lam == 0.0:
        warnings.warn(
            f"lambda_{{k+1}} = 0 for k={k}: the graph has {spec.n_components} components "
            f"({spec.n_isolated} isolated nodes), more than k",
            RuntimeWarning,
            stacklevel=2,
        )
    return lam

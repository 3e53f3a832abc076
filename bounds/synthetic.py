"""The synthetic 2-D setting of AdaInf §4.3 (Fig. 5): exact labeling error α and connectivity λ_{k+1}.

Setting (AdaInf §4.3; paper-notes §2.6, §6 items 3–4). Reading of the paper, stated once:

- Natural data: two classes with equal priors, isotropic 2-D Gaussians with means (−1, 0) (label 0) and
  (+1, 0) (label 1) and **per-coordinate variance σ² = 0.7** (the paper's "variance 0.7"; σ ≈ 0.837).
  A sample of n natural points x̄_i with labels y_i (the component that generated x̄_i) is drawn with a
  seeded generator. Node weights p_i (uniform 1/n by default; any positive weights, e.g. N for real and 1
  for generated points as in inflation, are normalized to sum 1).
- Augmentation: A(·|x̄) = uniform distribution on the disc B(x̄, r); r is the augmentation strength.
- Labels of augmented points: the Bayes side of x₁ = 0, ŷ(x) = 1[x₁ > 0] (the Bayes classifier of the
  mixture, since the classes are symmetric with equal priors). α compares ŷ(x) with the natural label
  y(x̄) (HaoChen et al. 2021, Def. of α), so with component labels α includes the natural points that lie
  on the wrong side of x₁ = 0 (``synthetic_terms(labels="bayes")`` uses y(x̄) = ŷ(x̄) instead).

Augmentation graph (HaoChen et al. 2021, §3) on augmented points: w(x, x') = Σ_i p_i A(x|x̄_i) A(x'|x̄_i),
degree w(x) = Σ_l p_l A(x|x̄_l). Exact n×n reduction (paper-notes §6.4): write w(x, x') = (S Sᵀ)(x, x') with
S_{x,i} = √p_i A(x|x̄_i), and D = diag(w(x)). The normalized adjacency Ā = D^{-1/2} S Sᵀ D^{-1/2} = T Tᵀ with
T = D^{-1/2} S, and T Tᵀ and Tᵀ T = Sᵀ D^{-1} S =: M have the same nonzero eigenvalues (with multiplicity;
SVD of T). Hence

    M_ij = √(p_i p_j) ∫ A(x|x̄_i) A(x|x̄_j) / w(x) dx,        λ_{k+1} = 1 − γ_{k+1}(M)   (k < n),

γ in descending order. All other eigenvalues of Ā are 0 (λ = 1), and since M = Tᵀ T is PSD, γ_{k+1}(M) ≥ 0
are indeed the top ones. M is PSD with M √p = √p (the **row-sum identity** Σ_j √(p_j / p_i) M_ij = 1, since
Σ_j p_j A(x|x̄_j) = w(x) and ∫ A(x|x̄_i) dx = 1), so its spectrum lies in [0, 1] with top eigenvalue 1
(eigenvector √p). Equivalently, M is the normalized adjacency of the n-node graph W_ij = √(p_i p_j) M_ij,
whose degrees are exactly p_i; the spectrum of I − M is the Laplacian spectrum of W
(``bounds.spectrum.laplacian_spectrum``), with one exact zero per connected component, i.e. per component of
the disc-overlap graph (|x̄_i − x̄_j| < 2r).

For uniform discs A(x|x̄_i) = 1/(πr²) on B_i, so M_ij = √(p_i p_j)/(πr²)² ∫_{B_i∩B_j} dx / w(x) with
w(x) = Σ_{l: x∈B_l} p_l/(πr²). For two discs at distance d with overlap area a(d) (``disc_overlap_area``),
w is constant on each piece and M_12 = √(p_1 p_2)/(p_1 + p_2) · a/(πr²),
M_11 = 1 − a/(πr²) + p_1/(p_1 + p_2) · a/(πr²).

References:
    AdaInf: Wang, Zhang, Wang, "Do Generated Data Always Help Contrastive Learning?", ICLR 2024, §4.3, Fig. 5.
    HaoChen, Wei, Gaidon, Ma, "Provable Guarantees for Self-Supervised Deep Learning with Spectral Contrastive
    Loss", NeurIPS 2021 (augmentation graph, α, λ_{k+1}, the 4α/λ_{k+1} + 8α bound).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse

from bounds.bound import BoundTerms, generalization_bound
from bounds.spectrum import laplacian_spectrum

MEANS = np.array([[-1.0, 0.0], [1.0, 0.0]])
VARIANCE = 0.7  # per-coordinate variance σ² (reading of AdaInf §4.3's "variance 0.7")
# Default quadrature cell size h = r / _DEFAULT_CELLS_PER_RADIUS: measured relative error of M ≲ 1e-3
# (see `augmentation_matrix` Notes).
_DEFAULT_CELLS_PER_RADIUS = 32


# --------------------------------------------------------------------------------------- closed forms


def disc_overlap_area(d: float | np.ndarray, r: float) -> float | np.ndarray:
    """Area of the intersection of two discs of radius r whose centres are d apart (the lens area).

    a(d) = 2r² arccos(d / 2r) − (d/2) √(4r² − d²) for 0 ≤ d < 2r, and 0 for d ≥ 2r; a(0) = πr².

    Args:
        d: distance(s) between the centres, ≥ 0.
        r: radius, > 0.

    Returns:
        The area, a float for scalar d, else an array of d's shape.

    Raises:
        ValueError: if r ≤ 0 or some d < 0 or is NaN.
    """
    r = _check_radius(r)
    d_arr = np.asarray(d, dtype=np.float64)
    if np.any(~(d_arr >= 0)):
        raise ValueError(f"distances must be >= 0, got {d!r}")
    dc = np.minimum(d_arr, 2.0 * r)
    area = 2.0 * r * r * np.arccos(dc / (2.0 * r)) - 0.5 * dc * np.sqrt(
        np.maximum(4.0 * r * r - dc * dc, 0.0)
    )
    area = np.where(d_arr >= 2.0 * r, 0.0, np.maximum(area, 0.0))
    return float(area) if area.ndim == 0 else area


def circular_segment_fraction(d: float | np.ndarray, r: float) -> float | np.ndarray:
    """Fraction of the disc B(x̄, r) beyond a line at distance d ≥ 0 from its centre (a circular segment).

    seg(d) = (r² arccos(d/r) − d √(r² − d²)) / (πr²) for 0 ≤ d < r, else 0; seg(0) = 1/2.

    Args:
        d: distance(s) from the centre to the line, ≥ 0.
        r: radius, > 0.

    Returns:
        The fraction in [0, 1/2], a float for scalar d, else an array of d's shape.

    Raises:
        ValueError: if r ≤ 0 or some d < 0 or is NaN.

    References:
        paper-notes §6 item 3 (synthetic α).
    """
    r = _check_radius(r)
    d_arr = np.asarray(d, dtype=np.float64)
    if np.any(~(d_arr >= 0)):
        raise ValueError(f"distances must be >= 0, got {d!r}")
    dc = np.minimum(d_arr, r)
    seg = (r * r * np.arccos(dc / r) - dc * np.sqrt(np.maximum(r * r - dc * dc, 0.0))) / (math.pi * r * r)
    seg = np.where(d_arr >= r, 0.0, np.clip(seg, 0.0, 0.5))
    return float(seg) if seg.ndim == 0 else seg


# ------------------------------------------------------------------------------------------ the matrix


def augmentation_matrix(
    points: np.ndarray,
    r: float,
    *,
    weights: np.ndarray | None = None,
    h: float | None = None,
) -> np.ndarray:
    """The n×n reduction M of the augmentation graph of uniform-disc augmentation, by grid quadrature.

    M_ij = √(p_i p_j) ∫ A(x|x̄_i) A(x|x̄_j) / w(x) dx with A(·|x̄) uniform on B(x̄, r) (see the module
    docstring for the derivation). Its eigenvalues γ_1 = 1 ≥ γ_2 ≥ … ≥ 0 give λ_{k+1} = 1 − γ_{k+1}.

    Quadrature: the plane is tiled by the lattice of square cells of side h with centres ((a + ½)h, (b + ½)h),
    a, b ∈ ℤ (shared by all discs). A cell is assigned to every disc containing its centre; only cells of
    the union of the discs are stored (a sparse cell × disc incidence), so only pairs of discs that share a
    cell (|x̄_i − x̄_j| < 2r) get a nonzero M_ij. Each disc's uniform density is discretized as
    A_h(c|x̄_i) = 1 / (h² N_i) on its N_i cells, so that M = h² S_hᵀ diag(1/w_h) S_h is *exactly* the
    reduction of a (discretized) augmentation graph: symmetric, PSD, and M √p = √p to round-off.

    Args:
        points: (n, 2) natural points x̄_i.
        r: disc radius (augmentation strength), > 0.
        weights: (n,) positive node weights p_i (normalized to sum 1; M is invariant to their scale);
            uniform if None.
        h: cell size, 0 < h ≤ r; r/32 if None.

    Returns:
        (n, n) symmetric PSD array M with M √p = √p.

    Raises:
        ValueError: on a bad shape, non-finite point, r ≤ 0, non-positive weight or h out of (0, r].

    References:
        HaoChen et al. 2021, §3 (augmentation graph); AdaInf §4.3; paper-notes §6 item 4 (reduction).

    Notes:
        Quadrature error. Each entry is a midpoint rule applied to a piecewise-constant integrand (1/w is
        constant on each cell of the arrangement of circles), so errors come only from cells cut by a circle:
        O(perimeter · h) area per circle, i.e. a relative error ≲ C · h/r with C of order 1 in the worst
        case (4 = perimeter 2πr · h/2 over πr², before cancellations). Lattice-point counting in discs
        cancels much of it (Gauss circle problem), but not monotonically in h. Measured against the closed
        form for two equal-weight discs at 30 random placements (d ∈ [0.1r, 1.9r], random offsets and
        angles), max |ΔM_11|, |ΔM_12| was 1.6e-2, 7.1e-3, 3.1e-3, 8.5e-4, 3.8e-4 at h = r/4, r/8, r/16, r/32,
        r/64 (means 7.3e-3 … 1.4e-4): about first order, |ΔM| ≲ 0.07 · h/r over that range. By Weyl's
        inequality the eigenvalues (hence λ_{k+1}) move by at most ‖ΔM‖₂ ≤ max row sum of |ΔM|.
        Cost: ≈ π(r/h)² cells per disc, i.e. ~3,200 per disc at the default h.
    """
    pts = _check_points(points)
    r = _check_radius(r)
    n = pts.shape[0]
    p = _check_weights(weights, n)
    if h is None:
        h = r / _DEFAULT_CELLS_PER_RADIUS
    h = float(h)
    if not (math.isfinite(h) and 0.0 < h <= r):
        raise ValueError(f"cell size h must be in (0, r] = (0, {r}], got {h}")

    # Candidate lattice cells of each disc: a square of (2m + 2)² cells around its centre.
    m = math.ceil(r / h) + 1
    off = np.arange(-m, m + 1)
    ox, oy = np.meshgrid(off, off, indexing="ij")
    ox, oy = ox.ravel(), oy.ravel()
    base = np.floor(pts / h).astype(np.int64)  # (n, 2) cell containing the centre
    kx = base[:, 0:1] + ox[None, :]  # (n, K)
    ky = base[:, 1:2] + oy[None, :]
    dx = (kx + 0.5) * h - pts[:, 0:1]
    dy = (ky + 0.5) * h - pts[:, 1:2]
    inside = dx * dx + dy * dy <= r * r
    disc_idx = np.nonzero(inside)[0]
    kx_in, ky_in = kx[inside], ky[inside]
    counts = np.bincount(disc_idx, minlength=n).astype(np.float64)  # N_i
    if np.any(counts == 0):  # cannot happen for h <= r (the centre's cell is within h/√2 of the centre)
        raise ValueError("a disc contains no grid cell centre; decrease h")
    # Unique cells of the union.
    kx_min, ky_min = kx_in.min(), ky_in.min()
    span = int(ky_in.max() - ky_min) + 1
    keys = (kx_in - kx_min) * span + (ky_in - ky_min)
    _, cell_idx = np.unique(keys, return_inverse=True)
    cell_idx = cell_idx.ravel()
    n_cells = int(cell_idx.max()) + 1

    dens = 1.0 / (h * h * counts)  # A_h(c|x̄_i) on each of disc i's cells
    s_vals = np.sqrt(p[disc_idx]) * dens[disc_idx]  # S_{c,i} = √p_i A_h(c|x̄_i)
    s = scipy.sparse.csr_array((s_vals, (cell_idx, disc_idx)), shape=(n_cells, n))
    w = np.bincount(cell_idx, weights=p[disc_idx] * dens[disc_idx], minlength=n_cells)  # w_h(c) > 0
    scaled = scipy.sparse.diags_array(h * h / w) @ s
    mat = (s.T @ scaled).toarray()
    return 0.5 * (mat + mat.T)


# ------------------------------------------------------------------------------------- labeling error


def labeling_error(
    points: np.ndarray,
    labels: np.ndarray,
    r: float,
    *,
    weights: np.ndarray | None = None,
    form: Literal["per_view", "pairwise"] = "per_view",
) -> float:
    """Exact labeling error α of uniform-disc augmentation when augmented points are labeled by sign(x₁).

    ŷ(x) = 1[x₁ > 0] (the Bayes side of x₁ = 0). With q_i = seg(|x̄_{i,1}|) the fraction of B(x̄_i, r) on the
    other side of x₁ = 0 from x̄_i (``circular_segment_fraction``):

    - ``"per_view"``: α = Σ_i p_i P_{x∼A(·|x̄_i)}[ŷ(x) ≠ y_i] (HaoChen et al.'s α). The per-point error is q_i
      if x̄_i is on its label's side (x̄_{i,1} > 0 for y_i = 1, < 0 for y_i = 0) and 1 − q_i otherwise.
    - ``"pairwise"``: α = Σ_i p_i P_{x,x'∼A(·|x̄_i) iid}[ŷ(x) ≠ ŷ(x')] = Σ_i p_i 2 q_i (1 − q_i), the
      cross-label edge mass φ^ŷ of the augmentation graph (independent of y). φ ≤ 2 α_per_view.

    Points exactly on x₁ = 0 have q = 1/2 either way.

    Args:
        points: (n, 2) natural points.
        labels: (n,) labels in {0, 1} (0 ↔ mean (−1, 0), 1 ↔ mean (+1, 0)); unused by ``"pairwise"``.
        r: disc radius, > 0.
        weights: (n,) positive node weights (normalized to sum 1); uniform if None.
        form: ``"per_view"`` or ``"pairwise"``.

    Returns:
        α in [0, 1].

    Raises:
        ValueError: on bad shapes, labels outside {0, 1}, r ≤ 0, bad weights or an unknown form.

    References:
        HaoChen et al. 2021 (α, φ^ŷ); AdaInf §4.3, Thm 4.1; paper-notes §6 item 3.
    """
    pts = _check_points(points)
    r = _check_radius(r)
    n = pts.shape[0]
    p = _check_weights(weights, n)
    if form not in ("per_view", "pairwise"):
        raise ValueError(f"form must be 'per_view' or 'pairwise', got {form!r}")
    x1 = pts[:, 0]
    q = np.asarray(circular_segment_fraction(np.abs(x1), r), dtype=np.float64).reshape(n)
    if form == "pairwise":
        return float(np.clip(np.sum(p * 2.0 * q * (1.0 - q)), 0.0, 1.0))
    y = np.asarray(labels)
    if y.shape != (n,) or not np.all((y == 0) | (y == 1)):
        raise ValueError(f"labels must be an ({n},) array of 0/1, got shape {y.shape}")
    signed = np.where(y == 1, x1, -x1)  # > 0: x̄ on its label's side of x₁ = 0
    err = np.where(signed > 0, q, 1.0 - q)
    return float(np.clip(np.sum(p * err), 0.0, 1.0))


# ---------------------------------------------------------------------------------- the whole setting


def sample_mixture(n: int, *, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n natural points of the AdaInf §4.3 mixture: labels ~ Bernoulli(1/2), x̄ ~ N(μ_y, 0.7 I₂).

    Args:
        n: number of points, ≥ 1.
        rng: the random generator.

    Returns:
        (points (n, 2), labels (n,) in {0, 1}).
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    labels = rng.integers(0, 2, size=n)
    points = MEANS[labels] + math.sqrt(VARIANCE) * rng.standard_normal((n, 2))
    return points, labels


@dataclass(frozen=True)
class SyntheticTerms:
    """Exact bound terms of the synthetic setting (AdaInf §4.3) for one sample.

    Attributes:
        n: number of natural points.
        r: augmentation radius.
        k: representation dimension (λ_{k+1} is reported).
        seed: seed of the sample.
        h: quadrature cell size used for M.
        labels: ``"component"`` or ``"bayes"`` (how y(x̄) is defined).
        alpha: per-view labeling error α.
        alpha_pairwise: pairwise labeling error φ (cross-label edge mass).
        lam: λ_{k+1} = 1 − γ_{k+1}(M); exactly 0.0 when the overlap graph has more than k components.
        eigenvalues: the k+1 smallest Laplacian eigenvalues λ_1 ≤ … ≤ λ_{k+1} (exact zeros per component).
        n_components: connected components of the disc-overlap graph (as resolved by the grid).
        bound: ``generalization_bound(alpha=alpha, lam=lam, beta=1, tv=0)`` (4α/λ + 8α).
        bound_phi: φ-form 2φ/λ_{k+1} + 8α (+inf when λ_{k+1} = 0).
    """

    n: int
    r: float
    k: int
    seed: int
    h: float
    labels: str
    alpha: float
    alpha_pairwise: float
    lam: float
    eigenvalues: np.ndarray
    n_components: int
    bound: BoundTerms
    bound_phi: float


def synthetic_terms(
    n: int,
    r: float,
    *,
    k: int = 2,
    seed: int = 0,
    grid_h: float | None = None,
    weights: np.ndarray | None = None,
    labels: Literal["component", "bayes"] = "component",
) -> SyntheticTerms:
    """α, λ_{k+1} and the bound for n points of the AdaInf §4.3 mixture augmented by discs of radius r.

    Args:
        n: number of natural points, ≥ 1.
        r: augmentation radius, > 0.
        k: representation dimension, 1 ≤ k < n (default 2 = number of classes, HaoChen's smallest k).
        seed: seed of ``numpy.random.default_rng`` for the sample.
        grid_h: quadrature cell size (see ``augmentation_matrix``); r/32 if None.
        weights: (n,) positive node weights (e.g. N for real, 1 for generated points); uniform if None.
        labels: y(x̄) = generating component (``"component"``, default) or ŷ(x̄) = 1[x̄₁ > 0] (``"bayes"``,
            so α is due to augmentation alone).

    Returns:
        A `SyntheticTerms`.

    Raises:
        ValueError: on an argument out of range.

    References:
        AdaInf §4.3, Fig. 5; HaoChen et al. 2021, Theorem 3.8 (the 4α/λ_{k+1} + 8α form).

    Notes:
        λ comes from ``bounds.spectrum.laplacian_spectrum`` on W = diag(√p) M diag(√p) (degrees p_i,
        normalized adjacency M), so components are found first and each contributes an exact 0.0. The
        grid resolves two discs as overlapping iff they share a cell centre, which differs from
        |x̄_i − x̄_j| < 2r only for pairs within O(h) of tangency (overlap area O(h^{3/2} r^{1/2})).
    """
    if not 1 <= k < n:
        raise ValueError(f"k must satisfy 1 <= k < n = {n}, got {k}")
    if labels not in ("component", "bayes"):
        raise ValueError(f"labels must be 'component' or 'bayes', got {labels!r}")
    rng = np.random.default_rng(seed)
    points, y = sample_mixture(n, rng=rng)
    if labels == "bayes":
        y = (points[:, 0] > 0).astype(np.int64)
    p = _check_weights(weights, n)
    h = r / _DEFAULT_CELLS_PER_RADIUS if grid_h is None else float(grid_h)
    mat = augmentation_matrix(points, r, weights=p, h=h)
    sp = np.sqrt(p)
    adjacency = sp[:, None] * mat * sp[None, :]
    adjacency = 0.5 * (adjacency + adjacency.T)
    spec = laplacian_spectrum(adjacency, k + 1, solver="dense")
    lam = float(spec.eigenvalues[k])
    alpha = labeling_error(points, y, r, weights=p, form="per_view")
    phi = labeling_error(points, y, r, weights=p, form="pairwise")
    bound = generalization_bound(alpha=alpha, lam=lam, beta=1.0, tv=0.0)
    phi_conn = generalization_bound(alpha=phi, lam=lam, beta=1.0, tv=0.0, c_lambda=2.0).connectivity_term
    return SyntheticTerms(
        n=n,
        r=float(r),
        k=k,
        seed=seed,
        h=h,
        labels=labels,
        alpha=alpha,
        alpha_pairwise=phi,
        lam=lam,
        eigenvalues=spec.eigenvalues,
        n_components=spec.n_components,
        bound=bound,
        bound_phi=phi_conn + 8.0 * alpha,
    )


def bound_grid(
    ns: list[int] | tuple[int, ...],
    rs: list[float] | tuple[float, ...],
    *,
    k: int = 2,
    seeds: list[int] | tuple[int, ...] = (0,),
    grid_h: float | None = None,
    labels: Literal["component", "bayes"] = "component",
) -> list[dict[str, float | int]]:
    """``synthetic_terms`` over a grid of (n, r, seed), as flat rows for an experiment table.

    Args:
        ns: data sizes.
        rs: radii.
        k: representation dimension.
        seeds: sample seeds (the same seed gives the same points for every r).
        grid_h: quadrature cell size; r/32 per radius if None.
        labels: see ``synthetic_terms``.

    Returns:
        One dict per (n, r, seed), in that nesting order, with keys n, r, seed, k, alpha, alpha_pairwise,
        lam, n_components, bound (4α/λ + 8α; inf when λ = 0) and bound_phi.
    """
    rows: list[dict[str, float | int]] = []
    for n in ns:
        for r in rs:
            for seed in seeds:
                t = synthetic_terms(n, r, k=k, seed=seed, grid_h=grid_h, labels=labels)
                rows.append(
                    {
                        "n": n,
                        "r": float(r),
                        "seed": seed,
                        "k": k,
                        "alpha": t.alpha,
                        "alpha_pairwise": t.alpha_pairwise,
                        "lam": t.lam,
                        "n_components": t.n_components,
                        "bound": t.bound.total,
                        "bound_phi": t.bound_phi,
                    }
                )
    return rows


# ------------------------------------------------------------------------------------------ validation


def _check_radius(r: float) -> float:
    v = float(r)
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"radius r must be a positive finite number, got {r!r}")
    return v


def _check_points(points: np.ndarray) -> np.ndarray:
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2 or pts.shape[0] < 1:
        raise ValueError(f"points must be an (n, 2) array with n >= 1, got shape {pts.shape}")
    if not np.all(np.isfinite(pts)):
        raise ValueError("points must be finite")
    return pts


def _check_weights(weights: np.ndarray | None, n: int) -> np.ndarray:
    if weights is None:
        return np.full(n, 1.0 / n)
    p = np.asarray(weights, dtype=np.float64)
    if p.shape != (n,):
        raise ValueError(f"weights must have shape ({n},), got {p.shape}")
    if not (np.all(np.isfinite(p)) and np.all(p > 0)):
        raise ValueError("weights must be positive and finite")
    return p / p.sum()

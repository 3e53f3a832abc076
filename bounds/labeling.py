"""The labeling error α of an augmentation family, estimated from labels of sampled views.

Two forms of α appear in the theory (paper-notes §1.3, §2.3):

- **Pairwise** (AdaInf Theorem 4.1, = the cross-label edge mass φ^y of HaoChen et al. 2021):
  α_pair = Σ_i p_i · P_{x, x' ∼ A(·|x̄_i)}[ŷ(x) ≠ ŷ(x')], the probability that two independent views of the
  same source get different labels.
- **Per-view** (HaoChen et al. 2021 Assumption 3.5; AdaInf Eq. 8):
  α = min_g Σ_i p_i · P_{x ∼ A(·|x̄_i)}[g(x) ≠ y(x̄_i)], the probability that a view is labelled differently
  from its source. Evaluating any fixed classifier g gives an *upper* bound on the population α.

By the union bound φ^ŷ ≤ 2Δ(y, ŷ) (HaoChen et al. 2021), α_pair ≤ 2 · α_per-view when both are computed from
the same view labels ŷ; the U-statistic estimators below satisfy this exactly, source by source.

Conventions:

- Views are grouped by source: ``view_labels[i, a]`` is the (predicted) class ŷ of view a of source x̄_i, an
  integer ≥ 0; every source has the same number m of views.
- Source weights p (``weights``, shape (n_sources,)) are non-negative and normalised inside, so pass the
  replication weight N for real sources and 1 for generated ones (paper-notes §6 item 1); default uniform.
  A source of integer weight N counts exactly as N copies of it.
- Source labels y are integers with −1 meaning unlabeled (a generated source): ``per_view`` excludes those
  sources (or give them pseudo-labels with :func:`pseudo_labels` first).
- Symbols ↔ names: ``alpha`` ↔ α, ``weights`` ↔ p, ``source_labels`` ↔ y(x̄), ``view_labels`` /
  ``view_predictions`` ↔ ŷ(x) = g(x).

References:
    HaoChen, Wei, Gaidon, Ma. "Provable Guarantees for Self-Supervised Deep Learning with Spectral
    Contrastive Loss", NeurIPS 2021, Assumption 3.5 and the φ^ŷ ≤ 2Δ(y, ŷ) step.
    Wang, Zhang, Wang. "Do Generated Data Always Help Contrastive Learning?", ICLR 2024 (AdaInf),
    Theorem 4.1 and Eq. 8 (via /work/shared/reference/paper-notes.md §1.3, §2.3, §6 item 3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse

Form = Literal["pairwise", "per_view"]
_FORMS = ("pairwise", "per_view")

# Rows of unlabeled features handled per block in `pseudo_labels`, bounding the (block, n_labeled)
# similarity matrix to a few hundred MB for n_labeled ~ 1e5.
_KNN_BLOCK = 512


@dataclass(frozen=True)
class LabelingError:
    """An estimate of the labeling error α with its sampling error.

    Attributes:
        alpha: the weighted estimate Σ_i p_i α_i over the sources that contributed.
        form: ``"pairwise"`` (AdaInf Theorem 4.1, = φ^y) or ``"per_view"`` (HaoChen Assumption 3.5 / Eq. 8).
        n_sources: number of sources that contributed (for ``per_view``, the labelled ones only).
        n_views: views per source m.
        standard_error: standard error of ``alpha`` across sources, treating sources as the independent
            units (weights are replication, not extra samples); NaN when only one source contributed.
    """

    alpha: float
    form: str
    n_sources: int
    n_views: int
    standard_error: float


# ----------------------------------------------------------------------------------------------------
# Validation


def _check_view_labels(values: object, name: str, *, min_views: int) -> np.ndarray:
    """Return an (n_sources, m) int64 array of class labels ≥ 0 with m ≥ min_views."""
    a = np.asarray(values)
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_sources, m_views), got shape {a.shape}")
    n, m = a.shape
    if n == 0:
        raise ValueError(f"{name} must have at least one source, got shape {a.shape}")
    if m < min_views:
        raise ValueError(f"{name} needs at least {min_views} views per source, got m={m}")
    a = _as_int(a, name)
    if a.min() < 0:
        raise ValueError(f"{name} must hold class labels >= 0, got min {a.min()}")
    return a


def _as_int(a: np.ndarray, name: str) -> np.ndarray:
    if a.dtype == bool or not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise ValueError(f"{name} must hold integer class labels, got dtype {a.dtype}")
    if np.issubdtype(a.dtype, np.floating) and (not np.all(np.isfinite(a)) or np.any(a != np.round(a))):
        raise ValueError(f"{name} must hold integer class labels, got non-integral values")
    return a.astype(np.int64)


def _check_source_labels(values: object, n: int, name: str = "source_labels") -> np.ndarray:
    """Return an (n,) int64 array of labels ≥ −1 (−1 = unlabeled)."""
    y = np.asarray(values)
    if y.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {y.shape}")
    y = _as_int(y, name)
    if n and y.min() < -1:
        raise ValueError(f"{name} must be >= -1 (-1 = unlabeled), got min {y.min()}")
    return y


def _check_weights(weights: object | None, n: int) -> np.ndarray:
    """Return (n,) non-negative weights normalised to sum 1 (uniform when None)."""
    if weights is None:
        return np.full(n, 1.0 / n)
    p = np.asarray(weights, dtype=np.float64)
    if p.shape != (n,):
        raise ValueError(f"weights must have shape ({n},), got {p.shape}")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError("weights must be finite and non-negative")
    total = p.sum()
    if total <= 0:
        raise ValueError("weights must have a positive sum")
    return p / total


def _weighted_mean_and_se(values: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """Weighted mean Σ p_i v_i (Σ p_i = 1) and its standard error across sources.

    SE² = n/(n−1) · Σ_i p_i² (v_i − v̄)² (the linearised variance of a weighted mean with fixed weights);
    with uniform weights it is the usual s/√n with s the ddof=1 standard deviation. Sources with zero
    weight do not count in n.
    """
    mean = float(np.dot(p, values))
    n = int(np.count_nonzero(p))
    if n < 2:
        return mean, float("nan")
    var = n / (n - 1) * float(np.sum(p**2 * (values - mean) ** 2))
    return mean, float(np.sqrt(var))


# ----------------------------------------------------------------------------------------------------
# Per-source estimators


def _pairwise_per_source(labels: np.ndarray) -> np.ndarray:
    """Per-source U-statistic (1/(m(m−1))) Σ_{a≠b} 1[ŷ_a ≠ ŷ_b] = 1 − Σ_c n_c(n_c−1)/(m(m−1)).

    Class counts n_c per source come from one ``np.unique`` over (source, class) keys, so the cost is
    O(n m log(n m)) whatever the number of classes.
    """
    n, m = labels.shape
    _, codes = np.unique(labels, return_inverse=True)
    n_classes = int(codes.max()) + 1
    keys = np.repeat(np.arange(n, dtype=np.int64), m) * n_classes + codes.reshape(-1)
    uniq, counts = np.unique(keys, return_counts=True)
    agree = np.bincount(uniq // n_classes, weights=counts * (counts - 1.0), minlength=n)
    return 1.0 - agree / (m * (m - 1.0))


def _per_view_per_source(predictions: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-source error (1/m) Σ_a 1[g(x_{i,a}) ≠ y_i]."""
    return np.mean(predictions != y[:, None], axis=1)


# ----------------------------------------------------------------------------------------------------
# Public API


def pairwise_labeling_error(view_labels: np.ndarray, *, weights: np.ndarray | None = None) -> float:
    """Pairwise labeling error α_pair = φ^ŷ from m labelled views per source.

    α_pair = Σ_i p_i · P_{x, x' ∼ A(·|x̄_i)}[ŷ(x) ≠ ŷ(x')], where each source's probability is estimated by
    the unbiased U-statistic over ordered pairs of distinct views,

        (1 / (m(m−1))) Σ_{a≠b} 1[ŷ_a ≠ ŷ_b] = 1 − Σ_c n_c(n_c − 1) / (m(m−1)),

    with n_c the number of the m views labelled c. (Pairs (a, a) are left out: including them would bias
    the estimate down by a factor (m−1)/m.)

    Args:
        view_labels: (n_sources, m) integer class labels ≥ 0 of the views, e.g. an oracle's predictions;
            m ≥ 2.
        weights: (n_sources,) non-negative source weights p (e.g. N for real, 1 for generated), normalised
            inside; default uniform.

    Returns:
        The estimate of α_pair, in [0, 1].

    Raises:
        ValueError: if ``view_labels`` is not 2-D with m ≥ 2 and non-negative integers, or ``weights`` has
            the wrong shape, a negative or non-finite entry, or sums to 0.

    References:
        AdaInf (Wang et al., ICLR 2024) Theorem 4.1 (α defined pairwise, = φ^y; paper-notes §1.3, §2.3);
        HaoChen et al. 2021, the cross-label edge mass φ^ŷ.
    """
    labels = _check_view_labels(view_labels, "view_labels", min_views=2)
    p = _check_weights(weights, labels.shape[0])
    return float(np.dot(p, _pairwise_per_source(labels)))


def per_view_labeling_error(
    view_predictions: np.ndarray, source_labels: np.ndarray, *, weights: np.ndarray | None = None
) -> float:
    """Per-view labeling error of a classifier g: Σ_i p_i · (1/m) Σ_a 1[g(x_{i,a}) ≠ y_i].

    Since the population α is a minimum over classifiers, the error of any fixed g (e.g. a strong
    supervised model or a zero-shot model) is an *upper* bound on it, up to sampling error; g's clean error
    on the sources themselves is part of it and worth inspecting.

    Sources with label −1 (unlabeled, e.g. generated) are excluded and the weights renormalised over the
    labelled sources. To include generated sources, label them first with :func:`pseudo_labels`.

    Args:
        view_predictions: (n_sources, m) integer class predictions g(x) ≥ 0 on the views; m ≥ 1.
        source_labels: (n_sources,) integer labels y(x̄_i), −1 for unlabeled.
        weights: (n_sources,) non-negative source weights p, normalised inside; default uniform.

    Returns:
        The estimate of α (an upper bound on the population α), in [0, 1].

    Raises:
        ValueError: on malformed shapes or values (see :func:`pairwise_labeling_error`), a label < −1, or
            when no labelled source has positive weight.

    References:
        HaoChen et al. 2021 Assumption 3.5; AdaInf (Wang et al., ICLR 2024) Eq. 8 (paper-notes §1.3, §6
        item 3).
    """
    return _per_view(view_predictions, source_labels, weights)[0]


def _per_view(
    view_predictions: object, source_labels: object, weights: object | None
) -> tuple[float, float, int, int]:
    """(alpha, standard_error, n_labelled_sources, m) for the per-view form."""
    predictions = _check_view_labels(view_predictions, "view_predictions", min_views=1)
    n, m = predictions.shape
    y = _check_source_labels(source_labels, n)
    p = _check_weights(weights, n)
    labelled = y >= 0
    p = np.where(labelled, p, 0.0)
    if p.sum() <= 0:
        raise ValueError("per_view needs at least one labelled source (label >= 0) with positive weight")
    p = p / p.sum()
    alpha, se = _weighted_mean_and_se(_per_view_per_source(predictions, y), p)
    return alpha, se, int(np.count_nonzero(labelled)), m


def labeling_error(
    view_labels: np.ndarray,
    source_labels: np.ndarray | None = None,
    *,
    form: Form = "pairwise",
    weights: np.ndarray | None = None,
) -> LabelingError:
    """Labeling error α in either form, with its standard error across sources.

    Args:
        view_labels: (n_sources, m) integer class labels ≥ 0 of the views (an oracle's predictions).
        source_labels: (n_sources,) source labels, −1 for unlabeled; required for ``form="per_view"`` and
            not accepted for ``form="pairwise"`` (which uses only the view labels).
        form: ``"pairwise"`` (:func:`pairwise_labeling_error`) or ``"per_view"``
            (:func:`per_view_labeling_error`).
        weights: (n_sources,) non-negative source weights p, normalised inside; default uniform.

    Returns:
        A :class:`LabelingError`. Its ``standard_error`` lets a caller judge whether two estimates differ
        beyond sampling error (e.g. α before and after inflation, which should agree when P_g ≈ P_d).

    Raises:
        ValueError: on an unknown ``form``, a missing or superfluous ``source_labels``, or malformed inputs.

    References:
        AdaInf (Wang et al., ICLR 2024) Theorem 4.1 and Eq. 8; HaoChen et al. 2021 Assumption 3.5.
    """
    if form not in _FORMS:
        raise ValueError(f"form must be one of {_FORMS}, got {form!r}")
    if form == "pairwise":
        if source_labels is not None:
            raise ValueError("form='pairwise' uses only view_labels; pass source_labels=None")
        labels = _check_view_labels(view_labels, "view_labels", min_views=2)
        n, m = labels.shape
        p = _check_weights(weights, n)
        alpha, se = _weighted_mean_and_se(_pairwise_per_source(labels), p)
        return LabelingError(alpha, form, n, m, se)
    if source_labels is None:
        raise ValueError("form='per_view' needs source_labels")
    alpha, se, n_labelled, m = _per_view(view_labels, source_labels, weights)
    return LabelingError(alpha, form, n_labelled, m, se)


def _check_graph(adjacency: object) -> scipy.sparse.coo_array:
    """Validate a square, symmetric, non-negative, finite adjacency; return it as COO float64."""
    if scipy.sparse.issparse(adjacency):
        a = scipy.sparse.coo_array(adjacency, dtype=np.float64)
    else:
        dense = np.asarray(adjacency, dtype=np.float64)
        if dense.ndim != 2:
            raise ValueError(f"adjacency must be 2-D, got shape {dense.shape}")
        a = scipy.sparse.coo_array(dense)
    if a.shape[0] != a.shape[1]:
        raise ValueError(f"adjacency must be square, got shape {a.shape}")
    if not np.all(np.isfinite(a.data)) or np.any(a.data < 0):
        raise ValueError("adjacency must have finite, non-negative entries")
    asym = abs(a.tocsr() - a.T.tocsr())
    scale = max(float(np.abs(a.data).max()) if a.nnz else 0.0, 1.0)
    if asym.nnz and float(asym.max()) > 1e-10 * scale:
        raise ValueError("adjacency must be symmetric")
    return a


def graph_labeling_error(
    adjacency: np.ndarray | scipy.sparse.sparray, node_labels: np.ndarray, *, self_loops: bool = True
) -> float:
    """Cross-label edge mass φ^y of a weighted graph: the pairwise labeling error on a graph.

    φ^y = Σ_{u,v} w_uv 1[y_u ≠ y_v] / Σ_{u,v} w_uv, summing over ordered pairs (so each undirected edge
    counts twice in both sums, and a self-loop once, in the denominator only). On an estimated augmentation
    graph (nodes = views, w = co-occurrence / similarity) this is the pairwise α of AdaInf Theorem 4.1.

    Nodes labelled −1 (unknown) are excluded from **both** sums: φ is the cross-label mass of the subgraph
    induced by the labelled nodes, not a mass in which unknown nodes count as agreeing (or disagreeing).

    ``self_loops=False`` leaves the diagonal out of the denominator as well: φ is then the cross-label fraction
    of the mass between *distinct* nodes. On a source-level graph of n samples the self-loop w_ii (a source's
    overlap with itself) is a finite-sample term whose share falls like 1/n, so only this form estimates the
    population α ("an expectation, which inflation does not change", paper-notes §2.4) independently of n.

    Args:
        adjacency: (n, n) symmetric non-negative weights, dense or ``scipy.sparse``.
        node_labels: (n,) integer labels, −1 for unknown.
        self_loops: whether the diagonal counts in the denominator (default True).

    Returns:
        φ^y in [0, 1].

    Raises:
        ValueError: if the adjacency is not square, symmetric, finite and non-negative, the labels have the
            wrong shape or a value < −1, or the labelled subgraph has no edge mass.

    References:
        HaoChen et al. 2021 (φ^ŷ, the step φ^ŷ ≤ 2Δ(y, ŷ)); AdaInf (Wang et al., ICLR 2024) Theorem 4.1,
        Eq. 6-7 (paper-notes §1.3, §2.3).
    """
    a = _check_graph(adjacency)
    y = _check_source_labels(node_labels, a.shape[0], "node_labels")
    row, col, w = a.row, a.col, a.data
    keep = (y[row] >= 0) & (y[col] >= 0)
    if not self_loops:
        keep &= row != col
    total = float(w[keep].sum())
    if total <= 0:
        raise ValueError("the subgraph of labelled nodes (label >= 0) has no edge mass")
    cross = float(w[keep & (y[row] != y[col])].sum())
    return cross / total


def source_transition_mass(
    adjacency: np.ndarray | scipy.sparse.sparray, node_sources: np.ndarray, source_labels: np.ndarray
) -> float:
    """Cross-label edge mass of a view graph when each view takes its source's label, ŷ(x) = y(x̄).

    A convenience for :func:`graph_labeling_error` with ``node_labels = source_labels[node_sources]``: the
    fraction of edge mass that joins views of sources with different labels (nodes whose source is
    unlabeled, −1, are excluded from both sums).

    Args:
        adjacency: (n_nodes, n_nodes) symmetric non-negative weights over views, dense or sparse.
        node_sources: (n_nodes,) index of each view's source in ``[0, n_sources)``.
        source_labels: (n_sources,) integer source labels, −1 for unlabeled.

    Returns:
        The cross-label edge mass in [0, 1].

    Raises:
        ValueError: on malformed inputs (see :func:`graph_labeling_error`) or an out-of-range source index.

    References:
        HaoChen et al. 2021 (φ^y with the labeling y(x) := y(x̄)); AdaInf Theorem 4.1.
    """
    y = np.asarray(source_labels)
    y = _check_source_labels(y, y.shape[0] if y.ndim == 1 else -1)
    s = np.asarray(node_sources)
    if s.ndim != 1:
        raise ValueError(f"node_sources must be 1-D, got shape {s.shape}")
    s = _as_int(s, "node_sources")
    if s.size and (s.min() < 0 or s.max() >= y.shape[0]):
        raise ValueError(f"node_sources must lie in [0, {y.shape[0]}), got [{s.min()}, {s.max()}]")
    return graph_labeling_error(adjacency, y[s])


def pseudo_labels(
    features_unlabeled: np.ndarray, features_labeled: np.ndarray, labels: np.ndarray, *, k: int = 10
) -> np.ndarray:
    """Labels for unlabeled (e.g. generated) sources by k-nearest-neighbour vote among labelled ones.

    Similarity is cosine (rows L2-normalised, dot product). Each unlabeled row takes the majority label of
    its k most similar labelled rows; a tie between classes goes to the class of the nearest neighbour
    among the tied ones. The result is deterministic for given inputs.

    Caveat: pseudo-labels inherit the feature space's errors. A labeling error computed on generated
    sources with these labels measures the augmentations *relative to this k-NN classifier*, so it is
    only as good as that classifier (check its accuracy on held-out real data, e.g. leave-one-out).

    Args:
        features_unlabeled: (n_unlabeled, d) features of the sources to label.
        features_labeled: (n_labeled, d) features of labelled (real) sources.
        labels: (n_labeled,) integer labels ≥ 0.
        k: number of neighbours, ≥ 1; clipped to n_labeled.

    Returns:
        (n_unlabeled,) int64 labels.

    Raises:
        ValueError: on mismatched shapes, a zero or non-finite feature row, labels < 0, or k < 1.

    References:
        AdaInf (Wang et al., ICLR 2024) paper-notes §6 item 3 ("generated images need oracle pseudo-labels").
    """
    u = _unit_rows(features_unlabeled, "features_unlabeled")
    f = _unit_rows(features_labeled, "features_labeled")
    if u.shape[1] != f.shape[1]:
        raise ValueError(f"feature dimensions differ: {u.shape[1]} vs {f.shape[1]}")
    if f.shape[0] == 0:
        raise ValueError("features_labeled must have at least one row")
    y = _check_source_labels(labels, f.shape[0], "labels")
    if f.shape[0] and y.min() < 0:
        raise ValueError("labels must be >= 0")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    k = min(int(k), f.shape[0])

    out = np.empty(u.shape[0], dtype=np.int64)
    for start in range(0, u.shape[0], _KNN_BLOCK):
        sim = u[start : start + _KNN_BLOCK] @ f.T
        if k < f.shape[0]:
            idx = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        else:
            idx = np.broadcast_to(np.arange(f.shape[0]), sim.shape).copy()
        # Order the k neighbours nearest first (ties by index, so the result does not depend on argpartition).
        rows = np.arange(idx.shape[0])[:, None]
        order = np.lexsort((idx, -sim[rows, idx]), axis=1)
        nbr = y[idx[rows, order]]  # (b, k) neighbour labels, nearest first
        votes = (nbr[:, :, None] == nbr[:, None, :]).sum(axis=2)  # votes[i, j] = count of nbr[i, j]'s class
        winner = np.argmax(votes == votes.max(axis=1, keepdims=True), axis=1)  # first = nearest among ties
        out[start : start + len(nbr)] = nbr[np.arange(len(nbr)), winner]
    return out


def _unit_rows(x: object, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n, d), got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite")
    norms = np.linalg.norm(a, axis=1)
    if np.any(norms == 0):
        raise ValueError(f"{name} has a zero row; cosine similarity is undefined")
    return a / norms[:, None]

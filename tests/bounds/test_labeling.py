"""Tests for bounds.labeling: hand cases, brute-force references, statistics, weights, relations, graphs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse

from bounds.labeling import (
    LabelingError,
    graph_labeling_error,
    labeling_error,
    pairwise_labeling_error,
    per_view_labeling_error,
    pseudo_labels,
    source_transition_mass,
)


def _pairwise_brute_force(view_labels: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Σ_i p_i (1/(m(m-1))) Σ_{a≠b} 1[ŷ_a ≠ ŷ_b] by an explicit double loop."""
    n, m = view_labels.shape
    p = np.full(n, 1.0 / n) if weights is None else np.asarray(weights, float) / np.sum(weights)
    total = 0.0
    for i in range(n):
        disagree = sum(view_labels[i, a] != view_labels[i, b] for a in range(m) for b in range(m) if a != b)
        total += p[i] * disagree / (m * (m - 1))
    return total


# ---------------------------------------------------------------------------------------------------
# Pairwise form


def test_pairwise_hand_case():
    # [0, 0, 1]: of the 6 ordered pairs of distinct views, 4 disagree -> 2/3 = 1 - (2·1 + 1·0)/(3·2).
    assert pairwise_labeling_error(np.array([[0, 0, 1]])) == pytest.approx(2 / 3)
    # [0, 1, 2, 2]: agreeing ordered pairs 2 of 12 -> 10/12; mean with the first source.
    assert pairwise_labeling_error(np.array([[0, 1, 2, 2], [0, 0, 1, 1]])) == pytest.approx(
        0.5 * (10 / 12) + 0.5 * (8 / 12)
    )
    # two views: disagree or not.
    assert pairwise_labeling_error(np.array([[3, 7], [5, 5]])) == pytest.approx(0.5)


def test_pairwise_all_views_agree_is_zero():
    labels = np.repeat(np.arange(6)[:, None], 5, axis=1)
    assert pairwise_labeling_error(labels) == 0.0


def test_pairwise_all_views_distinct_is_one():
    assert pairwise_labeling_error(np.arange(12).reshape(3, 4)) == pytest.approx(1.0)


@pytest.mark.parametrize("seed", range(5))
def test_pairwise_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n, m, c = rng.integers(1, 15), rng.integers(2, 9), rng.integers(1, 6)
    labels = rng.integers(0, c, size=(n, m)) * 17  # non-contiguous class ids
    weights = rng.random(n)
    assert pairwise_labeling_error(labels) == pytest.approx(_pairwise_brute_force(labels))
    assert pairwise_labeling_error(labels, weights=weights) == pytest.approx(
        _pairwise_brute_force(labels, weights)
    )


def test_pairwise_is_unbiased_for_iid_views():
    # Views iid Bernoulli(q): P[ŷ(x) ≠ ŷ(x')] = 2q(1 - q) exactly; the U-statistic is unbiased even at m = 3.
    rng = np.random.default_rng(123)
    q = 0.3
    labels = (rng.random((4000, 3)) < q).astype(int)
    est = labeling_error(labels, form="pairwise")
    assert est.standard_error > 0
    assert abs(est.alpha - 2 * q * (1 - q)) < 4 * est.standard_error
    # The V-statistic (pairs (a, a) included) would be biased by the factor (m - 1)/m = 2/3: far outside.
    assert abs(est.alpha * 2 / 3 - 2 * q * (1 - q)) > 4 * est.standard_error


def test_integer_weight_equals_duplication():
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 3, size=(5, 4))
    y = rng.integers(-1, 3, size=5)
    y[0] = 1  # at least one labelled source
    weights = np.array([3, 1, 2, 1, 4])
    duplicated = np.repeat(labels, weights, axis=0)
    y_dup = np.repeat(y, weights)
    assert pairwise_labeling_error(labels, weights=weights) == pytest.approx(
        pairwise_labeling_error(duplicated)
    )
    assert per_view_labeling_error(labels, y, weights=weights) == pytest.approx(
        per_view_labeling_error(duplicated, y_dup)
    )
    # Scaling all weights changes nothing (normalised inside).
    assert pairwise_labeling_error(labels, weights=10 * weights) == pytest.approx(
        pairwise_labeling_error(labels, weights=weights)
    )


def test_zero_weight_source_is_ignored():
    labels = np.array([[0, 0], [0, 1]])
    assert pairwise_labeling_error(labels, weights=[1.0, 0.0]) == 0.0


# ---------------------------------------------------------------------------------------------------
# Per-view form


def test_per_view_hand_case():
    predictions = np.array([[0, 0, 1, 0], [2, 2, 2, 2], [1, 0, 0, 0]])
    y = np.array([0, 1, 1])
    # per-source errors 1/4, 1, 3/4
    assert per_view_labeling_error(predictions, y) == pytest.approx((0.25 + 1.0 + 0.75) / 3)
    assert per_view_labeling_error(predictions, y, weights=[2, 1, 1]) == pytest.approx(
        (2 * 0.25 + 1.0 + 0.75) / 4
    )
    assert per_view_labeling_error(np.zeros((3, 1), int), np.zeros(3, int)) == 0.0


def test_per_view_excludes_unlabeled_and_renormalises():
    predictions = np.array([[0, 1], [1, 1], [0, 0]])
    y = np.array([0, -1, 1])
    # labelled sources 0 and 2 with weights 1 and 3: (1 · 1/2 + 3 · 1) / 4
    assert per_view_labeling_error(predictions, y, weights=[1, 100, 3]) == pytest.approx((0.5 + 3.0) / 4)
    est = labeling_error(predictions, y, form="per_view", weights=[1, 100, 3])
    assert est.n_sources == 2 and est.n_views == 2
    with pytest.raises(ValueError, match="labelled source"):
        per_view_labeling_error(predictions, np.array([-1, -1, -1]))


@pytest.mark.parametrize("seed", range(20))
def test_pairwise_at_most_twice_per_view(seed):
    # Union bound φ^ŷ ≤ 2Δ(y, ŷ) (HaoChen et al. 2021): holds exactly per source for the U-statistic.
    rng = np.random.default_rng(seed)
    n, m, c = rng.integers(1, 30), rng.integers(2, 8), rng.integers(2, 5)
    y = rng.integers(0, c, size=n)
    flip = rng.random((n, m)) < rng.random()
    predictions = np.where(flip, rng.integers(0, c, size=(n, m)), y[:, None])
    weights = rng.random(n) + 0.01
    pair = pairwise_labeling_error(predictions, weights=weights)
    per_view = per_view_labeling_error(predictions, y, weights=weights)
    assert pair <= 2 * per_view + 1e-12


def test_union_bound_is_tight_case():
    # One of m views wrong: pairwise = 2(m-1)/(m(m-1)) = 2/m = 2 · per-view.
    predictions = np.array([[1, 0, 0, 0, 0]])
    assert pairwise_labeling_error(predictions) == pytest.approx(
        2 * per_view_labeling_error(predictions, np.array([0]))
    )


# ---------------------------------------------------------------------------------------------------
# LabelingError


def test_labeling_error_dataclass_and_standard_error():
    labels = np.array([[0, 0, 1], [0, 0, 0], [1, 1, 0], [2, 0, 1]])
    est = labeling_error(labels)
    assert isinstance(est, LabelingError)
    per_source = np.array([2 / 3, 0.0, 2 / 3, 1.0])
    assert est.alpha == pytest.approx(per_source.mean())
    assert est.form == "pairwise" and est.n_sources == 4 and est.n_views == 3
    # uniform weights: the usual s / sqrt(n)
    assert est.standard_error == pytest.approx(per_source.std(ddof=1) / 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        est.alpha = 0.0  # type: ignore[misc]
    assert np.isnan(labeling_error(labels[:1]).standard_error)


def test_labeling_error_matches_the_functions():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 3, size=(20, 4))
    y = rng.integers(-1, 3, size=20)
    w = rng.random(20)
    assert labeling_error(labels, weights=w).alpha == pytest.approx(
        pairwise_labeling_error(labels, weights=w)
    )
    assert labeling_error(labels, y, form="per_view", weights=w).alpha == pytest.approx(
        per_view_labeling_error(labels, y, weights=w)
    )


# ---------------------------------------------------------------------------------------------------
# Graph form


@pytest.mark.parametrize("sparse", [False, True])
def test_graph_two_cliques_joined_by_one_edge(sparse):
    eps = 0.01
    a = scipy.linalg.block_diag(np.ones((3, 3)) - np.eye(3), np.ones((4, 4)) - np.eye(4))
    a[2, 3] = a[3, 2] = eps
    y = np.array([0, 0, 0, 1, 1, 1, 1])
    adjacency = scipy.sparse.csr_array(a) if sparse else a
    # ordered-pair mass: clique 3 -> 6, clique 4 -> 12, bridge -> 2 eps (cross-label)
    assert graph_labeling_error(adjacency, y) == pytest.approx(2 * eps / (18 + 2 * eps))
    assert graph_labeling_error(adjacency, np.zeros(7, int)) == 0.0


def test_graph_unlabeled_nodes_are_excluded():
    # path 0 - 1 - 2 with weights 1 and 3, node 1 unknown: no labelled edge -> error;
    a = np.array([[0, 1, 0], [1, 0, 3], [0, 3, 0]], float)
    with pytest.raises(ValueError, match="no edge mass"):
        graph_labeling_error(a, np.array([0, -1, 1]))
    # node 2 unknown: only edge (0, 1), labels differ -> 1; labels agree -> 0
    assert graph_labeling_error(a, np.array([0, 1, -1])) == 1.0
    assert graph_labeling_error(a, np.array([1, 1, -1])) == 0.0
    # self-loops count in the denominator only
    a_loop = a + np.diag([2.0, 0.0, 0.0])
    assert graph_labeling_error(a_loop, np.array([0, 1, -1])) == pytest.approx(2 / 4)
    assert graph_labeling_error(a_loop, np.array([0, 1, -1]), self_loops=False) == 1.0


def test_source_transition_mass():
    a = np.array([[0, 2, 1, 0], [2, 0, 0, 1], [1, 0, 0, 4], [0, 1, 4, 0]], float)
    node_sources = np.array([0, 0, 1, 2])
    source_labels = np.array([0, 1, -1])
    # node labels [0, 0, 1, -1]: labelled mass 2·(2 + 1) = 6, cross = 2·1 = 2
    assert source_transition_mass(a, node_sources, source_labels) == pytest.approx(2 / 6)
    with pytest.raises(ValueError, match="node_sources"):
        source_transition_mass(a, np.array([0, 0, 1, 3]), source_labels)


# ---------------------------------------------------------------------------------------------------
# Pseudo-labels


def test_pseudo_labels_recover_separated_clusters():
    rng = np.random.default_rng(11)
    centers = np.eye(4) * 10.0 + 1.0  # 4 well-separated directions
    labels = rng.integers(0, 4, size=200)
    labeled = centers[labels] + rng.normal(scale=0.3, size=(200, 4))
    truth = rng.integers(0, 4, size=50)
    unlabeled = centers[truth] + rng.normal(scale=0.3, size=(50, 4))
    out = pseudo_labels(unlabeled, labeled, labels, k=7)
    assert out.dtype == np.int64 and out.shape == (50,)
    np.testing.assert_array_equal(out, truth)
    np.testing.assert_array_equal(pseudo_labels(unlabeled, labeled, labels, k=7), out)  # deterministic


def test_pseudo_labels_majority_and_tie_break():
    # directions at angles 0, 10, 20, 30 degrees from the query; labels [5, 3, 3, 5]
    ang = np.deg2rad([0.0, 10.0, 20.0, 30.0])
    labeled = np.stack([np.cos(ang), np.sin(ang)], axis=1) * np.array(
        [[1.0], [2.0], [3.0], [4.0]]
    )  # norms vary
    labels = np.array([5, 3, 3, 5])
    query = np.array([[1.0, 0.0]])
    assert pseudo_labels(query, labeled, labels, k=1)[0] == 5  # nearest
    assert pseudo_labels(query, labeled, labels, k=3)[0] == 3  # majority 3 over 5
    assert pseudo_labels(query, labeled, labels, k=4)[0] == 5  # 2-2 tie -> nearest's class
    assert pseudo_labels(query, labeled, labels, k=100)[0] == 5  # k clipped to n_labeled
    # cosine: scale does not matter
    assert pseudo_labels(1e3 * query, 7.0 * labeled, labels, k=3)[0] == 3


# ---------------------------------------------------------------------------------------------------
# Validation


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: pairwise_labeling_error(np.array([[0], [1]])), "at least 2 views"),
        (lambda: pairwise_labeling_error(np.array([0, 1, 1])), "2-D"),
        (lambda: pairwise_labeling_error(np.zeros((0, 3), int)), "at least one source"),
        (lambda: pairwise_labeling_error(np.array([[0, -1]])), ">= 0"),
        (lambda: pairwise_labeling_error(np.array([[0.5, 1.0]])), "integer"),
        (lambda: pairwise_labeling_error(np.zeros((2, 2), int), weights=[1.0, -1.0]), "non-negative"),
        (lambda: pairwise_labeling_error(np.zeros((2, 2), int), weights=[1.0]), "shape"),
        (lambda: pairwise_labeling_error(np.zeros((2, 2), int), weights=[0.0, 0.0]), "positive sum"),
        (lambda: per_view_labeling_error(np.zeros((2, 2), int), np.array([0])), "shape"),
        (lambda: per_view_labeling_error(np.zeros((2, 2), int), np.array([0, -2])), ">= -1"),
        (lambda: labeling_error(np.zeros((2, 2), int), form="other"), "form"),
        (lambda: labeling_error(np.zeros((2, 2), int), form="per_view"), "source_labels"),
        (lambda: labeling_error(np.zeros((2, 2), int), np.zeros(2, int)), "source_labels"),
        (lambda: graph_labeling_error(np.ones((2, 3)), np.zeros(2, int)), "square"),
        (lambda: graph_labeling_error(np.array([[0, 1], [2, 0]]), np.zeros(2, int)), "symmetric"),
        (lambda: graph_labeling_error(-np.ones((2, 2)), np.zeros(2, int)), "non-negative"),
        (lambda: graph_labeling_error(np.ones((2, 2)), np.zeros(3, int)), "shape"),
        (lambda: pseudo_labels(np.ones((1, 2)), np.ones((2, 3)), np.zeros(2, int)), "dimensions"),
        (lambda: pseudo_labels(np.zeros((1, 2)), np.ones((2, 2)), np.zeros(2, int)), "zero row"),
        (lambda: pseudo_labels(np.ones((1, 2)), np.ones((2, 2)), np.zeros(2, int), k=0), "k must"),
        (lambda: pseudo_labels(np.ones((1, 2)), np.ones((2, 2)), np.array([0, -1])), ">= 0"),
    ],
)
def test_validation_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()

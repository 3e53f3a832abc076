from __future__ import annotations

import json
import math
from fractions import Fraction

import numpy as np
import pytest

from bounds.bound import BoundTerms, beta, generalization_bound, rank_candidates

# ---------------------------------------------------------------------------------------------- beta


@pytest.mark.parametrize(
    ("n_real", "n_gen", "weight", "expected"),
    [
        (50_000, 1_000_000, 1, Fraction(50_000, 1_050_000)),  # CIFAR-10 + 1M, vanilla inflation
        (50_000, 1_000_000, 10, Fraction(1, 3)),  # AdaInf's 10:1
        (50_000, 100_000, 1, Fraction(1, 3)),
        (5_000, 500_000, 10, Fraction(1, 11)),  # data-scarce
        (5_000, 500_000, 1, Fraction(1, 101)),
        (10, 0, 3, Fraction(1)),  # no generated data
        (4, 6, 2.5, Fraction(10, 16)),  # non-integer weight
    ],
)
def test_beta_exact(n_real, n_gen, weight, expected):
    assert beta(n_real, n_gen, weight) == pytest.approx(float(expected), rel=1e-15)


@pytest.mark.parametrize(
    ("n_real", "n_gen", "weight"), [(0, 5, 1), (5, -1, 1), (5, 5, 0), (5, 5, -1), (5, 5, math.inf)]
)
def test_beta_rejects_bad_arguments(n_real, n_gen, weight):
    with pytest.raises(ValueError):
        beta(n_real, n_gen, weight)


# ---------------------------------------------------------------------------------------------- the bound


def test_bound_exact_arithmetic():
    t = generalization_bound(alpha=0.1, lam=0.5, beta=0.25, tv=0.4)
    assert t.connectivity_term == pytest.approx(4 * 0.1 / 0.5, rel=1e-15)
    assert t.labeling_term == pytest.approx(8 * 0.1, rel=1e-15)
    assert t.gap_term == pytest.approx(0.75 * 0.4, rel=1e-15)
    assert t.total == pytest.approx(0.8 + 0.8 + 0.3, rel=1e-15)
    assert (t.alpha, t.lam, t.beta, t.tv) == (0.1, 0.5, 0.25, 0.4)
    assert t.constants == {"c_lambda": 4.0, "c_alpha": 8.0, "c_gap": 1.0}


def test_bound_respects_constants():
    t = generalization_bound(alpha=0.2, lam=0.25, beta=0.5, tv=0.5, c_lambda=2.0, c_alpha=3.0, c_gap=2.0)
    assert t.connectivity_term == pytest.approx(2.0 * 0.2 / 0.25)
    assert t.labeling_term == pytest.approx(3.0 * 0.2)
    assert t.gap_term == pytest.approx(2.0 * 0.5 * 0.5)
    assert t.total == pytest.approx(1.6 + 0.6 + 0.5)
    assert t.constants == {"c_lambda": 2.0, "c_alpha": 3.0, "c_gap": 2.0}


def test_gap_term_is_theorem_3_1_mixture_tv():
    # TV(P_real, beta P_real + (1 - beta) P_gen) = (1 - beta) TV(P_real, P_gen): all real -> no gap
    assert generalization_bound(alpha=0.1, lam=0.5, beta=1.0, tv=0.9).gap_term == 0.0
    assert generalization_bound(alpha=0.1, lam=0.5, beta=0.0, tv=0.9).gap_term == pytest.approx(0.9)
    no_gap = [generalization_bound(alpha=0.1, lam=0.5, beta=b, tv=0.0).total for b in (0.0, 0.3, 1.0)]
    assert no_gap[0] == no_gap[1] == no_gap[2]


def test_bound_is_decreasing_in_lam():
    totals = [
        generalization_bound(alpha=0.05, lam=lam, beta=0.3, tv=0.2).total for lam in np.linspace(0.01, 2, 30)
    ]
    assert np.all(np.diff(totals) < 0)


def test_bound_is_increasing_in_alpha():
    totals = [generalization_bound(alpha=a, lam=0.4, beta=0.3, tv=0.2).total for a in np.linspace(0, 1, 30)]
    assert np.all(np.diff(totals) > 0)


def test_bound_is_decreasing_in_beta_when_there_is_a_gap():
    totals = [generalization_bound(alpha=0.05, lam=0.4, beta=b, tv=0.2).total for b in np.linspace(0, 1, 30)]
    assert np.all(np.diff(totals) < 0)


def test_bound_is_increasing_in_tv():
    totals = [generalization_bound(alpha=0.05, lam=0.4, beta=0.3, tv=v).total for v in np.linspace(0, 1, 30)]
    assert np.all(np.diff(totals) > 0)


# ---------------------------------------------------------------------------------------------- infinities


def test_disconnected_graph_gives_an_infinite_bound():
    t = generalization_bound(alpha=0.1, lam=0.0, beta=0.5, tv=0.2)
    assert t.connectivity_term == math.inf and t.total == math.inf
    # the finite terms are still reported
    assert t.labeling_term == pytest.approx(0.8) and t.gap_term == pytest.approx(0.1)


def test_rounding_below_zero_is_treated_as_disconnected_not_as_a_huge_negative():
    t = generalization_bound(alpha=0.1, lam=-1e-13, beta=0.5, tv=0.2)
    assert t.lam == 0.0 and t.total == math.inf


def test_zero_alpha_on_a_disconnected_graph_is_still_vacuous():
    # 0 * inf is defined as inf: otherwise the weakest augmentation (no overlap: alpha = 0, lam = 0) would win
    t = generalization_bound(alpha=0.0, lam=0.0, beta=0.5, tv=0.2)
    assert t.connectivity_term == math.inf and t.total == math.inf


def test_zero_alpha_on_a_connected_graph_leaves_only_the_gap():
    t = generalization_bound(alpha=0.0, lam=0.3, beta=0.5, tv=0.2)
    assert t.connectivity_term == 0.0 and t.labeling_term == 0.0 and t.total == pytest.approx(0.1)


def test_switched_off_connectivity_constant_is_zero_even_when_disconnected():
    t = generalization_bound(alpha=0.1, lam=0.0, beta=0.5, tv=0.2, c_lambda=0.0)
    assert t.connectivity_term == 0.0 and t.total == pytest.approx(0.8 + 0.1)


def test_lam_rounding_above_two_is_clipped():
    assert generalization_bound(alpha=0.1, lam=2.0 + 1e-13, beta=0.5, tv=0.2).lam == 2.0


# ---------------------------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"lam": -1e-6}, "lam"),
        ({"lam": 2.1}, "lam"),
        ({"lam": math.nan}, "lam"),
        ({"alpha": -0.01}, "alpha"),
        ({"alpha": 1.5}, "alpha"),
        ({"alpha": math.nan}, "alpha"),
        ({"beta": 1.01}, "beta"),
        ({"beta": -0.1}, "beta"),
        ({"tv": 1.2}, "tv"),
        ({"tv": -0.2}, "tv"),
        ({"c_lambda": -1.0}, "c_lambda"),
        ({"c_alpha": math.inf}, "c_alpha"),
        ({"c_gap": math.nan}, "c_gap"),
    ],
)
def test_bound_rejects_out_of_range_arguments(kwargs, match):
    args = {"alpha": 0.1, "lam": 0.5, "beta": 0.5, "tv": 0.2} | kwargs
    with pytest.raises(ValueError, match=match):
        generalization_bound(**args)


def test_bound_arguments_are_keyword_only():
    with pytest.raises(TypeError):
        generalization_bound(0.1, 0.5, 0.5, 0.2)  # type: ignore[misc]


# ---------------------------------------------------------------------------------------------- results and ranking


def test_as_dict_names_every_term_and_serializes():
    t = generalization_bound(alpha=0.1, lam=0.5, beta=0.25, tv=0.4)
    d = t.as_dict()
    assert set(d) == {
        "alpha",
        "lam",
        "beta",
        "tv",
        "labeling_term",
        "connectivity_term",
        "gap_term",
        "total",
        "constants",
    }
    assert d["total"] == t.total and d["constants"] == {"c_lambda": 4.0, "c_alpha": 8.0, "c_gap": 1.0}
    assert json.loads(json.dumps(d)) == d
    assert (
        json.loads(json.dumps(generalization_bound(alpha=0.1, lam=0.0, beta=0.5, tv=0.2).as_dict()))["total"]
        == math.inf
    )


def test_bound_terms_are_frozen():
    t = generalization_bound(alpha=0.1, lam=0.5, beta=0.25, tv=0.4)
    with pytest.raises(AttributeError):
        t.total = 0.0  # type: ignore[misc]


def test_rank_candidates_orders_by_total_and_is_stable():
    def terms(alpha: float, lam: float) -> BoundTerms:
        return generalization_bound(alpha=alpha, lam=lam, beta=0.5, tv=0.2)

    cands = [
        terms(0.1, 0.5),
        terms(0.1, 0.0),
        terms(0.01, 0.5),
        terms(0.1, 0.5),
        terms(0.2, 0.0),
        terms(0.1, 1.0),
    ]
    assert rank_candidates(cands) == [2, 5, 0, 3, 1, 4]
    assert rank_candidates([]) == []

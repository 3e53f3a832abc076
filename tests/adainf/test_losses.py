"""Tests for adainf.losses: loop references, closed forms, invariants, gradient flow, queue and schedule."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from adainf.losses import (
    barlow_twins_loss,
    byol_loss,
    cosine_momentum_at,
    enqueue,
    init_queue,
    mocov2_loss,
    nt_xent_loss,
    spectral_contrastive_loss,
)

ATOL = 1e-10


def _randn(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _dot(a: torch.Tensor, b: torch.Tensor) -> float:
    return sum(float(x) * float(y) for x, y in zip(a.tolist(), b.tolist()))


def _cos(a: torch.Tensor, b: torch.Tensor) -> float:
    return _dot(a, b) / math.sqrt(_dot(a, a) * _dot(b, b))


def _unit_queue(d: int, k: int, seed: int) -> torch.Tensor:
    return F.normalize(_randn(2, d, k, seed=seed), dim=1)


def _moco_inputs(b: int = 4, d: int = 6, k: int = 7, seed: int = 0) -> tuple[torch.Tensor, ...]:
    return (*(_randn(b, d, seed=seed + i) for i in range(4)), _unit_queue(d, k, seed + 10))


# --------------------------------------------------------------------------------------------------------------
# independent references: explicit loops over anchors, pairs and queue columns, in Python floats


def _nt_xent_reference(z1: torch.Tensor, z2: torch.Tensor, tau: float) -> float:
    z = list(z1) + list(z2)
    n, b = len(z), len(z1)
    total = 0.0
    for a in range(n):
        pos = (a + b) % n
        denominator = sum(math.exp(_cos(z[a], z[j]) / tau) for j in range(n) if j != a)
        total += -math.log(math.exp(_cos(z[a], z[pos]) / tau) / denominator)
    return total / n


def _nt_xent_solo_formula(z1: torch.Tensor, z2: torch.Tensor, tau: float) -> torch.Tensor:
    # solo-learn's mask formulation (indexes = image ids of the 2B crops), written out independently.
    z = F.normalize(torch.cat([z1, z2]), dim=-1)
    sim = torch.exp(z @ z.T / tau)
    idx = torch.arange(len(z1)).repeat(2)[None]
    pos_mask = (idx.T == idx) & ~torch.eye(len(z), dtype=torch.bool)
    neg_mask = idx.T != idx
    pos, neg = (sim * pos_mask).sum(1), (sim * neg_mask).sum(1)
    return -torch.log(pos / (pos + neg)).mean()


def _infonce_reference(q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor, tau: float) -> float:
    total = 0.0
    for i in range(len(q)):
        qi, ki = F.normalize(q[i], dim=0), F.normalize(k[i], dim=0)
        logits = [_dot(qi, ki) / tau] + [_dot(qi, queue[:, c]) / tau for c in range(queue.shape[1])]
        total += -math.log(math.exp(logits[0]) / sum(math.exp(x) for x in logits))
    return total / len(q)


def _barlow_reference(z1: torch.Tensor, z2: torch.Tensor, lambd: float, scale: float, eps: float) -> float:
    n, d = z1.shape

    def standardize(z: torch.Tensor) -> list[list[float]]:
        cols = []
        for j in range(d):
            col = [float(z[i, j]) for i in range(n)]
            mean = sum(col) / n
            var = sum((x - mean) ** 2 for x in col) / n
            cols.append([(x - mean) / math.sqrt(var + eps) for x in col])
        return cols

    a, b = standardize(z1), standardize(z2)
    total = 0.0
    for i in range(d):
        for j in range(d):
            c_ij = sum(a[i][s] * b[j][s] for s in range(n)) / n
            total += (1 - c_ij) ** 2 if i == j else lambd * c_ij**2
    return scale * total


def _barlow_solo_formula(z1: torch.Tensor, z2: torch.Tensor, lambd: float, scale: float) -> torch.Tensor:
    # solo-learn standardises with a fresh BatchNorm1d(affine=False) in training mode.
    n, d = z1.shape
    bn = torch.nn.BatchNorm1d(d, affine=False).double()
    corr = bn(z1).T @ bn(z2) / n
    eye = torch.eye(d, dtype=torch.float64)
    cdif = (corr - eye).pow(2)
    cdif[~eye.bool()] *= lambd
    return scale * cdif.sum()


def _spectral_reference(z1: torch.Tensor, z2: torch.Tensor) -> float:
    b = len(z1)
    align = -2 * sum(_dot(z1[i], z2[i]) for i in range(b)) / b
    uniform = sum(_dot(z1[i], z2[j]) ** 2 for i in range(b) for j in range(b) if i != j) / (b * (b - 1))
    return align + uniform


# --------------------------------------------------------------------------------------------------------------
# NT-Xent


@pytest.mark.parametrize(("b", "d", "tau"), [(1, 3, 0.5), (2, 3, 0.2), (5, 4, 0.2), (6, 8, 1.0)])
def test_nt_xent_matches_loop_reference(b, d, tau):
    z1, z2 = _randn(b, d, seed=1), _randn(b, d, seed=2)
    loss, _ = nt_xent_loss(z1, z2, temperature=tau)
    assert float(loss) == pytest.approx(_nt_xent_reference(z1, z2, tau), abs=ATOL)


def test_nt_xent_matches_solo_learn_formula():
    z1, z2 = _randn(7, 5, seed=3), _randn(7, 5, seed=4)
    loss, _ = nt_xent_loss(z1, z2, temperature=0.2)
    torch.testing.assert_close(loss, _nt_xent_solo_formula(z1, z2, 0.2), rtol=0, atol=ATOL)


@pytest.mark.parametrize(("b", "d", "tau"), [(3, 3, 0.2), (4, 10, 0.5), (8, 8, 0.07)])
def test_nt_xent_orthogonal_aligned_closed_form(b, d, tau):
    # Positive similarity 1, all 2B - 2 negatives 0 -> -log(e^{1/τ} / (e^{1/τ} + 2B - 2)).
    z = torch.eye(d, dtype=torch.float64)[:b] * 2.5
    loss, _ = nt_xent_loss(z, z.clone(), temperature=tau)
    assert float(loss) == pytest.approx(math.log(1 + (2 * b - 2) * math.exp(-1 / tau)), abs=ATOL)


def test_nt_xent_gradients_reach_both_views():
    z1, z2 = _randn(4, 6, seed=5).requires_grad_(), _randn(4, 6, seed=6).requires_grad_()
    torch.autograd.gradcheck(lambda a, b: nt_xent_loss(a, b, temperature=0.3)[0], (z1, z2))
    nt_xent_loss(z1, z2, temperature=0.3)[0].backward()
    assert z1.grad is not None and z2.grad is not None
    assert torch.isfinite(z1.grad).all() and z1.grad.abs().sum() > 0


# --------------------------------------------------------------------------------------------------------------
# MoCo V2+


@pytest.mark.parametrize(("b", "d", "k", "tau"), [(3, 4, 5, 0.2), (5, 6, 9, 0.5), (1, 2, 1, 1.0)])
def test_mocov2_matches_loop_reference(b, d, k, tau):
    q1, q2, k1, k2, queue = _moco_inputs(b, d, k)
    loss, _ = mocov2_loss(q1, q2, k1, k2, queue, temperature=tau)
    # Query of view 1 against the key and queue of view 2, and vice versa.
    expected = (_infonce_reference(q1, k2, queue[1], tau) + _infonce_reference(q2, k1, queue[0], tau)) / 2
    assert float(loss) == pytest.approx(expected, abs=ATOL)


def test_mocov2_uses_the_other_views_queue():
    q1, q2, k1, k2, queue = _moco_inputs()
    loss, _ = mocov2_loss(q1, q2, k1, k2, queue, temperature=0.2)
    swapped, _ = mocov2_loss(q1, q2, k1, k2, queue.flip(0), temperature=0.2)
    assert abs(float(loss) - float(swapped)) > 1e-3


@pytest.mark.parametrize(("b", "k", "tau"), [(2, 3, 0.2), (4, 16, 0.5)])
def test_mocov2_orthogonal_queue_closed_form(b, k, tau):
    # q = k (similarity 1) in the first b coordinates; the queue lives in the others (all q·Q = 0),
    # so every row's logits are [1/τ, 0, ..., 0] -> log(1 + K e^{-1/τ}).
    d = b + 3
    q = torch.eye(d, dtype=torch.float64)[:b] * 3
    queue = torch.zeros(2, d, k, dtype=torch.float64)
    queue[:, b:, :] = _unit_queue(d - b, k, seed=7)
    loss, _ = mocov2_loss(q, q, q.clone(), q.clone(), queue, temperature=tau)
    assert float(loss) == pytest.approx(math.log(1 + k * math.exp(-1 / tau)), abs=ATOL)


def test_mocov2_gradients_reach_queries_only():
    q1, q2, k1, k2, queue = (t.requires_grad_() for t in _moco_inputs())
    loss, _ = mocov2_loss(q1, q2, k1, k2, queue, temperature=0.2)
    loss.backward()
    assert q1.grad is not None and q2.grad is not None and q1.grad.abs().sum() > 0
    assert k1.grad is None and k2.grad is None and queue.grad is None
    qs = tuple(t.detach().requires_grad_() for t in (q1, q2))
    ks = tuple(t.detach() for t in (k1, k2, queue))
    torch.autograd.gradcheck(lambda a, b: mocov2_loss(a, b, *ks, temperature=0.3)[0], qs)


def test_mocov2_rejects_transposed_queue():
    q1, q2, k1, k2, queue = _moco_inputs(d=6, k=7)
    with pytest.raises(ValueError, match="queue"):
        mocov2_loss(q1, q2, k1, k2, queue.transpose(1, 2), temperature=0.2)


# --------------------------------------------------------------------------------------------------------------
# MoCo queue


def test_enqueue_wraps_around_without_mutating_input():
    queue = torch.arange(2 * 3 * 5, dtype=torch.float64).reshape(2, 3, 5)
    before = queue.clone()
    keys = F.normalize(_randn(2, 2, 3, seed=8), dim=2)  # (2 views, B = 2, D = 3)
    new_queue, ptr = enqueue(queue, keys, 4)
    assert ptr == 1
    torch.testing.assert_close(queue, before, rtol=0, atol=0)
    torch.testing.assert_close(new_queue[:, :, 4], keys[:, 0], rtol=0, atol=1e-15)
    torch.testing.assert_close(new_queue[:, :, 0], keys[:, 1], rtol=0, atol=1e-15)
    torch.testing.assert_close(new_queue[:, :, 1:4], before[:, :, 1:4], rtol=0, atol=0)


def test_enqueue_is_a_fifo_of_the_last_k_keys():
    # Batches of 3 into a queue of 7 wrap at every position; the queue always holds the last 7 keys of each view.
    queue, ptr = torch.zeros(2, 4, 7, dtype=torch.float64), 0
    history: list[torch.Tensor] = []
    for step in range(6):
        keys = F.normalize(_randn(2, 3, 4, seed=20 + step), dim=2)
        queue, ptr = enqueue(queue, keys, ptr)
        history.extend(keys.unbind(1))
        assert ptr == len(history) % 7
    newest = {(len(history) - 1 - age) % 7: history[-1 - age] for age in range(7)}
    for column, key in newest.items():
        torch.testing.assert_close(queue[:, :, column], key, rtol=0, atol=1e-15)


def test_enqueue_matches_solo_learn_slice_when_batch_divides_queue():
    queue, keys = _unit_queue(3, 8, seed=9), F.normalize(_randn(2, 4, 3, seed=10), dim=2)
    solo = queue.clone()
    solo[:, :, 4:8] = keys.permute(0, 2, 1)
    new_queue, ptr = enqueue(queue, keys, 4)
    torch.testing.assert_close(new_queue, solo, rtol=0, atol=1e-15)
    assert ptr == 0


def test_enqueue_normalises_and_detaches_keys():
    keys = _randn(2, 2, 3, seed=11).requires_grad_()
    new_queue, _ = enqueue(torch.zeros(2, 3, 4, dtype=torch.float64), keys, 0)
    assert not new_queue.requires_grad
    torch.testing.assert_close(new_queue[:, :, :2].norm(dim=1), torch.ones(2, 2, dtype=torch.float64))


@pytest.mark.parametrize(("b", "ptr", "match"), [(5, 0, "larger"), (2, 4, "ptr"), (2, -1, "ptr")])
def test_enqueue_rejects_bad_input(b, ptr, match):
    with pytest.raises(ValueError, match=match):
        enqueue(torch.zeros(2, 3, 4), torch.ones(2, b, 3), ptr)


def test_init_queue_shape_and_unit_columns():
    queue = init_queue(5, 11, generator=torch.Generator().manual_seed(0))
    assert queue.shape == (2, 5, 11)
    torch.testing.assert_close(queue.norm(dim=1), torch.ones(2, 11))


# --------------------------------------------------------------------------------------------------------------
# BYOL


def test_byol_matches_per_sample_cosine_reference():
    p1, p2, t1, t2 = (_randn(5, 4, seed=30 + i) for i in range(4))
    loss, parts = byol_loss(p1, p2, t1, t2)
    c12 = sum(_cos(p1[i], t2[i]) for i in range(5)) / 5
    c21 = sum(_cos(p2[i], t1[i]) for i in range(5)) / 5
    assert float(loss) == pytest.approx((2 - 2 * c12) + (2 - 2 * c21), abs=ATOL)
    assert float(parts["cosine"]) == pytest.approx((c12 + c21) / 2, abs=ATOL)
    assert float(loss) == pytest.approx(4 * (1 - float(parts["cosine"])), abs=ATOL)


def test_byol_limits():
    z1, z2 = _randn(6, 3, seed=40), _randn(6, 3, seed=41)
    # p1 = z2_target and p2 = z1_target: perfect prediction; their negatives: the worst.
    assert float(byol_loss(z2, z1, z1, z2)[0]) == pytest.approx(0.0, abs=ATOL)
    assert float(byol_loss(-z2, -z1, z1, z2)[0]) == pytest.approx(8.0, abs=ATOL)


def test_byol_gradients_reach_predictions_only():
    p1, p2, t1, t2 = (_randn(4, 3, seed=50 + i).requires_grad_() for i in range(4))
    byol_loss(p1, p2, t1, t2)[0].backward()
    assert p1.grad is not None and p2.grad is not None and p1.grad.abs().sum() > 0
    assert t1.grad is None and t2.grad is None
    ts = (t1.detach(), t2.detach())
    ps = tuple(p.detach().requires_grad_() for p in (p1, p2))
    torch.autograd.gradcheck(lambda a, b: byol_loss(a, b, *ts)[0], ps)


@pytest.mark.parametrize(("base", "final"), [(0.99, 0.999), (0.99, 1.0)], ids=["mocov2", "byol"])
def test_cosine_momentum_endpoints_midpoint_monotone(base, final):
    total = 1000
    assert cosine_momentum_at(0, total, base, final) == pytest.approx(base, abs=1e-15)
    assert cosine_momentum_at(total, total, base, final) == pytest.approx(final, abs=1e-15)
    assert cosine_momentum_at(total // 2, total, base, final) == pytest.approx((base + final) / 2, abs=1e-15)
    taus = [cosine_momentum_at(s, total, base, final) for s in range(total + 1)]
    assert all(a < b for a, b in itertools.pairwise(taus))


@pytest.mark.parametrize(("step", "total"), [(-1, 10), (11, 10), (0, 0)])
def test_cosine_momentum_rejects_out_of_range(step, total):
    with pytest.raises(ValueError):
        cosine_momentum_at(step, total, 0.99, 1.0)


# --------------------------------------------------------------------------------------------------------------
# Barlow Twins


@pytest.mark.parametrize(
    ("n", "d", "lambd", "scale", "eps"), [(6, 4, 0.0051, 0.1, 1e-5), (5, 7, 0.3, 1.0, 0.5)]
)
def test_barlow_matches_loop_reference(n, d, lambd, scale, eps):
    z1, z2 = _randn(n, d, seed=60) * 3 + 1, _randn(n, d, seed=61)
    loss, _ = barlow_twins_loss(z1, z2, lambd=lambd, scale=scale, eps=eps)
    assert float(loss) == pytest.approx(_barlow_reference(z1, z2, lambd, scale, eps), abs=ATOL)


def test_barlow_matches_solo_learn_batchnorm_formula():
    z1, z2 = _randn(8, 5, seed=62), _randn(8, 5, seed=63)
    loss, _ = barlow_twins_loss(z1, z2, lambd=0.0051, scale=0.1)
    torch.testing.assert_close(loss, _barlow_solo_formula(z1, z2, 0.0051, 0.1), rtol=0, atol=ATOL)


def _decorrelated(n: int, d: int) -> torch.Tensor:
    # Orthonormal columns of a centred matrix are zero-mean; times sqrt(n) they have unit biased variance.
    x = _randn(n, d, seed=64)
    q, _ = torch.linalg.qr(x - x.mean(0))
    return q * math.sqrt(n)


def test_barlow_limits():
    n, d, scale = 10, 4, 0.1
    z = _decorrelated(n, d)
    loss, parts = barlow_twins_loss(z, z.clone(), scale=scale, eps=0.0)
    assert float(loss) == pytest.approx(0.0, abs=ATOL)
    # With BatchNorm's eps the diagonal is 1 / (1 + eps), not 1.
    eps = 1e-5
    loss, _ = barlow_twins_loss(z, z.clone(), scale=scale, eps=eps)
    assert float(loss) == pytest.approx(scale * d * (eps / (1 + eps)) ** 2, abs=1e-15)
    loss, parts = barlow_twins_loss(z, -z, scale=scale, eps=0.0)
    assert float(parts["invariance"]) == pytest.approx(scale * 4 * d, abs=ATOL)
    assert float(parts["redundancy"]) == pytest.approx(0.0, abs=ATOL)


def test_barlow_invariant_to_per_dimension_affine_maps():
    z1, z2 = _randn(9, 3, seed=65), _randn(9, 3, seed=66)
    shift, stretch = _randn(3, seed=67), torch.tensor([0.5, 3.0, 7.0], dtype=torch.float64)
    loss, _ = barlow_twins_loss(z1, z2, eps=0.0)
    moved, _ = barlow_twins_loss(z1 * stretch + shift, z2, eps=0.0)
    torch.testing.assert_close(moved, loss, rtol=0, atol=ATOL)


def test_barlow_gradients():
    z1, z2 = _randn(6, 3, seed=68).requires_grad_(), _randn(6, 3, seed=69).requires_grad_()
    torch.autograd.gradcheck(lambda a, b: barlow_twins_loss(a, b, lambd=0.2)[0], (z1, z2))


# --------------------------------------------------------------------------------------------------------------
# spectral contrastive loss


def test_spectral_matches_loop_reference():
    z1, z2 = _randn(6, 4, seed=70), _randn(6, 4, seed=71)
    loss, _ = spectral_contrastive_loss(z1, z2)
    assert float(loss) == pytest.approx(_spectral_reference(z1, z2), abs=ATOL)


def test_spectral_gradients():
    z1, z2 = _randn(5, 3, seed=72).requires_grad_(), _randn(5, 3, seed=73).requires_grad_()
    torch.autograd.gradcheck(lambda a, b: spectral_contrastive_loss(a, b)[0], (z1, z2))


# --------------------------------------------------------------------------------------------------------------
# invariants shared by the losses


def _two_view_losses():
    return {
        "nt_xent": lambda a, b: nt_xent_loss(a, b, temperature=0.2),
        "barlow": lambda a, b: barlow_twins_loss(a, b, lambd=0.05),
        "spectral": spectral_contrastive_loss,
        # BYOL with targets a fixed map of each view's predictions, so swapping the views swaps every role.
        "byol": lambda a, b: byol_loss(a, b, 2 * a + 0.1, 2 * b + 0.1),
    }


@pytest.mark.parametrize("name", ["nt_xent", "barlow", "spectral", "byol"])
def test_symmetric_in_swapping_views(name):
    fn = _two_view_losses()[name]
    z1, z2 = _randn(5, 4, seed=80), _randn(5, 4, seed=81)
    torch.testing.assert_close(fn(z1, z2)[0], fn(z2, z1)[0], rtol=0, atol=ATOL)


@pytest.mark.parametrize("name", ["nt_xent", "barlow", "spectral", "mocov2"])
def test_parts_are_detached_and_sum_to_loss(name):
    z1, z2 = _randn(5, 4, seed=82).requires_grad_(), _randn(5, 4, seed=83).requires_grad_()
    if name == "mocov2":
        loss, parts = mocov2_loss(z1, z2, z2 + 1, z1 - 1, _unit_queue(4, 6, seed=84), temperature=0.2)
    else:
        loss, parts = _two_view_losses()[name](z1, z2)
    assert loss.ndim == 0 and loss.requires_grad
    assert len(parts) == 2 and all(p.ndim == 0 and not p.requires_grad for p in parts.values())
    torch.testing.assert_close(sum(parts.values()), loss.detach(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", ["nt_xent", "mocov2", "byol"])
def test_invariant_to_input_scale(name):
    a, b, c, d = (_randn(5, 4, seed=85 + i) for i in range(4))
    queue = _unit_queue(4, 6, seed=89)
    fn = {
        "nt_xent": lambda s: nt_xent_loss(s * a, s * b, temperature=0.2),
        "mocov2": lambda s: mocov2_loss(s * a, s * b, s * c, s * d, queue, temperature=0.2),
        "byol": lambda s: byol_loss(s * a, s * b, s * c, s * d),
    }[name]
    torch.testing.assert_close(fn(3.0)[0], fn(1.0)[0], rtol=0, atol=ATOL)
    assert abs(float(fn(1.0)[0])) > 1e-3  # the check is not vacuous


@pytest.mark.parametrize(
    "call",
    [
        lambda: nt_xent_loss(torch.ones(3, 2), torch.ones(4, 2), temperature=0.2),
        lambda: nt_xent_loss(torch.ones(3), torch.ones(3), temperature=0.2),
        lambda: nt_xent_loss(torch.ones(3, 2), torch.ones(3, 2), temperature=0.0),
        lambda: mocov2_loss(*(torch.ones(3, 2),) * 4, torch.ones(2, 2, 5), temperature=-1.0),
        lambda: byol_loss(torch.ones(3, 2), torch.ones(3, 2), torch.ones(3, 2), torch.ones(2, 2)),
        lambda: barlow_twins_loss(torch.ones(1, 4), torch.ones(1, 4)),
        lambda: spectral_contrastive_loss(torch.ones(1, 4), torch.ones(1, 4)),
    ],
)
def test_rejects_bad_input(call):
    with pytest.raises(ValueError):
        call()

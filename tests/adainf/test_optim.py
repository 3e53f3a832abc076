from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

from adainf.optim import LARS, build_optimizer, lr_at, param_groups, scaled_lr


@pytest.fixture(autouse=True)
def _one_thread():
    # Tiny tensors: a second intra-op thread only adds synchronisation, which costs seconds on a busy machine.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


class SoloLARSReference:
    """solo-learn's `solo/utils/lars.py` step (AdaInf's copy: `clip_lr`, `exclude_bias_n_norm`), written out
    per parameter with Python control flow, as the reference for `adainf.optim.LARS`."""

    def __init__(self, params, *, lr, momentum, weight_decay, eta, eps=1e-8, clip_lr, exclude_bias_n_norm):
        self.params = list(params)
        self.lr, self.momentum, self.wd, self.eta, self.eps = lr, momentum, weight_decay, eta, eps
        self.clip_lr, self.exclude = clip_lr, exclude_bias_n_norm
        self.bufs: dict[int, torch.Tensor] = {}

    @torch.no_grad()
    def step(self):
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            d_p = p.grad
            p_norm, g_norm = torch.norm(p.data), torch.norm(p.grad.data)
            if (p.ndim != 1 or not self.exclude) and p_norm != 0 and g_norm != 0:
                lars_lr = p_norm / (g_norm + p_norm * self.wd + self.eps)
                lars_lr *= self.eta
                if self.clip_lr:
                    lars_lr = min(lars_lr / self.lr, 1)
                d_p = d_p.add(p, alpha=self.wd)
                d_p *= lars_lr
            if self.momentum != 0:
                if i not in self.bufs:
                    buf = self.bufs[i] = torch.clone(d_p).detach()
                else:
                    buf = self.bufs[i]
                    buf.mul_(self.momentum).add_(d_p)
                d_p = buf
            p.add_(d_p, alpha=-self.lr)


def small_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, bias=False),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 5),
        nn.BatchNorm1d(5),
        nn.ReLU(),
        nn.Linear(5, 3),
    )


def loss_of(model: nn.Module, step: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(100 + step)
    x = torch.randn(8, 3, 6, 6, generator=g)
    y = torch.randint(0, 3, (8,), generator=g)
    return nn.functional.cross_entropy(model(x), y)


# -------------------------------------------------------------------------------------------------- LARS


@pytest.mark.parametrize("clip_lr", [True, False])
@pytest.mark.parametrize("exclude", [True, False])
def test_lars_matches_solo_learn_reference(clip_lr, exclude):
    ours, ref = small_model(), small_model()
    wd, eta = 1e-2, 0.02
    opt = build_optimizer(
        "lars", ours, lr=1.0, weight_decay=wd, eta=eta, clip_lr=clip_lr, exclude_bias_and_norm=exclude
    )
    ref_opt = SoloLARSReference(
        ref.parameters(),
        lr=1.0,
        momentum=0.9,
        weight_decay=wd,
        eta=eta,
        clip_lr=clip_lr,
        exclude_bias_n_norm=exclude,
    )
    # lrs around the trust ratios (~1e-2) so that the clip is active for some layers and steps only
    for step, lr in enumerate([0.5, 0.02, 0.005, 0.1, 0.001, 0.05]):
        for group in opt.param_groups:
            group["lr"] = lr
        ref_opt.lr = lr
        for model, o in ((ours, opt), (ref, ref_opt)):
            for p in model.parameters():
                p.grad = None
            loss_of(model, step).backward()
            o.step()
        for p, q in zip(ours.parameters(), ref.parameters(), strict=True):
            torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-6)
    # the models moved: the comparison is not vacuous
    assert any(
        not torch.equal(p, q) for p, q in zip(ours.parameters(), small_model().parameters(), strict=True)
    )


def test_lars_excluded_params_get_plain_sgd_without_weight_decay():
    torch.manual_seed(0)
    p = nn.Parameter(torch.randn(7))
    q = nn.Parameter(p.detach().clone())
    lars = LARS([{"params": [p], "lars_exclude": True}], lr=0.3, momentum=0.9, weight_decay=0.5)
    sgd = torch.optim.SGD([q], lr=0.3, momentum=0.9, weight_decay=0.0)
    for step in range(4):
        grad = torch.randn(7, generator=torch.Generator().manual_seed(step))
        p.grad, q.grad = grad.clone(), grad.clone()
        lars.step()
        sgd.step()
        torch.testing.assert_close(p, q, rtol=0, atol=0)


def test_lars_trust_ratio_arithmetic():
    p = nn.Parameter(torch.tensor([[3.0, 4.0]]))  # ||p|| = 5
    grad = torch.tensor([[0.0, 1.0]])  # ||g|| = 1
    lr, wd, eta, eps = 0.5, 0.1, 0.02, 1e-8
    trust = eta * 5.0 / (1.0 + wd * 5.0 + eps)  # 0.0667
    direction = grad + wd * p.detach()
    # without clip the step is lr * trust; with clip it is lr * min(trust / lr, 1) = min(trust, lr)
    for clip, step_size in ((False, lr * trust), (True, trust)):
        q = nn.Parameter(p.detach().clone())
        q.grad = grad.clone()
        LARS([q], lr=lr, momentum=0.0, weight_decay=wd, eta=eta, eps=eps, clip_lr=clip).step()
        torch.testing.assert_close(q.detach(), p.detach() - step_size * direction)
    # large eta: trust / lr > 1 is clipped to 1, i.e. a plain SGD step with weight decay
    q = nn.Parameter(p.detach().clone())
    q.grad = grad.clone()
    LARS([q], lr=lr, momentum=0.0, weight_decay=wd, eta=10.0, clip_lr=True).step()
    torch.testing.assert_close(q.detach(), p.detach() - lr * direction)


def test_lars_zero_grad_or_zero_weight_uses_ratio_one_and_no_weight_decay():
    # zero gradient: solo-learn skips the trust ratio and the weight decay, so nothing moves
    p = nn.Parameter(torch.tensor([[3.0, 4.0]]))
    p.grad = torch.zeros_like(p)
    LARS([p], lr=0.5, momentum=0.0, weight_decay=0.1).step()
    torch.testing.assert_close(p.detach(), torch.tensor([[3.0, 4.0]]), rtol=0, atol=0)
    # zero weights: ratio 1, plain gradient step
    z = nn.Parameter(torch.zeros(2, 2))
    z.grad = torch.ones(2, 2)
    LARS([z], lr=0.5, momentum=0.0, weight_decay=0.1).step()
    torch.testing.assert_close(z.detach(), torch.full((2, 2), -0.5), rtol=0, atol=0)


def test_lars_zero_lr_is_a_finite_no_op():
    p = nn.Parameter(torch.tensor([[3.0, 4.0]]))
    p.grad = torch.tensor([[0.0, 1.0]])
    LARS([p], lr=0.0, weight_decay=0.1).step()
    torch.testing.assert_close(p.detach(), torch.tensor([[3.0, 4.0]]), rtol=0, atol=0)


def test_lars_validates():
    p = [nn.Parameter(torch.ones(2, 2))]
    with pytest.raises(ValueError, match="lr"):
        LARS(p, lr=-1.0)
    with pytest.raises(ValueError, match="eta"):
        LARS(p, lr=0.1, eta=0.0)
    with pytest.raises(ValueError, match="weight_decay"):
        LARS(p, lr=0.1, weight_decay=float("nan"))


# -------------------------------------------------------------------------------------------------- builder


def test_param_groups_exclude_biases_and_norm_weights():
    model = small_model()
    regular, excluded = param_groups(model, weight_decay=1e-4, exclude_bias_and_norm=True)
    names = {id(p): n for n, p in model.named_parameters()}
    assert {names[id(p)] for p in regular["params"]} == {"0.weight", "5.weight", "8.weight"}
    assert {names[id(p)] for p in excluded["params"]} == {
        "1.weight",
        "1.bias",
        "5.bias",
        "6.weight",
        "6.bias",
        "8.bias",
    }
    assert regular["weight_decay"] == 1e-4 and not regular["lars_exclude"]
    assert excluded["weight_decay"] == 0.0 and excluded["lars_exclude"]

    (single,) = param_groups(model, weight_decay=1e-4, exclude_bias_and_norm=False)
    assert len(single["params"]) == len(list(model.parameters())) and not single["lars_exclude"]


def test_param_groups_skip_frozen_and_empty():
    model = nn.Linear(3, 4)
    model.bias.requires_grad_(False)
    groups = param_groups(model, weight_decay=0.1, exclude_bias_and_norm=True)
    assert len(groups) == 1 and groups[0]["params"] == [model.weight]


def test_build_optimizer_sgd_and_adamw():
    model = small_model()
    sgd = build_optimizer("sgd", model, lr=0.3, weight_decay=1e-4, exclude_bias_and_norm=False)
    assert isinstance(sgd, torch.optim.SGD)
    assert sgd.param_groups[0]["momentum"] == 0.9 and not sgd.param_groups[0]["nesterov"]
    assert [g["weight_decay"] for g in sgd.param_groups] == [1e-4]

    adamw = build_optimizer("adamw", model, lr=1e-3, weight_decay=0.05)
    assert isinstance(adamw, torch.optim.AdamW)
    assert [g["weight_decay"] for g in adamw.param_groups] == [0.05, 0.0]

    lars = build_optimizer("lars", model.parameters(), lr=0.1, weight_decay=1e-4)
    assert isinstance(lars, LARS) and lars.param_groups[0]["eta"] == 0.02
    assert lars.param_groups[0]["clip_lr"] and not lars.param_groups[0]["lars_exclude"]

    for opt in (sgd, adamw, lars):  # each takes a step
        loss_of(model, 0).backward()
        opt.step()
        opt.zero_grad()

    with pytest.raises(ValueError, match="optimizer"):
        build_optimizer("adam", model, lr=0.1, weight_decay=0.0)


# -------------------------------------------------------------------------------------------------- schedule


def solo_scheduler_lrs(n_steps, *, total, base, warmup, start, eta_min):
    """The chainable recurrence of solo-learn's LinearWarmupCosineAnnealingLR.get_lr, stepped per step."""
    lr, out = base, []
    for t in range(n_steps):
        if t == 0:
            lr = start
        elif t < warmup:
            lr = lr + (base - start) / (warmup - 1)
        elif t == warmup:
            lr = base
        else:
            lr = (1 + math.cos(math.pi * (t - warmup) / (total - warmup))) / (
                1 + math.cos(math.pi * (t - warmup - 1) / (total - warmup))
            ) * (lr - eta_min) + eta_min
        out.append(lr)
    return out


def test_lr_at_matches_solo_learn_scheduler_recurrence():
    kw = {"total_steps": 200, "base_lr": 0.4, "warmup_steps": 20, "warmup_start_lr": 3e-5, "min_lr": 0.001}
    ref = solo_scheduler_lrs(200, total=200, base=0.4, warmup=20, start=3e-5, eta_min=0.001)
    ours = [lr_at(t, **kw) for t in range(200)]
    assert ours == pytest.approx(ref, rel=1e-9, abs=1e-12)


def test_lr_at_landmarks():
    kw = {"total_steps": 1000, "base_lr": 0.4, "warmup_steps": 100, "warmup_start_lr": 3e-5, "min_lr": 0.01}
    assert lr_at(0, **kw) == 3e-5
    assert lr_at(100, **kw) == pytest.approx(0.4, rel=1e-15)
    assert lr_at(99, **kw) == pytest.approx(0.4, rel=1e-12)  # solo-learn's W - 1 denominator
    assert lr_at(1000, **kw) == pytest.approx(0.01, rel=1e-12)
    assert lr_at(550, **kw) == pytest.approx((0.4 + 0.01) / 2, rel=1e-12)  # cosine midpoint
    warm = [lr_at(t, **kw) for t in range(100)]
    assert all(a < b for a, b in itertools.pairwise(warm))
    after = [lr_at(t, **kw) for t in range(100, 1001)]
    assert all(a >= b for a, b in itertools.pairwise(after))


def test_lr_at_without_warmup_is_pure_cosine():
    kw = {"total_steps": 10, "base_lr": 1.0, "warmup_steps": 0, "warmup_start_lr": 3e-5}
    assert lr_at(0, **kw) == 1.0
    assert lr_at(5, **kw) == pytest.approx(0.5)
    assert lr_at(10, **kw) == pytest.approx(0.0, abs=1e-15)
    assert lr_at(0, total_steps=10, base_lr=1.0, warmup_steps=1, warmup_start_lr=0.1) == 0.1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"step": -1}, "step"),
        ({"step": 11}, "step"),
        ({"total_steps": 0}, "total_steps"),
        ({"warmup_steps": 10}, "warmup_steps"),
        ({"warmup_steps": -1}, "warmup_steps"),
        ({"base_lr": -0.1}, "base_lr"),
        ({"min_lr": 2.0}, "min_lr"),
        ({"warmup_start_lr": float("nan")}, "warmup_start_lr"),
    ],
)
def test_lr_at_validates(kwargs, match):
    args = {"step": 0, "total_steps": 10, "base_lr": 1.0, "warmup_steps": 2} | kwargs
    with pytest.raises(ValueError, match=match):
        lr_at(args.pop("step"), **args)


def test_scaled_lr():
    assert scaled_lr(0.2, 512) == pytest.approx(0.4)  # AdaInf's SimCLR: 256 per GPU x 2 GPUs
    assert scaled_lr(0.15, 256) == 0.15
    with pytest.raises(ValueError, match="batch_size"):
        scaled_lr(0.2, 0)
    with pytest.raises(ValueError, match="lr_per_256"):
        scaled_lr(-0.2, 256)

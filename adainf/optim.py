"""Optimisers and the learning-rate schedule of solo-learn, which AdaInf trains with.

* `LARS`: solo-learn's `solo/utils/lars.py` (from Lightning Bolts, with apex LARC's "clip" mode), SGD with
  a layer-wise trust ratio. `param_groups` marks biases and norm weights with `lars_exclude=True`.
* `build_optimizer`: "lars" | "sgd" | "adamw" from a model or from parameter groups.
* `lr_at`: solo-learn's `LinearWarmupCosineAnnealingLR` stepped once per optimiser step, as a pure
  function of the step.
* `scaled_lr`: the linear scaling rule lr = lr_per_256 * batch / 256.

AdaInf's settings (paper-notes 4.1): LARS with eta 0.02, clip_lr, bias/norm excluded, momentum 0.9 for
SimCLR, BYOL and Barlow Twins; SGD with momentum 0.9 for MoCo V2+ (solo-learn applies its weight decay to
every parameter there, i.e. `exclude_bias_and_norm=False`); 1 000 warm-up steps from 3e-5, cosine to 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["LARS", "OPTIMIZERS", "build_optimizer", "lr_at", "param_groups", "scaled_lr"]

OPTIMIZERS = ("lars", "sgd", "adamw")


class LARS(torch.optim.Optimizer):
    """SGD with LARS layer-wise learning rates (You et al. 2017), solo-learn's arithmetic.

    For each parameter p with gradient g, in a group with learning rate lr and weight decay wd:

    * if the group has `lars_exclude=True` (biases and norm weights, solo-learn's
      `exclude_bias_n_norm`): d = g, with no weight decay and no adaptation;
    * otherwise, if ||p|| > 0 and ||g|| > 0::

          trust = eta * ||p|| / (||g|| + wd * ||p|| + eps)
          trust = min(trust / lr, 1)            if clip_lr (apex LARC's clip mode)
          d = trust * (g + wd * p)

      and if either norm is 0, d = g: solo-learn then skips the weight decay too;
    * momentum (dampening 0, no Nesterov): buf = d on the first step, then buf = momentum * buf + d;
      p <- p - lr * buf.

    With clip_lr the effective step of a layer is lr * min(trust / lr, 1) = min(trust, lr): the layer
    never moves faster than plain SGD at the scheduled lr would.

    Differences from solo-learn's code, none of which changes the arithmetic: exclusion is a group flag
    (set by `param_groups` for params with ndim <= 1) instead of a test of `p.ndim == 1` inside `step`,
    and the zero-norm test is a `torch.where` rather than a Python `if`, so that a step never waits for
    the GPU. A group with lr = 0 under clip_lr gets trust = 1 and a zero step, as in solo-learn, where
    the tensor division gives inf and min(inf, 1) = 1.

    Args:
        params: Parameters or parameter groups; groups may set any of the keyword arguments below.
        lr: Learning rate.
        momentum: Momentum factor (0.9 in solo-learn's configs).
        weight_decay: L2 penalty added to the gradient of non-excluded parameters.
        eta: Trust coefficient (solo-learn's default 1e-3; AdaInf's configs use 0.02).
        eps: Added to the trust ratio's denominator.
        clip_lr: Clip the adaptive rate at the global lr (LARC clip mode).
        lars_exclude: Default for groups that do not set it; True = plain SGD without weight decay.

    Raises:
        ValueError: For a negative lr, momentum, weight_decay or eps, or a non-positive eta.

    References:
        You, Gitman, Ginsburg, "Large Batch Training of Convolutional Networks", arXiv 1708.03888, Eq. 6.
        solo-learn `solo/utils/lars.py`; NVIDIA apex `apex/parallel/LARC.py`.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        eta: float = 0.02,
        eps: float = 1e-8,
        clip_lr: bool = True,
        lars_exclude: bool = False,
    ) -> None:
        _check_nonnegative(lr=lr, momentum=momentum, weight_decay=weight_decay, eps=eps)
        if not eta > 0:
            raise ValueError(f"eta must be > 0, got {eta}")
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "weight_decay": weight_decay,
            "eta": eta,
            "eps": eps,
            "clip_lr": clip_lr,
            "lars_exclude": lars_exclude,
        }
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """Performs one optimisation step.

        Args:
            closure: Re-evaluates the model and returns the loss (optional).

        Returns:
            The closure's loss, or None.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()

        for group in self.param_groups:
            lr, wd, momentum = group["lr"], group["weight_decay"], group["momentum"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                d_p = p.grad
                if not group["lars_exclude"]:
                    p_norm = torch.linalg.vector_norm(p)  # () scalars, kept on the device
                    g_norm = torch.linalg.vector_norm(d_p)
                    trust = p_norm / (g_norm + p_norm * wd + group["eps"]) * group["eta"]
                    if group["clip_lr"]:
                        # min(trust / lr, 1); at lr == 0 the ratio is +inf, so 1 (the step is 0 anyway).
                        trust = torch.clamp(trust / lr, max=1.0) if lr > 0 else torch.ones_like(trust)
                    is_adapted = (p_norm > 0) & (g_norm > 0)
                    d_p = torch.where(is_adapted, d_p.add(p, alpha=wd) * trust, d_p)  # same shape as p

                if momentum != 0:
                    state = self.state[p]
                    if "momentum_buffer" not in state:
                        buf = state["momentum_buffer"] = torch.clone(d_p).detach()
                    else:
                        buf = state["momentum_buffer"]
                        buf.mul_(momentum).add_(d_p)
                    d_p = buf
                p.add_(d_p, alpha=-lr)
        return loss


def _check_nonnegative(**values: float) -> None:
    for name, value in values.items():
        if not value >= 0:  # also rejects nan
            raise ValueError(f"{name} must be >= 0, got {value}")


def param_groups(
    model: nn.Module, *, weight_decay: float, exclude_bias_and_norm: bool
) -> list[dict[str, Any]]:
    """Splits a model's trainable parameters into a regular and an excluded group.

    Parameters with ndim <= 1 (biases, BatchNorm/LayerNorm weights, scalars) go to the excluded group,
    with `weight_decay=0.0` and `lars_exclude=True`: `LARS` then applies plain SGD to them, and SGD/AdamW
    no weight decay. This is solo-learn's `exclude_bias_n_norm` for LARS, and its
    `exclude_bias_n_norm_wd` for other optimisers.

    Args:
        model: The module whose parameters with `requires_grad` are collected.
        weight_decay: Weight decay of the regular group.
        exclude_bias_and_norm: Split as above; if False, all parameters form one regular group.

    Returns:
        One or two groups (an empty group is left out), each a dict with "params", "weight_decay" and
        "lars_exclude".
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if not exclude_bias_and_norm:
        return [{"params": params, "weight_decay": weight_decay, "lars_exclude": False}]
    regular = [p for p in params if p.ndim > 1]
    excluded = [p for p in params if p.ndim <= 1]
    groups = [
        {"params": regular, "weight_decay": weight_decay, "lars_exclude": False},
        {"params": excluded, "weight_decay": 0.0, "lars_exclude": True},
    ]
    return [g for g in groups if g["params"]]


def build_optimizer(
    name: str,
    model_or_groups: nn.Module | Iterable[dict[str, Any]] | Iterable[Tensor],
    *,
    lr: float,
    weight_decay: float,
    momentum: float = 0.9,
    eta: float = 0.02,
    clip_lr: bool = True,
    exclude_bias_and_norm: bool = True,
) -> torch.optim.Optimizer:
    """Builds "lars", "sgd" (momentum, no Nesterov) or "adamw" (default betas), as solo-learn does.

    Args:
        name: "lars", "sgd" or "adamw".
        model_or_groups: A module (split by `param_groups`), or parameter groups / parameters passed on
            as they are (groups without "weight_decay" get `weight_decay`).
        lr: Learning rate (already scaled, see `scaled_lr`).
        weight_decay: Weight decay.
        momentum: Momentum of LARS and SGD.
        eta: LARS trust coefficient.
        clip_lr: LARS clip mode.
        exclude_bias_and_norm: Only for a module: put ndim <= 1 params in a group without weight decay
            or LARS adaptation. AdaInf's LARS configs set it; its MoCo V2+ (SGD) config does not.

    Returns:
        The optimiser.

    Raises:
        ValueError: For an unknown name.
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {OPTIMIZERS}")
    if isinstance(model_or_groups, nn.Module):
        groups: Any = param_groups(
            model_or_groups, weight_decay=weight_decay, exclude_bias_and_norm=exclude_bias_and_norm
        )
    else:
        groups = list(model_or_groups)
    if name == "lars":
        return LARS(groups, lr=lr, momentum=momentum, weight_decay=weight_decay, eta=eta, clip_lr=clip_lr)
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, weight_decay=weight_decay)
    return torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay)


def lr_at(
    step: int,
    *,
    total_steps: int,
    base_lr: float,
    warmup_steps: int,
    warmup_start_lr: float = 3e-5,
    min_lr: float = 0.0,
) -> float:
    """Learning rate at an optimiser step: linear warm-up, then cosine annealing.

    The closed form of solo-learn's `LinearWarmupCosineAnnealingLR` (from Lightning Bolts) stepped after
    every optimiser step, W = warmup_steps, T = total_steps::

        step < W:  warmup_start_lr + step * (base_lr - warmup_start_lr) / (W - 1)
        step >= W: min_lr + (base_lr - min_lr) * (1 + cos(pi * (step - W) / (T - W))) / 2

    Note the W - 1: the warm-up reaches base_lr at step W - 1 already (and W = 1 is just step 0 at
    warmup_start_lr). With W = 0 the schedule is the cosine alone, starting at base_lr, as solo-learn
    does when warmup_epochs = 0.

    Args:
        step: Optimiser steps taken so far, in [0, total_steps].
        total_steps: Length of the schedule; lr is min_lr there.
        base_lr: Peak learning rate.
        warmup_steps: Warm-up length W, 0 <= W < total_steps.
        warmup_start_lr: Learning rate at step 0 when W > 0 (solo-learn's default 3e-5).
        min_lr: Final learning rate, <= base_lr.

    Returns:
        The learning rate.

    Raises:
        ValueError: For a step outside [0, total_steps], total_steps < 1, W outside [0, total_steps),
            negative or non-finite rates, or min_lr > base_lr.
    """
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    if not 0 <= warmup_steps < total_steps:
        raise ValueError(f"warmup_steps must be in [0, total_steps={total_steps}), got {warmup_steps}")
    if not 0 <= step <= total_steps:
        raise ValueError(f"step must be in [0, total_steps={total_steps}], got {step}")
    for name, value in (("base_lr", base_lr), ("warmup_start_lr", warmup_start_lr), ("min_lr", min_lr)):
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be finite and >= 0, got {value}")
    if min_lr > base_lr:
        raise ValueError(f"min_lr ({min_lr}) must be <= base_lr ({base_lr})")

    if step < warmup_steps:
        if warmup_steps == 1:
            return warmup_start_lr
        return warmup_start_lr + step * (base_lr - warmup_start_lr) / (warmup_steps - 1)
    progress = (step - warmup_steps) / (total_steps - warmup_steps)  # in [0, 1]
    return min_lr + 0.5 * (base_lr - min_lr) * (1.0 + math.cos(math.pi * progress))


def scaled_lr(lr_per_256: float, batch_size: int) -> float:
    """The linear scaling rule (Goyal et al. 2017), as solo-learn applies it: lr_per_256 * batch / 256.

    Args:
        lr_per_256: Learning rate for a batch of 256 (the `lr` of solo-learn's configs).
        batch_size: Total batch size over all devices (512 in AdaInf: 256 per GPU x 2 GPUs).

    Returns:
        The learning rate to use.

    Raises:
        ValueError: For a batch size < 1 or a negative or non-finite learning rate.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if not (math.isfinite(lr_per_256) and lr_per_256 >= 0):
        raise ValueError(f"lr_per_256 must be finite and >= 0, got {lr_per_256}")
    return lr_per_256 * batch_size / 256

"""Gaussian diffusion in closed form: noise schedules, the forward process, the ε-loss and the DDIM sampler.

Conventions: images are float tensors in [-1, 1], shape (B, C, H, W). Timesteps are 0-based indices
t = 0..T-1 into `alpha_bar` (Ho et al.'s t = 1..T shifted by one), so alpha_bar[0] is the least noisy and
alpha_bar[T-1] the noisiest level. A denoiser is any callable ``model(x_t, t, labels) -> ε̂`` with x_t
(B, C, H, W), t (B,) int64 and labels (B,) int64 or None. Everything random takes an explicit
`torch.Generator`; the draws are made on the CPU and moved to the data's device, so a run draws the same
numbers on any device.

References:
    Ho, Jain, Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020 (DDPM).
    Song, Meng, Ermon, "Denoising Diffusion Implicit Models", ICLR 2021 (DDIM).
    Nichol, Dhariwal, "Improved Denoising Diffusion Probabilistic Models", ICML 2021 (cosine schedule).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor

Denoiser = Callable[[Tensor, Tensor, Tensor | None], Tensor]
Schedule = Literal["cosine", "linear"]
SCHEDULES: tuple[str, ...] = ("cosine", "linear")

_MAX_BETA = 0.999  # Nichol & Dhariwal's clip: without it the cosine schedule's last β is 1 and ᾱ_T = 0


def alpha_bar_schedule(num_steps: int, kind: Schedule = "cosine") -> Tensor:
    """ᾱ_t = ∏_{s<=t} (1 - β_s) for t = 0..num_steps-1, strictly decreasing inside (0, 1).

    Args:
        num_steps: T, the number of diffusion steps (DDPM uses 1000).
        kind: "cosine": ᾱ(t) = f(t)/f(0), f(t) = cos²((t/T + s)/(1 + s) · π/2), s = 0.008, with β clipped
            at 0.999 (Nichol & Dhariwal, eq. 17); "linear": β rising linearly from 1e-4 to 0.02 at T = 1000
            (DDPM §4), rescaled by 1000/T so that other T keep about the same end-point noise (β clipped at
            0.999 for T < 50, where the rescaled β would pass 1).

    Returns:
        (num_steps,) float64 tensor.

    Raises:
        ValueError: for num_steps < 1 or an unknown kind.

    References:
        DDPM eq. 4 defines ᾱ_t; Improved DDPM eq. 17 the cosine form.
    """
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    if kind == "cosine":
        s = 0.008
        grid = torch.arange(num_steps + 1, dtype=torch.float64) / num_steps  # (T+1,)
        f = torch.cos((grid + s) / (1 + s) * math.pi / 2) ** 2
        betas = (1 - f[1:] / f[:-1]).clamp(max=_MAX_BETA)  # (T,)
    elif kind == "linear":
        scale = 1000 / num_steps
        betas = torch.linspace(scale * 1e-4, scale * 0.02, num_steps, dtype=torch.float64).clamp(max=_MAX_BETA)
    else:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {kind!r}")
    return torch.cumprod(1 - betas, dim=0)


def q_sample(x0: Tensor, t: Tensor, noise: Tensor, alpha_bar: Tensor) -> Tensor:
    """A draw of x_t ~ q(x_t | x_0) = N(√ᾱ_t x_0, (1 - ᾱ_t) I), by reparameterisation (DDPM eq. 4).

    Args:
        x0: (B, C, H, W) clean images.
        t: (B,) int64 timestep indices.
        noise: (B, C, H, W) standard normal ε.
        alpha_bar: (T,) schedule from `alpha_bar_schedule`.

    Returns:
        (B, C, H, W) x_t = √ᾱ_t x_0 + √(1 - ᾱ_t) ε, in x0's dtype.
    """
    ab = alpha_bar.to(x0.device)[t].to(x0.dtype).view(-1, 1, 1, 1)  # (B, 1, 1, 1)
    return ab.sqrt() * x0 + (1 - ab).sqrt() * noise


def epsilon_loss(
    model: Denoiser, x0: Tensor, alpha_bar: Tensor, gen: torch.Generator, labels: Tensor | None = None
) -> Tensor:
    """The simplified DDPM objective L_simple = E_{t, ε} ||ε - ε_θ(x_t, t)||² (DDPM eq. 14), one draw per image.

    t is uniform on 0..T-1 and ε standard normal, both drawn from `gen` (on the CPU, then moved to x0's
    device). The mean is over every element, so a model that predicts 0 scores exactly E[ε²] = 1.

    Args:
        model: the denoiser.
        x0: (B, C, H, W) clean images in [-1, 1].
        alpha_bar: (T,) schedule.
        gen: CPU generator of t and ε.
        labels: (B,) class labels for a conditional model, else None.

    Returns:
        Scalar float32 loss (with gradient).
    """
    b = x0.shape[0]
    t = torch.randint(0, len(alpha_bar), (b,), generator=gen).to(x0.device)  # (B,)
    noise = torch.randn(x0.shape, generator=gen).to(x0.device)  # (B, C, H, W)
    x_t = q_sample(x0, t, noise, alpha_bar)
    return torch.nn.functional.mse_loss(model(x_t, t, labels).float(), noise)


def ddim_timesteps(num_train_steps: int, num_sample_steps: int) -> Tensor:
    """The descending subsequence τ of 0..T-1 that DDIM visits: evenly spaced, ending at 0.

    Args:
        num_train_steps: T.
        num_sample_steps: S, 1 <= S <= T.

    Returns:
        (S,) int64, strictly decreasing, first entry T-1 (the noisiest level), last 0.

    Raises:
        ValueError: if S is not in [1, T].

    References:
        DDIM §4.2 (sampling on a sub-sequence τ of [1, ..., T]).
    """
    if not 1 <= num_sample_steps <= num_train_steps:
        raise ValueError(f"sample steps must be in [1, {num_train_steps}], got {num_sample_steps}")
    grid = torch.linspace(num_train_steps - 1, 0, num_sample_steps, dtype=torch.float64)
    return grid.round().long()


@torch.no_grad()
def ddim_sample(
    model: Denoiser,
    noise: Tensor,
    alpha_bar: Tensor,
    num_steps: int,
    labels: Tensor | None = None,
    *,
    clip: bool = True,
) -> Tensor:
    """Deterministic DDIM sampling (η = 0) from x_T = `noise`: the same noise gives the same images.

    Each step predicts ε̂ = ε_θ(x_t, t), the clean image x̂_0 = (x_t - √(1-ᾱ_t) ε̂) / √ᾱ_t, and moves to
    the next (less noisy) level s of τ: x_s = √ᾱ_s x̂_0 + √(1-ᾱ_s) ε̂ (DDIM eq. 12 with σ_t = 0). After the
    last level (t = 0) it returns x̂_0. With the exact ε of a one-point data distribution, x̂_0 is that
    point at every step, which the tests check.

    Args:
        model: the denoiser (in eval mode; called under no_grad).
        noise: (B, C, H, W) standard normal x_T, on the device to sample on.
        alpha_bar: (T,) schedule the model was trained with.
        num_steps: S, the number of denoiser evaluations.
        labels: (B,) class labels for a conditional model, else None.
        clip: clamp x̂_0 to [-1, 1] at every step (the data range; standard for pixel-space models,
            and it keeps a poor early ε̂ from throwing the trajectory out of range).

    Returns:
        (B, C, H, W) float32 samples x̂_0, in [-1, 1] when `clip`.

    References:
        DDIM eq. 12 (generative process) and §4.2 (η = 0 on a sub-sequence); DDPM eq. 15 (x̂_0 from ε̂).
    """
    x = noise.float()  # (B, C, H, W)
    ab = alpha_bar.to(x.device, torch.float64)
    taus = ddim_timesteps(len(alpha_bar), num_steps).tolist()
    x0_hat = x
    for i, t in enumerate(taus):
        t_batch = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)  # (B,)
        eps = model(x, t_batch, labels).float()  # (B, C, H, W)
        a_t = ab[t]
        x0_hat = ((x - (1 - a_t).sqrt() * eps) / a_t.sqrt()).float()
        if clip:
            x0_hat = x0_hat.clamp(-1, 1)
        if i + 1 < len(taus):
            a_s = ab[taus[i + 1]]
            x = (a_s.sqrt() * x0_hat + (1 - a_s).sqrt() * eps).float()
    return x0_hat

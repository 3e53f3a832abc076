"""Self-supervised losses of the four AdaInf methods (SimCLR, MoCo V2+, BYOL, Barlow Twins), as pure functions.

Each loss takes plain tensors of projections (or predictions) of two augmented views of the same B images and
returns ``(loss, parts)``: ``loss`` is a scalar with gradient, ``parts`` a dict of detached scalars that
decompose it for logging. The functions hold no state and make no ``torch.distributed`` calls: under DDP the
training loop gathers features first and passes the gathered tensors (solo-learn gathers inside its losses).

Conventions:
    * ``z1[i]`` and ``z2[i]`` are the two views of image i (positive pair); rows of different indices are
      negatives. Shapes are ``(B, D)``.
    * Targets that must not receive gradient (MoCo keys and queue, BYOL momentum projections) are detached
      inside, so a caller cannot forget it.
    * Every function matches the solo-learn code the AdaInf authors trained with (solo-learn, PyTorch-Lightning
      2.0.2); each docstring names the function and lists any deviation.

The AdaInf recipe's values (paper-notes §4.1): SimCLR τ = 0.2; MoCo V2+ τ = 0.2, queue 32768, momentum 0.99 → 0.999;
BYOL momentum 0.99 → 1.0; Barlow Twins λ = 0.0051, scale 0.1.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "barlow_twins_loss",
    "byol_loss",
    "cosine_momentum_at",
    "enqueue",
    "init_queue",
    "mocov2_loss",
    "nt_xent_loss",
    "spectral_contrastive_loss",
]


# --------------------------------------------------------------------------------------------------------------
# SimCLR


def nt_xent_loss(z1: Tensor, z2: Tensor, *, temperature: float) -> tuple[Tensor, dict[str, Tensor]]:
    """SimCLR's NT-Xent loss for two views.

    All 2B embeddings are anchors. Anchor a's positive is the other view of the same image; its 2B - 2 negatives
    are every other embedding (itself excluded). With s the cosine similarity and τ the temperature,

        loss = mean_a [ -s(a, pos(a)) / τ + log Σ_{b ≠ a} exp(s(a, b) / τ) ] = align + uniform.

    Args:
        z1: (B, D) projections of view 1 (any scale; normalised inside).
        z2: (B, D) projections of view 2, row i the same image as ``z1[i]``.
        temperature: τ > 0 (AdaInf: 0.2).

    Returns:
        ``(loss, parts)``: ``loss`` is the scalar cross-entropy averaged over the 2B anchors; ``parts`` holds
        ``align`` (mean of -s_pos / τ) and ``uniform`` (mean of the log-sum-exp over the 2B - 1 non-self
        similarities / τ), detached, with ``align + uniform == loss``.

    Raises:
        ValueError: if the inputs are not two (B, D) tensors of one shape or ``temperature <= 0``.

    References:
        Chen et al., "A Simple Framework for Contrastive Learning of Visual Representations", ICML 2020,
        Eq. (1) and Algorithm 1. The align/uniform split is Wang & Isola, ICML 2020, Eq. (1) read per anchor.
        Matches solo-learn ``solo.losses.simclr.simclr_loss_func(torch.cat([z1, z2]),
        indexes=torch.arange(B).repeat(2), temperature)``.

    Notes:
        solo-learn computes ``-log(pos / (pos + neg))`` from raw ``exp``; this uses log-sum-exp, which is the
        same number without the overflow risk at small τ.
    """
    _check_pair(z1, z2)
    _check_temperature(temperature)
    B = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)  # (2B, D)
    logits = z @ z.T / temperature  # (2B, 2B)
    # Self-similarity is excluded from the denominator, as solo-learn's masks do; -inf vanishes in exp.
    is_self = torch.eye(2 * B, dtype=torch.bool, device=z.device)  # (2B, 2B)
    logits = logits.masked_fill(is_self, float("-inf"))
    # Anchor a in view 1 pairs with a + B in view 2, and vice versa.
    pos_index = torch.arange(2 * B, device=z.device).roll(B)  # (2B,)
    pos = logits.gather(1, pos_index[:, None]).squeeze(1)  # (2B,)
    align = -pos.mean()
    uniform = torch.logsumexp(logits, dim=1).mean()
    loss = align + uniform
    return loss, {"align": align.detach(), "uniform": uniform.detach()}


# --------------------------------------------------------------------------------------------------------------
# MoCo V2+


def mocov2_loss(
    q1: Tensor, q2: Tensor, k1: Tensor, k2: Tensor, queue: Tensor, *, temperature: float
) -> tuple[Tensor, dict[str, Tensor]]:
    """MoCo V2+'s symmetric InfoNCE loss with one negative queue per view.

        loss = ( infonce(q1, k2, queue[1]) + infonce(q2, k1, queue[0]) ) / 2,
        infonce(q, k, Q) = mean_i CE( [q_i·k_i, q_i·Q] / τ, target 0 ).

    The query of one view is contrasted with the momentum key of the other view (positive) and with the queue of
    past keys *of that other view* (K negatives), as solo-learn does.

    Args:
        q1: (B, D) online projections of view 1 (any scale; normalised inside).
        q2: (B, D) online projections of view 2.
        k1: (B, D) momentum-encoder projections of view 1 (normalised and detached inside).
        k2: (B, D) momentum-encoder projections of view 2.
        queue: (2, D, K) past keys, ``queue[v]`` holding unit-norm keys of view v as columns (solo-learn's
            layout; build it with :func:`init_queue`, update it with :func:`enqueue`). Detached inside; not
            re-normalised.
        temperature: τ > 0 (AdaInf: 0.2).

    Returns:
        ``(loss, parts)``: ``parts`` holds ``align`` (mean of -q·k / τ) and ``uniform`` (mean log-sum-exp of
        the 1 + K logits), each averaged over the two directions, detached, with ``align + uniform == loss``.

    Raises:
        ValueError: on inconsistent shapes or ``temperature <= 0``.

    References:
        He et al., "Momentum Contrast for Unsupervised Visual Representation Learning", CVPR 2020, Eq. (1);
        Chen et al., "Improved Baselines with Momentum Contrastive Learning" (MoCo v2), arXiv 2003.04297.
        Matches solo-learn ``solo.methods.mocov2plus.MoCoV2Plus.training_step`` (symmetric sum / 2) with
        ``solo.losses.mocov2plus.mocov2plus_loss_func``.

    Notes:
        solo-learn normalises q and k in ``training_step``; here they are normalised inside so the loss does
        not depend on the caller remembering it (and is invariant to their scale).
    """
    for q, k in ((q1, k1), (q2, k2), (q1, q2)):
        _check_pair(q, k)
    D = q1.shape[1]
    if queue.ndim != 3 or queue.shape[0] != 2 or queue.shape[1] != D:
        raise ValueError(f"queue must have shape (2, D={D}, K), got {tuple(queue.shape)}")
    _check_temperature(temperature)
    q1, q2 = F.normalize(q1, dim=1), F.normalize(q2, dim=1)  # (B, D)
    # Keys and queue are targets: the momentum encoder is updated by EMA, never by this gradient.
    k1, k2 = F.normalize(k1.detach(), dim=1), F.normalize(k2.detach(), dim=1)  # (B, D)
    queue = queue.detach()
    align_12, uniform_12 = _infonce_terms(q1, k2, queue[1], temperature)
    align_21, uniform_21 = _infonce_terms(q2, k1, queue[0], temperature)
    align = (align_12 + align_21) / 2
    uniform = (uniform_12 + uniform_21) / 2
    loss = align + uniform
    return loss, {"align": align.detach(), "uniform": uniform.detach()}


def _infonce_terms(q: Tensor, k: Tensor, negatives: Tensor, temperature: float) -> tuple[Tensor, Tensor]:
    """Alignment and log-partition terms of InfoNCE with target 0; their sum is ``F.cross_entropy``."""
    pos = (q * k).sum(dim=1, keepdim=True)  # (B, 1)
    neg = q @ negatives  # (B, K)
    logits = torch.cat([pos, neg], dim=1) / temperature  # (B, 1 + K)
    return -logits[:, 0].mean(), torch.logsumexp(logits, dim=1).mean()


def init_queue(dim: int, size: int, *, generator: torch.Generator | None = None) -> Tensor:
    """A fresh MoCo queue of random unit keys, shape (2, dim, size), as solo-learn initialises it.

    Args:
        dim: projection dimension D.
        size: queue length K (AdaInf: 32768).
        generator: RNG for the Gaussian draws; the global one when None.

    Returns:
        (2, D, K) float32 tensor whose columns are unit vectors.
    """
    if dim <= 0 or size <= 0:
        raise ValueError(f"dim and size must be positive, got dim={dim}, size={size}")
    return F.normalize(torch.randn(2, dim, size, generator=generator), dim=1)  # (2, D, K)


def enqueue(queue: Tensor, keys: Tensor, ptr: int) -> tuple[Tensor, int]:
    """Write a batch of keys into the MoCo queue at ``ptr`` (FIFO, wrapping around), without mutating ``queue``.

    Args:
        queue: (2, D, K) queue, as for :func:`mocov2_loss`.
        keys: (2, B, D) keys of the two views (``torch.stack([k1, k2])``, gathered over devices by the loop),
            B <= K. They are detached and normalised before writing, so the queue only ever holds unit vectors.
        ptr: column where the oldest keys sit, 0 <= ptr < K.

    Returns:
        ``(new_queue, new_ptr)``: a new (2, D, K) tensor with columns ``(ptr + j) % K`` replaced by
        ``keys[:, j]`` for j < B, and ``(ptr + B) % K``.

    Raises:
        ValueError: on inconsistent shapes, B > K, or ``ptr`` outside [0, K).

    References:
        solo-learn ``solo.methods.mocov2plus.MoCoV2Plus._dequeue_and_enqueue``, which writes in place and
        asserts ``K % B == 0`` instead of wrapping; with that assert satisfied the two agree.

    Notes:
        Out of place on purpose (the loss of this step must see the old queue); the copy is 2·D·K floats,
        64 MiB at D = 256, K = 32768, cheap next to a ResNet forward. Callers rebind: ``queue, ptr =
        enqueue(queue, keys, ptr)``.
    """
    if queue.ndim != 3 or queue.shape[0] != 2:
        raise ValueError(f"queue must have shape (2, D, K), got {tuple(queue.shape)}")
    _, D, K = queue.shape
    if keys.ndim != 3 or keys.shape[0] != 2 or keys.shape[2] != D:
        raise ValueError(f"keys must have shape (2, B, D={D}), got {tuple(keys.shape)}")
    B = keys.shape[1]
    if B > K:
        raise ValueError(f"batch of keys ({B}) is larger than the queue ({K})")
    if not 0 <= ptr < K:
        raise ValueError(f"ptr must be in [0, {K}), got {ptr}")
    columns = (ptr + torch.arange(B, device=queue.device)) % K  # (B,)
    keys = F.normalize(keys.detach(), dim=2).to(queue.dtype)  # (2, B, D)
    new_queue = queue.index_copy(2, columns, keys.transpose(1, 2))  # (2, D, K)
    return new_queue, (ptr + B) % K


# --------------------------------------------------------------------------------------------------------------
# BYOL


def byol_loss(
    p1: Tensor, p2: Tensor, z1_target: Tensor, z2_target: Tensor
) -> tuple[Tensor, dict[str, Tensor]]:
    """BYOL's symmetrised normalised-MSE loss between online predictions and momentum (target) projections.

        loss = [2 - 2·mean_i cos(p1_i, z2_target_i)] + [2 - 2·mean_i cos(p2_i, z1_target_i)],

    so loss ∈ [0, 8]: 0 when predictions point at the other view's targets, 8 when they point away.

    Args:
        p1: (B, D) online predictor outputs for view 1.
        p2: (B, D) online predictor outputs for view 2.
        z1_target: (B, D) momentum-encoder projections of view 1 (detached inside).
        z2_target: (B, D) momentum-encoder projections of view 2 (detached inside).

    Returns:
        ``(loss, parts)``: ``parts = {"cosine": mean cosine over both pairs}`` (detached), so
        ``loss == 4 * (1 - cosine)``.

    Raises:
        ValueError: if the four inputs are not (B, D) tensors of one shape.

    References:
        Grill et al., "Bootstrap Your Own Latent", NeurIPS 2020, Eq. (2) (the 2 - 2 cos form) and the
        symmetrised loss that follows it. Matches solo-learn ``solo.methods.byol.BYOL.training_step`` for two
        crops (``byol_loss_func(P[1], Z_momentum[0]) + byol_loss_func(P[0], Z_momentum[1])``, a sum, not a mean)
        with ``solo.losses.byol.byol_loss_func``.
    """
    for x in (p2, z1_target, z2_target):
        _check_pair(p1, x)
    # Targets come from the EMA network: stop-gradient is what makes BYOL BYOL.
    cos_12 = F.cosine_similarity(p1, z2_target.detach(), dim=-1).mean()
    cos_21 = F.cosine_similarity(p2, z1_target.detach(), dim=-1).mean()
    loss = (2 - 2 * cos_12) + (2 - 2 * cos_21)
    return loss, {"cosine": ((cos_12 + cos_21) / 2).detach()}


def cosine_momentum_at(step: int, total_steps: int, base: float, final: float) -> float:
    """EMA coefficient of the momentum encoder at ``step``, cosine-annealed from ``base`` to ``final``.

        tau(step) = final - (final - base) · (cos(π · step / total_steps) + 1) / 2

    Args:
        step: optimisation steps taken so far, 0 <= step <= total_steps.
        total_steps: steps in the whole run (> 0).
        base: tau at step 0 (MoCo V2+: 0.99, BYOL: 0.99).
        final: tau at ``total_steps`` (MoCo V2+: 0.999, BYOL: 1.0).

    Returns:
        tau; ``base`` at step 0, ``final`` at ``total_steps``, monotone in between.

    Raises:
        ValueError: if ``total_steps <= 0`` or ``step`` is outside [0, total_steps] (past the end the cosine
            would turn back).

    References:
        Grill et al., BYOL, NeurIPS 2020, §3.2 (τ = 1 - (1 - τ_base)(cos(πk/K) + 1)/2, the case final = 1).
        Matches solo-learn ``solo.utils.momentum.MomentumUpdater.update_tau``.
    """
    if total_steps <= 0:
        raise ValueError(f"total_steps must be positive, got {total_steps}")
    if not 0 <= step <= total_steps:
        raise ValueError(f"step must be in [0, {total_steps}], got {step}")
    return final - (final - base) * (math.cos(math.pi * step / total_steps) + 1) / 2


# --------------------------------------------------------------------------------------------------------------
# Barlow Twins


def barlow_twins_loss(
    z1: Tensor, z2: Tensor, *, lambd: float = 0.0051, scale: float = 0.1, eps: float = 1e-5
) -> tuple[Tensor, dict[str, Tensor]]:
    """Barlow Twins' loss: drive the cross-correlation of the two views' standardised projections to identity.

    Each view is standardised per dimension over the batch (BatchNorm1d without affine, training mode: biased
    variance, ``eps`` inside the square root), C = z1nᵀ z2n / N is the (D, D) cross-correlation, and

        loss = scale · ( Σ_i (1 - C_ii)² + lambd · Σ_{i≠j} C_ij² ) = invariance + redundancy.

    Args:
        z1: (N, D) projections of view 1, N >= 2.
        z2: (N, D) projections of view 2.
        lambd: weight of the off-diagonal (redundancy) term (AdaInf: 0.0051).
        scale: overall factor, solo-learn's ``scale_loss`` (AdaInf: 0.1).
        eps: BatchNorm1d's epsilon.

    Returns:
        ``(loss, parts)``: ``parts`` holds ``invariance`` and ``redundancy``, both already multiplied by
        ``scale``, detached, summing to ``loss``.

    Raises:
        ValueError: if the inputs are not two (N, D) tensors of one shape with N >= 2.

    References:
        Zbontar et al., "Barlow Twins: Self-Supervised Learning via Redundancy Reduction", ICML 2021,
        Eqs. (1)-(2). Matches solo-learn ``solo.losses.barlow.barlow_loss_func(z1, z2, lamb=lambd,
        scale_loss=scale)`` on one device.

    Notes:
        Under DDP solo-learn standardises each device's batch with its own statistics and averages the
        per-device C (``all_reduce``); passing gathered z here standardises over the global batch instead,
        which is the original Barlow Twins recipe (sync-BN) and differs from solo-learn by O(1/N) noise.
    """
    _check_pair(z1, z2)
    N = z1.shape[0]
    if N < 2:
        raise ValueError(f"Barlow Twins needs at least 2 samples to standardise over the batch, got {N}")
    z1n, z2n = _standardize(z1, eps), _standardize(z2, eps)  # (N, D)
    corr = z1n.T @ z2n / N  # (D, D)
    diag = corr.diagonal()  # (D,)
    # Subtracting diag_embed zeroes the diagonal exactly while leaving the off-diagonal entries untouched.
    off = corr - torch.diag_embed(diag)  # (D, D)
    invariance = scale * (1 - diag).pow(2).sum()
    redundancy = scale * lambd * off.pow(2).sum()
    loss = invariance + redundancy
    return loss, {"invariance": invariance.detach(), "redundancy": redundancy.detach()}


def _standardize(z: Tensor, eps: float) -> Tensor:
    """BatchNorm1d(affine=False) in training mode: per-dimension zero mean, unit biased variance."""
    mean = z.mean(dim=0, keepdim=True)  # (1, D)
    var = z.var(dim=0, unbiased=False, keepdim=True)  # (1, D)
    return (z - mean) / torch.sqrt(var + eps)  # (N, D)


# --------------------------------------------------------------------------------------------------------------
# Spectral contrastive loss (theory)


def spectral_contrastive_loss(z1: Tensor, z2: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
    """HaoChen et al.'s spectral contrastive loss, the empirical form of their population loss.

        loss = -2 · mean_i z1_i·z2_i + mean_{i≠j} (z1_i·z2_j)²  = align + uniform

    The first term estimates E_{x,x⁺}[f(x)ᵀf(x⁺)] from positive pairs, the second E_{x,x'}[(f(x)ᵀf(x'))²] from the
    B(B-1) ordered pairs of different images (unbiased, since i ≠ j are independent draws). Its population
    minimiser spans the top eigenvectors of the augmentation graph, which is what ties the AdaInf bound to
    training.

    Args:
        z1: (B, D) features of view 1, used as they are (no normalisation: the loss fixes the scale), B >= 2.
        z2: (B, D) features of view 2.

    Returns:
        ``(loss, parts)``: ``parts`` holds ``align`` (-2 mean z1_i·z2_i) and ``uniform`` (mean of the squared
        off-diagonal inner products), detached, summing to ``loss``.

    Raises:
        ValueError: if the inputs are not two (B, D) tensors of one shape with B >= 2.

    References:
        HaoChen, Wei, Gaidon, Ma, "Provable Guarantees for Self-Supervised Deep Learning with Spectral
        Contrastive Loss", NeurIPS 2021, Lemma 3.2 (paper-notes §1.1). Not a solo-learn method.
    """
    _check_pair(z1, z2)
    B = z1.shape[0]
    if B < 2:
        raise ValueError(f"the spectral contrastive loss needs at least 2 samples for negatives, got {B}")
    inner = z1 @ z2.T  # (B, B)
    diag = inner.diagonal()  # (B,)
    align = -2 * diag.mean()
    # The diagonal is removed exactly (not by subtracting squares) so small off-diagonal terms stay accurate.
    off = inner - torch.diag_embed(diag)  # (B, B)
    uniform = off.pow(2).sum() / (B * (B - 1))
    loss = align + uniform
    return loss, {"align": align.detach(), "uniform": uniform.detach()}


# --------------------------------------------------------------------------------------------------------------
# checks


def _check_pair(a: Tensor, b: Tensor) -> None:
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(
            f"expected two (B, D) tensors of the same shape, got {tuple(a.shape)} and {tuple(b.shape)}"
        )


def _check_temperature(temperature: float) -> None:
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be positive and finite, got {temperature}")

"""Real and generated images as one index space, sampled with real weight N : generated weight 1.

AdaInf (Wang et al., ICLR 2024, §3.1) reweights real data by replicating it N times in the training list
(`data.dup` in the official code). Replication is the same as sampling each real image with weight N and
each generated image with weight 1, so the training distribution is the mixture

    P_t = beta * P_real + (1 - beta) * P_gen,   beta = N * n_real / (N * n_real + n_gen).

Here nothing is copied: indices [0, n_real) are real images and [n_real, n_real + n_gen) generated ones, and
each step draws its batch i.i.d. from those weights. N may be any positive real (N = 2.5 is meaningful,
replication could only express integers). Training is budgeted in steps, so sampling is epoch-free: the batch
of step t is a pure function of (seed, t), which makes resuming exact and lets any step be recomputed.

Drawing a slot is done in two stages, real-vs-generated with probability beta and then uniformly inside the
chosen part; each real index has probability beta / n_real = N / (N n_real + n_gen), exactly its weight.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor


def beta(n_real: int, n_generated: int, real_weight: float) -> float:
    """Fraction of real data in the inflated training distribution (AdaInf §3.1, Theorem 3.1's beta).

    Args:
        n_real: number of real images (> 0).
        n_generated: number of generated images (>= 0).
        real_weight: N, the weight of a real image relative to a generated one (> 0, any real).

    Returns:
        N * n_real / (N * n_real + n_generated); 1.0 when there is no generated data.
    """
    _check(n_real, n_generated, real_weight)
    return real_weight * n_real / (real_weight * n_real + n_generated)


def sampling_weights(n_real: int, n_generated: int, real_weight: float) -> np.ndarray:
    """Per-index sampling probabilities of the inflated index space, shape (n_real + n_generated,).

    Real indices come first. The probabilities sum to one; real ones are `real_weight` times the generated ones.
    """
    _check(n_real, n_generated, real_weight)
    total = real_weight * n_real + n_generated
    p = np.full(n_real + n_generated, 1.0 / total)
    p[:n_real] = real_weight / total
    return p


def _check(n_real: int, n_generated: int, real_weight: float) -> None:
    if n_real <= 0:
        raise ValueError(f"n_real must be positive, got {n_real}")
    if n_generated < 0:
        raise ValueError(f"n_generated must be >= 0, got {n_generated}")
    if not (math.isfinite(real_weight) and real_weight > 0):
        raise ValueError(f"real_weight (N) must be a positive finite number, got {real_weight}")


def step_generator(seed: int, step: int, stream: int = 0) -> torch.Generator:
    """A CPU generator whose state depends only on (seed, step, stream), via numpy's SeedSequence.

    SeedSequence hashes the tuple, so neighbouring steps and seeds give unrelated streams (seed + step would
    make run (seed=0, step=1) replay run (seed=1, step=0)). `stream` separates independent uses within a
    step (0: batch indices, 1: augmentation).
    """
    if seed < 0 or step < 0 or stream < 0:
        raise ValueError(f"seed, step and stream must be non-negative, got {seed}, {step}, {stream}")
    state = np.random.SeedSequence([seed, step, stream]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


@dataclass(frozen=True)
class InflatedIndex:
    """The index space of real + generated images and its step-wise sampler.

    Attributes:
        n_real: number of real images; they own indices [0, n_real).
        n_generated: number of generated images; indices [n_real, n_real + n_generated).
        real_weight: N, a real image's sampling weight relative to a generated one.
    """

    n_real: int
    n_generated: int = 0
    real_weight: float = 1.0

    def __post_init__(self) -> None:
        _check(self.n_real, self.n_generated, self.real_weight)

    @property
    def beta(self) -> float:
        return beta(self.n_real, self.n_generated, self.real_weight)

    def __len__(self) -> int:
        return self.n_real + self.n_generated

    def is_generated(self, indices: Tensor) -> Tensor:
        """Boolean mask, same shape as `indices`."""
        return indices >= self.n_real

    def sample(self, step: int, batch_size: int, seed: int = 0) -> Tensor:
        """Indices of step `step`'s batch, int64 (batch_size,), i.i.d. from the inflation weights.

        A pure function of (seed, step, batch_size): any step can be redrawn without replaying earlier ones.
        """
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        g = step_generator(seed, step)
        is_real = torch.rand(batch_size, generator=g) < self.beta  # (B,)
        real = torch.randint(self.n_real, (batch_size,), generator=g)  # (B,)
        if self.n_generated == 0:
            return real
        gen = torch.randint(self.n_generated, (batch_size,), generator=g) + self.n_real  # (B,)
        return torch.where(is_real, real, gen)


def gather(real: Tensor, generated: Tensor | None, indices: Tensor) -> Tensor:
    """Rows of the virtual concatenation [real; generated] at `indices`, without building it.

    Args:
        real: (n_real, ...) tensor.
        generated: (n_generated, ...) tensor with the same trailing shape and dtype, or None.
        indices: (B,) int64 indices into the inflated index space, on the tensors' device.

    Returns:
        (B, ...) tensor on `real`'s device.
    """
    n_real = real.shape[0]
    if generated is None or generated.shape[0] == 0:
        return real[indices]
    if generated.shape[1:] != real.shape[1:] or generated.dtype != real.dtype:
        raise ValueError(
            f"generated rows {tuple(generated.shape[1:])}/{generated.dtype} do not match real rows "
            f"{tuple(real.shape[1:])}/{real.dtype}"
        )
    is_gen = indices >= n_real
    out = torch.empty((indices.shape[0], *real.shape[1:]), dtype=real.dtype, device=real.device)
    out[~is_gen] = real[indices[~is_gen]]
    out[is_gen] = generated[indices[is_gen] - n_real]
    return out

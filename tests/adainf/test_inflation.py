from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch

from adainf.inflation import InflatedIndex, beta, gather, sampling_weights, step_generator


@pytest.mark.parametrize(
    ("n_real", "n_gen", "weight", "expected"),
    [
        (50_000, 1_000_000, 1, Fraction(50_000, 1_050_000)),  # vanilla CIFAR-10 + 1M: 0.0476
        (50_000, 1_000_000, 10, Fraction(1, 3)),  # AdaInf's 10:1
        (5_000, 500_000, 10, Fraction(50_000, 550_000)),  # data-scarce row
        (10, 0, 3, Fraction(1)),
        (4, 6, 2.5, Fraction(10, 16)),  # non-integer weight
    ],
)
def test_beta_exact(n_real, n_gen, weight, expected):
    assert beta(n_real, n_gen, weight) == pytest.approx(float(expected), rel=1e-15)


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf")])
def test_beta_rejects_bad_weight(bad):
    with pytest.raises(ValueError, match="real_weight"):
        beta(10, 10, bad)


def test_rejects_empty_real_and_negative_generated():
    with pytest.raises(ValueError, match="n_real"):
        InflatedIndex(0, 10)
    with pytest.raises(ValueError, match="n_generated"):
        InflatedIndex(10, -1)


def test_sampling_weights_ratio_and_mass():
    p = sampling_weights(3, 5, 2.5)
    assert p.shape == (8,)
    assert p.sum() == pytest.approx(1.0, abs=1e-15)
    np.testing.assert_allclose(p[:3] / p[3:].mean(), 2.5)
    assert p[:3].sum() == pytest.approx(beta(3, 5, 2.5))


def test_sample_is_pure_function_of_seed_and_step():
    idx = InflatedIndex(100, 1000, 10.0)
    a = idx.sample(step=7, batch_size=64, seed=3)
    idx.sample(step=1, batch_size=64, seed=3)  # drawing other steps in between changes nothing
    assert torch.equal(a, idx.sample(step=7, batch_size=64, seed=3))
    assert not torch.equal(a, idx.sample(step=8, batch_size=64, seed=3))
    assert not torch.equal(a, idx.sample(step=7, batch_size=64, seed=4))
    assert a.dtype == torch.int64 and int(a.min()) >= 0 and int(a.max()) < len(idx)


def test_step_streams_do_not_alias_across_seeds():
    # seed+step mixing would make (0, 1) replay (1, 0); SeedSequence hashing must not.
    a = torch.rand(8, generator=step_generator(0, 1))
    b = torch.rand(8, generator=step_generator(1, 0))
    assert not torch.equal(a, b)


@pytest.mark.parametrize(("n_real", "n_gen", "weight"), [(50, 1000, 10.0), (200, 4000, 1.0), (30, 900, 2.5)])
def test_real_fraction_converges_to_beta(n_real, n_gen, weight):
    idx = InflatedIndex(n_real, n_gen, weight)
    steps, batch = 400, 256
    real = sum(int((~idx.is_generated(idx.sample(t, batch, seed=0))).sum()) for t in range(steps))
    n = steps * batch
    b = idx.beta
    sigma = math.sqrt(b * (1 - b) / n)
    assert abs(real / n - b) < 4 * sigma, (real / n, b, sigma)


def test_every_index_has_its_weight():
    # Chi-square goodness of fit of per-index counts against sampling_weights (fixed seed).
    idx = InflatedIndex(20, 40, 3.0)
    counts = np.zeros(len(idx))
    for t in range(300):
        counts += np.bincount(idx.sample(t, 200, seed=1).numpy(), minlength=len(idx))
    expected = counts.sum() * sampling_weights(20, 40, 3.0)
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    # 59 degrees of freedom: mean 59, sd ~10.9; 59 + 5 sd is far in the tail under the null.
    assert chi2 < 59 + 5 * math.sqrt(2 * 59), chi2
    # and it is not trivially uniform: real indices get about 3x the counts of generated ones
    assert counts[:20].mean() / counts[20:].mean() == pytest.approx(3.0, rel=0.05)


def test_no_generated_samples_only_real():
    idx = InflatedIndex(10, 0, 5.0)
    assert idx.beta == 1.0
    assert int(idx.sample(0, 1000).max()) < 10


def test_gather_equals_concatenation():
    real = torch.arange(5 * 2).reshape(5, 2)
    gen = 100 + torch.arange(7 * 2).reshape(7, 2)
    indices = torch.tensor([0, 5, 11, 4, 6, 0])
    torch.testing.assert_close(gather(real, gen, indices), torch.cat([real, gen])[indices])
    torch.testing.assert_close(gather(real, None, torch.tensor([1, 3])), real[[1, 3]])


def test_gather_rejects_mismatched_rows():
    with pytest.raises(ValueError, match="do not match"):
        gather(torch.zeros(2, 3, dtype=torch.uint8), torch.zeros(2, 4, dtype=torch.uint8), torch.tensor([0]))

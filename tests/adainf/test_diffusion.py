"""Diffusion closed forms: schedules, q(x_t | x_0), the ε-loss and DDIM against exact denoisers."""

from __future__ import annotations

import math

import pytest
import torch

from adainf import diffusion
from adainf.unet import UNet


@pytest.fixture(autouse=True)
def _one_thread():
    # Tiny tensors: a second thread only adds synchronisation, which on a shared 2-core machine costs 10x.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _point_denoiser(x0: torch.Tensor, alpha_bar: torch.Tensor):
    """The exact ε for data that is the single point x0: ε = (x_t - √ᾱ_t x0) / √(1 - ᾱ_t)."""

    def model(x_t, t, labels):
        ab = alpha_bar.to(torch.float64)[t].view(-1, 1, 1, 1)
        return ((x_t.double() - ab.sqrt() * x0.double()) / (1 - ab).sqrt()).float()

    return model


@pytest.mark.parametrize("kind", ["cosine", "linear"])
@pytest.mark.parametrize("num_steps", [10, 1000])
def test_alpha_bar_strictly_decreasing_inside_unit_interval(kind, num_steps):
    ab = diffusion.alpha_bar_schedule(num_steps, kind)
    assert ab.shape == (num_steps,)
    assert bool((ab > 0).all()) and bool((ab < 1).all())
    assert bool((ab[1:] < ab[:-1]).all())


def test_linear_schedule_is_ddpm_betas():
    ab = diffusion.alpha_bar_schedule(1000, "linear")
    assert ab[0].item() == pytest.approx(1 - 1e-4, abs=1e-12)  # β_1 = 1e-4
    assert (ab[-1] / ab[-2]).item() == pytest.approx(1 - 0.02, abs=1e-12)  # β_T = 0.02
    # β_t rises linearly: ᾱ_t = ∏ (1 - β_s), so the product at the midpoint is checkable in closed form.
    betas = [1e-4 + (0.02 - 1e-4) * s / 999 for s in range(500)]
    assert ab[499].item() == pytest.approx(math.prod(1 - b for b in betas), rel=1e-10)


def test_cosine_schedule_matches_nichol_dhariwal_closed_form():
    t_count, s = 1000, 0.008
    ab = diffusion.alpha_bar_schedule(t_count, "cosine")

    def f(t):
        return math.cos((t / t_count + s) / (1 + s) * math.pi / 2) ** 2

    # The 0.999 clip on β only touches the last steps; elsewhere ᾱ(t) = f(t)/f(0) with 1-based t.
    for t in (0, 100, 500, 900):
        assert ab[t].item() == pytest.approx(f(t + 1) / f(0), rel=1e-9)


def test_unknown_schedule_is_an_error():
    with pytest.raises(ValueError, match="schedule"):
        diffusion.alpha_bar_schedule(10, "quadratic")


@pytest.mark.parametrize("t", [0, 300, 999])
def test_q_sample_moments_on_constant_image(t):
    # x_0 = 0.3 everywhere: x_t should be N(√ᾱ_t · 0.3, 1 - ᾱ_t), checked by Monte Carlo over 393k draws.
    ab = diffusion.alpha_bar_schedule(1000, "cosine")
    g = torch.Generator().manual_seed(0)
    x0 = torch.full((2048, 3, 8, 8), 0.3)
    noise = torch.randn(x0.shape, generator=g)
    x_t = diffusion.q_sample(x0, torch.full((2048,), t), noise, ab).double()
    a = ab[t].item()
    n = x_t.numel()
    var = 1 - a
    assert x_t.mean().item() == pytest.approx(math.sqrt(a) * 0.3, abs=5 * math.sqrt(var / n) + 1e-7)
    # The sample variance of n normals has standard deviation var·√(2/n).
    assert x_t.var().item() == pytest.approx(var, abs=5 * var * math.sqrt(2 / n) + 1e-7)


def test_epsilon_loss_is_zero_for_exact_denoiser_and_one_for_zero_prediction():
    ab = diffusion.alpha_bar_schedule(1000, "cosine")
    x0 = torch.rand(1, 3, 8, 8) * 2 - 1
    batch = x0.expand(512, -1, -1, -1)
    exact = diffusion.epsilon_loss(_point_denoiser(x0, ab), batch, ab, torch.Generator().manual_seed(1))
    assert exact.item() < 1e-4  # t indexing of the loss and of q_sample agree
    zero = diffusion.epsilon_loss(lambda x, t, y: torch.zeros_like(x), batch, ab, torch.Generator().manual_seed(1))
    assert zero.item() == pytest.approx(1.0, abs=0.02)  # E[ε²] = 1 over 98k draws


def test_ddim_timesteps_descend_from_noisiest_to_zero():
    taus = diffusion.ddim_timesteps(1000, 10)
    assert taus.tolist()[0] == 999 and taus.tolist()[-1] == 0 and len(taus) == 10
    assert bool((taus[1:] < taus[:-1]).all())
    assert diffusion.ddim_timesteps(5, 5).tolist() == [4, 3, 2, 1, 0]
    with pytest.raises(ValueError, match="sample steps"):
        diffusion.ddim_timesteps(10, 11)


@pytest.mark.parametrize("kind", ["cosine", "linear"])
# Not 1 step: from t = T-1 alone, x̂_0 = (x_T - √(1-ᾱ) ε) / √ᾱ divides float32 rounding of ε by √ᾱ_T ≈ 5e-5
# (cosine), a 1e-3 error that is numerics, not the method; every later step recomputes ε and removes it.
@pytest.mark.parametrize("steps", [2, 10, 50])
@pytest.mark.parametrize("clip", [True, False])
def test_ddim_with_exact_epsilon_recovers_the_point(kind, steps, clip):
    ab = diffusion.alpha_bar_schedule(1000, kind)
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(1, 3, 8, 8, generator=g) * 1.8 - 0.9  # (1, 3, 8, 8), inside the clip range
    noise = torch.randn(16, 3, 8, 8, generator=g)
    out = diffusion.ddim_sample(_point_denoiser(x0, ab), noise, ab, steps, clip=clip)
    torch.testing.assert_close(out, x0.expand_as(out), atol=1e-4, rtol=0)


def test_ddim_with_exact_epsilon_maps_noise_to_a_gaussian_data_distribution():
    # Data N(μ, s²) per coordinate: x_t ~ N(√ᾱ μ, ᾱ s² + 1 - ᾱ) and E[ε | x_t] = √(1-ᾱ)(x_t - √ᾱ μ) / (ᾱ s² + 1 - ᾱ).
    # The η = 0 DDIM ODE with this ε transports N(0, 1) onto N(μ, s²); 100 steps leave a small discretisation error.
    mu, s = 0.4, 0.25
    ab = diffusion.alpha_bar_schedule(1000, "cosine").double()

    def model(x_t, t, labels):
        a = ab[t].view(-1, 1, 1, 1)
        return ((1 - a).sqrt() * (x_t.double() - a.sqrt() * mu) / (a * s**2 + 1 - a)).float()

    noise = torch.randn(4096, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    out = diffusion.ddim_sample(model, noise, ab, 100, clip=False).double()
    assert out.mean().item() == pytest.approx(mu, abs=0.01)
    assert out.std().item() == pytest.approx(s, rel=0.03)


def test_ddim_is_deterministic_given_the_noise():
    torch.manual_seed(0)
    model = UNet(width=16, image_size=16).eval()
    # The zero-initialised head would make ε̂ = 0 everywhere; perturb it so the network matters.
    torch.nn.init.normal_(model.head[-1].weight, std=0.02)
    ab = diffusion.alpha_bar_schedule(1000, "cosine")
    noise = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    a = diffusion.ddim_sample(model, noise, ab, 5)
    b = diffusion.ddim_sample(model, noise.clone(), ab, 5)
    assert torch.equal(a, b)
    other = diffusion.ddim_sample(model, torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(4)), ab, 5)
    assert not torch.equal(a, other)
    assert a.min() >= -1 and a.max() <= 1


@pytest.mark.parametrize("patch_size", [1, 2])
def test_unet_predicts_noise_of_the_input_shape_and_uses_labels(patch_size):
    torch.manual_seed(0)
    model = UNet(width=16, image_size=16, patch_size=patch_size, num_classes=3).eval()
    # Zero-initialised residual branches and head make the untrained net ignore its embeddings; wake them.
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d) and not module.weight.any():
            torch.nn.init.normal_(module.weight, std=0.02)
    x, t = torch.randn(4, 3, 16, 16), torch.tensor([0, 10, 500, 999])
    with torch.no_grad():
        unlabeled = model(x, t, None)
        assert unlabeled.shape == x.shape
        # -1 and None both select the "no label" embedding; a real label changes the prediction.
        torch.testing.assert_close(model(x, t, torch.full((4,), -1)), unlabeled)
        assert not torch.allclose(model(x, t, torch.tensor([0, 1, 2, 0])), unlabeled)


def test_unet_rejects_sizes_it_cannot_halve_or_normalise():
    with pytest.raises(ValueError, match="multiple of 8"):
        UNet(width=12)
    with pytest.raises(ValueError, match="not divisible"):
        UNet(width=16, image_size=20, patch_size=2)  # 10 positions cannot be halved twice

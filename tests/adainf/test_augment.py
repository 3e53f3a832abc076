"""Tests for adainf.augment: each op against an independent reference (PIL, colorsys, a direct convolution,
a per-image loop of the public ops), the crop sampler's statistics, the strength knob's anchors, and the
pipeline's determinism."""

from __future__ import annotations

import colorsys
import itertools
import math
from dataclasses import fields, replace

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import stats

from adainf import augment as A
from adainf.bench import bench_augment
from adainf.config import AugmentConfig

LUMA = torch.tensor([0.299, 0.587, 0.114])


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _images(b: int = 8, h: int = 32, w: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (b, 3, h, w), dtype=torch.uint8, generator=_gen(seed))


def _smooth_images(b: int = 8, h: int = 32, w: int = 32, seed: int = 0) -> torch.Tensor:
    """Images with structure at several scales (closer to photos than uniform noise)."""
    g = _gen(seed)
    low = torch.rand(b, 3, h // 8 + 1, w // 8 + 1, generator=g)
    x = torch.nn.functional.interpolate(low, size=(h, w), mode="bilinear", align_corners=False)
    x = 0.8 * x + 0.2 * torch.rand(b, 3, h, w, generator=g)
    return (x * 255).round().to(torch.uint8)


# ----------------------------------------------------------------------------------------------------------
# Single ops


def test_hflip_twice_is_identity_and_mirrors():
    x = torch.rand(4, 3, 5, 7)
    assert torch.equal(A.hflip(A.hflip(x)), x)
    assert torch.equal(A.hflip(x)[..., 0], x[..., -1])


def test_grayscale_channels_equal_601_luma():
    x = torch.rand(4, 3, 6, 6)
    y = A.grayscale(x)
    expected = (x * LUMA.view(1, 3, 1, 1)).sum(1)
    for c in range(3):
        torch.testing.assert_close(y[:, c], expected, atol=1e-6, rtol=0)


def test_hue_shift_zero_half_twice_and_full_turn_are_identity():
    x = torch.rand(6, 3, 8, 8)
    torch.testing.assert_close(A.adjust_hue(x, 0.0), x, atol=1e-5, rtol=0)
    torch.testing.assert_close(A.adjust_hue(A.adjust_hue(x, 0.5), 0.5), x, atol=1e-5, rtol=0)
    torch.testing.assert_close(A.adjust_hue(A.adjust_hue(x, -0.5), -0.5), x, atol=1e-5, rtol=0)
    torch.testing.assert_close(A.adjust_hue(x, 1.0), x, atol=1e-5, rtol=0)
    # ... and a half turn alone is not the identity
    assert (A.adjust_hue(x, 0.5) - x).abs().max() > 0.1


def test_hue_matches_colorsys_reference():
    g = _gen(1)
    x = torch.rand(12, 3, 5, 5, generator=g)
    x[0] = 0.5  # gray pixels: hue undefined, must stay gray
    x[1, 0] = x[1, 1]  # ties between the max channels
    x[2] = (x[2] * 4).round() / 4  # many exact ties
    shift = torch.rand(12, generator=g) - 0.5
    y = A.adjust_hue(x, shift)
    ref = torch.empty_like(x)
    for i in range(x.shape[0]):
        for r in range(5):
            for c in range(5):
                h, s, v = colorsys.rgb_to_hsv(*x[i, :, r, c].tolist())
                ref[i, :, r, c] = torch.tensor(colorsys.hsv_to_rgb((h + shift[i].item()) % 1.0, s, v))
    torch.testing.assert_close(y, ref, atol=1e-5, rtol=0)


def test_brightness_exact_on_constant_image_and_clamped():
    x = torch.full((3, 3, 4, 4), 0.4)
    factor = torch.tensor([0.5, 1.5, 3.0])
    y = A.adjust_brightness(x, factor)
    expected = (0.4 * factor).clamp(0, 1)
    torch.testing.assert_close(y, expected.view(3, 1, 1, 1).expand_as(x), atol=1e-7, rtol=0)


def test_contrast_is_identity_on_constant_image_and_blends_with_mean_luma():
    x = torch.full((2, 3, 4, 4), 0.3)
    x[1, 0] = 0.7  # constant per channel, still changes under contrast
    const = x[:1]
    torch.testing.assert_close(A.adjust_contrast(const, 1.8), const, atol=1e-7, rtol=0)
    y = A.adjust_contrast(x[1:], 0.0)
    mean_luma = float((LUMA * torch.tensor([0.7, 0.3, 0.3])).sum())
    torch.testing.assert_close(y, torch.full_like(y, mean_luma), atol=1e-6, rtol=0)


def test_saturation_zero_is_grayscale():
    x = torch.rand(4, 3, 6, 6)
    torch.testing.assert_close(A.adjust_saturation(x, 0.0), A.grayscale(x), atol=1e-6, rtol=0)
    torch.testing.assert_close(A.adjust_saturation(x, 1.0), x, atol=1e-6, rtol=0)


def test_solarize_inverts_bright_pixels_of_selected_images():
    x = torch.rand(4, 3, 5, 5)
    mask = torch.tensor([True, False, True, False])
    y = A.solarize(x, mask)
    expected = torch.where(x >= 0.5, 1 - x, x)
    assert torch.equal(y[mask], expected[mask])
    assert torch.equal(y[~mask], x[~mask])


def test_normalize_per_channel():
    x = torch.rand(2, 3, 4, 4)
    mean, std = (0.1, 0.2, 0.3), (0.5, 0.25, 2.0)
    y = A.normalize(x, mean, std)
    for c in range(3):
        torch.testing.assert_close(y[:, c], (x[:, c] - mean[c]) / std[c])


# ----------------------------------------------------------------------------------------------------------
# Gaussian blur


def _blur_reference(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Direct 2-D convolution with the outer-product kernel and edge padding, one image at a time."""
    out = torch.empty_like(x, dtype=torch.float64)
    for i in range(x.shape[0]):
        s = float(sigma[i])
        r = max(1, math.ceil(3 * s))
        d = torch.arange(-r, r + 1, dtype=torch.float64)
        k = torch.exp(-0.5 * (d / s) ** 2)
        k = k / k.sum()
        k2 = torch.outer(k, k)
        padded = torch.nn.functional.pad(x[i : i + 1].double(), (r, r, r, r), mode="replicate")
        weight = k2.expand(3, 1, 2 * r + 1, 2 * r + 1)
        out[i] = torch.nn.functional.conv2d(padded, weight, groups=3)[0]
    return out.float()


def test_gaussian_blur_matches_direct_convolution_with_edge_padding():
    x = torch.rand(5, 3, 16, 12, generator=_gen(2))  # non-square: separate row and column matrices
    sigma = torch.tensor([0.1, 0.5, 1.0, 1.7, 2.0])
    torch.testing.assert_close(A.gaussian_blur(x, sigma), _blur_reference(x, sigma), atol=1e-5, rtol=0)


def test_gaussian_blur_preserves_constants_and_mass_and_small_sigma_is_identity():
    const = torch.full((2, 3, 10, 10), 0.37)
    torch.testing.assert_close(A.gaussian_blur(const, 1.5), const, atol=1e-6, rtol=0)
    x = torch.zeros(2, 3, 24, 24)
    x[:, :, 8:16, 8:16] = torch.rand(2, 3, 8, 8)  # mass far from the edges: nothing leaks or folds back
    torch.testing.assert_close(A.gaussian_blur(x, 1.0).sum((2, 3)), x.sum((2, 3)), atol=1e-4, rtol=0)
    torch.testing.assert_close(A.gaussian_blur(x, 0.05), x, atol=1e-6, rtol=0)
    assert (A.gaussian_blur(x, 1.0) - x).abs().max() > 0.05


# ----------------------------------------------------------------------------------------------------------
# Crop boxes and resampling


def test_crop_boxes_stay_inside_and_respect_scale():
    n, h, w = 2000, 32, 40
    scale = (0.08, 1.0)
    top, left, bh, bw = A.sample_crop_boxes(n, h, w, scale, (3 / 4, 4 / 3), _gen(3))
    assert top.dtype == torch.int64
    assert (top >= 0).all() and (left >= 0).all() and (bh >= 1).all() and (bw >= 1).all()
    assert (top + bh <= h).all() and (left + bw <= w).all()
    frac = (bh * bw).double() / (h * w)
    # rounding w and h to integers moves the area by at most about (w + h) / 2 pixels
    slack = (bh + bw).double() / (h * w)
    assert (frac >= scale[0] - slack).all() and (frac <= scale[1] + slack).all()
    assert len(set(zip(top.tolist(), left.tolist(), bh.tolist(), bw.tolist()))) > 500


def test_crop_box_distribution_is_uniform_in_scale_and_log_ratio():
    n, side = 4000, 512  # large enough that rounding is negligible and no attempt is rejected
    scale, ratio = (0.08, 0.5), (3 / 4, 4 / 3)
    _, _, bh, bw = A.sample_crop_boxes(n, side, side, scale, ratio, _gen(0))
    frac = ((bh * bw).double() / side**2).numpy()
    log_ratio = torch.log(bw.double() / bh.double()).numpy()
    ks_scale = stats.kstest(frac, stats.uniform(loc=scale[0], scale=scale[1] - scale[0]).cdf).statistic
    lo, hi = math.log(ratio[0]), math.log(ratio[1])
    ks_ratio = stats.kstest(log_ratio, stats.uniform(loc=lo, scale=hi - lo).cdf).statistic
    # the 0.1% critical value for n = 4000 is 1.95 / sqrt(n) = 0.031 (seed fixed, so this is deterministic)
    assert ks_scale < 0.031 and ks_ratio < 0.031
    # and the test has power: a log-uniform scale would fail it
    ks_wrong = stats.kstest(
        np.exp(np.random.default_rng(0).uniform(np.log(0.08), np.log(0.5), n)),
        stats.uniform(loc=scale[0], scale=scale[1] - scale[0]).cdf,
    ).statistic
    assert ks_wrong > 0.031


def test_crop_box_fallback_is_torchvision_central_crop():
    # ratio 2 never fits a square image at full area: every attempt fails, torchvision falls back
    top, left, bh, bw = A.sample_crop_boxes(5, 30, 30, (1.0, 1.0), (2.0, 2.0), _gen(5))
    assert bw.tolist() == [30] * 5 and bh.tolist() == [15] * 5  # w = W, h = round(W / min(ratio))
    assert top.tolist() == [7] * 5 and left.tolist() == [0] * 5  # centred


def _pil_crop_resize(
    img: torch.Tensor, box: tuple[int, int, int, int], size: int, resample: int
) -> torch.Tensor:
    top, left, h, w = box
    pil = Image.fromarray(img.permute(1, 2, 0).numpy())
    out = pil.crop((left, top, left + w, top + h)).resize((size, size), resample)
    return torch.from_numpy(np.asarray(out).copy()).permute(2, 0, 1)


def _check_against_pillow(images, boxes, size, interpolation):
    top, left, bh, bw = boxes
    out = A.resized_crop(images.float() / 255, boxes, size, interpolation)
    ours = (out * 255).round().to(torch.int16)
    resample = Image.BICUBIC if interpolation == "bicubic" else Image.BILINEAR
    for i in range(images.shape[0]):
        box = (int(top[i]), int(left[i]), int(bh[i]), int(bw[i]))
        ref = _pil_crop_resize(images[i], box, size, resample).to(torch.int16)
        assert (ours[i] - ref).abs().max() <= 2, (i, box)


@pytest.mark.parametrize("interpolation", ["bicubic", "bilinear"])
@pytest.mark.parametrize(("h", "w", "size", "scale"), [(32, 32, 32, (0.05, 1.0)), (28, 40, 48, (0.05, 1.0))])
def test_resized_crop_matches_pillow_when_upsampling(interpolation, h, w, size, scale):
    # Crops no larger than the output (CIFAR's case), on uniform noise: the hardest input for the
    # intermediate clipping that Pillow does between its horizontal and vertical passes.
    images = _images(12, h, w, seed=6)
    boxes = A.sample_crop_boxes(12, h, w, scale, (0.5, 2.0), _gen(7))
    _check_against_pillow(images, boxes, size, interpolation)


@pytest.mark.parametrize("interpolation", ["bicubic", "bilinear"])
@pytest.mark.parametrize(("h", "w", "size"), [(40, 28, 16), (96, 80, 32)])
def test_resized_crop_matches_pillow_when_downscaling(interpolation, h, w, size):
    # Downscaling is antialiased (support widened by the scale); (96, 80) also takes the scatter path for
    # images too large for the precomputed table. Smooth images: Pillow 13 sometimes runs the vertical pass
    # first when both axes shrink, and pass order only matters through clipping bicubic overshoot of noise.
    images = _smooth_images(12, h, w, seed=6)
    boxes = A.sample_crop_boxes(12, h, w, (0.3, 1.0), (0.5, 2.0), _gen(7))
    _check_against_pillow(images, boxes, size, interpolation)


def test_resized_crop_identity_box_is_exact_and_flip_mirrors():
    x = torch.rand(3, 3, 32, 32)
    n = x.shape[0]
    boxes = (
        torch.zeros(n, dtype=torch.long),
        torch.zeros(n, dtype=torch.long),
        torch.full((n,), 32),
        torch.full((n,), 32),
    )
    assert torch.equal(A.resized_crop(x, boxes, 32), x)
    flip = torch.tensor([True, False, True])
    y = A.resized_crop(x, boxes, 32, flip=flip)
    assert torch.equal(y[flip], A.hflip(x[flip])) and torch.equal(y[~flip], x[~flip])
    # a non-trivial box: flipping the output equals mirroring the crop
    top, left, bh, bw = A.sample_crop_boxes(n, 32, 32, (0.1, 0.6), (3 / 4, 4 / 3), _gen(8))
    plain = A.resized_crop(x, (top, left, bh, bw), 20)
    flipped = A.resized_crop(x, (top, left, bh, bw), 20, flip=torch.ones(n, dtype=torch.bool))
    torch.testing.assert_close(flipped, A.hflip(plain), atol=1e-6, rtol=0)


# ----------------------------------------------------------------------------------------------------------
# Presets and the strength knob


def test_presets_match_solo_learn_table():
    sym1, sym2 = A.PRESETS["symmetric"]
    assert sym1 == sym2
    assert (sym1.crop_min_scale, sym1.jitter_prob, sym1.brightness, sym1.hue) == (0.08, 0.8, 0.8, 0.2)
    assert (sym1.grayscale_prob, sym1.blur_prob, sym1.solarize_prob, sym1.hflip_prob) == (0.2, 0.5, 0.0, 0.5)
    ada = A.PRESETS["symmetric_adainf"][0]
    assert (ada.crop_min_scale, ada.jitter_prob, ada.brightness, ada.contrast, ada.saturation, ada.hue) == (
        0.2,
        0.4,
        0.4,
        0.4,
        0.4,
        0.1,
    )
    weak = A.PRESETS["symmetric_weak"][0]
    assert (weak.crop_min_scale, weak.jitter_prob, weak.saturation, weak.hue) == (0.08, 0.8, 0.4, 0.1)
    a1, a2 = A.PRESETS["asymmetric"]
    assert (a1.brightness, a1.contrast, a1.saturation, a1.hue, a1.jitter_prob) == (0.4, 0.4, 0.2, 0.1, 0.8)
    assert (a1.blur_prob, a2.blur_prob, a1.solarize_prob, a2.solarize_prob) == (0.0, 0.0, 0.0, 0.2)
    b1, b2 = A.PRESETS["asymmetric_adainf"]
    assert (b1.crop_min_scale, b1.jitter_prob, b1.saturation, b2.solarize_prob) == (0.2, 0.4, 0.2, 0.2)
    for pair in A.PRESETS.values():
        for cfg in pair:
            assert (cfg.crop_size, cfg.interpolation, cfg.crop_min_ratio, cfg.crop_max_ratio) == (
                32,
                "bicubic",
                3 / 4,
                4 / 3,
            )
            assert (cfg.blur_sigma_min, cfg.blur_sigma_max, cfg.hflip_prob, cfg.grayscale_prob) == (
                0.1,
                2.0,
                0.5,
                0.2,
            )


def test_strength_anchors_equal_presets_exactly():
    assert A.at_strength(1.0) == A.PRESETS["symmetric"]
    assert A.at_strength(0.5) == A.PRESETS["symmetric_adainf"]
    for f in fields(AugmentConfig):  # field by field, for a readable failure
        assert getattr(A.at_strength(0.5)[0], f.name) == getattr(A.PRESETS["symmetric_adainf"][0], f.name), (
            f.name
        )
    zero = A.at_strength(0)[0]
    assert (zero.crop_min_scale, zero.crop_max_scale, zero.crop_min_ratio, zero.crop_max_ratio) == (
        1,
        1,
        1,
        1,
    )
    assert zero.jitter_prob == zero.grayscale_prob == zero.blur_prob == zero.hflip_prob == 0.0


def test_strength_is_monotone():
    grid = [i / 40 for i in range(41)]
    cfgs = [A.at_strength(s)[0] for s in grid]
    increasing = (
        "jitter_prob",
        "brightness",
        "contrast",
        "saturation",
        "hue",
        "grayscale_prob",
        "blur_prob",
        "hflip_prob",
        "crop_max_ratio",
    )
    for name in increasing:
        vals = [getattr(c, name) for c in cfgs]
        assert all(a <= b for a, b in itertools.pairwise(vals)), name
        assert vals[-1] > vals[0], name
    for name in ("crop_min_scale", "crop_min_ratio"):
        vals = [getattr(c, name) for c in cfgs]
        assert all(a >= b for a, b in itertools.pairwise(vals)), name
        assert vals[-1] < vals[0], name


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), "0.5", True])
def test_strength_outside_unit_interval_raises(bad):
    with pytest.raises(ValueError, match="strength"):
        A.at_strength(bad)


def test_resolve_views():
    assert A.resolve_views("asymmetric") == A.PRESETS["asymmetric"]
    assert A.resolve_views(0.5) == A.PRESETS["symmetric_adainf"]
    assert A.resolve_views("1.0") == A.PRESETS["symmetric"]
    with pytest.raises(ValueError, match="symmetric_adainf"):
        A.resolve_views("simclr")


def test_strength_zero_pipeline_is_identity():
    cfg = replace(A.at_strength(0.0)[0], normalize=False)
    images = _images(16)
    out = A.augment_batch(images, cfg, _gen())
    assert torch.equal(out, images.float() / 255)


# ----------------------------------------------------------------------------------------------------------
# The pipeline


def _reference_view(images: torch.Tensor, p, cfg: AugmentConfig) -> torch.Tensor:
    """The pipeline one image at a time with the public ops, given the drawn parameters."""
    ops = [A.adjust_brightness, A.adjust_contrast, A.adjust_saturation, A.adjust_hue]
    outs = []
    for i in range(images.shape[0]):
        box = (p.top[i : i + 1], p.left[i : i + 1], p.height[i : i + 1], p.width[i : i + 1])
        x = A.resized_crop(images[i : i + 1].float() / 255, box, cfg.crop_size, cfg.interpolation)
        if p.flip[i]:
            x = A.hflip(x)
        if p.jitter[i]:
            for op in p.order[i].tolist():
                x = ops[op](x, p.factors[i, op])
        if p.gray[i]:
            x = A.grayscale(x)
        if p.blur[i]:
            x = A.gaussian_blur(x, p.sigma[i])
        if p.solarize[i]:
            x = A.solarize(x)
        if cfg.normalize:
            x = A.normalize(x, cfg.mean, cfg.std)
        outs.append(x)
    return torch.cat(outs)


@pytest.mark.parametrize("preset", ["symmetric", "asymmetric", "symmetric_adainf"])
def test_pipeline_matches_per_image_reference(preset):
    # Probabilities raised so that every branch (and the subset gathers) is exercised on 48 images.
    cfg = replace(A.PRESETS[preset][1], jitter_prob=0.7, grayscale_prob=0.3, blur_prob=0.5, solarize_prob=0.3)
    images = _smooth_images(48, 32, 32, seed=9)
    out = A.augment_batch(images, cfg, _gen(10))
    params = A._draw_params(48, 32, 32, cfg, _gen(10))
    torch.testing.assert_close(out, _reference_view(images, params, cfg), atol=2e-5, rtol=0)


def test_jitter_subset_path_and_fixed_order_match_reference():
    # jitter_prob 0.3 takes the gather path; "fixed" order is b, c, s, h for everyone.
    cfg = replace(A.PRESETS["symmetric"][0], jitter_prob=0.3, jitter_order="fixed", normalize=False)
    images = _smooth_images(40, 24, 28, seed=11)  # non-square sources
    params = A._draw_params(40, 24, 28, cfg, _gen(12))
    assert params.order.tolist() == [[0, 1, 2, 3]] * 40
    out = A.augment_batch(images, cfg, _gen(12))
    torch.testing.assert_close(out, _reference_view(images, params, cfg), atol=2e-5, rtol=0)


def test_views_equal_two_augment_batch_calls():
    images = _images(10)
    for name in ("symmetric", "asymmetric_adainf"):
        pair = A.PRESETS[name]
        g = _gen(13)
        v1, v2 = A.views(images, pair, g)
        g = _gen(13)
        r1, r2 = A.augment_batch(images, pair[0], g), A.augment_batch(images, pair[1], g)
        torch.testing.assert_close(v1, r1, atol=1e-6, rtol=0)
        torch.testing.assert_close(v2, r2, atol=1e-6, rtol=0)
        assert v1.shape == (10, 3, 32, 32) and v1.dtype == torch.float32


def test_views_with_different_structure_fall_back_to_two_calls():
    cfg1 = A.PRESETS["symmetric"][0]
    pair = (cfg1, replace(cfg1, crop_size=24, normalize=False))
    v1, v2 = A.views(_images(4), pair, _gen())
    assert v1.shape == (4, 3, 32, 32) and v2.shape == (4, 3, 24, 24)
    assert v2.min() >= 0 and v2.max() <= 1


def test_same_seed_same_views_different_seed_different_views():
    images = _images(16)
    pair = A.PRESETS["symmetric"]
    a1, a2 = A.views(images, pair, _gen(1))
    b1, b2 = A.views(images, pair, _gen(1))
    c1, _ = A.views(images, pair, _gen(2))
    assert torch.equal(a1, b1) and torch.equal(a2, b2)
    assert not torch.equal(a1, c1)
    assert not torch.equal(a1, a2)  # the two views are independent draws


def test_returned_views_do_not_share_scratch_memory():
    images = _images(16)
    v1, _ = A.views(images, A.PRESETS["symmetric"], _gen(1))
    kept = v1.clone()
    A.views(images, A.PRESETS["asymmetric"], _gen(2))
    A.augment_batch(_images(40, 48, 48), A.PRESETS["symmetric"][0], _gen(3))
    assert torch.equal(v1, kept)


def test_float_input_equals_uint8_input():
    images = _images(6)
    cfg = A.PRESETS["symmetric"][0]
    torch.testing.assert_close(
        A.augment_batch(images.float() / 255, cfg, _gen(4)),
        A.augment_batch(images, cfg, _gen(4)),
        atol=1e-6,
        rtol=0,
    )


def test_invalid_inputs_raise():
    cfg = A.PRESETS["symmetric"][0]
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        A.augment_batch(torch.zeros(2, 1, 8, 8, dtype=torch.uint8), cfg, _gen())
    with pytest.raises(ValueError, match="uint8 or float"):
        A.augment_batch(torch.zeros(2, 3, 8, 8, dtype=torch.int32), cfg, _gen())
    with pytest.raises(ValueError, match="interpolation"):
        A.augment_batch(_images(2), replace(cfg, interpolation="nearest"), _gen())
    with pytest.raises(ValueError, match="grayscale_prob"):
        A.augment_batch(_images(2), replace(cfg, grayscale_prob=1.5), _gen())


@pytest.mark.gpu
def test_cpu_and_gpu_give_the_same_views():
    images = _images(64)
    pair = A.PRESETS["symmetric"]
    cpu = A.views(images, pair, _gen(5))
    gpu = A.views(images.cuda(), pair, _gen(5))  # a CPU generator: same parameters on both devices
    for a, b in zip(cpu, gpu):
        assert b.is_cuda
        torch.testing.assert_close(b.cpu(), a, atol=1e-4, rtol=0)


def test_bench_augment_reports_a_rate():
    result = bench_augment("symmetric", batch=8, warmup=1, iters=1)
    assert set(result) == {
        "images_per_s",
        "views_per_s",
        "preset",
        "device",
        "batch",
        "seconds_per_batch",
        "threads",
    }
    assert result["images_per_s"] > 0 and result["views_per_s"] == pytest.approx(2 * result["images_per_s"])
    assert (result["preset"], result["device"], result["batch"]) == ("symmetric", "cpu", 8)

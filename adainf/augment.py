"""Batched per-sample augmentations on the batch's device (CPU or CUDA), without PIL or torchvision.

`augment_batch` turns uint8 images (B, 3, H, W) into one float32 view (B, 3, S, S) per image with an
independent random draw per image; `views` makes the two views of a pair. The pipeline is solo-learn's
CIFAR pipeline (torchvision transforms on PIL images), reproduced op for op:

    random resized crop (+ horizontal flip) -> colour jitter (with probability) -> grayscale
    -> gaussian blur -> solarization -> normalisation

solo-learn flips after solarization; every op after the crop is per-pixel or mirror-symmetric, so the flip
commutes with them and is folded into the crop's resampling matrix, where it costs nothing.

Conventions:
    * Images travel as uint8 (B, 3, H, W); float images are RGB in [0, 1]. Ops clamp to [0, 1] after each
      step, as torchvision's tensor ops do, but do not round to uint8 between steps as PIL does.
    * All randomness comes from an explicit `torch.Generator`. Every parameter of a view is drawn up front,
      in a fixed order and with shapes that depend only on (B, H, W), on the generator's device, and is
      then moved to the images' device: a seeded CPU generator gives the same views on CPU and GPU.
    * Crop + resize is `Ry @ x @ Rx^T` with per-sample matrices whose rows are Pillow's resampling
      weights (`precompute_coeffs`: antialiased when downscaling, window clipped to the crop box), so it
      equals `img.crop(box).resize((S, S), BICUBIC)` up to PIL's uint8 rounding.
    * Luma is ITU-R 601: 0.299 R + 0.587 G + 0.114 B (grayscale, saturation, contrast).
    * Colour-jitter magnitudes follow torchvision's ColorJitter: brightness/contrast/saturation factors are
      uniform in [max(0, 1 - m), 1 + m], the hue shift is uniform in [-h, h] turns; with
      `jitter_order="random"` each image applies the four ops in its own random order.
    * Probabilities are per image. Field meanings are documented once, in `adainf.config.AugmentConfig`.

One strength knob, `at_strength(s)`, s in [0, 1], maps to a symmetric pair (both views equal):

    ==========================  ===============================  ======  ==============  ===============
    field                       value at strength s              s = 0   s = 0.5         s = 1
    ==========================  ===============================  ======  ==============  ===============
    brightness/contrast/satur.  0.8 s                            0       0.4             0.8
    hue                         0.2 s                            0       0.1             0.2
    jitter_prob                 0.8 s                            0       0.4             0.8
    grayscale/blur/hflip prob   min(1, 2s) x (0.2 / 0.5 / 0.5)   0       0.2/0.5/0.5     0.2/0.5/0.5
    crop ratio range            (3/4, 4/3) ** min(1, 2s)         (1, 1)  (3/4, 4/3)      (3/4, 4/3)
    crop_min_scale              log-linear between anchors (*)   1.0     0.2             0.08
    ==========================  ===============================  ======  ==============  ===============

(*) 0.2 ** (2s) for s <= 0.5 and 0.2 ** (2 - 2s) * 0.08 ** (2s - 1) above: log(min_scale) is linear in s
on each half. s = 0 is the identity (for images already of size S), s = 0.5 is AdaInf's weakened
`symmetric_adainf` and s = 1 is solo-learn's `symmetric`, field for field and exactly in floating point;
other fields come from `base` (the `symmetric` view).

Speed (CPU): no Python loop over images. Crop, resize and flip are two batched matmuls with precomputed
resampling matrices; brightness, contrast and saturation are per-image 3x3 colour matrices, so each of the
four jitter rounds is one batched matmul, and only the images whose op in a round is the hue shift are
gathered for it; grayscale, blur and solarization touch only their selected images. Intermediates live
in per-thread scratch buffers reused across calls (`release_scratch()` frees them).

Example:
    >>> g = torch.Generator().manual_seed(0)
    >>> images = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    >>> v1, v2 = views(images, PRESETS["symmetric_adainf"], g)
    >>> v1.shape
    torch.Size([8, 3, 32, 32])
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, fields, replace

import torch
from torch import Tensor

from adainf.config import AugmentConfig

__all__ = [
    "PRESETS",
    "adjust_brightness",
    "adjust_contrast",
    "adjust_hue",
    "adjust_saturation",
    "at_strength",
    "augment_batch",
    "gaussian_blur",
    "grayscale",
    "hflip",
    "normalize",
    "release_scratch",
    "resized_crop",
    "resolve_views",
    "sample_crop_boxes",
    "solarize",
    "views",
]

# ITU-R 601 luma weights, PIL's convert("L").
LUMA = (0.299, 0.587, 0.114)

# The crop_min_scale of AdaInf's weakened presets; the middle anchor of `at_strength`.
ADAINF_CROP_MIN_SCALE = 0.2

# torchvision's RandomResizedCrop tries this many boxes before falling back to a central crop.
_CROP_ATTEMPTS = 10

# ----------------------------------------------------------------------------------------------------------
# Presets and the strength knob


def _view(**overrides: object) -> AugmentConfig:
    """solo-learn's CIFAR view (crop 32, bicubic, ratio 3/4..4/3, blur sigma 0.1..2) with overrides."""
    return replace(
        AugmentConfig(
            crop_size=32,
            crop_min_scale=0.08,
            crop_max_scale=1.0,
            crop_min_ratio=3 / 4,
            crop_max_ratio=4 / 3,
            interpolation="bicubic",
            jitter_prob=0.8,
            brightness=0.8,
            contrast=0.8,
            saturation=0.8,
            hue=0.2,
            grayscale_prob=0.2,
            blur_prob=0.5,
            blur_sigma_min=0.1,
            blur_sigma_max=2.0,
            solarize_prob=0.0,
            hflip_prob=0.5,
        ),
        **overrides,
    )


_SYMMETRIC = _view()
_SYMMETRIC_ADAINF = _view(
    crop_min_scale=0.2, jitter_prob=0.4, brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1
)
_SYMMETRIC_WEAK = _view(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1)
_ASYMMETRIC = _view(brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1, blur_prob=0.0)
_ASYMMETRIC_ADAINF = replace(_ASYMMETRIC, crop_min_scale=0.2, jitter_prob=0.4)

#: solo-learn's CIFAR augmentation configs used by AdaInf (`scripts/pretrain/cifar/augmentations/*.yaml`),
#: as (view 1, view 2). `*_adainf` are the paper's weakened versions; `symmetric_weak` is solo-learn's
#: MoCo-v2 default.
PRESETS: dict[str, tuple[AugmentConfig, AugmentConfig]] = {
    "symmetric": (_SYMMETRIC, _SYMMETRIC),
    "symmetric_adainf": (_SYMMETRIC_ADAINF, _SYMMETRIC_ADAINF),
    "symmetric_weak": (_SYMMETRIC_WEAK, _SYMMETRIC_WEAK),
    "asymmetric": (_ASYMMETRIC, replace(_ASYMMETRIC, solarize_prob=0.2)),
    "asymmetric_adainf": (_ASYMMETRIC_ADAINF, replace(_ASYMMETRIC_ADAINF, solarize_prob=0.2)),
}


def at_strength(s: float, base: AugmentConfig = _SYMMETRIC) -> tuple[AugmentConfig, AugmentConfig]:
    """A symmetric pair of views at augmentation strength `s` (mapping table in the module docstring).

    Args:
        s: strength in [0, 1]; 0 is the identity, 0.5 `symmetric_adainf`, 1 `base` (default `symmetric`).
        base: the strength-1 view; it also supplies the fields the knob does not touch (crop size,
            interpolation, blur sigma range, solarization, normalisation).

    Returns:
        (view 1, view 2), two equal configs.

    Raises:
        ValueError: if `s` is not a number in [0, 1].
    """
    if isinstance(s, bool) or not isinstance(s, (int, float)) or not 0.0 <= s <= 1.0:
        raise ValueError(f"augmentation strength must be a number in [0, 1], got {s!r}")
    s = float(s)
    ramp = min(1.0, 2.0 * s)  # probabilities and the ratio range reach their base values at s = 0.5
    # Geometric interpolation a**(1-t) * b**t hits both anchors exactly (x**0 == 1, x**1 == x).
    if s <= 0.5:
        t = 2.0 * s
        min_scale = 1.0 ** (1.0 - t) * ADAINF_CROP_MIN_SCALE**t
    else:
        t = 2.0 * s - 1.0
        min_scale = ADAINF_CROP_MIN_SCALE ** (1.0 - t) * base.crop_min_scale**t
    cfg = replace(
        base,
        crop_min_scale=min_scale,
        crop_min_ratio=base.crop_min_ratio**ramp,
        crop_max_ratio=base.crop_max_ratio**ramp,
        jitter_prob=s * base.jitter_prob,
        brightness=s * base.brightness,
        contrast=s * base.contrast,
        saturation=s * base.saturation,
        hue=s * base.hue,
        grayscale_prob=ramp * base.grayscale_prob,
        blur_prob=ramp * base.blur_prob,
        hflip_prob=ramp * base.hflip_prob,
    )
    return cfg, cfg


def resolve_views(name_or_strength: str | float) -> tuple[AugmentConfig, AugmentConfig]:
    """A pair of views from a preset name (`PRESETS`) or a strength (`at_strength`), e.g. "0.5".

    Raises:
        ValueError: for an unknown name or a strength outside [0, 1].
    """
    if isinstance(name_or_strength, str):
        if name_or_strength in PRESETS:
            return PRESETS[name_or_strength]
        try:
            strength = float(name_or_strength)
        except ValueError:
            raise ValueError(
                f"unknown augmentation preset {name_or_strength!r}; use one of {sorted(PRESETS)} "
                "or a strength in [0, 1]"
            ) from None
        return at_strength(strength)
    return at_strength(name_or_strength)


def _check_config(cfg: AugmentConfig) -> None:
    probs = ("jitter_prob", "grayscale_prob", "blur_prob", "solarize_prob", "hflip_prob")
    for name in probs:
        if not 0.0 <= getattr(cfg, name) <= 1.0:
            raise ValueError(f"AugmentConfig.{name} must be in [0, 1], got {getattr(cfg, name)}")
    if cfg.interpolation not in _FILTERS:
        raise ValueError(
            f"AugmentConfig.interpolation must be one of {sorted(_FILTERS)}, got {cfg.interpolation!r}"
        )
    if cfg.jitter_order not in ("random", "fixed"):
        raise ValueError(f"AugmentConfig.jitter_order must be 'random' or 'fixed', got {cfg.jitter_order!r}")
    if not 0.0 < cfg.crop_min_scale <= cfg.crop_max_scale:
        raise ValueError(
            f"need 0 < crop_min_scale <= crop_max_scale, got {cfg.crop_min_scale}, {cfg.crop_max_scale}"
        )
    if not 0.0 < cfg.crop_min_ratio <= cfg.crop_max_ratio:
        raise ValueError(
            f"need 0 < crop_min_ratio <= crop_max_ratio, got {cfg.crop_min_ratio}, {cfg.crop_max_ratio}"
        )
    if min(cfg.brightness, cfg.contrast, cfg.saturation) < 0 or not 0.0 <= cfg.hue <= 0.5:
        raise ValueError("jitter magnitudes must be >= 0 and hue in [0, 0.5]")
    if not 0.0 < cfg.blur_sigma_min <= cfg.blur_sigma_max:
        raise ValueError(
            f"need 0 < blur_sigma_min <= blur_sigma_max, got {cfg.blur_sigma_min}, {cfg.blur_sigma_max}"
        )
    if cfg.crop_size < 1:
        raise ValueError(f"AugmentConfig.crop_size must be >= 1, got {cfg.crop_size}")


# ----------------------------------------------------------------------------------------------------------
# Random parameters


def sample_crop_boxes(
    n: int,
    height: int,
    width: int,
    scale: tuple[float, float],
    ratio: tuple[float, float],
    generator: torch.Generator,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Random crop boxes as torchvision's `RandomResizedCrop.get_params`, for `n` images at once.

    Each image gets 10 candidate boxes (area fraction uniform in `scale`, log aspect ratio w/h uniform in
    log `ratio`, w = round(sqrt(area * ratio)), h = round(sqrt(area / ratio))); the first that fits wins and
    its corner is uniform over the valid positions. When none fits, the box is torchvision's fallback:
    the central crop with the aspect ratio clamped to `ratio`.

    Args:
        n: number of boxes.
        height: image height H.
        width: image width W.
        scale: (min, max) crop area as a fraction of H * W.
        ratio: (min, max) aspect ratio w / h.
        generator: source of randomness; the boxes live on its device.

    Returns:
        (top, left, h, w), each an int64 tensor of shape (n,).
    """
    dev = generator.device
    f64 = torch.float64
    u_area = torch.rand(n, _CROP_ATTEMPTS, generator=generator, device=dev, dtype=f64)
    u_ratio = torch.rand(n, _CROP_ATTEMPTS, generator=generator, device=dev, dtype=f64)
    u_top = torch.rand(n, generator=generator, device=dev, dtype=f64)
    u_left = torch.rand(n, generator=generator, device=dev, dtype=f64)

    area = height * width * (scale[0] + (scale[1] - scale[0]) * u_area)  # (n, 10)
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    aspect = torch.exp(log_lo + (log_hi - log_lo) * u_ratio)  # (n, 10)
    # torch.round rounds half to even, like Python's round in torchvision.
    w = torch.round(torch.sqrt(area * aspect)).long()
    h = torch.round(torch.sqrt(area / aspect)).long()
    fits = (w > 0) & (w <= width) & (h > 0) & (h <= height)  # (n, 10)
    first = fits.to(torch.uint8).argmax(dim=1, keepdim=True)  # index of the first fitting attempt
    w = w.gather(1, first).squeeze(1)
    h = h.gather(1, first).squeeze(1)

    # torchvision's fallback: the whole image with its aspect ratio clamped into `ratio`, centred.
    in_ratio = width / height
    if in_ratio < min(ratio):
        fb_w, fb_h = width, round(width / min(ratio))
    elif in_ratio > max(ratio):
        fb_w, fb_h = round(height * max(ratio)), height
    else:
        fb_w, fb_h = width, height
    found = fits.any(dim=1)
    w = torch.where(found, w, fb_w)
    h = torch.where(found, h, fb_h)
    # randint(0, H - h + 1) as floor(u * (H - h + 1)); u < 1 keeps it in range.
    top = torch.where(found, (u_top * (height - h + 1)).floor().long(), (height - fb_h) // 2)
    left = torch.where(found, (u_left * (width - w + 1)).floor().long(), (width - fb_w) // 2)
    return top, left, h, w


@dataclass
class _ViewParams:
    """Every random parameter of one view of n images; (n,) tensors unless noted."""

    top: Tensor  # int64 crop box
    left: Tensor
    height: Tensor
    width: Tensor
    flip: Tensor  # bool
    jitter: Tensor  # bool: colour jitter applied
    factors: Tensor  # (n, 4) float32: brightness, contrast, saturation factors, hue shift
    order: Tensor  # (n, 4) int64: op applied at each jitter position
    gray: Tensor  # bool
    blur: Tensor  # bool
    sigma: Tensor  # float32 blur sigma
    solarize: Tensor  # bool

    def to(self, device: torch.device) -> _ViewParams:
        return _ViewParams(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})

    @staticmethod
    def cat(params: list[_ViewParams]) -> _ViewParams:
        return _ViewParams(
            **{f.name: torch.cat([getattr(p, f.name) for p in params]) for f in fields(_ViewParams)}
        )


def _draw_params(
    n: int, height: int, width: int, cfg: AugmentConfig, generator: torch.Generator
) -> _ViewParams:
    """All parameters of one view, drawn in a fixed order whatever the probabilities are."""
    dev = generator.device

    def rand(*shape: int) -> Tensor:
        return torch.rand(*shape, generator=generator, device=dev, dtype=torch.float64)

    top, left, h, w = sample_crop_boxes(
        n,
        height,
        width,
        (cfg.crop_min_scale, cfg.crop_max_scale),
        (cfg.crop_min_ratio, cfg.crop_max_ratio),
        generator,
    )
    flip = rand(n) < cfg.hflip_prob
    jitter = rand(n) < cfg.jitter_prob
    mags = torch.tensor([cfg.brightness, cfg.contrast, cfg.saturation], dtype=torch.float64, device=dev)
    lo = (1.0 - mags).clamp(min=0.0)
    hi = 1.0 + mags
    factors = torch.cat([lo + (hi - lo) * rand(n, 3), cfg.hue * (2.0 * rand(n, 1) - 1.0)], dim=1)  # (n, 4)
    order = rand(n, 4).argsort(dim=1)  # a uniform random permutation per image, as ColorJitter's randperm
    if cfg.jitter_order == "fixed":
        order = torch.arange(4, device=dev).expand(n, 4).clone()
    gray = rand(n) < cfg.grayscale_prob
    blur = rand(n) < cfg.blur_prob
    sigma = cfg.blur_sigma_min + (cfg.blur_sigma_max - cfg.blur_sigma_min) * rand(n)
    solar = rand(n) < cfg.solarize_prob
    return _ViewParams(
        top, left, h, w, flip, jitter, factors.float(), order, gray, blur, sigma.float(), solar
    )


# ----------------------------------------------------------------------------------------------------------
# Scratch buffers


class _Scratch(threading.local):
    """Named scratch buffers kept between calls, one set per thread, for CPU intermediates.

    glibc hands large freed blocks back to the OS and the next call faults them in again page by page; for
    this pipeline that cost about as much as the arithmetic. So on CPU the intermediates (not the returned
    views) live in buffers that persist between calls, about 5x the size of the views of the largest batch
    seen; `release_scratch()` frees them. On CUDA the caching allocator already does this.
    """

    def __init__(self) -> None:
        self.buffers: dict[str, Tensor] = {}

    def get(
        self, name: str, shape: tuple[int, ...], device: torch.device, dtype: torch.dtype = torch.float32
    ) -> Tensor:
        if device.type != "cpu":
            return torch.empty(shape, device=device, dtype=dtype)
        numel = math.prod(shape)
        buf = self.buffers.get(name)
        if buf is None or buf.numel() < numel or buf.dtype != dtype:
            buf = torch.empty(numel, dtype=dtype)
            self.buffers[name] = buf
        return buf[:numel].view(shape)


_SCRATCH = _Scratch()


def release_scratch() -> None:
    """Free this thread's CPU scratch buffers (they are re-created, at the batch's size, on the next call)."""
    _SCRATCH.buffers.clear()


def _fresh(
    name: str, shape: tuple[int, ...], device: torch.device, dtype: torch.dtype = torch.float32
) -> Tensor:
    # The scratch interface for public ops, which allocate normally.
    return torch.empty(shape, device=device, dtype=dtype)


_Get = Callable[..., Tensor]


# ----------------------------------------------------------------------------------------------------------
# Crop + resize (+ flip) as resampling matrices


def _bicubic(x: Tensor) -> Tensor:
    # Pillow's bicubic_filter (Keys kernel with a = -0.5).
    a = -0.5
    x = x.abs()
    near = ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    far = (((x - 5.0) * x + 8.0) * x - 4.0) * a
    return torch.where(x < 1.0, near, torch.where(x < 2.0, far, torch.zeros_like(x)))


def _triangle(x: Tensor) -> Tensor:
    # Pillow's bilinear_filter.
    return (1.0 - x.abs()).clamp(min=0.0)


_FILTERS: dict[str, tuple[Callable[[Tensor], Tensor], float]] = {
    "bicubic": (_bicubic, 2.0),
    "bilinear": (_triangle, 1.0),
}


@functools.lru_cache(maxsize=32)
def _resample_table(
    in_size: int, out_size: int, interpolation: str, device: torch.device
) -> tuple[Tensor, Tensor]:
    """Pillow's resampling weights for resizing a segment of every length 1..in_size to out_size.

    Rows are Pillow's `precompute_coeffs`: centre (i + 0.5) * scale, support widened by the scale when
    downscaling (antialiasing), window clipped to the segment, weights normalised by their sum. A crop of
    length L starting at `start` uses row L - 1 shifted by `start`, so a batch of crops needs no per-crop
    weight computation. Computed in float64 like Pillow, returned in float32 (cached: read-only).

    Returns:
        weights (in_size, out_size, K) float32 and first (in_size, out_size) int64, the segment position of
        each output's first tap; taps past the window have weight 0.
    """
    filt, support = _FILTERS[interpolation]
    f64 = torch.float64
    length = torch.arange(1, in_size + 1, dtype=f64)  # (L,)
    scale = length / out_size
    filterscale = scale.clamp(min=1.0)
    supp = support * filterscale
    ksize = math.ceil(float(supp.max())) * 2 + 1
    center = (torch.arange(out_size, dtype=f64) + 0.5) * scale[:, None]  # (L, S)
    # Pillow rounds with a C cast, which truncates toward zero.
    xmin = torch.trunc(center - supp[:, None] + 0.5).clamp(min=0.0)
    xmax = torch.minimum(torch.trunc(center + supp[:, None] + 0.5), length[:, None])
    pos = xmin[..., None] + torch.arange(ksize, dtype=f64)  # (L, S, K)
    weights = filt((pos - center[..., None] + 0.5) / filterscale[:, None, None])
    weights = torch.where(pos < xmax[..., None], weights, torch.zeros_like(weights))
    total = weights.sum(-1, keepdim=True)
    weights = weights / torch.where(total != 0, total, torch.ones_like(total))
    return weights.to(device, torch.float32), xmin.to(device, torch.int64)


# Precompute every crop matrix when the table stays below this many bytes (CIFAR-sized images).
_DENSE_TABLE_BYTES = 16 * 2**20


@functools.lru_cache(maxsize=8)
def _crop_table(in_size: int, out_size: int, interpolation: str, device: torch.device) -> Tensor | None:
    """All resampling matrices for one axis, (2 * in_size**2, out_size, in_size), or None when too large.

    Row (flip * in_size + length - 1) * in_size + start holds the matrix for crop [start, start + length),
    with rows reversed when flip = 1; rows with start + length > in_size are unused.
    """
    count = 2 * in_size * in_size
    if count * out_size * in_size * 4 > _DENSE_TABLE_BYTES:
        return None
    idx = torch.arange(in_size * in_size)
    length, start = idx // in_size + 1, idx % in_size
    start = torch.minimum(start, in_size - length)  # keep unused rows legal
    flip = torch.arange(2).repeat_interleave(in_size * in_size).bool()
    table = _scatter_matrices(start.repeat(2), length.repeat(2), in_size, out_size, interpolation, flip)
    return table.to(device)


def _resample_matrix(
    start: Tensor,
    length: Tensor,
    in_size: int,
    out_size: int,
    interpolation: str,
    flip: Tensor | None = None,
    out: Tensor | None = None,
) -> Tensor:
    """Per-sample matrices R (n, out_size, in_size): R @ v is Pillow's resize of v[start:start + length].

    `flip` (n,) bool reverses the rows of the selected matrices, which mirrors the output.
    """
    dense = _crop_table(in_size, out_size, interpolation, start.device)
    if dense is None:
        return _scatter_matrices(start, length, in_size, out_size, interpolation, flip, out)
    # Small images: every (start, length, flip) matrix is precomputed; one gather builds the batch.
    key = (length - 1) * in_size + start
    if flip is not None:
        key = key + flip.long() * (in_size * in_size)
    if out is None:
        return dense.index_select(0, key)
    return torch.index_select(dense, 0, key, out=out)


def _scatter_matrices(
    start: Tensor,
    length: Tensor,
    in_size: int,
    out_size: int,
    interpolation: str,
    flip: Tensor | None = None,
    out: Tensor | None = None,
) -> Tensor:
    """`_resample_matrix` built from the per-length weight table by a scatter (for any image size)."""
    table, first = _resample_table(in_size, out_size, interpolation, start.device)
    rows = length - 1
    weights = table.index_select(0, rows)  # (n, S, K)
    first = first.index_select(0, rows)  # (n, S)
    if flip is not None:
        sel = flip[:, None]
        first = torch.where(sel, first.flip(1), first)
        weights = torch.where(sel[..., None], weights.flip(1), weights)
    index = first[..., None] + torch.arange(weights.shape[-1], device=start.device)  # (n, S, K)
    # Taps past the window carry weight 0; clamping keeps their index legal (scatter_add adds 0 there).
    index = index.clamp_(max=in_size - 1 - start[:, None, None]).add_(start[:, None, None])
    if out is None:
        out = torch.empty(len(start), out_size, in_size, device=start.device)
    return out.zero_().scatter_add_(2, index, weights)


def _source_layout(images: Tensor, out: Tensor) -> Tensor:
    """uint8 (B, 3, H, W) -> float (B, W, 3, H) in [0, 1] in `out` (float images are only rearranged)."""
    if images.dtype == torch.uint8:
        # Transposing is cheapest on the uint8 bytes; the conversion then reads contiguously.
        return torch.div(images.permute(0, 3, 1, 2).contiguous(), 255.0, out=out)
    return out.copy_(images.permute(0, 3, 1, 2))


def _resize_views(src: Tensor, ry: Tensor, rx: Tensor, out: Tensor, scratch: _Get) -> Tensor:
    """Crop + resize r views of each of B sources with two plain bmm's (no copies, no channel expansion).

    Sources are stored spatially transposed with channels in the middle, (B, W, 3, H), so that the
    horizontal pass is one left-multiplication by the r stacked Rx of an image, (B, r*S, W) @ (B, W, 3*H),
    and the vertical pass one right-multiplication, (B*r, S*3, H) @ Ry^T. The horizontal pass runs first and
    is clipped to [0, 1], as Pillow clips to uint8 between its two passes.

    Args:
        src: (B, W, 3, H) float in [0, 1].
        ry: (B*r, S, H) resampling matrices, view-minor order (image b's views are rows b*r .. b*r + r - 1).
        rx: (B*r, S, W) likewise.
        out: (r, B, 3, S, S) float, receives the views (view-major), clipped to [0, 1].
        scratch: buffer source for the two intermediates ("t" and "u").

    Returns:
        `out`.
    """
    b, width, c, height = src.shape
    reps, _, _, size, _ = out.shape
    dev = src.device
    t = scratch("t", (b, reps * size, c * height), dev)
    torch.bmm(rx.view(b, reps * size, width), src.view(b, width, c * height), out=t)  # (B, r*S, 3*H)
    t.clamp_(0.0, 1.0)
    u = scratch("u", (b * reps, size * c, size), dev)
    torch.bmm(t.view(b * reps, size * c, height), ry.transpose(1, 2), out=u)  # (B*r, Sx*3, Sy)
    # One pass clips, transposes back and puts the channels first.
    u = u.view(b, reps, size, c, size).permute(1, 0, 3, 4, 2)  # (r, B, 3, Sy, Sx)
    return torch.clamp(u, 0.0, 1.0, out=out)


def resized_crop(
    x: Tensor,
    boxes: tuple[Tensor, Tensor, Tensor, Tensor],
    size: int,
    interpolation: str = "bicubic",
    flip: Tensor | None = None,
) -> Tensor:
    """Crop each image to its box and resize it to (size, size), as PIL's `img.crop(box).resize(...)`.

    Args:
        x: float images (B, 3, H, W) in [0, 1] (or uint8, scaled by 1/255).
        boxes: (top, left, h, w) int64 tensors (B,), e.g. from `sample_crop_boxes`.
        size: output side length S.
        interpolation: "bicubic" or "bilinear" (Pillow's filters; antialiased when downscaling).
        flip: optional bool (B,): flip these outputs horizontally, at no extra cost.

    Returns:
        (B, 3, S, S) float32, clipped to [0, 1].
    """
    if interpolation not in _FILTERS:
        raise ValueError(f"interpolation must be one of {sorted(_FILTERS)}, got {interpolation!r}")
    b, c, height, width = x.shape
    top, left, h, w = (t.to(x.device) for t in boxes)
    ry = _resample_matrix(top, h, height, size, interpolation)  # (B, S, H)
    rx = _resample_matrix(left, w, width, size, interpolation, None if flip is None else flip.to(x.device))
    src = _source_layout(x, torch.empty(b, width, c, height, device=x.device))
    out = torch.empty(1, b, c, size, size, device=x.device)
    return _resize_views(src, ry, rx, out, _fresh)[0]


def hflip(x: Tensor) -> Tensor:
    """Mirror images (B, C, H, W) left-right."""
    return x.flip(-1)


# ----------------------------------------------------------------------------------------------------------
# Colour and filter ops on float images (B, 3, H, W) in [0, 1]; per-sample parameters are (B,) or numbers


def _per_sample(v: Tensor | float, x: Tensor) -> Tensor:
    """A (B,) tensor or a number as (B, 1, 1, 1) (or (1, 1, 1, 1)) on x's device and dtype."""
    return torch.as_tensor(v, dtype=x.dtype, device=x.device).reshape(-1, 1, 1, 1)


def _luma(x: Tensor) -> Tensor:
    """ITU-R 601 luma (B, 1, H, W) of RGB images (B, 3, H, W)."""
    r, g, b = x.unbind(dim=1)
    return (LUMA[0] * r + LUMA[1] * g + LUMA[2] * b).unsqueeze(1)


def grayscale(x: Tensor) -> Tensor:
    """601 luma replicated to three channels: (B, 3, H, W) -> (B, 3, H, W)."""
    return _luma(x).expand_as(x).contiguous()


def adjust_brightness(x: Tensor, factor: Tensor | float) -> Tensor:
    """x * factor, clamped to [0, 1] (torchvision: blend with black)."""
    return (x * _per_sample(factor, x)).clamp_(0.0, 1.0)


def adjust_contrast(x: Tensor, factor: Tensor | float) -> Tensor:
    """Blend each image with the mean of its luma: mean + factor * (x - mean), clamped to [0, 1]."""
    mean = _luma(x).mean(dim=(1, 2, 3), keepdim=True)  # (B, 1, 1, 1)
    return torch.lerp(mean.expand_as(x), x, _per_sample(factor, x)).clamp_(0.0, 1.0)


def adjust_saturation(x: Tensor, factor: Tensor | float) -> Tensor:
    """Blend each pixel with its luma, gray + factor * (x - gray), clamped to [0, 1]; 0 gives grayscale."""
    return torch.lerp(_luma(x).expand_as(x), x, _per_sample(factor, x)).clamp_(0.0, 1.0)


def adjust_hue(x: Tensor, shift: Tensor | float) -> Tensor:
    """Rotate the HSV hue of each image by `shift` turns (torchvision's adjust_hue on float tensors).

    Value V = max and chroma C = max - min are kept; only the hue H moves. H comes from the largest channel
    (6H = (G - B) / C, 2 + (B - R) / C or 4 + (R - G) / C, R first on ties, as torchvision), and channel k
    of the result is V - C * clamp(| |6H' - c_k| - 3 | - 1, 0, 1) with c = (3, 5, 1): the usual HSV -> RGB
    without building HSV planes.

    Args:
        x: (B, 3, H, W) in [0, 1].
        shift: hue shift in turns, (B,) or a number; torchvision draws it from [-0.5, 0.5].

    Returns:
        (B, 3, H, W) in [0, 1].
    """
    y = x.float().clone(memory_format=torch.contiguous_format)
    b, _, height, width = y.shape
    shift6 = (6.0 * torch.as_tensor(shift, dtype=y.dtype, device=y.device)).expand(b).reshape(b, 1, 1)
    return _hue_shift_(y, shift6, torch.empty(6, b, height, width, device=y.device))


# Where pure R, G and B would sit on the shifted hue axis, in sixths of a turn (see adjust_hue).
_HUE_CENTRES = (3.0, 5.0, 1.0)


def _hue_shift_(x: Tensor, shift6: Tensor, planes: Tensor) -> Tensor:
    """adjust_hue in place on contiguous x (B, 3, H, W), shift in sixths of a turn (B, 1, 1), using
    `planes` (6, B, H, W) as scratch. Only min/max/lerp arithmetic: `torch.where` and `max(dim)` are an
    order of magnitude slower on CPU."""
    r, g, b = x.unbind(dim=1)  # (B, H, W) each
    value, chroma, is_r, is_g, hue6, tmp = planes.unbind(0)
    torch.maximum(torch.maximum(r, g, out=value), b, out=value)
    torch.sub(value, torch.minimum(torch.minimum(r, g, out=chroma), b, out=chroma), out=chroma)
    # 6H * C for each possible max channel; lerp with a 0/1 weight is an exact select (R wins ties).
    torch.eq(r, value, out=is_r)
    torch.eq(g, value, out=is_g)
    torch.sub(r, g, out=hue6).add_(chroma, alpha=4.0)
    hue6.lerp_(torch.sub(b, r, out=tmp).add_(chroma, alpha=2.0), is_g)
    hue6.lerp_(torch.sub(g, b, out=tmp), is_r)
    # Gray pixels (C = 0) have numerator 0: any finite divisor gives hue 0.
    hue6.div_(torch.clamp(chroma, min=1e-30, out=tmp)).add_(shift6)
    hue6.sub_(torch.div(hue6, 6.0, out=tmp).floor_().mul_(6.0))  # into [0, 6]
    centres = torch.tensor(_HUE_CENTRES, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    t = torch.sub(hue6.unsqueeze(1), centres, out=x)  # x is no longer needed: reuse it
    t.abs_().sub_(3.0).abs_().sub_(1.0).clamp_(0.0, 1.0)
    return torch.addcmul(value.unsqueeze(1), chroma.unsqueeze(1), t, value=-1.0, out=x)


def _blur_matrix(sigma: Tensor, size: int, out: Tensor | None = None) -> Tensor:
    """Per-sample (n, size, size) matrices G with (G v)_i = sum_d k(d) v[clamp(i + d)] (replicate edges),
    k the gaussian of std `sigma` (n,) truncated at ceil(3 sigma) and normalised."""
    n = sigma.shape[0]
    dev = sigma.device
    sigma = sigma.double()
    radius = torch.ceil(3.0 * sigma).clamp(min=1.0)  # (n,)
    reach = int(radius.max()) if n else 1
    d = torch.arange(-reach, reach + 1, device=dev, dtype=torch.float64)  # (K,)
    kernel = torch.exp(-0.5 * (d / sigma[:, None]) ** 2)  # (n, K)
    kernel = torch.where(d.abs() <= radius[:, None], kernel, torch.zeros_like(kernel))
    kernel = (kernel / kernel.sum(dim=1, keepdim=True)).float()
    index = (torch.arange(size, device=dev)[:, None] + d.long()).clamp(0, size - 1)  # (size, K)
    if out is None:
        out = torch.empty(n, size, size, device=dev)
    return out.zero_().scatter_add_(2, index.expand(n, size, -1), kernel[:, None, :].expand(n, size, -1))


def _blur(x: Tensor, sigma: Tensor, out: Tensor, scratch: _Get) -> Tensor:
    """Gaussian blur of x (m, C, H, W) into `out` (may be x itself) as G_h @ x @ G_w^T."""
    m, c, height, width = x.shape
    dev = x.device
    gh = _blur_matrix(sigma, height, scratch("blur_gh", (m, height, height), dev))
    gw = gh if width == height else _blur_matrix(sigma, width, scratch("blur_gw", (m, width, width), dev))
    t = scratch("t", (m, c * height, width), dev)
    torch.bmm(x.reshape(m, c * height, width), gw.transpose(1, 2), out=t)
    # The vertical pass needs G_h once per channel in the batch; copying it is cheaper than a strided bmm.
    gh3 = scratch("u", (m, c, height, height), dev)
    gh3.copy_(gh.unsqueeze(1).expand(m, c, height, height))
    torch.bmm(
        gh3.view(m * c, height, height), t.view(m * c, height, width), out=out.view(m * c, height, width)
    )
    return out


def gaussian_blur(x: Tensor, sigma: Tensor | float) -> Tensor:
    """Separable gaussian blur with per-image sigma, kernel truncated at ceil(3 sigma), edge replication.

    Args:
        x: (B, C, H, W) float.
        sigma: standard deviation in pixels, (B,) or a number (> 0).

    Returns:
        (B, C, H, W) float32.
    """
    x = x.float().contiguous()
    sig = torch.as_tensor(sigma, dtype=torch.float64, device=x.device).expand(x.shape[0])
    return _blur(x, sig, torch.empty_like(x), _fresh)


def solarize(x: Tensor, mask: Tensor | bool = True) -> Tensor:
    """Invert pixels >= 0.5 (PIL's threshold 128) in the images selected by `mask` (B,) bool."""
    sel = torch.as_tensor(mask, device=x.device).reshape(-1, 1, 1, 1)
    # min(x, 1 - x) inverts exactly the pixels >= 0.5 of [0, 1], without a (slow) masked select per pixel.
    return torch.where(sel, torch.minimum(x, 1.0 - x), x)


def normalize(x: Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> Tensor:
    """(x - mean) / std per channel, for (B, C, H, W)."""
    m = torch.tensor(mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return (x - m) / s


# ----------------------------------------------------------------------------------------------------------
# The pipeline

# Jitter op codes in `order`; _NONE marks images that skip jitter when a whole batch runs through it.
_BRIGHTNESS, _CONTRAST, _SATURATION, _HUE, _NONE = 0, 1, 2, 3, 4


def _color_jitter(x: Tensor, factors: Tensor, order: Tensor, work: Tensor, scratch: _Get) -> Tensor:
    """Colour jitter of the images of x (n, 3, S, S), in place, each in its own op order, each op once.

    Brightness, contrast and saturation are affine colour maps x -> M x + b with a per-image 3x3 M
    (f I, f I, f I + (1 - f) 1 luma^T) and bias (0, (1 - f) * mean luma, 0), so each of the four rounds
    (jitter positions) is one batched matmul over all images, the identity for those whose op in that
    round is the hue shift (or _NONE); the hue ones are then gathered, shifted and scattered back. Same
    values as applying adjust_brightness/contrast/saturation/hue one image at a time, up to rounding.

    Args:
        x: (n, 3, S, S) in [0, 1], overwritten with the result.
        factors: (n, 4): brightness, contrast, saturation factors and hue shift.
        order: (n, 4) int64: the op at each position (0 b, 1 c, 2 s, 3 h, 4 none).
        work: a buffer of x's size.
        scratch: buffer source for the hue subsets.

    Returns:
        x.
    """
    n, c, size, _ = x.shape
    dev, dt = x.device, x.dtype
    luma = torch.tensor(LUMA, dtype=dt, device=dev)
    eye = torch.eye(3, dtype=dt, device=dev)
    gray = luma.expand(3, 3)  # 1 luma^T
    # Every round's matrix is a I + s (1 luma^T): a = the op's factor (1 for hue/none), s = 1 - f for
    # saturation (0 otherwise).
    diag = torch.cat([factors[:, :3], torch.ones(n, 2, dtype=dt, device=dev)], dim=1)  # (n, 5) by op
    shift6 = 6.0 * factors[:, 3]
    cur, other = x, work.view_as(x)
    for pos in range(4):  # an even number of rounds: the result ends in x
        op = order[:, pos]  # (n,)
        a = diag.gather(1, op[:, None]).view(n, 1, 1)
        sat = ((op == _SATURATION).to(dt) * (1.0 - factors[:, 2])).view(n, 1, 1)
        mat = a * eye + sat * gray  # (n, 3, 3)
        torch.bmm(mat, cur.view(n, c, -1), out=other.view(n, c, -1))
        # Contrast blends with the mean luma of the image as it is at this point of its sequence.
        is_contrast = op == _CONTRAST
        if bool(is_contrast.any()):
            mean_luma = cur.view(n, c, -1).mean(dim=2) @ luma  # (n,)
            other.add_((is_contrast.to(dt) * (1.0 - factors[:, 1]) * mean_luma).view(n, 1, 1, 1))
        cur, other = other.clamp_(0.0, 1.0), cur
        hue_idx = torch.nonzero(op == _HUE).squeeze(1)
        if m := hue_idx.numel():
            sub = torch.index_select(cur, 0, hue_idx, out=scratch("sub", (m, c, size, size), dev))
            planes = scratch("planes", (6, m, size, size), dev)
            _hue_shift_(sub, shift6.index_select(0, hue_idx).view(m, 1, 1), planes)
            cur.index_copy_(0, hue_idx, sub)
    return x


def _gray_(x: Tensor, scratch: _Get) -> Tensor:
    """x (m, 3, S, S) replaced, in place, by its luma on all three channels (one small matmul)."""
    m, c, height, width = x.shape
    luma = torch.tensor(LUMA, dtype=x.dtype, device=x.device).view(1, c)
    y = torch.matmul(luma, x.view(m, c, -1), out=scratch("luma", (m, 1, height * width), x.device))
    return x.copy_(y.view(m, 1, height, width).expand(m, c, height, width))


def _on_subset(x: Tensor, mask: Tensor, scratch: _Get, fn: Callable[..., Tensor], *args: Tensor) -> None:
    """Apply the in-place op `fn(sub, *args[mask], scratch)` to the images of x selected by mask, gathering
    them into a scratch buffer (or working on x directly when all are selected)."""
    idx = torch.nonzero(mask).squeeze(1)
    m = idx.numel()
    if m == 0:
        return
    if m == x.shape[0]:
        fn(x, *args, scratch)
        return
    sub = torch.index_select(x, 0, idx, out=scratch("sub", (m, *x.shape[1:]), x.device))
    fn(sub, *(a.index_select(0, idx) for a in args), scratch)
    x.index_copy_(0, idx, sub)


def _solarize_(x: Tensor, scratch: _Get) -> Tensor:
    return torch.minimum(x, torch.sub(1.0, x, out=scratch("t", x.shape, x.device)), out=x)


def _blur_(x: Tensor, sigma: Tensor, scratch: _Get) -> Tensor:
    return _blur(x, sigma, x, scratch)


def _run(images: Tensor, p: _ViewParams, cfg: AugmentConfig) -> Tensor:
    """The pipeline for the n = r * B views of `images` (B, 3, H, W) with parameters `p` (view-major).

    Returns:
        (r, B, 3, S, S) float32.
    """
    b, c, height, width = images.shape
    n = p.top.shape[0]
    reps = n // b
    size = cfg.crop_size
    dev = images.device
    scratch = _SCRATCH.get
    # Resampling matrices in view-minor order, as _resize_views wants them.
    minor = torch.arange(n, device=dev).view(reps, b).t().reshape(-1)
    ry = _resample_matrix(
        p.top[minor],
        p.height[minor],
        height,
        size,
        cfg.interpolation,
        out=scratch("ry", (n, size, height), dev),
    )
    rx = _resample_matrix(
        p.left[minor],
        p.width[minor],
        width,
        size,
        cfg.interpolation,
        p.flip[minor],
        out=scratch("rx", (n, size, width), dev),
    )
    src = _source_layout(images, scratch("src", (b, width, c, height), dev))
    out = torch.empty(reps, b, c, size, size, device=dev)
    _resize_views(src, ry, rx, out, scratch)
    x = out.view(n, c, size, size)

    # Jitter: the whole batch runs through it (skipping images are _NONE, an exact identity) unless few
    # are jittered, in which case only they are gathered.
    n_jitter = int(p.jitter.sum())
    if 2 * n_jitter >= n:
        order = torch.where(p.jitter[:, None], p.order, _NONE)
        _color_jitter(x, p.factors, order, scratch("u", x.shape, dev), scratch)
    elif n_jitter:
        idx = torch.nonzero(p.jitter).squeeze(1)
        sub = torch.index_select(x, 0, idx, out=scratch("jitter", (n_jitter, c, size, size), dev))
        work = scratch("u", sub.shape, dev)
        _color_jitter(sub, p.factors.index_select(0, idx), p.order.index_select(0, idx), work, scratch)
        x.index_copy_(0, idx, sub)
    _on_subset(x, p.gray, scratch, _gray_)
    _on_subset(x, p.blur, scratch, _blur_, p.sigma)
    _on_subset(x, p.solarize, scratch, _solarize_)
    if cfg.normalize:
        # (x - mean) / std as x * (1 / std) - mean / std: two in-place passes beat one broadcast addcmul.
        std = torch.tensor(cfg.std, dtype=torch.float64)
        scale = (1.0 / std).to(dev, x.dtype).view(1, c, 1, 1)
        shift = (-torch.tensor(cfg.mean, dtype=torch.float64) / std).to(dev, x.dtype).view(1, c, 1, 1)
        x.mul_(scale).add_(shift)
    return out


def augment_batch(images: Tensor, cfg: AugmentConfig, generator: torch.Generator) -> Tensor:
    """One random view of each image.

    Args:
        images: uint8 (B, 3, H, W) (or float in [0, 1]), any H, W, on CPU or CUDA.
        cfg: the view's pipeline, see `adainf.config.AugmentConfig`.
        generator: source of all randomness; parameters are drawn on its device, then moved to the
            images' device (a CPU generator gives the same views on any device).

    Returns:
        float32 (B, 3, crop_size, crop_size) on the images' device; normalised if `cfg.normalize`.

    Raises:
        ValueError: for images that are not (B, 3, H, W) uint8/float, or an invalid config.
    """
    _check_images(images)
    _check_config(cfg)
    b, _, height, width = images.shape
    params = _draw_params(b, height, width, cfg, generator).to(images.device)
    return _run(images, params, cfg)[0]


def _same_structure(a: AugmentConfig, b: AugmentConfig) -> bool:
    # Everything else is a per-image parameter, so two such views can share one batch of 2B.
    keys = ("crop_size", "interpolation", "normalize", "mean", "std")
    return all(getattr(a, k) == getattr(b, k) for k in keys)


def views(
    images: Tensor, pair: tuple[AugmentConfig, AugmentConfig], generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """Two views of each image, drawn as `augment_batch(images, pair[0], g)` then `(..., pair[1], g)`.

    When the two configs share crop size, interpolation and normalisation (all presets do), both views
    are computed as one batch of 2B: faster than two calls, same values up to float rounding.

    Returns:
        (view 1, view 2), each float32 (B, 3, S, S).
    """
    _check_images(images)
    cfg1, cfg2 = pair
    _check_config(cfg1)
    _check_config(cfg2)
    if not _same_structure(cfg1, cfg2):
        return augment_batch(images, cfg1, generator), augment_batch(images, cfg2, generator)
    b, _, height, width = images.shape
    params = _ViewParams.cat([_draw_params(b, height, width, cfg, generator) for cfg in pair])
    out = _run(images, params.to(images.device), cfg1)
    return out[0], out[1]


def _check_images(images: Tensor) -> None:
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be (B, 3, H, W), got shape {tuple(images.shape)}")
    if images.dtype != torch.uint8 and not images.is_floating_point():
        raise ValueError(f"images must be uint8 or float in [0, 1], got {images.dtype}")

"""Configuration: typed, frozen, documented in one place.

Each field is documented where it is declared; functions that take a section refer here. Files (JSON/TOML)
and `section.key=value` overrides only change these defaults.
"""

from __future__ import annotations

from dataclasses import dataclass

# CIFAR-10 channel statistics used by solo-learn (and hence the AdaInf recipes) for normalisation.
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


@dataclass(frozen=True)
class AugmentConfig:
    """One view's augmentation pipeline, in the reference order of solo-learn's CIFAR configs:

    random resized crop -> colour jitter (with probability) -> grayscale -> gaussian blur -> solarization
    -> horizontal flip -> normalisation. Probabilities are per image; magnitudes follow torchvision's
    ColorJitter conventions (a factor drawn uniformly from [max(0, 1 - m), 1 + m], hue shift from [-h, h]
    in fractions of a full turn).
    """

    crop_size: int = 32  # output side length in pixels
    crop_min_scale: float = 0.08  # smallest crop area as a fraction of the image area
    crop_max_scale: float = 1.0  # largest crop area fraction
    crop_min_ratio: float = 3 / 4  # crop aspect ratio (w/h) range, sampled log-uniformly
    crop_max_ratio: float = 4 / 3
    interpolation: str = "bicubic"  # "bicubic" (solo-learn's choice) or "bilinear"
    jitter_prob: float = 0.8  # probability of applying colour jitter at all
    brightness: float = 0.8  # jitter magnitudes, see the class docstring
    contrast: float = 0.8
    saturation: float = 0.8
    hue: float = 0.2  # in [0, 0.5]
    jitter_order: str = "random"  # "random": per-image random order of the four ops (torchvision); "fixed": b, c, s, h
    grayscale_prob: float = 0.2  # ITU-R 601 luma, replicated to three channels
    blur_prob: float = 0.5
    blur_sigma_min: float = 0.1  # gaussian sigma range in pixels, sampled uniformly
    blur_sigma_max: float = 2.0
    solarize_prob: float = 0.0  # invert pixels >= 0.5 (PIL's threshold 128)
    hflip_prob: float = 0.5
    normalize: bool = True  # subtract mean / divide by std below; False leaves views in [0, 1]
    mean: tuple[float, float, float] = CIFAR10_MEAN
    std: tuple[float, float, float] = CIFAR10_STD

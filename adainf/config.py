"""Configuration: typed, frozen, documented in one place.

Each field is documented where it is declared; functions that take a section refer here. Files (JSON/TOML)
and `section.key=value` overrides only change these defaults.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

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


@dataclass(frozen=True)
class ViewsConfig:
    """The two views of a positive pair. `adainf.augment.PRESETS` and `at_strength` produce these."""

    view1: AugmentConfig = field(default_factory=AugmentConfig)
    view2: AugmentConfig = field(default_factory=AugmentConfig)


@dataclass(frozen=True)
class DataConfig:
    """What to train on. Dataset strings are those of `adainf.data.load`."""

    train: str | None = None  # None = the bundled CIFAR-10 sample; "cifar10", "cifar100", an .npz or a folder
    test: str | None = None  # None = the test split of `train` when it has one (bundled, cifar*), else none
    root: str | None = None  # folder of the CIFAR releases (None: $ADAINF_DATA or ~/.cache/adainf/<name>)
    generated: str | None = None  # npz of generated images (label -1 unless class-conditional); None = no inflation
    real_weight: float = 1.0  # N: a real image is drawn N times as often as a generated one (AdaInf's dup)


@dataclass(frozen=True)
class ModelConfig:
    """Backbone and heads (layouts in `adainf.models`)."""

    backbone: str = "resnet18"  # "resnet18" (CIFAR stem) or "convnet" (small, for CPU runs)
    width: int = 64  # base channel width (64 = standard ResNet-18)
    stem_padding: int = 2  # ResNet CIFAR stem 3x3 conv padding: 2 as solo-learn/AdaInf (34x34 maps), 1 = 32x32
    proj_hidden: int = 2048  # projector hidden width
    proj_out: int = 256  # projector output (the embedding the loss sees)
    pred_hidden: int = 4096  # BYOL predictor hidden width
    sync_bn: bool = True  # under torchrun: batch norm over the global batch (False: per rank, faster, W-dependent)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and method hyper-parameters; per-method defaults in `adainf.methods.PRESETS`."""

    method: str = "simclr"  # "simclr", "mocov2", "byol", "barlow"
    steps: int = 100_000  # the budget: inflated and plain runs cost the same number of steps
    batch_size: int = 256  # source images per step (two views each)
    optimizer: str = "lars"  # "lars", "sgd", "adamw"
    lr_per_256: float = 0.2  # base learning rate, scaled linearly: lr = lr_per_256 * batch_size / 256
    weight_decay: float = 1e-4
    warmup_steps: int = 1000  # linear warm-up from 3e-5, then cosine to 0 at `steps` (steps // 10 if >= steps)
    temperature: float = 0.2  # SimCLR / MoCo
    queue_size: int = 32768  # MoCo negatives per view
    ema_base: float = 0.99  # MoCo / BYOL target momentum at step 0, cosine-annealed to ema_final
    ema_final: float = 0.999
    barlow_lambda: float = 0.0051  # weight of the off-diagonal (redundancy) term
    barlow_scale: float = 0.1  # scale of the whole Barlow Twins loss
    probe_lr_per_256: float = 0.05  # online linear probe (SGD, no weight decay), scaled like lr


@dataclass(frozen=True)
class RunConfig:
    """Everything a run needs; `config.json` in the run directory is this, resolved."""

    data: DataConfig = field(default_factory=DataConfig)
    augment: ViewsConfig = field(default_factory=ViewsConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    seed: int = 0
    device: str = "auto"  # "auto" = cuda when available, else cpu
    precision: str = "auto"  # "auto" = bf16 autocast where the device supports it, "bf16", "fp32"
    channels_last: bool = True
    compile: bool = False  # torch.compile the model (GPU; slow to start)
    out_dir: str = "runs"  # runs go to out_dir/name
    name: str | None = None  # None = <method>-<backbone>-<timestamp>
    log_every: int = 50  # steps between metrics.jsonl rows (0 = only the last step)
    eval_every: int = 1000  # steps between online kNN evaluations on the test set (0 = only at the end)
    ckpt_every: int = 1000  # steps between checkpoints (the last step is always saved; 0 = only it)


# --------------------------------------------------------------------------------------------------
# Files and overrides


def to_dict(cfg: Any) -> dict[str, Any]:
    """The config as plain JSON types (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def from_dict(cls: type[T], values: dict[str, Any], where: str = "") -> T:
    """Build `cls` from a (possibly partial) nested dict; missing keys keep their defaults.

    Raises:
        ValueError: naming the dotted key, for unknown keys and values of the wrong type.
    """
    return merge(cls(), values, where)


def merge(cfg: T, values: dict[str, Any], where: str = "") -> T:
    """`cfg` with the (possibly partial, nested) `values` applied; unknown keys and wrong types raise ValueError."""
    if not isinstance(values, dict):
        # ValueError, not TypeError: a bad config value is user input, reported like every other config error.
        raise ValueError(f"{where or 'config'}: expected a table/object, got {type(values).__name__}")  # noqa: TRY004
    hints = typing.get_type_hints(type(cfg))
    known = {f.name for f in dataclasses.fields(cfg)}  # type: ignore[arg-type]
    changes: dict[str, Any] = {}
    for key, value in values.items():
        path = f"{where}.{key}" if where else key
        if key not in known:
            raise ValueError(f"unknown config key {path!r}; known keys here: {', '.join(sorted(known))}")
        current = getattr(cfg, key)
        if dataclasses.is_dataclass(current):
            changes[key] = merge(current, value, path)
        else:
            changes[key] = _coerce(value, hints[key], path)
    return dataclasses.replace(cfg, **changes)  # type: ignore[type-var]


def _coerce(value: Any, hint: Any, path: str) -> Any:
    """Check `value` against a field's type, converting only where it is lossless (int -> float, list -> tuple)."""
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, path)
            except ValueError as e:
                errors.append(str(e))
        raise ValueError(errors[0] if len(errors) == 1 else f"{path}: {value!r} matches none of {hint}")
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise ValueError(f"{path}: expected {len(args)} values, got {value!r}")
        return tuple(_coerce(v, a, f"{path}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True)))
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            return value
    else:  # pragma: no cover - a field type this module does not know
        raise TypeError(f"{path}: unsupported field type {hint}")
    raise ValueError(f"{path}: expected {hint.__name__}, got {value!r} ({type(value).__name__})")


def parse_override(assignment: str) -> tuple[list[str], Any]:
    """'train.steps=500' -> (['train', 'steps'], 500). Values are Python/JSON literals; bare words are strings."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"override {assignment!r}: expected section.key=value")
    text = raw.strip()
    lowered = {"true": True, "false": False, "null": None, "none": None}
    if text.lower() in lowered:
        value: Any = lowered[text.lower()]
    else:
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text  # a bare word such as byol or runs/x
    return key.strip().split("."), value


def apply_overrides(cfg: T, assignments: list[str]) -> T:
    """Apply `section.key=value` strings, e.g. ["train.steps=500", "augment.view1.hue=0.1"].

    Raises:
        ValueError: for unknown keys or values of the wrong type, naming the key.
    """
    for assignment in assignments:
        keys, value = parse_override(assignment)
        nested: Any = value
        for key in reversed(keys):
            nested = {key: nested}
        cfg = merge(cfg, nested, "")
    return cfg


def read_file(path: str | Path) -> dict[str, Any]:
    """A JSON or TOML config file as a dict (by suffix: .toml is TOML, anything else JSON)."""
    p = Path(path)
    try:
        text = p.read_bytes()
    except OSError as e:
        raise ValueError(f"{p}: cannot read config ({e.strerror or e})") from None
    try:
        values = tomllib.loads(text.decode()) if p.suffix == ".toml" else json.loads(text)
    except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError and TOMLDecodeError are ValueErrors
        raise ValueError(f"{p}: not valid {'TOML' if p.suffix == '.toml' else 'JSON'} ({e})") from None
    if not isinstance(values, dict):
        raise ValueError(f"{p}: the top level must be an object/table")  # noqa: TRY004
    return values


def save(cfg: Any, path: str | Path) -> None:
    """Write the config as JSON, atomically (temporary file + rename)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.tmp")
    tmp.write_text(json.dumps(to_dict(cfg), indent=2) + "\n")
    os.replace(tmp, p)


def load(path: str | Path) -> RunConfig:
    """A RunConfig from a JSON/TOML file (partial files keep the defaults of the missing keys)."""
    try:
        return from_dict(RunConfig, read_file(path))
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None

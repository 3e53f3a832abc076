"""A small diffusion model that turns a real image set into an AdaInf-style npz of generated images.

Examples:
    adainf generate train --data ../shared/data/cifar10-5k-train.npz --steps 2500 runs/gen/cifar5k
    adainf generate train --resume runs/gen/cifar5k                  # continue from the last checkpoint
    adainf generate sample runs/gen/cifar5k --n 20000 --out gen.npz  # DDIM, cfg.sample_steps steps

The model is `adainf.unet.UNet` trained with DDPM's ε-objective (`adainf.diffusion.epsilon_loss`), with an
EMA copy of the weights that is what `sample` uses; sampling is deterministic DDIM (η = 0). A generator run
directory follows the trainer's conventions (`adainf.runs`): config.json (the resolved `GenerateConfig`),
metrics.jsonl, checkpoints/ (atomic, the newest two kept, read with weights_only=True), code_version.txt.
Every random choice of step t (batch indices, flips, timesteps, noise) comes from a CPU generator seeded by
(seed, t), so a resumed run continues exactly where an uninterrupted one would be; the learning rate is
constant after warm-up (as in DDPM), so stopping early by `until` or `max_seconds` changes nothing else.

`quality` measures how close generated images are to real ones with adainf's own measures (no Inception
download): the domain-classifier TV lower bound and the Fréchet distance of `bounds.gap`, on features from
`adainf.recommend.pixel_embedding()` or `encoder_embedding(run_dir)`, next to a real-vs-real floor and a
per-pixel-Gaussian baseline.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from adainf import config, data, diffusion, models, runs
from adainf.inflation import step_generator
from adainf.unet import UNet, num_parameters

if TYPE_CHECKING:
    from adainf import recommend
    from adainf.recommend import Embed

_TRAIN_STREAM, _SAMPLE_STREAM = 0, 1  # (seed, step/image, stream): training draws vs. sampling noise


@dataclass(frozen=True)
class GenerateConfig:
    """A generator run: data, network, diffusion, optimisation. Saved as the run's config.json."""

    data: str | None = None  # training images, any string `adainf.data.load` accepts (None = bundled sample)
    root: str | None = None  # folder of the CIFAR releases, for data = "cifar10"/"cifar100"
    resolution: int = 32  # image side the model works at; other sizes are resized (antialiased) on load
    class_conditional: bool = False  # condition on labels (then samples carry labels; else -1)
    num_classes: int | None = None  # set from the data when class_conditional; None for unconditional runs
    width: int = 32  # U-Net base channels (32: ~1.2M parameters, a CPU model; 128: DDPM's size)
    channel_mult: tuple[int, int, int] = (1, 2, 2)  # per-level channel multipliers
    res_blocks: int = 1  # residual blocks per level (down; one more up)
    attention_below: int = 8  # self-attention on levels of at most this side (in positions, after patching)
    patch_size: int = 2  # space-to-depth patch side: 2 = every level at half the side, ~4x cheaper
    schedule: str = "cosine"  # "cosine" (Nichol & Dhariwal) or "linear" (DDPM)
    diffusion_steps: int = 1000  # T
    steps: int = 20_000  # optimisation steps (the learning rate does not depend on it)
    batch_size: int = 64  # images per step
    lr: float = 5e-4  # Adam learning rate after warm-up
    warmup_steps: int = 200  # linear warm-up from 0
    grad_clip: float = 1.0  # global gradient-norm clip (DDPM); 0 = none
    ema_decay: float = 0.999  # EMA of the weights used for sampling (warmed up as min(decay, (1+t)/(10+t)))
    hflip: bool = True  # random horizontal flips of the training images
    sample_steps: int = 10  # DDIM steps `sample` takes by default
    seed: int = 0  # of the initialisation and of every per-step draw
    device: str = "auto"  # auto, cpu, cuda, cuda:1
    precision: str = "auto"  # auto (bf16 autocast where supported), bf16, fp32
    compile: bool | None = None  # torch.compile the network for training; None = on CUDA only
    log_every: int = 50  # steps per metrics.jsonl row (the row's loss is the mean over those steps)
    ckpt_every: int = 500  # steps per checkpoint


@dataclass
class GenerateResult:
    run_dir: Path
    steps: int  # steps done when the call returned
    final_loss: float  # mean loss of the last logged interval (NaN when no step ran)
    seconds: float
    parameters: int


# --------------------------------------------------------------------------------------------------
# Config and run directory


def resolve_config(assignments: list[str], base: GenerateConfig | None = None) -> GenerateConfig:
    """`base` (default: the defaults) with `key=value` assignments applied; unknown keys raise ValueError."""
    return config.apply_overrides(base or GenerateConfig(), assignments)


def load_config(run_dir: str | Path) -> GenerateConfig:
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise ValueError(f"{run_dir}: not a generator run directory (no config.json)")
    try:
        return config.from_dict(GenerateConfig, config.read_file(path))
    except ValueError as e:
        raise ValueError(f"{path}: not a generator config ({e})") from None


def _create_run_dir(cfg: GenerateConfig, run_dir: Path) -> None:
    if run_dir.exists() and any(run_dir.iterdir()):
        raise ValueError(f"{run_dir}: run directory exists and is not empty; pick another or --resume it")
    (run_dir / runs.CHECKPOINT_DIR).mkdir(parents=True, exist_ok=True)
    config.save(cfg, run_dir / "config.json")
    tmp = run_dir / ".code_version.txt.tmp"
    tmp.write_text(runs.code_version())
    tmp.replace(run_dir / "code_version.txt")


def build_model(cfg: GenerateConfig) -> UNet:
    """The U-Net `cfg` describes, initialised from cfg.seed."""
    torch.manual_seed(cfg.seed)
    return UNet(cfg.width, cfg.channel_mult, cfg.res_blocks, cfg.attention_below,
                num_classes=cfg.num_classes if cfg.class_conditional else None,
                image_size=cfg.resolution, patch_size=cfg.patch_size)


def load_images(cfg: GenerateConfig) -> data.ImageSet:
    """The training set at cfg.resolution (resized with antialiasing when its side differs)."""
    ds = data.load(cfg.data, split="train", root=cfg.root)
    h, w = ds.images.shape[1:3]
    if (h, w) == (cfg.resolution, cfg.resolution):
        return ds
    x = torch.from_numpy(ds.images).permute(0, 3, 1, 2).float()  # (N, 3, H, W)
    x = torch.nn.functional.interpolate(x, size=(cfg.resolution, cfg.resolution), mode="bilinear",
                                        antialias=True, align_corners=False)
    images = x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()
    return dataclasses.replace(ds, images=images)


# --------------------------------------------------------------------------------------------------
# Training


def _to_unit_range(x: Tensor) -> Tensor:
    return x.float() * (2 / 255) - 1  # uint8 0..255 -> [-1, 1], the range the sampler clips to


def train(
    cfg: GenerateConfig | None,
    run_dir: str | Path,
    *,
    resume: bool = False,
    until: int | None = None,
    max_seconds: float | None = None,
    progress: bool = True,
) -> GenerateResult:
    """Train the diffusion model `cfg` describes, writing `run_dir`.

    Args:
        cfg: the config (ignored when resuming: the run's own config.json is used).
        run_dir: the run directory: new (or empty) unless `resume`.
        resume: continue `run_dir` from its last checkpoint.
        until: stop after this step (checkpointed); resume later to continue.
        max_seconds: stop (checkpointed) after the first step that ends past this wall-clock budget.
        progress: tqdm bar on stderr.

    Raises:
        ValueError: bad config or data (naming the file), a non-empty new run dir, or a missing one to resume.
        adainf.train.NonFiniteLoss: the loss became NaN/inf (the last good checkpoint is kept).
    """
    from tqdm.auto import tqdm

    from adainf.train import NonFiniteLoss, autocast_dtype, resolve_device

    run_dir = Path(run_dir)
    if resume:
        cfg = load_config(run_dir)
    elif cfg is None:
        raise ValueError("a config is needed for a new run (cfg=None is only for resume=True)")
    if cfg.schedule not in diffusion.SCHEDULES:
        raise ValueError(f"schedule must be one of {diffusion.SCHEDULES}, got {cfg.schedule!r}")
    device = resolve_device(cfg.device)
    amp = autocast_dtype(cfg.precision, device)

    ds = load_images(cfg)
    if cfg.class_conditional:
        if ds.n_labeled == 0:
            raise ValueError(f"{ds.source}: class_conditional needs labels, but every image is unlabeled (-1)")
        if cfg.num_classes is None:
            cfg = dataclasses.replace(cfg, num_classes=ds.num_classes or int(ds.labels.max()) + 1)
        elif int(ds.labels.max()) >= cfg.num_classes:
            raise ValueError(f"{ds.source}: label {int(ds.labels.max())} >= num_classes {cfg.num_classes}")
    images = ds.to_tensor(device)  # (N, 3, R, R) uint8, resident on the device
    labels = torch.from_numpy(ds.labels).to(device) if cfg.class_conditional else None  # (N,)

    model = build_model(cfg).to(device)
    ema = models.copy_for_momentum(model).eval()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    alpha_bar = diffusion.alpha_bar_schedule(cfg.diffusion_steps, cfg.schedule)  # type: ignore[arg-type]
    use_compile = device.type == "cuda" if cfg.compile is None else cfg.compile
    net = torch.compile(model) if use_compile else model

    start = 0
    if resume:
        ckpt = runs.latest_checkpoint(run_dir)
        if ckpt is not None:
            state = runs.load_checkpoint(ckpt, map_location=device)
            model.load_state_dict(state["model"])
            ema.load_state_dict(state["ema"])
            opt.load_state_dict(state["optimizer"])
            start = int(state["step"])
        runs.truncate_metrics(run_dir, start)
    else:
        _create_run_dir(cfg, run_dir)

    stop = cfg.steps if until is None else min(until, cfg.steps)
    loss_sum = torch.zeros((), device=device)  # summed on the device: no host sync between log rows
    n_summed, last_loss = 0, math.nan
    t0 = tick = time.perf_counter()
    bar = tqdm(range(start, stop), initial=start, total=cfg.steps, disable=not progress, dynamic_ncols=True,
               desc=f"diffusion {num_parameters(model) / 1e6:.1f}M")
    done = start
    for step in bar:
        g = step_generator(cfg.seed, step, _TRAIN_STREAM)
        idx = torch.randint(0, len(ds), (cfg.batch_size,), generator=g).to(device)  # (B,)
        x0 = _to_unit_range(images[idx])  # (B, 3, R, R)
        if cfg.hflip:
            flip = (torch.rand(cfg.batch_size, generator=g) < 0.5).to(device)  # (B,)
            x0 = torch.where(flip[:, None, None, None], x0.flip(3), x0)
        for group in opt.param_groups:
            group["lr"] = cfg.lr * min(1.0, (step + 1) / max(cfg.warmup_steps, 1))
        with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
            loss = diffusion.epsilon_loss(net, x0, alpha_bar, g, labels[idx] if labels is not None else None)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        # The EMA warm-up keeps the average from remembering the random initialisation in short runs.
        models.ema_update_(ema, model, min(cfg.ema_decay, (1 + step) / (10 + step)))
        loss_sum += loss.detach()
        n_summed += 1
        done = step + 1
        out_of_time = max_seconds is not None and time.perf_counter() - t0 >= max_seconds
        if done % cfg.log_every == 0 or done == stop or out_of_time:
            last_loss = float(loss_sum) / n_summed  # the loop's host sync, once per row
            if not math.isfinite(last_loss):
                raise NonFiniteLoss(f"loss became {last_loss} by step {done}; the last good checkpoint is kept "
                                    f"in {run_dir / runs.CHECKPOINT_DIR} (lower lr or use precision=fp32)")
            now = time.perf_counter()
            rate = n_summed * cfg.batch_size / max(now - tick, 1e-9)
            runs.append_metrics(run_dir, {"step": done, "kind": "train", "loss": last_loss,
                                          "lr": opt.param_groups[0]["lr"], "images_per_s": rate})
            bar.set_postfix(loss=f"{last_loss:.4f}", img_s=f"{rate:.0f}")
            loss_sum.zero_()
            n_summed, tick = 0, now
        if done % cfg.ckpt_every == 0 or done == stop or out_of_time:
            runs.save_checkpoint(run_dir, done, {"model": model.state_dict(), "ema": ema.state_dict(),
                                                 "optimizer": opt.state_dict()})
        if out_of_time:
            break
    bar.close()
    return GenerateResult(run_dir, done, last_loss, time.perf_counter() - t0, num_parameters(model))


# --------------------------------------------------------------------------------------------------
# Sampling


def load_ema_model(run_dir: str | Path, device: torch.device) -> tuple[GenerateConfig, UNet, int]:
    """(config, EMA network in eval mode on `device`, its training step) from a run's last checkpoint."""
    cfg = load_config(run_dir)
    ckpt = runs.latest_checkpoint(run_dir)
    if ckpt is None:
        raise ValueError(f"{run_dir}: no checkpoint yet; train the generator first")
    state = runs.load_checkpoint(ckpt, map_location=device)
    model = build_model(cfg).to(device)
    model.load_state_dict(state["ema"])
    return cfg, model.eval(), int(state["step"])


def initial_noise(start: int, stop: int, shape: tuple[int, ...], seed: int) -> Tensor:
    """x_T for images start..stop-1, (stop-start, *shape): image i's noise depends only on (seed, i),
    so a sample does not depend on the batch size, and the first k of n images are the k-image sample."""
    return torch.stack([torch.randn(shape, generator=step_generator(seed, i, _SAMPLE_STREAM))
                        for i in range(start, stop)])


def sample_images(
    run_dir: str | Path, n: int, *, batch: int = 256, steps: int | None = None, seed: int = 0,
    device: str = "auto", progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """n images from a run's EMA weights by DDIM: ((n, R, R, 3) uint8, (n,) int64 labels).

    Labels are -1 for an unconditional model; a class-conditional one gets labels 0..K-1 in turn
    (balanced), and image i is drawn for label i mod K.

    Args:
        run_dir: a generator run directory with a checkpoint.
        n: number of images (>= 1).
        batch: images per denoiser call.
        steps: DDIM steps (default: the run's sample_steps).
        seed: seed of the initial noise; the same (run, seed, steps) gives the same images.
        device: auto, cpu, cuda.
        progress: tqdm bar on stderr.
    """
    from tqdm.auto import tqdm

    from adainf.train import autocast_dtype, resolve_device

    if n < 1 or batch < 1:
        raise ValueError(f"n and batch must be >= 1, got n={n}, batch={batch}")
    dev = resolve_device(device)
    cfg, model, _ = load_ema_model(run_dir, dev)
    amp = autocast_dtype(cfg.precision, dev)
    alpha_bar = diffusion.alpha_bar_schedule(cfg.diffusion_steps, cfg.schedule)  # type: ignore[arg-type]
    k = cfg.num_classes if cfg.class_conditional else None
    labels = np.arange(n, dtype=np.int64) % k if k else np.full(n, -1, dtype=np.int64)
    out = np.empty((n, cfg.resolution, cfg.resolution, 3), dtype=np.uint8)
    for start in tqdm(range(0, n, batch), disable=not progress, dynamic_ncols=True, desc="sampling"):
        stop = min(start + batch, n)
        noise = initial_noise(start, stop, (3, cfg.resolution, cfg.resolution), seed).to(dev)  # (b, 3, R, R)
        y = torch.from_numpy(labels[start:stop]).to(dev) if k else None
        with torch.autocast(dev.type, dtype=amp or torch.float32, enabled=amp is not None):
            x = diffusion.ddim_sample(model, noise, alpha_bar, steps or cfg.sample_steps, y)  # (b, 3, R, R)
        out[start:stop] = ((x + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu()
    return out, labels


def sample(
    run_dir: str | Path, n: int, out: str | Path, *, batch: int = 256, steps: int | None = None,
    seed: int = 0, device: str = "auto", progress: bool = True,
) -> dict[str, Any]:
    """`sample_images` written to `out` as an AdaInf-style npz (atomically); returns a JSON-able summary."""
    t0 = time.perf_counter()
    images, labels = sample_images(run_dir, n, batch=batch, steps=steps, seed=seed, device=device,
                                   progress=progress)
    cfg = load_config(run_dir)
    data.save_npz(out, images, labels, num_classes=cfg.num_classes if cfg.class_conditional else None)
    seconds = time.perf_counter() - t0
    return {"out": str(out), "n": n, "steps": steps or cfg.sample_steps, "seed": seed,
            "class_conditional": cfg.class_conditional, "seconds": seconds, "images_per_s": n / seconds}


# --------------------------------------------------------------------------------------------------
# Quality: the gap to real images, with a floor and a baseline


def pixel_gaussian_baseline(images: np.ndarray, n: int, *, rng: np.random.Generator) -> np.ndarray:
    """n images from independent per-pixel-and-channel Gaussians fitted to `images`, rounded and clipped.

    The trivial generator a real one must beat: right mean and per-pixel spread, no spatial structure.

    Args:
        images: (N, H, W, 3) uint8 real images to fit.
        n: number of images to draw.
        rng: source of the draws.

    Returns:
        (n, H, W, 3) uint8.
    """
    x = images.astype(np.float64)
    mean, std = x.mean(axis=0), x.std(axis=0)  # (H, W, 3) each
    draws = rng.normal(mean, std, size=(n, *mean.shape))
    return np.clip(np.rint(draws), 0, 255).astype(np.uint8)


def image_features(images: np.ndarray, embed: Embed, *, batch: int = 512) -> np.ndarray:
    """(N, d) L2-normalised features of uint8 (N, H, W, 3) images, normalised as adainf's views are."""
    from adainf.config import AugmentConfig
    from adainf.recommend import clean_features

    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)  # (N, 3, H, W) uint8
    return clean_features(x, embed, AugmentConfig(), batch=batch)


@dataclass(frozen=True)
class QualityReport:
    """Generated vs real, beside real vs real (the floor) and per-pixel Gaussian vs real (the baseline).

    Every estimate compares the same real half A (of `real`) with n images of the other set, so the three
    are on one footing: the floor uses the disjoint half B, the baseline is fitted to `baseline_fit`.
    """

    generated: recommend.GapEstimate
    baseline: recommend.GapEstimate
    floor: recommend.GapEstimate
    n: int

    def to_dict(self) -> dict[str, Any]:
        return {"n_per_set": self.n, "generated": self.generated.to_dict(), "baseline": self.baseline.to_dict(),
                "floor": self.floor.to_dict()}


def quality(
    real: np.ndarray, generated: np.ndarray, embed: Embed, *, rng: np.random.Generator,
    baseline_fit: np.ndarray | None = None, batch: int = 512,
) -> QualityReport:
    """How far `generated` is from `real`, next to the real-vs-real floor and a per-pixel-Gaussian baseline.

    `real` is split at random into disjoint halves A and B of n = min(len(real) // 2, len(generated))
    images each; the generated images (first n) and n baseline images are each compared with A.

    Args:
        real: (N, H, W, 3) uint8 held-out real images (e.g. the test set), N >= 4.
        generated: (M, H, W, 3) uint8 generated images, same H, W.
        embed: feature map, e.g. `adainf.recommend.pixel_embedding()` or `encoder_embedding(run_dir)`.
        rng: source of the split, the baseline's draws and the classifiers' splits.
        baseline_fit: images to fit the per-pixel Gaussian to (e.g. the generator's training set);
            default: half B.
        batch: images per embedding call.

    Raises:
        ValueError: mismatched image shapes or too few images.
    """
    from adainf.recommend import gap_estimate

    if real.shape[1:] != generated.shape[1:]:
        raise ValueError(f"real images are {real.shape[1:]} but generated ones {generated.shape[1:]}")
    n = min(len(real) // 2, len(generated))
    if n < 2:
        raise ValueError(f"need at least 4 real and 2 generated images, got {len(real)} and {len(generated)}")
    perm = rng.permutation(len(real))
    half_a, half_b = real[perm[:n]], real[perm[n : 2 * n]]
    fit = half_b if baseline_fit is None else baseline_fit
    feats = {name: image_features(x, embed, batch=batch) for name, x in (
        ("a", half_a), ("b", half_b), ("gen", generated[:n]), ("base", pixel_gaussian_baseline(fit, n, rng=rng)))}
    return QualityReport(
        generated=gap_estimate(feats["a"], feats["gen"], rng=rng),  # bounds.gap, through adainf.recommend
        baseline=gap_estimate(feats["a"], feats["base"], rng=rng),
        floor=gap_estimate(feats["a"], feats["b"], rng=rng),
        n=n,
    )


def save_grid(images: np.ndarray, path: str | Path, *, columns: int = 16, scale: int = 2) -> Path:
    """A PNG grid of uint8 (N, H, W, 3) images, row by row, each upscaled `scale` times (nearest); atomic."""
    from PIL import Image

    n, h, w, _ = images.shape
    rows = math.ceil(n / columns)
    canvas = np.full((rows * (h + 2) + 2, columns * (w + 2) + 2, 3), 255, dtype=np.uint8)  # 2-px white gutters
    for i, im in enumerate(images):
        r, c = divmod(i, columns)
        canvas[2 + r * (h + 2) : 2 + r * (h + 2) + h, 2 + c * (w + 2) : 2 + c * (w + 2) + w] = im
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    Image.fromarray(canvas).resize((canvas.shape[1] * scale, canvas.shape[0] * scale), Image.NEAREST).save(
        tmp, format="PNG")
    tmp.replace(path)
    return path

"""Pre-training: `train(cfg) -> TrainResult`, the loop, top to bottom.

Examples:
    adainf train --method simclr --backbone convnet train.steps=2000           # bundled data, CPU-sized
    adainf train --method byol --data cifar10 --generated gen1m.npz --dup 10 --augment asymmetric_adainf
    adainf train --config recommended.json                                      # from `adainf recommend --out`
    adainf train --resume runs/simclr-resnet18-20261204-120000                  # continue exactly

Under torchrun (RANK/WORLD_SIZE in the environment) the same loop is data-parallel: every rank draws the
step's global batch and augmentation parameters and keeps its contiguous share, the loss runs on gathered
embeddings, DDP averages gradients, and rank 0 alone writes the run directory (see `adainf.distributed`):

    torchrun --standalone --nproc_per_node=4 -m adainf train --method simclr --batch 1024

Design: the budget is in steps (AdaInf trains every setting for 100k steps, so inflated and plain runs cost
the same). The whole uint8 dataset sits on the training device; each step gathers its batch by index from
real + generated without concatenating them, and augments on the device. Every random choice of step t
(batch indices, augmentation) comes from generators seeded by (seed, t), so a resumed run redraws exactly
the batches an uninterrupted run would have drawn, and the loop never needs a host sync except when it logs.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from adainf import augment, data, distributed, evaluate, losses, optim, runs
from adainf.config import RunConfig, TrainConfig
from adainf.inflation import InflatedIndex, gather, step_generator
from adainf.methods import METHODS, Method, SSLModel

_INDEX_STREAM, _AUGMENT_STREAM = 0, 1


class NonFiniteLoss(RuntimeError):
    """The loss became NaN or infinite; the run stops and keeps its last good checkpoint."""


@dataclass
class TrainResult:
    run_dir: Path
    steps: int
    final_loss: float
    seconds: float
    eval: dict[str, float] = field(default_factory=dict)  # last online evaluation (knn_top1, online_linear_top1)


# --------------------------------------------------------------------------------------------------
# Device and precision


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def supports_bf16(device: torch.device) -> bool:
    """bf16 autocast pays off on CUDA with bf16 support and on CPUs with native bf16 (AVX512-BF16 / AMX)."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """None means fp32. "auto" picks bf16 where the hardware has it (with fp32 fallback)."""
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if precision == "auto":
        return torch.bfloat16 if supports_bf16(device) else None
    raise ValueError(f"precision must be 'auto', 'bf16' or 'fp32', got {precision!r}")


# --------------------------------------------------------------------------------------------------
# The pieces of a step


@dataclass
class Trainer:
    """Model, probe, optimizers and the fixed per-run values one step needs."""

    cfg: RunConfig
    device: torch.device
    amp_dtype: torch.dtype | None
    method: Method
    model: SSLModel
    probe: evaluate.OnlineLinearProbe | None
    optimizer: torch.optim.Optimizer
    probe_optimizer: torch.optim.Optimizer | None
    base_lr: float
    probe_lr: float
    dist: distributed.Context = field(default_factory=distributed.Context)
    ddp: torch.nn.Module | None = None  # the method's forward under DDP when world_size > 1, else None

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict()}
        if self.probe is not None and self.probe_optimizer is not None:
            state["probe"] = self.probe.state_dict()
            state["probe_optimizer"] = self.probe_optimizer.state_dict()
        return state

    def load_state(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.probe is not None and self.probe_optimizer is not None:
            self.probe.load_state_dict(state["probe"])
            self.probe_optimizer.load_state_dict(state["probe_optimizer"])


def build(
    cfg: RunConfig, num_classes: int | None, device: torch.device, ctx: distributed.Context | None = None
) -> Trainer:
    """Model, online probe and optimizers for `cfg`, initialised from cfg.seed (on every rank alike)."""
    if cfg.train.method not in METHODS:
        raise ValueError(f"unknown method {cfg.train.method!r}; choose one of {', '.join(sorted(METHODS))}")
    ctx = ctx or distributed.Context()
    torch.manual_seed(cfg.seed)
    model = SSLModel(cfg).to(device)
    if ctx.world_size > 1:
        distributed.prepare_model(model, sync_bn=cfg.model.sync_bn)  # gathered projections, SyncBN
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    t = cfg.train
    base_lr = optim.scaled_lr(t.lr_per_256, t.batch_size)
    # LARS recipes exclude biases and norm weights from weight decay and adaptation; solo-learn's SGD (MoCo) does not.
    opt = optim.build_optimizer(t.optimizer, model, lr=base_lr, weight_decay=t.weight_decay,
                                exclude_bias_and_norm=t.optimizer == "lars")
    probe = probe_opt = None
    probe_lr = optim.scaled_lr(t.probe_lr_per_256, t.batch_size)
    if num_classes:
        probe = evaluate.OnlineLinearProbe(model.feature_dim, num_classes).to(device)
        probe_opt = torch.optim.SGD(probe.parameters(), lr=probe_lr, momentum=0.9)
    if cfg.compile:
        model.backbone = torch.compile(model.backbone)  # type: ignore[assignment]
    ddp = distributed.data_parallel(METHODS[t.method], model, cfg, device) if ctx.world_size > 1 else None
    return Trainer(cfg, device, autocast_dtype(cfg.precision, device), METHODS[t.method], model, probe, opt,
                   probe_opt, base_lr, probe_lr, ctx, ddp)


def _every(step: int, period: int) -> bool:
    """Whether a periodic action falls on `step`; a period of 0 means never (the last step is handled apart)."""
    return period > 0 and step % period == 0


def warmup_steps(t: TrainConfig) -> int:
    """t.warmup_steps, or a tenth of the run when the run is not longer than its warm-up."""
    return t.warmup_steps if t.warmup_steps < t.steps else t.steps // 10


def train_step(tr: Trainer, images: Tensor, labels: Tensor, step: int) -> tuple[Tensor, dict[str, Tensor]]:
    """One optimisation step on uint8 images (B, 3, H, W) with labels (B,) (-1 = unlabeled).

    Under DDP, images and labels are this rank's rows `tr.dist.rows(B)` of the global batch.
    Returns the detached loss and its parts, still on the device (no host sync here).
    """
    cfg, t = tr.cfg, tr.cfg.train
    lr_scale = optim.lr_at(step, total_steps=t.steps, base_lr=1.0, warmup_steps=warmup_steps(t),
                           warmup_start_lr=3e-5 / max(tr.base_lr, 1e-12))
    for group in tr.optimizer.param_groups:
        group["lr"] = tr.base_lr * lr_scale
    if tr.probe_optimizer is not None:
        for group in tr.probe_optimizer.param_groups:
            group["lr"] = tr.probe_lr * lr_scale

    g = step_generator(cfg.seed, step, _AUGMENT_STREAM)
    pair = (cfg.augment.view1, cfg.augment.view2)
    if tr.ddp is None:
        v1, v2 = augment.views(images, pair, g)  # (B, 3, S, S) float each
    else:  # this rank's rows of the views one process draws for the global batch
        v1, v2 = distributed.shard_views(images, pair, g, tr.dist.rows(t.batch_size), t.batch_size)
    if cfg.channels_last:
        v1 = v1.contiguous(memory_format=torch.channels_last)
        v2 = v2.contiguous(memory_format=torch.channels_last)
    with torch.autocast(tr.device.type, dtype=tr.amp_dtype or torch.float32, enabled=tr.amp_dtype is not None):
        if tr.ddp is None:
            loss, parts, feats = tr.method.forward(tr.model, v1, v2, cfg)  # feats (2B, F)
        else:  # the loss is the global one on every rank; DDP averages the gradients in backward
            loss, parts, feats = tr.ddp(v1, v2)  # feats (2b, F): this rank's rows
    total = loss
    if tr.probe is not None:
        # The probe sees detached features: it measures the representation without shaping it.
        feats, probe_labels = feats.detach().float(), labels.repeat(2)
        if tr.ddp is not None:  # every rank trains its probe copy on the global batch, identically
            feats, probe_labels = distributed.gather_views(feats), distributed.gather_views(probe_labels)
        probe_loss, probe_parts = tr.probe.loss(feats, probe_labels)
        total = total + probe_loss
        parts = {**parts, **probe_parts}

    tr.optimizer.zero_grad(set_to_none=True)
    if tr.probe_optimizer is not None:
        tr.probe_optimizer.zero_grad(set_to_none=True)
    total.backward()
    tr.optimizer.step()
    if tr.probe_optimizer is not None:
        tr.probe_optimizer.step()
    if tr.method.uses_momentum:
        # The target moves after the online step, with momentum annealed from ema_base to ema_final.
        tr.model.momentum_update(losses.cosine_momentum_at(step + 1, t.steps, t.ema_base, t.ema_final))
    return loss.detach(), {k: v.detach() for k, v in parts.items()}


def online_eval(tr: Trainer, train_x: Tensor, train_y: Tensor, test_x: Tensor, test_y: Tensor) -> dict[str, float]:
    """The online monitors on the test set: kNN (k=200, T=0.1) over real training features, and the probe."""
    bb = tr.model.backbone
    kw: dict[str, Any] = {"channels_last": tr.cfg.channels_last, "autocast_dtype": tr.amp_dtype,
                          "mean": tr.cfg.augment.view1.mean, "std": tr.cfg.augment.view1.std}
    f_train = evaluate.extract_features(bb, train_x, **kw)
    f_test = evaluate.extract_features(bb, test_x, **kw)
    num_classes = int(max(int(train_y.max()), int(test_y.max())) + 1)
    out = {"knn_top1": evaluate.knn_accuracy(f_train, train_y, f_test, test_y, num_classes=num_classes)}
    if tr.probe is not None:
        out["online_linear_top1"] = evaluate.evaluate_online_probe(tr.probe, f_test.to(tr.device), test_y)
    return out


# --------------------------------------------------------------------------------------------------
# The loop


def load_datasets(cfg: RunConfig) -> tuple[data.ImageSet, data.ImageSet | None, data.ImageSet | None]:
    """(real training set, generated set or None, test set or None) as the config names them."""
    d = cfg.data
    real = data.load(d.train, split="train", root=d.root)
    test = None
    if d.test is not None:
        test = data.load(d.test, split="test", root=d.root)
    elif d.train in (None, "bundled", "cifar10", "cifar100"):
        test = data.load(d.train, split="test", root=d.root)
    gen = data.load(d.generated) if d.generated else None
    if gen is not None and gen.images.shape[1:] != real.images.shape[1:]:
        raise ValueError(f"{d.generated}: generated images are {gen.images.shape[1:3]}, real ones "
                         f"{real.images.shape[1:3]}; they must match")
    return real, gen, test


def train(
    cfg: RunConfig, *, resume: str | Path | None = None, until: int | None = None, progress: bool = True
) -> TrainResult:
    """Pre-train an encoder as `cfg` says and write the run directory.

    Args:
        cfg: the resolved run config (ignored when resuming: the run's own config.json is used).
        resume: a run directory to continue from its last checkpoint, with the same batches and
            augmentations an uninterrupted run would have had.
        until: stop after this many steps (checkpointing there) while keeping the schedule of cfg.train.steps,
            for time-sliced jobs; resume later to continue.
        progress: show a tqdm bar on stderr (rank 0 only under torchrun).
    """
    if resume is not None:
        cfg = runs.load_config(resume)
    # Under torchrun this joins the job's process group; alone it changes nothing.
    ctx, device, owns_group = distributed.init(resolve_device(cfg.device))
    try:
        return _train(cfg, ctx, device, resume=resume, until=until, progress=progress)
    finally:
        distributed.teardown(owns_group)


def _train(cfg: RunConfig, ctx: distributed.Context, device: torch.device, *, resume: str | Path | None,
           until: int | None, progress: bool) -> TrainResult:
    from tqdm.auto import tqdm

    t = cfg.train
    rows = ctx.rows(t.batch_size)  # this rank's share of every global batch (all of it in one process)

    # Data: uint8 tensors resident on the device; generated images extend the index space.
    real, gen, test = load_datasets(cfg)
    index = InflatedIndex(len(real), len(gen) if gen is not None else 0, cfg.data.real_weight)
    real_x = real.to_tensor(device)  # (N, 3, H, W) uint8
    gen_x = gen.to_tensor(device) if gen is not None else None
    all_labels = torch.from_numpy(np.concatenate([real.labels] + ([gen.labels] if gen is not None else [])))
    all_labels = all_labels.to(device)  # (n_real + n_gen,)
    num_classes = real.num_classes or (int(real.labels.max()) + 1 if real.n_labeled else None)
    labeled = torch.from_numpy(real.labels >= 0).to(device)
    knn_x, knn_y = real_x[labeled], all_labels[: len(real)][labeled]  # kNN memory: labelled real images
    test_x = test.to_tensor(device) if test is not None else None
    test_y = torch.from_numpy(test.labels).to(device) if test is not None else None

    tr = build(cfg, num_classes, device, ctx)
    start = 0
    if resume is None:
        run_dir = distributed.main_first(ctx, lambda: runs.create(cfg))  # rank 0 names and writes it
    else:
        # Every rank reads the checkpoint (multi-node resume needs the run directory on a shared filesystem).
        run_dir = Path(resume)
        ckpt = runs.latest_checkpoint(run_dir)
        if ckpt is not None:
            state = runs.load_checkpoint(ckpt, map_location=device)
            tr.load_state(state)
            start = int(state["step"])
        if ctx.is_main:
            runs.truncate_metrics(run_dir, start)

    def evaluate_now(step: int) -> dict[str, float]:
        if test_x is None or test_y is None or num_classes is None:
            return {}
        # Every rank evaluates its (identical) model, so none waits on rank 0 at the next collective.
        result = online_eval(tr, knn_x, knn_y, test_x, test_y)
        if ctx.is_main:
            runs.append_metrics(run_dir, {"step": step, "kind": "eval", **result})
        return result

    bad = torch.zeros((), dtype=torch.bool, device=device)  # any non-finite loss since the last check
    last_eval: dict[str, float] = {}
    loss = torch.zeros(())
    t0 = tick = time.perf_counter()
    tick_step = start
    stop = t.steps if until is None else min(until, t.steps)
    bar = tqdm(range(start, stop), initial=start, total=t.steps, disable=not progress or not ctx.is_main,
               dynamic_ncols=True, desc=f"{t.method} {cfg.model.backbone}")
    for step in bar:
        idx = index.sample(step, t.batch_size, cfg.seed)[rows].to(device)  # (B,), or (B/W,) under DDP
        images = gather(real_x, gen_x, idx)  # (B, 3, H, W) uint8
        loss, parts = train_step(tr, images, all_labels[idx], step)
        bad |= ~torch.isfinite(loss)
        done = step + 1
        if _every(done, cfg.log_every) or done in (stop, t.steps) or _every(done, cfg.ckpt_every):
            if bool(bad):  # the only host sync of the loop, every log_every steps
                raise NonFiniteLoss(
                    f"loss became {float(loss)} by step {done}; stopped. The last good checkpoint is kept in "
                    f"{run_dir / runs.CHECKPOINT_DIR} (lower train.lr_per_256 or use precision=fp32)")
            now = time.perf_counter()
            rate = (done - tick_step) * t.batch_size / max(now - tick, 1e-9)
            tick, tick_step = now, done
            row = {"step": done, "kind": "train", "loss": float(loss),
                   "lr": tr.optimizer.param_groups[0]["lr"], "images_per_s": rate,
                   **{k: float(v) for k, v in parts.items()}}
            if ctx.is_main:
                runs.append_metrics(run_dir, row)
            bar.set_postfix(loss=f"{row['loss']:.3f}", lr=f"{row['lr']:.3g}", img_s=f"{rate:.0f}")
        if cfg.eval_every and done % cfg.eval_every == 0 and done != t.steps:
            last_eval = evaluate_now(done)
        if (_every(done, cfg.ckpt_every) or done == stop) and ctx.is_main:
            runs.save_checkpoint(run_dir, done, tr.state())
    bar.close()
    if stop == t.steps and (start < t.steps or not last_eval):
        last_eval = evaluate_now(t.steps)
    final = float(loss) if start < stop else math.nan
    return TrainResult(run_dir, stop, final, time.perf_counter() - t0, last_eval)

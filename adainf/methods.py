"""The four contrastive methods: per-method presets and one forward function each.

    METHODS[name] = Method(forward, uses_momentum, uses_predictor, queue)

A method's forward takes the model and the two views and returns (loss, parts, features), where
`features` (2B, F) are the backbone features of both views, which the online linear probe reads (detached).
Everything stateful (momentum encoders, the MoCo queue) lives in `SSLModel`, so a checkpoint of its
state dict is the whole method state. Hyper-parameters come from `PRESETS`, the AdaInf / solo-learn CIFAR
recipes (paper-notes §4.1): overriding any of them is a config override, not a code change.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from adainf import losses, models
from adainf.config import RunConfig

Parts = dict[str, Tensor]


class SSLModel(nn.Module):
    """Backbone + projector (+ predictor) (+ momentum copies) (+ MoCo queue) for one method."""

    def __init__(self, cfg: RunConfig) -> None:
        super().__init__()
        spec = METHODS[cfg.train.method]
        m = cfg.model
        extra = {"stem_padding": m.stem_padding} if m.backbone == "resnet18" else {}
        self.backbone = models.BACKBONES[m.backbone](width=m.width, **extra)
        feat_dim = self.backbone.out_dim
        self.projector = models.projector(feat_dim, m.proj_hidden, m.proj_out, kind=cfg.train.method)
        self.predictor = models.predictor(m.proj_out, m.pred_hidden) if spec.uses_predictor else None
        if spec.uses_momentum:
            # Targets start as exact copies and then trail the online network by EMA (updated after each step).
            self.momentum_backbone = models.copy_for_momentum(self.backbone)
            self.momentum_projector = models.copy_for_momentum(self.projector)
        if spec.uses_queue:
            # One queue of negatives per view (solo-learn's MoCo V2+), random unit vectors until filled.
            self.register_buffer("queue", losses.init_queue(m.proj_out, cfg.train.queue_size))  # (2, D, K)
            self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))

    @property
    def feature_dim(self) -> int:
        return int(self.backbone.out_dim)

    def momentum_update(self, tau: float) -> None:
        models.ema_update_(self.momentum_backbone, self.backbone, tau)
        models.ema_update_(self.momentum_projector, self.projector, tau)


def _simclr(model: SSLModel, v1: Tensor, v2: Tensor, cfg: RunConfig) -> tuple[Tensor, Parts, Tensor]:
    feats = model.backbone(torch.cat([v1, v2]))  # (2B, F): one pass, BN statistics over both views
    z1, z2 = model.projector(feats).float().chunk(2)  # (B, D) each
    loss, parts = losses.nt_xent_loss(z1, z2, temperature=cfg.train.temperature)
    return loss, parts, feats


def _mocov2(model: SSLModel, v1: Tensor, v2: Tensor, cfg: RunConfig) -> tuple[Tensor, Parts, Tensor]:
    x = torch.cat([v1, v2])
    feats = model.backbone(x)  # (2B, F)
    q1, q2 = model.projector(feats).float().chunk(2)
    with torch.no_grad():
        k1, k2 = model.momentum_projector(model.momentum_backbone(x)).float().chunk(2)
    loss, parts = losses.mocov2_loss(q1, q2, k1, k2, model.queue, temperature=cfg.train.temperature)
    # The keys of this step join the queue after the loss used the old one, as in MoCo.
    with torch.no_grad():
        keys = torch.stack([k1, k2])  # (2, B, D)
        queue, ptr = losses.enqueue(model.queue, keys, int(model.queue_ptr))
        # Rebinding (not copy_) keeps the old queue alive, unmodified, for this step's backward pass.
        model.queue = queue
        model.queue_ptr.fill_(ptr)
    return loss, parts, feats


def _byol(model: SSLModel, v1: Tensor, v2: Tensor, cfg: RunConfig) -> tuple[Tensor, Parts, Tensor]:
    x = torch.cat([v1, v2])
    feats = model.backbone(x)  # (2B, F)
    assert model.predictor is not None
    p1, p2 = model.predictor(model.projector(feats)).float().chunk(2)
    with torch.no_grad():
        t1, t2 = model.momentum_projector(model.momentum_backbone(x)).float().chunk(2)
    loss, parts = losses.byol_loss(p1, p2, t1, t2)
    return loss, parts, feats


def _barlow(model: SSLModel, v1: Tensor, v2: Tensor, cfg: RunConfig) -> tuple[Tensor, Parts, Tensor]:
    feats = model.backbone(torch.cat([v1, v2]))  # (2B, F)
    z1, z2 = model.projector(feats).float().chunk(2)
    loss, parts = losses.barlow_twins_loss(z1, z2, lambd=cfg.train.barlow_lambda, scale=cfg.train.barlow_scale)
    return loss, parts, feats


@dataclass(frozen=True)
class Method:
    forward: Callable[[SSLModel, Tensor, Tensor, RunConfig], tuple[Tensor, Parts, Tensor]]
    uses_momentum: bool = False
    uses_predictor: bool = False
    uses_queue: bool = False


METHODS: dict[str, Method] = {
    "simclr": Method(_simclr),
    "mocov2": Method(_mocov2, uses_momentum=True, uses_queue=True),
    "byol": Method(_byol, uses_momentum=True, uses_predictor=True),
    "barlow": Method(_barlow),
}

#: Per-method overrides of the RunConfig defaults: the AdaInf recipes (solo-learn CIFAR configs, paper-notes
#: §4.1; learning rates per 256 images). Augmentations: SimCLR and MoCo use the symmetric pipeline (MoCo the
#: repo's `symmetric_weak` jitter), BYOL and Barlow Twins the asymmetric one.
PRESETS: dict[str, dict[str, Any]] = {
    "simclr": {
        "train": {"optimizer": "lars", "lr_per_256": 0.2, "weight_decay": 1e-4, "temperature": 0.2},
        "model": {"proj_hidden": 2048, "proj_out": 256},
        "augment": "symmetric",
    },
    "mocov2": {
        "train": {"optimizer": "sgd", "lr_per_256": 0.15, "weight_decay": 1e-4, "temperature": 0.2,
                  "queue_size": 32768, "ema_base": 0.99, "ema_final": 0.999},
        "model": {"proj_hidden": 2048, "proj_out": 256},
        "augment": "symmetric_weak",
    },
    "byol": {
        "train": {"optimizer": "lars", "lr_per_256": 0.5, "weight_decay": 1e-5, "ema_base": 0.99, "ema_final": 1.0},
        "model": {"proj_hidden": 4096, "proj_out": 256, "pred_hidden": 4096},
        "augment": "asymmetric",
    },
    "barlow": {
        "train": {"optimizer": "lars", "lr_per_256": 0.15, "weight_decay": 1e-4, "barlow_lambda": 0.0051,
                  "barlow_scale": 0.1},
        "model": {"proj_hidden": 2048, "proj_out": 2048},
        "augment": "asymmetric",
    },
}


def preset(method: str) -> RunConfig:
    """The RunConfig of `method`'s AdaInf recipe (everything else at its default)."""
    from adainf import augment, config

    if method not in PRESETS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(sorted(PRESETS))}")
    values = copy.deepcopy(PRESETS[method])
    view1, view2 = augment.resolve_views(values.pop("augment"))
    values["train"]["method"] = method
    values["augment"] = {"view1": config.to_dict(view1), "view2": config.to_dict(view2)}
    return config.from_dict(RunConfig, values)


def resolve_config(
    path: str | None = None,
    overrides: list[str] | None = None,
    *,
    method: str | None = None,
    augment_views: str | None = None,
) -> RunConfig:
    """The run config from, in increasing priority: the method preset, a JSON/TOML file, flags, overrides.

    The method is decided first (override `train.method=...` > `method` > the file's > "simclr") because
    its preset supplies the defaults the file and overrides then change.

    Args:
        path: a config file (e.g. written by `adainf recommend --out`), or None.
        overrides: `section.key=value` strings.
        method: a method name (the `--method` flag).
        augment_views: a preset name or strength for both views (the `--augment` flag).
    """
    from adainf import augment, config

    overrides = list(overrides or [])
    values = config.read_file(path) if path else {}
    chosen = values.get("train", {}).get("method") if isinstance(values.get("train"), dict) else None
    chosen = method or chosen or "simclr"
    for assignment in overrides:
        keys, value = config.parse_override(assignment)
        if keys == ["train", "method"]:
            chosen = value
    cfg = preset(str(chosen))
    try:
        cfg = config.merge(cfg, values)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    if augment_views is not None:
        view1, view2 = augment.resolve_views(augment_views)
        cfg = config.from_dict(RunConfig, {**config.to_dict(cfg), "augment": {
            "view1": config.to_dict(view1), "view2": config.to_dict(view2)}})
    return config.apply_overrides(cfg, overrides)

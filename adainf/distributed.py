"""Data-parallel training under torchrun: the process group from the environment, gathers with gradients,
per-rank shares of a step, and rank-0 helpers.

    torchrun --standalone --nproc_per_node=4 -m adainf train --method simclr train.batch_size=1024

Conventions:
    * `train.batch_size` is the *global* batch B. With W ranks each rank owns the contiguous rows
      [r·B/W, (r+1)·B/W) of the batch one process would draw (`Context.rows`); B must be divisible by W, so
      every rank runs the same steps on the same number of rows and no rank waits for a short last batch.
    * A step's random choices (indices, augmentation parameters) are drawn for the whole global batch on every
      rank from the (seed, step) generators and then sliced, so the union over ranks is the single-process
      batch and view set, whatever W is.
    * Embeddings are gathered *view-major*: the local (2b, D) output [view 1 rows; view 2 rows] becomes the
      global (2B, D) [view 1 of all ranks in rank order; view 2 likewise], exactly the layout one process has.
    * Every rank computes the loss on the gathered global embeddings (the same number everywhere). The
      gather's backward sums the W identical gradients and keeps this rank's rows, and DDP then averages over
      ranks, so each parameter receives the single-process gradient.
    * With W = 1 (no torchrun) nothing here runs: the trainer takes its single-process path unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from adainf.config import AugmentConfig

T = TypeVar("T")


@dataclass(frozen=True)
class Context:
    """Where this process sits in the job (rank 0 of 1 when not under torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0  # rank on this node: the CUDA device index

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes the run directory, logs and shows progress."""
        return self.rank == 0

    def rows(self, batch_size: int) -> slice:
        """This rank's contiguous rows of a global batch of `batch_size`.

        Raises:
            ValueError: if `batch_size` is not divisible by the world size.
        """
        if batch_size % self.world_size:
            raise ValueError(f"train.batch_size={batch_size} (the global batch) must be divisible by the number "
                             f"of processes, {self.world_size}")
        share = batch_size // self.world_size
        return slice(self.rank * share, (self.rank + 1) * share)


def from_env() -> Context:
    """The Context torchrun (or SLURM + torchrun) describes in RANK, WORLD_SIZE and LOCAL_RANK; one process if unset."""
    if "WORLD_SIZE" not in os.environ:
        return Context()
    return Context(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", "0")))


def init(device: torch.device) -> tuple[Context, torch.device, bool]:
    """Join the process group of the torchrun job this process belongs to, if any.

    Args:
        device: the configured device; under torchrun a CUDA device becomes cuda:LOCAL_RANK.

    Returns:
        (context, the device this rank trains on, whether this call created the process group and so should
        `teardown` it). An already-initialised group (e.g. made by a caller) is used as it is.
    """
    ctx = from_env()
    if ctx.world_size == 1 and not dist.is_initialized():
        return ctx, device, False
    if device.type == "cuda":
        device = torch.device("cuda", ctx.local_rank)
        torch.cuda.set_device(device)
    created = not dist.is_initialized()
    if created:
        # nccl is the only fast backend between GPUs; gloo runs everywhere else (and in the CPU tests).
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    ctx = Context(dist.get_rank(), dist.get_world_size(), ctx.local_rank)
    return ctx, device, created


def teardown(created: bool) -> None:
    if created and dist.is_initialized():
        dist.destroy_process_group()


def main_first(ctx: Context, fn: Callable[[], T]) -> T:
    """`fn()` on rank 0, its result sent to every rank; an exception there is raised on every rank.

    For the run directory: rank 0 creates it (its name may hold rank 0's timestamp) and the others learn the
    path, or all of them stop with rank 0's error instead of waiting for a rank that has gone.
    """
    if ctx.world_size == 1:
        return fn()
    box: list[Any] = [None, None]  # [result, (exception type name, message)]
    if ctx.is_main:
        try:
            box[0] = fn()
        except Exception as e:  # noqa: BLE001 - re-raised below, on every rank
            box[1] = (type(e).__name__, str(e))
            error = e
    dist.broadcast_object_list(box, src=0)
    if box[1] is not None:
        if ctx.is_main:
            raise error
        kind = ValueError if box[1][0] == "ValueError" else RuntimeError
        raise kind(f"{box[1][1]} (raised on rank 0)")
    return box[0]


# --------------------------------------------------------------------------------------------------
# Gathers


class _GatherWithGrad(torch.autograd.Function):
    """all_gather whose backward gives this rank its rows of the gradient summed over ranks."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, dim: int) -> Tensor:
        ctx.dim, ctx.rank, ctx.world = dim, dist.get_rank(), dist.get_world_size()
        parts = [torch.empty_like(x) for _ in range(ctx.world)]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts, dim)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        # Every rank holds the gradient of its own copy of the loss with respect to all rows; the rows of this
        # rank influence every copy, so their gradient is the sum over ranks.
        grad = grad.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(grad)
        return grad.chunk(ctx.world, ctx.dim)[ctx.rank], None


class _AllReduceSum(torch.autograd.Function):
    """Sum over ranks; its gradient is the sum over ranks of the gradients (every rank's loss uses the sum)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        x = x.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        grad = grad.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(grad)
        return grad


def gather_with_grad(x: Tensor, dim: int = 0) -> Tensor:
    """Concatenation of every rank's `x` along `dim`, in rank order, differentiable.

    Args:
        x: this rank's tensor; every rank's has the same shape.
        dim: the dimension to concatenate along.

    Returns:
        The concatenation (W·x.shape[dim] along `dim`). Its backward returns this rank's slice of the gradient
        summed over ranks: if every rank computes the same loss L on the gathered tensor, that is W·dL/dx, and
        DDP's average over ranks turns it into the single-process gradient. Without a process group, `x`.
    """
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return x
    return _GatherWithGrad.apply(x, dim)  # type: ignore[no-any-return]


def gather_views(x: Tensor, n_views: int = 2) -> Tensor:
    """The global view-major batch from this rank's view-major rows: (V·b, ...) -> (V·B, ...), differentiable.

    Row v·B + j of the result is view v of global image j, as in a single process's `torch.cat([v1, v2])`.
    """
    local = x.unflatten(0, (n_views, x.shape[0] // n_views))  # (V, b, ...)
    return gather_with_grad(local, dim=1).flatten(0, 1)  # (V·B, ...)


def gather_outputs(module: nn.Module) -> RemovableHandle:
    """Make `module` return the global view-major batch of its outputs (a forward hook; remove it to undo).

    The methods pass the projector's output straight to the loss, so gathering it there gives the loss every
    negative (SimCLR, MoCo), the global cross-correlation (Barlow Twins) and the global keys to enqueue (MoCo),
    without distributed calls inside the losses. The module's state dict is unchanged.
    """
    return module.register_forward_hook(lambda _module, _inputs, output: gather_views(output))


# --------------------------------------------------------------------------------------------------
# This rank's share of a step


def shard_views(
    images: Tensor, pair: tuple[AugmentConfig, AugmentConfig], generator: torch.Generator, rows: slice,
    batch_size: int,
) -> tuple[Tensor, Tensor]:
    """This rank's rows of `augment.views` over the global batch of `batch_size` images.

    Augmentation parameters are drawn for all `batch_size` images, in the order `augment.views` draws them,
    and then sliced: drawing only this rank's rows would use the generator differently. The union over ranks
    therefore has the single-process parameters, and each view is computed from its image and its parameters
    alone, so the union of the views equals the single-process views (bit for bit on CPU; a GPU kernel may
    round differently for another batch shape).

    Args:
        images: uint8 (b, 3, H, W), rows `rows` of the global batch.
        pair: the two views' configs.
        generator: the step's augmentation generator, in the same state on every rank.
        rows: this rank's rows (`Context.rows`).
        batch_size: the global batch B.

    Returns:
        (view 1, view 2), float32 (b, 3, S, S) each.
    """
    # augment.py keeps the parameter drawing and the pipeline private; both are used here exactly as
    # `augment.views` uses them.
    from adainf.augment import _check_config, _check_images, _draw_params, _run, _same_structure, _ViewParams

    _check_images(images)
    cfg1, cfg2 = pair
    _check_config(cfg1)
    _check_config(cfg2)
    _, _, height, width = images.shape
    drawn = [_draw_params(batch_size, height, width, cfg, generator) for cfg in pair]
    p1, p2 = (_ViewParams(**{f.name: getattr(p, f.name)[rows] for f in fields(p)}).to(images.device)
              for p in drawn)
    if _same_structure(cfg1, cfg2):
        out = _run(images, _ViewParams.cat([p1, p2]), cfg1)  # (2, b, 3, S, S)
        return out[0], out[1]
    return _run(images, p1, cfg1)[0], _run(images, p2, cfg2)[0]


# --------------------------------------------------------------------------------------------------
# Synchronised batch norm


class _AllRanksBatchNorm:
    """Batch norm whose training statistics span all ranks, for devices torch's SyncBatchNorm refuses (CPU).

    torch's fused kernel (and DDP's check) accept only accelerator inputs. This computes the global mean, then
    the global biased variance around it (two passes, no E[x²] - E[x]² cancellation), through a
    differentiable all_reduce, so the backward pass sums the statistics' gradients over ranks as the fused
    kernel does. Mixed into BatchNorm1d/2d, so parameters, buffers and state-dict keys stay theirs.
    """

    def forward(self, x: Tensor) -> Tensor:
        bn: Any = self
        if not (bn.training and dist.is_initialized()):
            return super().forward(x)  # type: ignore[misc,no-any-return]
        all_reduce = _AllReduceSum.apply
        bn._check_input_dim(x)
        dims = [0, *range(2, x.dim())]
        shape = (1, -1) + (1,) * (x.dim() - 2)
        xf = x.float()
        n = xf.numel() // xf.shape[1] * dist.get_world_size()  # values per channel over all ranks
        mean = all_reduce(xf.sum(dims)) / n  # (C,)
        centred = xf - mean.view(shape)
        var = all_reduce(centred.pow(2).sum(dims)) / n  # (C,) biased, as batch norm normalises
        y = centred * torch.rsqrt(var + bn.eps).view(shape)
        if bn.affine:
            y = y * bn.weight.view(shape) + bn.bias.view(shape)
        if bn.track_running_stats:
            with torch.no_grad():
                bn.num_batches_tracked.add_(1)
                momentum = bn.momentum if bn.momentum is not None else 1.0 / float(bn.num_batches_tracked)
                bn.running_mean.lerp_(mean, momentum)
                bn.running_var.lerp_(var * n / max(n - 1, 1), momentum)  # unbiased, as torch's batch norm
        return y.to(x.dtype)


class _AllRanksBatchNorm1d(_AllRanksBatchNorm, nn.BatchNorm1d):
    pass


class _AllRanksBatchNorm2d(_AllRanksBatchNorm, nn.BatchNorm2d):
    pass


def convert_sync_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """`module` with every batch norm taking its statistics over all ranks; same parameters and state-dict keys.

    torch's SyncBatchNorm on CUDA; elsewhere (gloo on CPU) the batch norms are re-classed in place to
    subclasses that only change `forward`.
    """
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    for m in module.modules():
        if type(m) is nn.BatchNorm1d:
            m.__class__ = _AllRanksBatchNorm1d
        elif type(m) is nn.BatchNorm2d:
            m.__class__ = _AllRanksBatchNorm2d
    return module


# --------------------------------------------------------------------------------------------------
# The model under DDP


def prepare_model(model: nn.Module, *, sync_bn: bool) -> None:
    """Make an `SSLModel` data-parallel in place, before channels-last, compile and `data_parallel`.

    Its projectors (online and momentum) return the global view-major batch, so the method's loss sees all
    negatives, the global cross-correlation and the global MoCo keys, and BYOL's predictor runs on the global
    batch. With `sync_bn`, the batch norms of everything that sees only this rank's rows (backbones and
    projectors, online and momentum) take their statistics over all ranks. Not the predictor's: its input is
    already global, and syncing it again would count each rank's gradient W times.
    """
    device = next(model.parameters()).device
    for name in ("backbone", "projector", "momentum_backbone", "momentum_projector"):
        if sync_bn and hasattr(model, name):
            setattr(model, name, convert_sync_batchnorm(getattr(model, name), device))
    for name in ("projector", "momentum_projector"):
        if hasattr(model, name):
            gather_outputs(getattr(model, name))


class _MethodForward(nn.Module):
    """A method's forward as a module's forward, which DistributedDataParallel needs to synchronise gradients."""

    def __init__(self, method: Any, model: nn.Module, cfg: Any) -> None:
        super().__init__()
        self.method, self.model, self.cfg = method, model, cfg

    def forward(self, v1: Tensor, v2: Tensor) -> tuple[Tensor, dict[str, Tensor], Tensor]:
        return self.method.forward(self.model, v1, v2, self.cfg)  # type: ignore[no-any-return]


def data_parallel(method: Any, model: nn.Module, cfg: Any, device: torch.device) -> nn.Module:
    """`method.forward(model, v1, v2, cfg)` as a DDP module: call it with (v1, v2); backward averages gradients.

    DDP broadcasts rank 0's parameters and buffers once, here. It does not re-broadcast buffers each step
    (broadcast_buffers=False): the MoCo queue is built from gathered keys, identical on every rank, and
    copying it (2 x 256 x 32768 floats) every step would cost more than the step.
    """
    import inspect

    from torch.nn.parallel import DistributedDataParallel

    # torch >= 2.13 renames broadcast_buffers; either way False stops the per-forward broadcast.
    newer = "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters
    no_sync = {"forward_sync_buffers" if newer else "broadcast_buffers": False}
    return DistributedDataParallel(_MethodForward(method, model, cfg),
                                   device_ids=[device] if device.type == "cuda" else None, **no_sync)

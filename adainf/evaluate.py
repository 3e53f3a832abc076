"""How good is an encoder: three numbers, each named by the probe that produced it.

* ``online_linear``: a linear layer trained *during* pre-training on detached backbone features of the
  augmented views (`OnlineLinearProbe`), evaluated on test features (`evaluate_online_probe`). This is the
  number AdaInf and solo-learn report for CIFAR (paper-notes §4.1: "evaluated using online method").
* ``knn``: the weighted kNN classifier of InstDisc / solo-learn's ``WeightedKNNClassifier`` with cosine
  similarity, on frozen features of the un-augmented real training images (`knn_predict`, `knn_accuracy`).
* ``offline_linear``: a linear layer trained *after* pre-training on frozen features of the un-augmented real
  training images (`linear_probe`). It sees no augmentation, so it usually lands a little below the online
  probe (a reproducer of AdaInf got about 1 point less offline, paper-notes §4.1).

`evaluate_encoder` runs the offline protocol (feature extraction, kNN, offline linear probe) in one call; it is
what ``adainf eval RUN_DIR`` calls.

Conventions:
    * Label -1 marks an unlabeled (generated) image. Every probe ignores such rows: they are dropped from
      the training side of kNN and of the linear probes, and from every accuracy.
    * Images arrive as uint8 (N, 3, H, W) and are only scaled to [0, 1] and normalised — no crop, no flip.
      CIFAR test images already have the crop size (32); for other sizes the *caller* resizes first.
    * Accuracies are top-1 fractions in [0, 1].
    * Features stay on the device they were computed on; kNN and the linear probe run there too.

Example:
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    >>> x = torch.randint(0, 256, (20, 3, 32, 32), dtype=torch.uint8)
    >>> y = torch.arange(20) % 2
    >>> r = evaluate_encoder(net, x, y, x, y, num_classes=2, device="cpu", k=5, probe_epochs=5)
    >>> sorted(r)[:3]
    ['feature_dim', 'knn_k', 'knn_temperature']
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from adainf.augment import normalize
from adainf.config import CIFAR10_MEAN, CIFAR10_STD

__all__ = [
    "OnlineLinearProbe",
    "evaluate_encoder",
    "evaluate_online_probe",
    "extract_features",
    "knn_accuracy",
    "knn_predict",
    "linear_probe",
]

# Test rows per kNN chunk: the (chunk, n_train) similarity matrix is the peak memory, 200 MB at 50k train.
KNN_CHUNK = 1000

# Floor for a feature's train standard deviation in `linear_probe`: a constant dimension stays ~0, not inf.
_STD_EPS = 1e-6


# ----------------------------------------------------------------------------------------------------------
# Feature extraction


def _default_device(module: nn.Module) -> torch.device:
    """The device of the module's first parameter or buffer; CPU for a module without either."""
    for t in module.parameters():
        return t.device
    for t in module.buffers():
        return t.device
    return torch.device("cpu")


def extract_features(
    backbone: nn.Module,
    images: Tensor,
    *,
    batch_size: int = 512,
    device: str | torch.device | None = None,
    mean: tuple[float, ...] = CIFAR10_MEAN,
    std: tuple[float, ...] = CIFAR10_STD,
    channels_last: bool = False,
    autocast_dtype: torch.dtype | None = None,
) -> Tensor:
    """Frozen features of un-augmented images: ``backbone(normalize(images / 255))``, flattened.

    The backbone runs in eval mode (batch-norm uses its running statistics and dropout is off: lightly#1444)
    under `torch.no_grad`; every submodule's train/eval flag is restored afterwards, also on error.
    `no_grad` rather than `inference_mode`, because the features may later be the input of a probe trained
    with autograd, which inference tensors cannot be.

    Args:
        backbone: maps float (B, 3, H, W) to (B, D) or (B, D, 1, 1)-like outputs; flattened to (B, D).
        images: uint8 (N, 3, H, W), on any device; moved to `device` one batch at a time. They are not
            resized: images whose side differs from the training crop size must be resized by the caller.
        batch_size: images per forward pass; does not change the result beyond float rounding.
        device: where the backbone runs; default: the device of its parameters.
        mean: per-channel mean of the normalisation used in training (the `AugmentConfig.mean`).
        std: per-channel std of that normalisation.
        channels_last: feed batches in channels-last memory format (pair with a channels-last model on GPU).
        autocast_dtype: e.g. `torch.bfloat16` to run the forward pass under autocast; features are returned
            as float32 either way.

    Returns:
        float32 (N, D) on `device`.
    """
    if images.dtype != torch.uint8:
        raise TypeError(f"images must be uint8 (N, 3, H, W), got dtype {images.dtype}")
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be (N, 3, H, W), got shape {tuple(images.shape)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    dev = torch.device(device) if device is not None else _default_device(backbone)
    # Per-module flags: a model may deliberately keep some parts in eval mode (e.g. frozen BN) while training.
    modes = [(m, m.training) for m in backbone.modules()]
    autocast = (
        torch.autocast(device_type=dev.type, dtype=autocast_dtype)
        if autocast_dtype is not None
        else contextlib.nullcontext()
    )
    out: list[Tensor] = []
    try:
        backbone.eval()
        with torch.no_grad(), autocast:
            for start in range(0, images.shape[0], batch_size):
                x = images[start : start + batch_size].to(dev, non_blocking=True)
                x = normalize(x.float().div_(255.0), mean, std)  # (B, 3, H, W) float32
                if channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                out.append(backbone(x).flatten(1).float())  # (B, D)
    finally:
        for m, was_training in modes:
            m.training = was_training
    if not out:  # N == 0: the feature width is unknown without a forward pass
        return torch.empty(0, 0, device=dev)
    return torch.cat(out)


# ----------------------------------------------------------------------------------------------------------
# Weighted kNN


def _check_features(features: Tensor, labels: Tensor | None, name: str) -> None:
    if features.dim() != 2:
        raise ValueError(f"{name}_features must be (N, D), got shape {tuple(features.shape)}")
    if labels is not None and (labels.dim() != 1 or labels.shape[0] != features.shape[0]):
        raise ValueError(
            f"{name}_labels must be (N,) with N = {features.shape[0]} rows of {name}_features, "
            f"got shape {tuple(labels.shape)}"
        )


def _check_label_range(labels: Tensor, num_classes: int, name: str) -> None:
    if labels.numel() and (int(labels.min()) < -1 or int(labels.max()) >= num_classes):
        raise ValueError(
            f"{name}_labels must be in [0, {num_classes}) or -1 (unlabeled); "
            f"got range [{int(labels.min())}, {int(labels.max())}]"
        )


def knn_predict(
    train_features: Tensor,
    train_labels: Tensor,
    test_features: Tensor,
    *,
    num_classes: int,
    k: int = 200,
    temperature: float = 0.1,
    chunk_size: int = KNN_CHUNK,
) -> Tensor:
    """Weighted kNN predictions with cosine similarity (InstDisc; solo-learn's ``WeightedKNNClassifier``).

    Features are L2-normalised, so the dot product is the cosine similarity s. Each test point takes its k
    most similar labelled train points, weights each by exp(s / temperature), sums the weights per class and
    predicts the class with the largest sum (the lowest class index on an exact tie). The weights are
    computed as exp((s - s_max) / temperature) with s_max the point's largest similarity: a positive factor
    per test point, so the prediction is unchanged while small temperatures cannot overflow.

    Args:
        train_features: (N, D), any float dtype.
        train_labels: (N,) int; rows labelled -1 are dropped before the search.
        test_features: (M, D) on the same device.
        num_classes: number of classes C; train labels must be in [0, C) or -1.
        k: neighbours per test point, clipped to the number of labelled train points.
        temperature: softmax-like temperature of the weights (0.1 in InstDisc, solo-learn and lightly).
        chunk_size: test rows per similarity block; bounds the memory to chunk_size x N floats.

    Returns:
        (M,) int64 predicted classes on the features' device.
    """
    _check_features(train_features, train_labels, "train")
    _check_features(test_features, None, "test")
    if train_features.shape[1] != test_features.shape[1]:
        raise ValueError(
            f"train and test features differ in width: {train_features.shape[1]} vs {test_features.shape[1]}"
        )
    if k < 1 or temperature <= 0 or chunk_size < 1:
        raise ValueError(
            f"need k >= 1, temperature > 0, chunk_size >= 1; got {k}, {temperature}, {chunk_size}"
        )
    _check_label_range(train_labels, num_classes, "train")
    train_labels = train_labels.to(train_features.device)  # labels may live on the CPU, features on a GPU
    keep = train_labels >= 0
    train = F.normalize(train_features[keep].float(), dim=1)  # (N', D)
    labels = train_labels[keep].long()  # (N',)
    if train.shape[0] == 0:
        raise ValueError("knn_predict: no labelled train features (all labels are -1)")
    k = min(k, train.shape[0])
    test = F.normalize(test_features.float(), dim=1)  # (M, D)

    preds = []
    for start in range(0, test.shape[0], chunk_size):
        sim = test[start : start + chunk_size] @ train.T  # (m, N')
        top_sim, top_idx = sim.topk(k, dim=1)  # (m, k), sorted: top_sim[:, :1] is the row maximum
        weights = ((top_sim - top_sim[:, :1]) / temperature).exp_()  # (m, k), in (0, 1]
        scores = torch.zeros(sim.shape[0], num_classes, device=sim.device)  # (m, C)
        scores.scatter_add_(1, labels[top_idx], weights)
        preds.append(scores.argmax(dim=1))
    if not preds:
        return torch.empty(0, dtype=torch.int64, device=test.device)
    return torch.cat(preds)


def knn_accuracy(
    train_features: Tensor,
    train_labels: Tensor,
    test_features: Tensor,
    test_labels: Tensor,
    *,
    num_classes: int,
    k: int = 200,
    temperature: float = 0.1,
    chunk_size: int = KNN_CHUNK,
) -> float:
    """Top-1 accuracy in [0, 1] of `knn_predict` on the labelled test rows (test label -1 is skipped).

    Args: as `knn_predict`, plus test_labels: (M,) int, -1 for rows to skip.
    """
    _check_features(test_features, test_labels, "test")
    test_labels = test_labels.to(test_features.device)
    keep = test_labels >= 0
    if not bool(keep.any()):
        raise ValueError("knn_accuracy: no labelled test rows (all labels are -1)")
    pred = knn_predict(
        train_features,
        train_labels,
        test_features[keep],
        num_classes=num_classes,
        k=k,
        temperature=temperature,
        chunk_size=chunk_size,
    )
    return (pred == test_labels[keep]).double().mean().item()


# ----------------------------------------------------------------------------------------------------------
# Offline linear probe


@contextlib.contextmanager
def _one_cpu_thread(device: torch.device) -> Iterator[None]:
    """Runs CPU ops of the block on one intra-op thread, then restores the thread count."""
    if device.type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _train_sgd_cosine(
    head: Callable[[Tensor], Tensor],
    opt: torch.optim.Optimizer,
    x: Tensor,
    y: Tensor,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
) -> None:
    """`epochs` shuffled passes of mini-batch SGD on cross entropy, lr annealed per step by a cosine to 0."""
    n = x.shape[0]
    total = max(1, epochs * math.ceil(n / batch_size))
    gen = torch.Generator().manual_seed(seed)  # CPU generator: the same batch order on every device
    step = 0
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen).to(x.device)  # (N,)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            for group in opt.param_groups:  # per step, as solo-learn's warmup-cosine scheduler
                group["lr"] = 0.5 * lr * (1.0 + math.cos(math.pi * step / total))
            loss = F.cross_entropy(head(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1


def linear_probe(
    train_features: Tensor,
    train_labels: Tensor,
    test_features: Tensor,
    test_labels: Tensor,
    *,
    num_classes: int,
    epochs: int = 100,
    batch_size: int = 512,
    lr: float = 0.1,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    seed: int = 0,
) -> dict[str, Any]:
    """Offline linear probe: a softmax classifier trained on frozen features, scored on test features.

    The recipe of solo-learn's ``main_linear.py`` minus augmentation (the features are fixed): mini-batch
    SGD with momentum on cross entropy, learning rate annealed by a per-step cosine from `lr` to 0, over
    `epochs` passes in a fresh random order each. Chosen over full-batch L-BFGS because it is the offline
    recipe of the codebases whose numbers we compare with (solo-learn, lightly), and it is cheap enough: about
    1 s for 5k x 512 features and 100 epochs on one CPU thread, about 10 s for 50k x 512.

    Features are standardised with the mean and standard deviation (per dimension, over the labelled train
    rows) of the training features; the test features get the same affine map. This makes one learning rate
    work for any backbone's feature scale; the probe stays linear in the raw features.

    Deterministic given `seed` on a given device: the weights start at zero and the only randomness, the
    batch order, comes from a CPU `torch.Generator` seeded with `seed` (the global RNG is not used).

    Args:
        train_features: (N, D) float; rows labelled -1 are dropped.
        train_labels: (N,) int in [0, C) or -1.
        test_features: (M, D) float on the same device.
        test_labels: (M,) int; rows labelled -1 are not scored.
        num_classes: number of classes C.
        epochs: passes over the labelled train rows.
        batch_size: rows per SGD step (the last batch of an epoch may be smaller).
        lr: peak learning rate (for standardised features; 0.1 as solo-learn's linear configs).
        momentum: SGD momentum.
        weight_decay: L2 penalty coefficient on the weights and bias, as in `torch.optim.SGD`.
        seed: seeds the batch order.

    Returns:
        {"offline_linear_top1": test accuracy, "offline_linear_train_top1": accuracy on the labelled train
        rows, "offline_linear_epochs": epochs}; accuracies in [0, 1].
    """
    _check_features(train_features, train_labels, "train")
    _check_features(test_features, test_labels, "test")
    if train_features.shape[1] != test_features.shape[1]:
        raise ValueError(
            f"train and test features differ in width: {train_features.shape[1]} vs {test_features.shape[1]}"
        )
    if epochs < 0 or batch_size < 1:
        raise ValueError(f"need epochs >= 0 and batch_size >= 1, got {epochs}, {batch_size}")
    _check_label_range(train_labels, num_classes, "train")
    _check_label_range(test_labels, num_classes, "test")
    dev = train_features.device
    train_labels, test_labels = train_labels.to(dev), test_labels.to(test_features.device)
    keep = train_labels >= 0
    x = train_features[keep].float()  # (N', D)
    y = train_labels[keep].long()  # (N',)
    keep_test = test_labels >= 0
    xt = test_features[keep_test].float().to(dev)  # (M', D)
    yt = test_labels[keep_test].to(dev).long()  # (M',)
    if x.shape[0] == 0 or xt.shape[0] == 0:
        raise ValueError("linear_probe: needs labelled train and test rows (labels other than -1)")

    mu = x.mean(0)  # (D,)
    sd = x.std(0, unbiased=False).clamp_min(_STD_EPS) if x.shape[0] > 1 else torch.ones_like(mu)
    x = (x - mu) / sd
    xt = (xt - mu) / sd

    # Zero start: deterministic without touching the global RNG, and the loss is convex in (W, b), so there
    # is no symmetry to break.
    weight = torch.zeros(num_classes, x.shape[1], device=dev, requires_grad=True)  # (C, D)
    bias = torch.zeros(num_classes, device=dev, requires_grad=True)  # (C,)

    def head(features: Tensor) -> Tensor:
        return F.linear(features, weight, bias)  # (B, C)

    opt = torch.optim.SGD([weight, bias], lr=lr, momentum=momentum, weight_decay=weight_decay)
    # A step is a few microsecond-sized ops (512 x 512 x C), too small to share between threads: on the CPU
    # the threads' synchronisation only costs, and stalls when other processes hold the cores (measured,
    # 5k x 512 x 100 epochs on 2 busy cores: 0.9 s on one thread, 7 to 130 s on two).
    with _one_cpu_thread(x.device):
        _train_sgd_cosine(head, opt, x, y, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed)

    with torch.no_grad():
        train_acc = (head(x).argmax(1) == y).double().mean().item()
        test_acc = (head(xt).argmax(1) == yt).double().mean().item()
    return {
        "offline_linear_top1": test_acc,
        "offline_linear_train_top1": train_acc,
        "offline_linear_epochs": epochs,
    }


# ----------------------------------------------------------------------------------------------------------
# Online linear probe


class OnlineLinearProbe(nn.Module):
    """Linear classifier trained alongside pre-training on backbone features (solo-learn's online probe).

    The probe detaches its input itself, so its loss never reaches the backbone whatever the caller passes:
    the representation is learned by the self-supervised loss alone, and the probe only reads it. Give it
    the features of the augmented views (as solo-learn does) with their labels; generated images carry
    label -1 and are ignored.

    Args:
        feature_dim: backbone output width D.
        num_classes: number of classes C.
    """

    def __init__(self, feature_dim: int, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.linear = nn.Linear(feature_dim, num_classes)

    def forward(self, features: Tensor) -> Tensor:
        """Logits (B, C) of detached features (B, D)."""
        return self.linear(features.detach())

    def loss(self, features: Tensor, labels: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Cross entropy over the labelled rows of a batch, and its parts for logging.

        Mean over the rows with label != -1, computed as a sum divided by max(1, count) rather than with
        ``reduction="mean"``: an all-unlabeled batch then gives a loss of exactly 0 that still has a grad_fn
        (a mean over zero rows would be NaN), and there is no host-device sync on the label count.

        Args:
            features: (B, D) backbone features; detached here.
            labels: (B,) int64, -1 for unlabeled rows.

        Returns:
            (loss, parts): loss is a 0-dim tensor with gradients for the probe only; parts holds detached 0-dim
            tensors (convert with ``.item()`` when logging) "online_linear_loss" and "online_linear_acc"
            (top-1 on the labelled rows; 0 when there are none).
        """
        logits = self(features)  # (B, C)
        labelled = labels != -1  # (B,)
        count = labelled.sum().clamp_min(1)
        loss = F.cross_entropy(logits, labels, ignore_index=-1, reduction="sum") / count
        correct = ((logits.detach().argmax(1) == labels) & labelled).sum()
        parts = {"online_linear_loss": loss.detach(), "online_linear_acc": correct / count}
        return loss, parts


def evaluate_online_probe(probe: nn.Module, features: Tensor, labels: Tensor) -> float:
    """Top-1 accuracy in [0, 1] of a probe on (test) features, over the rows whose label is not -1.

    Args:
        probe: maps (M, D) features to (M, C) logits, e.g. `OnlineLinearProbe`; run in eval mode under no_grad,
            its mode restored afterwards.
        features: (M, D), e.g. from `extract_features` on the test images.
        labels: (M,) int, -1 for rows to skip.
    """
    _check_features(features, labels, "test")
    labels = labels.to(features.device)
    keep = labels >= 0
    if not bool(keep.any()):
        raise ValueError("evaluate_online_probe: no labelled rows (all labels are -1)")
    was_training = probe.training
    try:
        probe.eval()
        with torch.no_grad():
            pred = probe(features[keep]).argmax(1)
    finally:
        probe.train(was_training)
    return (pred == labels[keep].to(pred.device)).double().mean().item()


# ----------------------------------------------------------------------------------------------------------
# The offline protocol


def evaluate_encoder(
    backbone: nn.Module,
    train_images: Tensor,
    train_labels: Tensor,
    test_images: Tensor,
    test_labels: Tensor,
    *,
    num_classes: int,
    device: str | torch.device | None = None,
    k: int = 200,
    temperature: float = 0.1,
    probe_epochs: int = 100,
    probe_lr: float = 0.1,
    probe_weight_decay: float = 0.0,
    batch_size: int = 512,
    mean: tuple[float, ...] = CIFAR10_MEAN,
    std: tuple[float, ...] = CIFAR10_STD,
    seed: int = 0,
) -> dict[str, Any]:
    """kNN and offline linear accuracy of a frozen backbone, trained on the real labelled images.

    Only train images with a label (not -1) are embedded: generated images never enter the evaluation.
    Test rows labelled -1 are skipped too. Both sets are embedded without augmentation (`extract_features`).

    Args:
        backbone: the encoder (without projector), mapping (B, 3, H, W) to (B, D).
        train_images: uint8 (N, 3, H, W) training images (real and possibly generated).
        train_labels: (N,) int, -1 for generated / unlabeled.
        test_images: uint8 (M, 3, H, W), already at the training crop size.
        test_labels: (M,) int.
        num_classes: number of classes C.
        device: where the backbone, kNN and probe run; default: the backbone's device.
        k: kNN neighbours.
        temperature: kNN weight temperature.
        probe_epochs: offline linear probe epochs (`linear_probe`).
        probe_lr: offline linear probe peak learning rate.
        probe_weight_decay: offline linear probe weight decay.
        batch_size: images per forward pass, and rows per probe step.
        mean: normalisation mean used in training.
        std: normalisation std used in training.
        seed: seeds the probe's batch order.

    Returns:
        {"knn_top1", "offline_linear_top1", "offline_linear_train_top1", "offline_linear_epochs", "knn_k"
        (k after clipping), "knn_temperature", "n_train" (labelled train images used), "n_test" (labelled
        test images), "feature_dim", "seconds" (wall time of the whole evaluation)}.
    """
    t0 = time.perf_counter()
    train_labels = torch.as_tensor(train_labels, dtype=torch.int64)
    test_labels = torch.as_tensor(test_labels, dtype=torch.int64)
    keep = (train_labels >= 0).to(train_images.device)
    keep_test = (test_labels >= 0).to(test_images.device)
    train_x, train_y = train_images[keep], train_labels[keep.cpu()]
    test_x, test_y = test_images[keep_test], test_labels[keep_test.cpu()]
    if train_x.shape[0] == 0 or test_x.shape[0] == 0:
        raise ValueError("evaluate_encoder: needs labelled train and test images (labels other than -1)")

    def embed(images: Tensor) -> Tensor:
        return extract_features(backbone, images, batch_size=batch_size, device=device, mean=mean, std=std)

    train_f, test_f = embed(train_x), embed(test_x)  # (N', D), (M', D)
    train_y, test_y = train_y.to(train_f.device), test_y.to(test_f.device)
    k_used = min(k, train_f.shape[0])
    knn = knn_accuracy(
        train_f, train_y, test_f, test_y, num_classes=num_classes, k=k_used, temperature=temperature
    )
    probe = linear_probe(
        train_f,
        train_y,
        test_f,
        test_y,
        num_classes=num_classes,
        epochs=probe_epochs,
        batch_size=batch_size,
        lr=probe_lr,
        weight_decay=probe_weight_decay,
        seed=seed,
    )
    return {
        "knn_top1": knn,
        **probe,
        "knn_k": k_used,
        "knn_temperature": temperature,
        "n_train": int(train_f.shape[0]),
        "n_test": int(test_f.shape[0]),
        "feature_dim": int(train_f.shape[1]),
        "seconds": time.perf_counter() - t0,
    }


def evaluate_run(
    run_dir: str | Path,
    *,
    device: str = "auto",
    k: int = 200,
    temperature: float = 0.1,
    probe_epochs: int = 100,
) -> dict[str, Any]:
    """Offline evaluation of a run directory's last checkpoint (`adainf eval RUN_DIR`).

    The frozen backbone embeds the real labelled training images and the test set of the run's config;
    `evaluate_encoder` then reports kNN and an offline linear probe on the test set. Generated images play no
    part: the protocol measures the encoder on real data, as the paper does.

    Raises:
        ValueError: when the run has no checkpoint or its data has no labelled test set.
    """
    from adainf import runs
    from adainf.methods import SSLModel
    from adainf.train import load_datasets, resolve_device

    cfg = runs.load_config(run_dir)
    ckpt = runs.latest_checkpoint(run_dir)
    if ckpt is None:
        raise ValueError(f"{run_dir}: no checkpoint to evaluate")
    dev = resolve_device(device)
    state = runs.load_checkpoint(ckpt, map_location=dev)
    model = SSLModel(cfg).to(dev)
    model.load_state_dict(state["model"])
    real, _, test = load_datasets(cfg)
    if test is None or test.n_labeled == 0:
        raise ValueError(f"{run_dir}: its data ({cfg.data.train}) has no labelled test set; set data.test")
    keep = real.labels >= 0
    num_classes = real.num_classes or int(max(real.labels.max(), test.labels.max())) + 1
    result = evaluate_encoder(
        model.backbone, real.subset(keep).to_tensor(dev), torch.from_numpy(real.labels[keep]),
        test.to_tensor(dev), torch.from_numpy(test.labels), num_classes=num_classes, device=dev, k=k, temperature=temperature,
        probe_epochs=probe_epochs, mean=cfg.augment.view1.mean, std=cfg.augment.view1.std,
    )
    return {"run_dir": str(run_dir), "step": int(state["step"]), **result}

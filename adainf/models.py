"""Backbones, projection/prediction heads and the momentum (EMA) update, built as solo-learn builds them.

Everything here is plain torch (no torchvision), so the models run anywhere torch does, with channels_last
inputs and under `torch.autocast` (bf16 on CPU, bf16/fp16 on CUDA).

Backbones map images (B, 3, H, W) to globally average-pooled features (B, out_dim); `BACKBONES` is the
registry by name:

    ==========  =====================================================  ===========  ============  ==========
    name        layout                                                 out_dim      params        MACs/img
    ==========  =====================================================  ===========  ============  ==========
    resnet18    ResNet-18 (BasicBlock, [2, 2, 2, 2]), CIFAR stem       8 * width    11,168,832    704 M
    convnet     3 stages of conv-pool-BN-ReLU-conv-BN-ReLU (airbench)  4 * width    296,736       27 M
    ==========  =====================================================  ===========  ============  ==========

(params and multiply-accumulates at the default widths, 64 and 32, for one 32x32 image; the ResNet count
excludes the classifier, as solo-learn drops `fc`, and its MACs are 555 M with `stem_padding=1`.)

Heads (`projector`, `predictor`) follow solo-learn's `solo/methods/<method>.py`; every Linear has a bias:

    ============  ================================================================  ==============
    kind          projector layout                                                  AdaInf sizes
    ============  ================================================================  ==============
    simclr        Linear - ReLU - Linear                                            2048 -> 256
    mocov2        Linear - ReLU - Linear                                            2048 -> 256
    byol          Linear - BN - ReLU - Linear; predictor: Linear - BN - ReLU - Lin  4096 -> 256
    barlow        Linear - BN - ReLU - Linear - BN - ReLU - Linear                  2048 -> 2048
    ============  ================================================================  ==============

Note that solo-learn's SimCLR and MoCo V2+ projectors have no BatchNorm (the SimCLR paper's has one).

Speed, forward + backward of 512 32x32 images on 2 CPU cores (AVX512-BF16, shared machine, best of 3):
resnet18 11.1 s NCHW fp32, 9.3 s channels_last, 3.6 s channels_last + bf16 autocast (9.4 / 7.5 / 3.0 s with
`stem_padding=1`); convnet 0.82 / 0.52 / 0.25 s. Use channels_last with bf16 autocast on CPU.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable

import torch
from torch import Tensor, nn

__all__ = [
    "BACKBONES",
    "PROJECTOR_KINDS",
    "Backbone",
    "ConvNet",
    "ResNet",
    "convnet",
    "copy_for_momentum",
    "ema_update_",
    "mlp",
    "predictor",
    "projector",
    "resnet18",
]


class Backbone(nn.Module):
    """A feature extractor: images (B, 3, H, W) -> features (B, out_dim).

    Attributes:
        out_dim: Size of the feature vector (solo-learn's `features_dim`).
    """

    out_dim: int


# --------------------------------------------------------------------------------------------------
# ResNet-18


class _BasicBlock(nn.Module):
    """torchvision's BasicBlock: two 3x3 convs with BN, identity or 1x1-conv shortcut, ReLU after the sum."""

    def __init__(self, in_ch: int, out_ch: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch)
            )

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)  # (B, out_ch, H/s, W/s)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet(Backbone):
    """ResNet with BasicBlocks, torchvision's layer names and initialisation, no classifier.

    Args:
        layers: Blocks per stage, [2, 2, 2, 2] for ResNet-18.
        width: Channels of the first stage; stage i has width * 2**i channels.
        cifar_stem: 3x3 stride-1 conv and no max-pool (solo-learn's CIFAR variant) instead of the
            ImageNet 7x7 stride-2 conv followed by a 3x3 stride-2 max-pool.
        stem_padding: Padding of the CIFAR stem conv. solo-learn (and so AdaInf) uses 2, which turns a
            32x32 image into 34x34 maps (17, 9, 5 in the later stages) and costs 27% more MACs than the
            size-preserving 1 of the classic CIFAR ResNet (704 M vs 555 M per image). Ignored for the
            ImageNet stem.
        zero_init_residual: Start the last BN gamma of each residual branch at 0, so each block starts
            as the identity (Goyal et al. 2017). solo-learn's torchvision default, used by AdaInf's
            configs, is False.
    """

    def __init__(
        self,
        layers: list[int],
        *,
        width: int = 64,
        cifar_stem: bool = True,
        stem_padding: int = 2,
        zero_init_residual: bool = False,
    ) -> None:
        super().__init__()
        if width < 1:
            raise ValueError(f"width must be >= 1, got {width}")
        if cifar_stem:
            self.conv1 = nn.Conv2d(3, width, 3, stride=1, padding=stem_padding, bias=False)
            self.maxpool: nn.Module = nn.Identity()
        else:
            self.conv1 = nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False)
            self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)

        stages: list[nn.Sequential] = []
        in_ch = width
        for i, n_blocks in enumerate(layers):
            out_ch = width * 2**i
            stride = 1 if i == 0 else 2
            blocks = [_BasicBlock(in_ch, out_ch, stride)]
            blocks += [_BasicBlock(out_ch, out_ch, 1) for _ in range(n_blocks - 1)]
            stages.append(nn.Sequential(*blocks))
            in_ch = out_ch
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.out_dim = in_ch

        # torchvision's initialisation.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, _BasicBlock):
                    nn.init.zeros_(m.bn2.weight)
        if cifar_stem:
            # solo-learn swaps in a freshly built nn.Conv2d after torchvision initialised the model, so
            # the CIFAR stem keeps PyTorch's default (kaiming-uniform, a=sqrt(5)) initialisation.
            self.conv1.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        """Images (B, 3, H, W) -> features (B, 8 * width)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # (B, w, H', W')
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))  # (B, 8w, H'/8, W'/8)
        return torch.flatten(self.avgpool(x), 1)  # (B, 8w)


def resnet18(
    *, width: int = 64, cifar_stem: bool = True, stem_padding: int = 2, zero_init_residual: bool = False
) -> ResNet:
    """ResNet-18 backbone without the classifier, as solo-learn builds it for CIFAR.

    solo-learn (`solo/methods/base.py`) takes torchvision's `resnet18()`, replaces `fc` by Identity and,
    for CIFAR-10/100, `conv1` by `Conv2d(3, 64, kernel_size=3, stride=1, padding=2, bias=False)` and
    `maxpool` by Identity. At width 64 this has 11,168,832 parameters and 512-d features.

    Args:
        width: Channels of the first stage (64 = standard ResNet-18; smaller for CPU tests).
        cifar_stem: CIFAR stem (3x3/1 conv, no max-pool) if True, else the ImageNet 7x7/2 + max-pool stem.
        stem_padding: Padding of the CIFAR stem conv; 2 as in solo-learn, 1 to keep 32x32 maps.
        zero_init_residual: Zero-init the last BN gamma of each block (off in solo-learn/AdaInf).

    Returns:
        The backbone; `out_dim == 8 * width`.
    """
    return ResNet(
        [2, 2, 2, 2],
        width=width,
        cifar_stem=cifar_stem,
        stem_padding=stem_padding,
        zero_init_residual=zero_init_residual,
    )


# --------------------------------------------------------------------------------------------------
# Small ConvNet for CPU runs


def _conv_bn_relu(in_ch: int, out_ch: int, *, pool: bool) -> list[nn.Module]:
    # airbench pools right after the conv and before BN: the BN and ReLU then run on 4x fewer pixels.
    layers: list[nn.Module] = [nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False)]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return [*layers, nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True)]


class ConvNet(Backbone):
    """A small, fast VGG-style ConvNet modelled on airbench (Jordan 2024, "94% on CIFAR-10 in 3.29 s").

    Stem conv-BN-ReLU at full resolution, then three stages of width (w, 2w, 4w), each
    conv-maxpool-BN-ReLU followed by conv-BN-ReLU, then global average pooling. For 32x32 inputs the
    stages run at 16, 8 and 4 pixels. Unlike airbench there is no fixed whitening layer, and ReLU replaces
    GELU, so that nothing depends on the training data.

    Args:
        width: Channels of the stem and first stage (32: 296,736 parameters, 128-d features).
    """

    def __init__(self, *, width: int = 32) -> None:
        super().__init__()
        if width < 1:
            raise ValueError(f"width must be >= 1, got {width}")
        widths = [width, width, 2 * width, 4 * width]
        layers = _conv_bn_relu(3, width, pool=False)
        for in_ch, out_ch in itertools.pairwise(widths):
            layers += _conv_bn_relu(in_ch, out_ch, pool=True) + _conv_bn_relu(out_ch, out_ch, pool=False)
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.out_dim = widths[-1]

    def forward(self, x: Tensor) -> Tensor:
        """Images (B, 3, H, W) -> features (B, 4 * width)."""
        x = self.features(x)  # (B, 4w, H/8, W/8)
        return torch.flatten(self.avgpool(x), 1)  # (B, 4w)


def convnet(*, width: int = 32) -> ConvNet:
    """Small ConvNet backbone for CPU runs (see `ConvNet`); about 26x fewer MACs than ResNet-18.

    Args:
        width: Channels of the first stage; features have 4 * width dimensions.

    Returns:
        The backbone; `out_dim == 4 * width`.
    """
    return ConvNet(width=width)


BACKBONES: dict[str, Callable[..., Backbone]] = {"resnet18": resnet18, "convnet": convnet}


# --------------------------------------------------------------------------------------------------
# Heads

PROJECTOR_KINDS = ("simclr", "mocov2", "byol", "barlow")


def mlp(dims: list[int], *, batch_norm: bool, last_bn: bool = False) -> nn.Sequential:
    """Multi-layer perceptron: Linear [- BN] - ReLU per hidden layer, then a final Linear [- BN].

    Args:
        dims: Layer sizes [in, hidden..., out]; at least two entries.
        batch_norm: BatchNorm1d between each hidden Linear and its ReLU.
        last_bn: Append a BatchNorm1d without affine parameters after the final Linear, as the
            Barlow Twins and MoCo v3 reference code do. None of solo-learn's heads used here sets it.

    Returns:
        The module; (B, dims[0]) -> (B, dims[-1]).

    Raises:
        ValueError: If fewer than two sizes are given or a size is not positive.
    """
    if len(dims) < 2 or min(dims) < 1:
        raise ValueError(f"dims must hold >= 2 positive sizes, got {dims}")
    layers: list[nn.Module] = []
    for d_in, d_out in itertools.pairwise(dims[:-1]):
        layers.append(nn.Linear(d_in, d_out))
        if batch_norm:
            layers.append(nn.BatchNorm1d(d_out))
        layers.append(nn.ReLU(inplace=True))
    layers.append(nn.Linear(dims[-2], dims[-1]))
    if last_bn:
        layers.append(nn.BatchNorm1d(dims[-1], affine=False))
    return nn.Sequential(*layers)


def projector(in_dim: int, hidden_dim: int, out_dim: int, *, kind: str) -> nn.Sequential:
    """The projection head of a method, with solo-learn's layout (table in the module docstring).

    Args:
        in_dim: Backbone feature size (`Backbone.out_dim`).
        hidden_dim: Hidden width (solo-learn's `proj_hidden_dim`).
        out_dim: Output size (`proj_output_dim`), the embedding the loss sees.
        kind: "simclr" and "mocov2": Linear-ReLU-Linear; "byol": Linear-BN-ReLU-Linear;
            "barlow": Linear-BN-ReLU-Linear-BN-ReLU-Linear.

    Returns:
        The head; (B, in_dim) -> (B, out_dim).

    Raises:
        ValueError: For an unknown kind.
    """
    if kind in ("simclr", "mocov2"):
        return mlp([in_dim, hidden_dim, out_dim], batch_norm=False)
    if kind == "byol":
        return mlp([in_dim, hidden_dim, out_dim], batch_norm=True)
    if kind == "barlow":
        return mlp([in_dim, hidden_dim, hidden_dim, out_dim], batch_norm=True)
    raise ValueError(f"unknown projector kind {kind!r}; expected one of {PROJECTOR_KINDS}")


def predictor(dim: int, hidden_dim: int) -> nn.Sequential:
    """BYOL's predictor as in solo-learn: Linear-BN-ReLU-Linear, (B, dim) -> (B, dim).

    Args:
        dim: Projector output size (input and output of the predictor).
        hidden_dim: Hidden width (solo-learn's `pred_hidden_dim`, 4096 in AdaInf's BYOL config).

    Returns:
        The head.
    """
    return mlp([dim, hidden_dim, dim], batch_norm=True)


# --------------------------------------------------------------------------------------------------
# Momentum (EMA) target networks


def copy_for_momentum(module: nn.Module) -> nn.Module:
    """A deep copy to serve as a momentum (target) network: same weights, no gradients.

    Args:
        module: The online network.

    Returns:
        The copy, with `requires_grad=False` on every parameter (solo-learn's
        `initialize_momentum_params`).
    """
    target = copy.deepcopy(module)
    target.requires_grad_(False)
    return target


@torch.no_grad()
def ema_update_(target: nn.Module, online: nn.Module, tau: float) -> None:
    """In place: target <- tau * target + (1 - tau) * online for parameters; buffers copied.

    The parameter arithmetic is solo-learn's `MomentumUpdater.update` (tau = 0 copies, tau = 1 keeps).
    Buffers (BN running statistics) are copied from the online network; solo-learn leaves them alone,
    which differs only when the target runs in eval mode, since in train mode BN uses batch statistics.

    Args:
        target: Momentum network, modified in place (parameters and buffers in the same order as
            `online`'s, as `copy_for_momentum` makes them).
        online: Online network.
        tau: Momentum coefficient in [0, 1].

    Raises:
        ValueError: If tau is outside [0, 1] or the two networks have different parameter lists.
    """
    if not 0.0 <= tau <= 1.0:
        raise ValueError(f"tau must be in [0, 1], got {tau}")
    t_params, o_params = list(target.parameters()), list(online.parameters())
    t_bufs, o_bufs = list(target.buffers()), list(online.buffers())
    if len(t_params) != len(o_params) or len(t_bufs) != len(o_bufs):
        raise ValueError("target and online networks have different parameter or buffer lists")
    if t_params:
        # Two fused multi-tensor ops instead of a Python loop of small kernels (62 tensors in ResNet-18).
        torch._foreach_mul_(t_params, tau)
        torch._foreach_add_(t_params, o_params, alpha=1.0 - tau)
    for t, o in zip(t_bufs, o_bufs, strict=True):
        t.copy_(o)

from __future__ import annotations

import pytest
import torch
from torch import nn

from adainf.models import (
    BACKBONES,
    convnet,
    copy_for_momentum,
    ema_update_,
    mlp,
    predictor,
    projector,
    resnet18,
)


@pytest.fixture(autouse=True)
def _one_thread():
    # Tiny tensors: a second intra-op thread only adds synchronisation, which costs seconds on a busy machine.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def resnet18_count(width: int, *, cifar_stem: bool) -> int:
    """Parameters of ResNet-18 without fc, counted layer by layer: conv weights (no bias) + BN gamma/beta."""

    def conv(c_in: int, c_out: int, k: int) -> int:
        return c_in * c_out * k * k

    def bn(c: int) -> int:
        return 2 * c

    total = conv(3, width, 3 if cifar_stem else 7) + bn(width)
    c_in = width
    for stage in range(4):
        c_out, stride = width * 2**stage, 1 if stage == 0 else 2
        for block in range(2):
            s, c = (stride, c_in) if block == 0 else (1, c_out)
            total += conv(c, c_out, 3) + bn(c_out) + conv(c_out, c_out, 3) + bn(c_out)
            if s != 1 or c != c_out:  # projection shortcut
                total += conv(c, c_out, 1) + bn(c_out)
        c_in = c_out
    return total


# -------------------------------------------------------------------------------------------------- ResNet-18


def test_resnet18_has_the_standard_cifar_parameter_count():
    model = resnet18()
    assert resnet18_count(64, cifar_stem=True) == 11_168_832  # the published CIFAR ResNet-18 count
    assert n_params(model) == 11_168_832
    assert model.out_dim == 512


@pytest.mark.parametrize("width", [8, 16])
@pytest.mark.parametrize("cifar_stem", [True, False])
def test_resnet18_count_scales_with_width(width, cifar_stem):
    model = resnet18(width=width, cifar_stem=cifar_stem)
    assert n_params(model) == resnet18_count(width, cifar_stem=cifar_stem)
    assert model.out_dim == 8 * width


def test_resnet18_imagenet_stem_count_matches_torchvision_without_fc():
    # torchvision resnet18: 11,689,512 parameters, of which fc holds 512 * 1000 + 1000.
    assert n_params(resnet18(cifar_stem=False)) == 11_689_512 - 513_000


@pytest.mark.parametrize("size", [32, 64])
def test_resnet18_output_shape(size):
    model = resnet18(width=8)
    out = model(torch.randn(3, 3, size, size))
    assert out.shape == (3, 64)


def test_resnet18_cifar_stem_is_solo_learn_conv_without_maxpool():
    model = resnet18(width=8)
    assert model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1)
    assert model.conv1.padding == (2, 2)  # solo-learn's padding: 32x32 -> 34x34
    assert isinstance(model.maxpool, nn.Identity)
    assert not any(isinstance(m, nn.MaxPool2d) for m in model.modules())
    stem = model.relu(model.bn1(model.conv1(torch.randn(2, 3, 32, 32))))
    assert stem.shape[-2:] == (34, 34)
    # stem_padding=1 is the size-preserving classic CIFAR ResNet.
    assert resnet18(width=8, stem_padding=1).conv1(torch.randn(2, 3, 32, 32)).shape[-2:] == (32, 32)


def test_resnet18_imagenet_stem_has_7x7_conv_and_maxpool():
    model = resnet18(width=8, cifar_stem=False)
    assert model.conv1.kernel_size == (7, 7) and model.conv1.stride == (2, 2)
    assert isinstance(model.maxpool, nn.MaxPool2d)
    x = torch.randn(2, 3, 64, 64)
    assert model.maxpool(model.conv1(x)).shape[-2:] == (16, 16)  # /4 before the first stage
    assert model(x).shape == (2, 64)


def test_resnet18_zero_init_residual_zeroes_last_bn_of_each_block():
    blocks = [m for m in resnet18(width=8, zero_init_residual=True).modules() if hasattr(m, "bn2")]
    assert len(blocks) == 8
    assert all(torch.all(b.bn2.weight == 0) for b in blocks)
    assert all(torch.all(b.bn2.weight == 1) for b in resnet18(width=8).modules() if hasattr(b, "bn2"))


@pytest.mark.parametrize("name", ["resnet18", "convnet"])
def test_channels_last_matches_nchw(name):
    torch.manual_seed(0)
    model = BACKBONES[name](width=8).eval()
    x = torch.randn(4, 3, 32, 32)
    ref = model(x)
    out = model.to(memory_format=torch.channels_last)(x.to(memory_format=torch.channels_last))
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["resnet18", "convnet"])
def test_bf16_autocast_runs_and_agrees_with_fp32(name):
    torch.manual_seed(0)
    model = BACKBONES[name](width=8).to(memory_format=torch.channels_last)
    x = torch.randn(8, 3, 32, 32).to(memory_format=torch.channels_last)
    ref = model(x)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        out = model(x)
    assert out.dtype == torch.bfloat16
    rel = (out.float() - ref).norm() / ref.norm()
    assert rel < 0.05, rel
    out.float().square().mean().backward()  # backward through the bf16 graph
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


# -------------------------------------------------------------------------------------------------- ConvNet


def test_convnet_shape_and_size():
    model = convnet()
    assert model.out_dim == 128
    assert 100_000 <= n_params(model) <= 1_000_000
    assert n_params(model) == 296_736
    assert convnet(width=8)(torch.randn(5, 3, 32, 32)).shape == (5, 32)
    assert convnet(width=8)(torch.randn(5, 3, 64, 64)).shape == (5, 32)


def test_convnet_is_much_cheaper_than_resnet18():
    def conv_macs(model: nn.Module) -> int:
        macs = 0

        def hook(m: nn.Conv2d, _: object, out: torch.Tensor) -> None:
            nonlocal macs
            macs += out[0].numel() * m.in_channels * m.kernel_size[0] * m.kernel_size[1]

        handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
        model.eval()(torch.randn(1, 3, 32, 32))
        for h in handles:
            h.remove()
        return macs

    assert conv_macs(resnet18()) > 10 * conv_macs(convnet())


def test_convnet_gradients_reach_first_layer():
    torch.manual_seed(0)
    model = convnet(width=8)
    feats = model(torch.randn(6, 3, 32, 32))
    (feats * torch.randn_like(feats)).sum().backward()
    first = model.features[0]
    assert isinstance(first, nn.Conv2d)
    assert first.weight.grad is not None and first.weight.grad.abs().sum() > 0


def test_backbones_registry():
    assert set(BACKBONES) == {"resnet18", "convnet"}
    assert BACKBONES["resnet18"](width=8).out_dim == 64
    assert BACKBONES["convnet"](width=8).out_dim == 32


# -------------------------------------------------------------------------------------------------- heads


def layout(module: nn.Module) -> list[type]:
    return [type(m) for m in module]


L, B, R = nn.Linear, nn.BatchNorm1d, nn.ReLU


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("simclr", [L, R, L]),
        ("mocov2", [L, R, L]),
        ("byol", [L, B, R, L]),
        ("barlow", [L, B, R, L, B, R, L]),
    ],
)
def test_projector_layouts(kind, expected):
    head = projector(16, 24, 8, kind=kind)
    assert layout(head) == expected
    linears = [m for m in head if isinstance(m, nn.Linear)]
    assert linears[0].in_features == 16 and linears[-1].out_features == 8
    assert all(m.out_features == 24 for m in linears[:-1])
    assert all(m.bias is not None for m in linears)
    assert all(m.num_features == 24 for m in head if isinstance(m, nn.BatchNorm1d))
    assert head(torch.randn(4, 16)).shape == (4, 8)


def test_projector_rejects_unknown_kind():
    with pytest.raises(ValueError, match="kind"):
        projector(16, 24, 8, kind="simsiam")


def test_predictor_layout():
    head = predictor(8, 32)
    assert layout(head) == [L, B, R, L]
    assert head[0].in_features == 8 and head[0].out_features == 32 and head[3].out_features == 8
    assert head(torch.randn(4, 8)).shape == (4, 8)


def test_mlp_options():
    assert layout(mlp([4, 5], batch_norm=True)) == [L]
    assert layout(mlp([4, 5, 6, 7], batch_norm=False)) == [L, R, L, R, L]
    head = mlp([4, 5, 6], batch_norm=True, last_bn=True)
    assert layout(head) == [L, B, R, L, B]
    assert not head[-1].affine
    with pytest.raises(ValueError, match="dims"):
        mlp([4], batch_norm=False)


# -------------------------------------------------------------------------------------------------- EMA


def _pair() -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(0)
    online = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    target = copy_for_momentum(online)
    with torch.no_grad():  # make the two differ in parameters and buffers
        for p in online.parameters():
            p.add_(torch.randn_like(p))
        online[1].running_mean.add_(1.0)
    online[1].num_batches_tracked += 3
    return online, target


def test_copy_for_momentum_is_a_gradient_free_deep_copy():
    online = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    target = copy_for_momentum(online)
    assert all(not p.requires_grad for p in target.parameters())
    assert all(p.requires_grad for p in online.parameters())
    for p, q in zip(online.parameters(), target.parameters(), strict=True):
        assert torch.equal(p, q) and p.data_ptr() != q.data_ptr()


@pytest.mark.parametrize("tau", [0.0, 0.5, 1.0])
def test_ema_update(tau):
    online, target = _pair()
    before = [p.clone() for p in target.parameters()]
    ema_update_(target, online, tau)
    for t, t0, o in zip(target.parameters(), before, online.parameters(), strict=True):
        if tau == 0.0:
            assert torch.equal(t, o)
        elif tau == 1.0:
            assert torch.equal(t, t0)
        else:
            assert torch.equal(t, (t0 + o) / 2)  # exact: halving is exact in floating point
        assert not t.requires_grad and t.grad is None
    for t, o in zip(target.buffers(), online.buffers(), strict=True):
        assert torch.equal(t, o)  # running stats copied whatever tau


def test_ema_update_validates():
    online, target = _pair()
    with pytest.raises(ValueError, match="tau"):
        ema_update_(target, online, 1.5)
    with pytest.raises(ValueError, match="different"):
        ema_update_(nn.Linear(3, 4), online, 0.5)

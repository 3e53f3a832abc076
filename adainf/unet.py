"""The denoising network: a small DDPM-style U-Net ε_θ(x_t, t[, y]) for 32×32-class images.

Layout (DDPM appendix B, scaled down): a 3×3 stem, then one level per entry of `channel_mult` (width ×
mult channels, `res_blocks` residual blocks each, self-attention on levels at or below `attention_below`
pixels, a stride-2 downsample between levels), a middle of ResBlock-attention-ResBlock, and the mirror
image going up with skip connections (one more block per level, as in DDPM). The timestep enters every
residual block through a sinusoidal embedding and an MLP; an optional class embedding is added to it,
with one extra "no label" entry used for label -1 and for unconditional calls.

`width` sets the size: width=32 with the defaults (multipliers (1, 2, 2), one block per level) is 1.1M
parameters (1.2M with patch_size=2: a CPU model); width=64 with two blocks per level is 6.5M; width=128,
(1, 2, 2, 2), two blocks, attention_below=16 is 38M, close to DDPM's 35.7M CIFAR-10 network (which has
attention at 16x16 only).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F


def timestep_embedding(t: Tensor, dim: int) -> Tensor:
    """Sinusoidal embedding of (possibly fractional) timesteps, as in the Transformer and DDPM.

    Args:
        t: (B,) timesteps.
        dim: even embedding size.

    Returns:
        (B, dim) float32: [sin(t·ω_k), cos(t·ω_k)], ω_k = 10000^(-k/(dim/2)), k = 0..dim/2-1.
    """
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None, :]  # (B, dim/2)
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


def _norm(channels: int) -> nn.GroupNorm:
    # DDPM uses 32 groups; narrow CPU widths get fewer groups (of at least 4 channels) that divide the width.
    groups = math.gcd(32, channels // 4)
    if channels % 4 or groups < 1:
        raise ValueError(f"{channels} channels cannot be split into GroupNorm groups; use a multiple of 8")
    return nn.GroupNorm(groups, channels)


def _zero(module: nn.Conv2d) -> nn.Conv2d:
    # Zero-initialised last layers make every residual branch (and the network output) start at 0.
    nn.init.zeros_(module.weight)
    if module.bias is not None:
        nn.init.zeros_(module.bias)
    return module


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, with the time(+class) embedding added in between (DDPM's block)."""

    def __init__(self, in_ch: int, out_ch: int, emb_dim: int) -> None:
        super().__init__()
        self.norm1, self.conv1 = _norm(in_ch), nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.emb = nn.Linear(emb_dim, out_ch)
        self.norm2, self.conv2 = _norm(out_ch), _zero(nn.Conv2d(out_ch, out_ch, 3, padding=1))
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))  # (B, out, H, W)
        h = h + self.emb(F.silu(emb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class Attention(nn.Module):
    """Multi-head self-attention over the H·W positions, residual, with heads of 32 channels (or one)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.heads = max(1, channels // 32)
        self.norm = _norm(channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = _zero(nn.Conv2d(channels, channels, 1))

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        qkv = self.qkv(self.norm(x)).reshape(b, 3, self.heads, c // self.heads, h * w)
        q, k, v = (qkv[:, i].transpose(-1, -2) for i in range(3))  # each (B, heads, HW, C/heads)
        a = F.scaled_dot_product_attention(q, k, v)  # (B, heads, HW, C/heads)
        return x + self.out(a.transpose(-1, -2).reshape(b, c, h, w))


class UNet(nn.Module):
    """ε_θ(x_t, t, y): predicts the noise in x_t.

    Args:
        width: channels of the first level (a multiple of 8).
        channel_mult: per-level channel multipliers; the image side halves between levels, so it must be
            divisible by 2^(levels - 1).
        res_blocks: residual blocks per level on the way down (one more on the way up).
        attention_below: self-attention on levels whose side is at most this many pixels (0: none, except
            the middle block, which always has it).
        num_classes: None for an unconditional model; else labels 0..num_classes-1 condition it, and -1
            (or labels=None) selects the learned "no label" embedding.
        in_channels: image channels.
        image_size: side of the (square) images, in pixels.
        patch_size: side of the pixel patches folded into channels before the first level (space-to-depth,
            PixelUnshuffle) and unfolded after the last: 2 runs every level at half the side, about 4x less
            compute at the same width, at the cost of modelling 2x2 detail with channels instead of space.
    """

    def __init__(
        self,
        width: int = 32,
        channel_mult: tuple[int, ...] = (1, 2, 2),
        res_blocks: int = 1,
        attention_below: int = 8,
        num_classes: int | None = None,
        in_channels: int = 3,
        image_size: int = 32,
        patch_size: int = 1,
    ) -> None:
        super().__init__()
        if width < 8 or width % 8:
            raise ValueError(f"width must be a positive multiple of 8, got {width}")
        if res_blocks < 1 or not channel_mult:
            raise ValueError(f"need res_blocks >= 1 and at least one level, got {res_blocks}, {channel_mult}")
        if patch_size < 1 or image_size % patch_size:
            raise ValueError(f"patch_size must be a positive divisor of the image side {image_size}, got {patch_size}")
        side = image_size // patch_size
        if side % 2 ** (len(channel_mult) - 1):
            raise ValueError(f"side {side} (image {image_size} / patch {patch_size}) is not divisible by "
                             f"2^{len(channel_mult) - 1} (one halving between each of the {len(channel_mult)} levels)")
        self.width, self.num_classes = width, num_classes
        emb_dim = 4 * width
        self.time_mlp = nn.Sequential(nn.Linear(width, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.label_emb = nn.Embedding(num_classes + 1, emb_dim) if num_classes else None
        pixels = in_channels * patch_size**2  # channels after folding each patch into one position
        self.unfold = nn.PixelUnshuffle(patch_size) if patch_size > 1 else nn.Identity()
        self.stem = nn.Conv2d(pixels, width, 3, padding=1)

        self.down = nn.ModuleList()
        skips, ch = [width], width
        for level, mult in enumerate(channel_mult):
            for _ in range(res_blocks):
                self.down.append(ResBlock(ch, width * mult, emb_dim))
                ch = width * mult
                if side <= attention_below:
                    self.down.append(Attention(ch))
                skips.append(ch)
            if level + 1 < len(channel_mult):
                self.down.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1))
                side //= 2
                skips.append(ch)
        self.mid = nn.ModuleList([ResBlock(ch, ch, emb_dim), Attention(ch), ResBlock(ch, ch, emb_dim)])

        self.up = nn.ModuleList()
        for level, mult in reversed(list(enumerate(channel_mult))):
            for _ in range(res_blocks + 1):
                self.up.append(ResBlock(ch + skips.pop(), width * mult, emb_dim))
                ch = width * mult
                if side <= attention_below:
                    self.up.append(Attention(ch))
            if level > 0:
                self.up.append(nn.Upsample(scale_factor=2, mode="nearest"))
                self.up.append(nn.Conv2d(ch, ch, 3, padding=1))
                side *= 2
        self.head = nn.Sequential(_norm(ch), nn.SiLU(), _zero(nn.Conv2d(ch, pixels, 3, padding=1)))
        self.fold = nn.PixelShuffle(patch_size) if patch_size > 1 else nn.Identity()

    def forward(self, x: Tensor, t: Tensor, labels: Tensor | None = None) -> Tensor:
        """x (B, C, H, W) float, t (B,) timesteps, labels (B,) int64 or None -> ε̂ (B, C, H, W)."""
        emb = self.time_mlp(timestep_embedding(t, self.width))  # (B, 4·width)
        if self.label_emb is not None:
            assert self.num_classes is not None
            if labels is None:
                labels = torch.full((x.shape[0],), -1, dtype=torch.long, device=x.device)
            # -1 (unlabeled) -> the extra last row, the "no label" embedding.
            emb = emb + self.label_emb(torch.where(labels < 0, self.num_classes, labels))

        h = self.stem(self.unfold(x))  # (B, width, H/patch, W/patch)
        hs = [h]
        for layer in self.down:
            if isinstance(layer, ResBlock):
                h = layer(h, emb)
                hs.append(h)
            elif isinstance(layer, Attention):
                h = hs[-1] = layer(h)  # the skip is taken after the level's attention, as in DDPM
            else:
                h = layer(h)
                hs.append(h)
        for layer in self.mid:
            h = layer(h, emb) if isinstance(layer, ResBlock) else layer(h)
        for layer in self.up:
            if isinstance(layer, ResBlock):
                h = layer(torch.cat([h, hs.pop()], dim=1), emb)
            else:
                h = layer(h)
        return self.fold(self.head(h))  # (B, C, H, W)


def num_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())

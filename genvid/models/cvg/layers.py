"""The building blocks of seed 004's cascaded video GAN (Ch. 6, App. 6.A), each as the appendix draws it.

Generator: a ConvGRU whose candidate state uses a ReLU (§6.A.1), the separable 3D convolution of the
upsampling levels (a 3-tap temporal convolution, then a 3×3 spatial one, §6.3), and 2D ResNet blocks
(norm-act-conv-norm-act-conv) whose batch norm is conditional on the generator's input vector (z and
the context's embedding, where the thesis has z and the class). Frames go through the 2D blocks
independently: batch norm normalises over batch x time ("per-frame" BN).

Discriminators: ResNet blocks relu-conv-relu-conv, no normalisation, average-pool downsampling, the
first two of a video discriminator 3D. Every convolution and linear map, in the generator too, is
spectrally normalised (§6.A; torch's parametrisation keeps its power-iteration vectors as buffers, so
a checkpoint resumes them exactly).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from genvid.models.layers import upsample_nearest


def sn(module: nn.Module) -> nn.Module:
    return spectral_norm(module)


def area_down(x: Tensor, factor: int) -> Tensor:
    """[..., C, H, W] averaged over ``factor`` x ``factor`` blocks (the thesis's bilinear f_s: at factor 2
    the same weights; beyond, a box filter rather than bilinear's aliasing 2x2 taps)."""
    if factor == 1:
        return x
    lead = x.shape[:-3]
    return F.avg_pool2d(x.reshape(-1, *x.shape[-3:]), factor).reshape(*lead, x.shape[-3], x.shape[-2] // factor,
                                                                      x.shape[-1] // factor)


def resize_to(x: Tensor, size: int) -> Tensor:
    """[N, C, h, h] -> [N, C, size, size]: nearest upsampling or area downsampling by a power of two."""
    h = x.shape[-1]
    return upsample_nearest(x, size // h) if size >= h else area_down(x, h // size)


class ConvGRU(nn.Module):
    """A ConvGRU over time, [B, T, C, H, W] -> the states [B, T, C, H, W], from a zero state:

        r, u = σ(conv([x_t ‖ h_{t-1}]));  h̃ = relu(conv([x_t ‖ r ⊙ h_{t-1}]));  h_t = u ⊙ h_{t-1} + (1 - u) ⊙ h̃
    """

    def __init__(self, channels: int):
        super().__init__()
        self.gates = sn(nn.Conv2d(2 * channels, 2 * channels, 3, padding=1))
        self.candidate = sn(nn.Conv2d(2 * channels, channels, 3, padding=1))

    def forward(self, x: Tensor) -> Tensor:
        h = torch.zeros_like(x[:, 0])
        states = []
        for t in range(x.shape[1]):
            r, u = torch.sigmoid(self.gates(torch.cat([x[:, t], h], 1))).chunk(2, 1)
            candidate = F.relu(self.candidate(torch.cat([x[:, t], r * h], 1)))
            h = u * h + (1 - u) * candidate
            states.append(h)
        return torch.stack(states, 1)


class SeparableConv3d(nn.Module):
    """A 3-tap temporal convolution, then a 3×3 spatial one, on [B, C, T, H, W] (zero 'same' padding)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.temporal = sn(nn.Conv3d(in_channels, out_channels, (3, 1, 1), padding=(1, 0, 0)))
        self.spatial = sn(nn.Conv3d(out_channels, out_channels, (1, 3, 3), padding=(0, 1, 1)))

    def forward(self, x: Tensor) -> Tensor:
        return self.spatial(self.temporal(x))


class ConditionalBatchNorm(nn.Module):
    """Batch norm without its own affine map; gain 1 + γ(y) and bias β(y) from the conditioning vector y.
    Eval mode normalises with the frozen running statistics (not the thesis's 200 "dummy" forward
    passes at test time, which make a clip's samples depend on its batch)."""

    def __init__(self, channels: int, cond_dim: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gain, self.bias = sn(nn.Linear(cond_dim, channels)), sn(nn.Linear(cond_dim, channels))

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """x [N, C, H, W], y [N, cond_dim] (one row per frame)."""
        return self.bn(x) * (1 + self.gain(y))[:, :, None, None] + self.bias(y)[:, :, None, None]


class GBlock(nn.Module):
    """The generator's 2D ResNet block: CBN-ReLU-(×2 nearest)-conv3×3-CBN-ReLU-conv3×3, plus the input
    (upsampled, 1×1-projected when the width changes)."""

    def __init__(self, in_channels: int, out_channels: int, cond_dim: int, upsample: bool):
        super().__init__()
        self.upsample = 2 if upsample else 1
        self.norm1, self.norm2 = ConditionalBatchNorm(in_channels, cond_dim), ConditionalBatchNorm(out_channels, cond_dim)
        self.conv1 = sn(nn.Conv2d(in_channels, out_channels, 3, padding=1))
        self.conv2 = sn(nn.Conv2d(out_channels, out_channels, 3, padding=1))
        self.skip = sn(nn.Conv2d(in_channels, out_channels, 1)) if in_channels != out_channels else None

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        h = upsample_nearest(F.relu(self.norm1(x, y)), self.upsample)
        h = self.conv2(F.relu(self.norm2(self.conv1(h), y)))
        skip = upsample_nearest(x, self.upsample)
        return h + (skip if self.skip is None else self.skip(skip))


class SeparableBlock(nn.Module):
    """The upsampling levels' 3D ResNet block: CBN-ReLU-separable conv, twice, plus the input; on
    [B, T, C, H, W] with y [B * T, cond_dim]."""

    def __init__(self, channels: int, cond_dim: int):
        super().__init__()
        self.norm1, self.norm2 = ConditionalBatchNorm(channels, cond_dim), ConditionalBatchNorm(channels, cond_dim)
        self.conv1, self.conv2 = SeparableConv3d(channels, channels), SeparableConv3d(channels, channels)

    def _conv(self, conv: SeparableConv3d, x: Tensor, shape: torch.Size) -> Tensor:
        return conv(x.unflatten(0, shape[:2]).transpose(1, 2)).transpose(1, 2).flatten(0, 1)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        flat = x.flatten(0, 1)
        h = self._conv(self.conv1, F.relu(self.norm1(flat, y)), x.shape)
        h = self._conv(self.conv2, F.relu(self.norm2(h, y)), x.shape)
        return x + h.unflatten(0, x.shape[:2])


class DBlock(nn.Module):
    """The discriminators' ResNet block: ReLU-conv-ReLU-conv (+ 2×2 average pool), plus the input
    (1×1-projected, pooled); 3D blocks on [N, C, T, H, W] pool only in space."""

    def __init__(self, in_channels: int, out_channels: int, downsample: bool, three_d: bool):
        super().__init__()
        conv = nn.Conv3d if three_d else nn.Conv2d
        self.three_d, self.downsample = three_d, downsample
        self.conv1 = sn(conv(in_channels, out_channels, 3, padding=1))
        self.conv2 = sn(conv(out_channels, out_channels, 3, padding=1))
        self.skip = sn(conv(in_channels, out_channels, 1)) if in_channels != out_channels or downsample else None

    def _pool(self, x: Tensor) -> Tensor:
        if not self.downsample:
            return x
        if not self.three_d:
            return F.avg_pool2d(x, 2)
        # avg_pool3d with (1, 2, 2) has no deterministic CUDA backward (the GPU check's first run); frames
        # folded into the batch through avg_pool2d are the same bytes on the CPU, both ways
        n, c, t, h, w = x.shape
        y = F.avg_pool2d(x.transpose(1, 2).reshape(n * t, c, h, w), 2)
        return y.reshape(n, t, c, h // 2, w // 2).transpose(1, 2)

    def forward(self, x: Tensor) -> Tensor:
        h = self._pool(self.conv2(F.relu(self.conv1(F.relu(x)))))
        return h + (x if self.skip is None else self._pool(self.skip(x)))


def disc_widths(width: int, resolution: int) -> list[int]:
    """One block per halving down to 4×4, then one at 4×4: widths doubling from ``width``, at most 8×."""
    halvings = max(0, resolution.bit_length() - 3)  # log2(resolution / 4)
    return [width * min(8, 2 ** i) for i in range(halvings + 1)]


class FrameDiscriminator(nn.Module):
    """The 2D discriminator: one logit per frame [N, C, H, W] -> [N] (sum-pooled ReLU features, linear)."""

    def __init__(self, channels: int, resolution: int, width: int):
        super().__init__()
        widths = disc_widths(width, resolution)
        ins = [channels] + widths[:-1]
        self.blocks = nn.Sequential(*[DBlock(i, o, k < len(widths) - 1, False) for k, (i, o) in enumerate(zip(ins, widths))])
        self.head = sn(nn.Linear(widths[-1], 1))

    def forward(self, frames: Tensor) -> Tensor:
        return self.head(F.relu(self.blocks(frames)).sum(dim=(2, 3))).squeeze(1)


class VideoDiscriminator(nn.Module):
    """The 3D discriminator: one logit per video [B, T, C, H, W] -> [B]; its first two blocks are 3D,
    the rest per frame; ReLU features sum-pooled over space and time, then linear. The matching
    discriminator is this network on (coarse video ‖ downsampled fine video) channels."""

    def __init__(self, channels: int, resolution: int, width: int):
        super().__init__()
        widths = disc_widths(width, resolution)
        ins = [channels] + widths[:-1]
        self.blocks = nn.ModuleList(DBlock(i, o, k < len(widths) - 1, k < 2)
                                    for k, (i, o) in enumerate(zip(ins, widths)))
        self.head = sn(nn.Linear(widths[-1], 1))

    def forward(self, video: Tensor) -> Tensor:
        b, t = video.shape[:2]
        x = video.transpose(1, 2)  # [B, C, T, H, W]
        for block in self.blocks:
            if not block.three_d and x.ndim == 5:
                x = x.transpose(1, 2).flatten(0, 1)  # [B * T, C, H, W]
            x = block(x)
        x = F.relu(x)
        pooled = x.sum(dim=(2, 3, 4)) if x.ndim == 5 else x.sum(dim=(2, 3)).unflatten(0, (b, t)).sum(1)
        return self.head(pooled).squeeze(1)

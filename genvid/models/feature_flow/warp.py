"""genvid's context warp (issue 48): feature flow's copy for the horizon, every future frame's displacement drawn
at once from the whole context by a stack of dilated convolutions that sees most of the frame.

    D_1 … D_H = S([x_c ‖ x_c − x_{c−1} ‖ … ‖ x_2 − x_1])          the horizon's copies  W(x_c, D_k)

S   the input average-pooled by ``scale``, a 3×3 convolution, 3×3 convolutions dilated DILATIONS (one output
    sees about 70 pooled pixels), LeakyReLU after each, and a 3×3 head that starts at zero, so that the untrained
    warp copies the last context frame in place; upsampled back, D = MAX_SHIFT · tanh(head / SOFTNESS) pixels
W   the frame read at each pixel plus its displacement, bilinearly (flow.warp_pixels)

Why: feature flow reads the motion one frame at a time, through fixels four pixels wide and a ConvLSTM, and at a
CPU's budgets it never learned Dynamics' motion (docs/learning.md); benchmarks/motion_probe.py found that this
structure learns it within minutes. The family trains it first, alone, on the squared error of the horizon's
warped frames (its ``warp`` component); feature flow's copy mask then blends its frames in the horizon.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from genvid.errors import GenvidError
from genvid.models.feature_flow.flow import warp_pixels

DILATIONS = (1, 2, 4, 8, 16, 1)
LEAKY_SLOPE = 0.2
MAX_SHIFT, SOFTNESS = 24.0, 4.0  # at most 24 pixels; 6 pixels a unit of the head's output near 0
# free: one displacement field per future frame; acceleration: a velocity v and an acceleration a per pixel, the k-th
# future frame's displacement (k + 1) v + (k + 1)² a / 2 (capped), motion as the context's constant-acceleration
MOTIONS = ("free", "acceleration")


class DisplacementStack(nn.Module):
    """inputs [B, C_in, H, W] -> ``outputs`` displacement fields [B, 2 · outputs, H, W], in pixels of the frame
    (x then y per field)."""

    def __init__(self, inputs: int, outputs: int, width: int, scale: int):
        super().__init__()
        self.scale = scale
        layers: list[nn.Module] = [nn.Conv2d(inputs, width, 3, 1, 1), nn.LeakyReLU(LEAKY_SLOPE)]
        for d in DILATIONS:
            layers += [nn.Conv2d(width, width, 3, 1, d, dilation=d), nn.LeakyReLU(LEAKY_SLOPE)]
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(width, 2 * outputs, 3, 1, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def raw(self, x: Tensor) -> Tensor:
        """The head's output at the frame's size, before the cap."""
        if self.scale > 1:
            x = F.avg_pool2d(x, self.scale)
        out = self.head(self.body(x))
        if self.scale > 1:  # a displacement in pooled pixels is ``scale`` frame pixels
            out = F.interpolate(out, scale_factor=self.scale, mode="bilinear", align_corners=False) * self.scale
        return out

    def forward(self, x: Tensor) -> Tensor:
        return cap(self.raw(x))


def cap(raw: Tensor) -> Tensor:
    """A displacement of at most MAX_SHIFT pixels, about ``raw`` / SOFTNESS · MAX_SHIFT near 0."""
    return MAX_SHIFT * torch.tanh(raw / SOFTNESS)


def differences(frames: list[Tensor], count: int) -> list[Tensor]:
    """The last ``count`` differences between successive frames, newest first; zeros where there are too few."""
    return [frames[-1 - j] - frames[-2 - j] if len(frames) >= j + 2 else torch.zeros_like(frames[-1])
            for j in range(count)]


class ContextWarp(nn.Module):
    """context [B, ``context_frames``, C, H, W] -> the first ``frames`` future frames, each the last context frame
    warped by its own displacement."""

    def __init__(self, channels: int, context_frames: int, frames: int, width: int, scale: int,
                 motion: str = "free", levels: int = 1):
        super().__init__()
        if motion not in MOTIONS:
            raise GenvidError(f"the context warp's motion must be one of {', '.join(MOTIONS)}, got {motion!r}")
        self.context_frames, self.frames, self.motion, self.levels = context_frames, frames, motion, levels
        self.stack = DisplacementStack(channels * context_frames, frames if motion == "free" else 2, width, scale)

    def displacements(self, context: Tensor) -> Tensor:
        """[B, frames, 2, H, W]: each future frame's displacement, drawn from ``context``."""
        last = list(context.unbind(1))
        inputs = torch.cat([last[-1], *differences(last, len(last) - 1)], dim=1)
        if self.motion == "free":
            return self.stack(inputs).unflatten(1, (self.frames, 2))
        raw = self.stack.raw(inputs)  # a velocity and an acceleration per pixel
        v, a = raw[:, :2], raw[:, 2:]
        return torch.stack([cap((k + 1) * v + (k + 1) ** 2 / 2 * a) for k in range(self.frames)], dim=1)

    def forward(self, context: Tensor, horizon: int) -> Tensor:
        """[B, min(horizon, frames), C, H, W]: the copies of the first future frames."""
        shifts = self.displacements(context)
        return torch.stack([warp_pixels(context[:, -1], shifts[:, k]) for k in range(min(horizon, self.frames))], dim=1)

    def loss(self, clips: Tensor) -> tuple[Tensor, dict[str, float]]:
        """The squared error of the warped frames against the clips' own futures ([B, T, C, H, W] in [0, 1], the
        first ``context_frames`` the context), beside copy-last's on the same frames."""
        c = self.context_frames
        if clips.ndim != 5 or clips.shape[1] <= c:
            raise GenvidError(f"the context warp trains on clips [B, T > {c}, C, H, W], got {list(clips.shape)}")
        copies = self(clips[:, :c], clips.shape[1] - c)
        truth = clips[:, c:c + copies.shape[1]]
        mse = ((copies - truth) ** 2).mean()
        copy_last = float(((clips[:, c - 1:c] - truth) ** 2).mean())
        loss = pyramid_mse(copies, truth, self.levels) if self.levels > 1 else mse
        return loss, {"mse": float(mse.detach()), "copy_last_mse": copy_last}


def pyramid_mse(pred: Tensor, truth: Tensor, levels: int) -> Tensor:
    """The mean of the squared errors of ``pred`` and ``truth`` ([B, T, C, H, W]) average-pooled by 1, 2, … 2^(levels-1):
    a blurred frame still overlaps where an object went, so a displacement far off still has a gradient."""
    a, b = pred.flatten(0, 1), truth.flatten(0, 1)
    total = ((a - b) ** 2).mean()
    for _ in range(levels - 1):
        a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
        total = total + ((a - b) ** 2).mean()
    return total / levels

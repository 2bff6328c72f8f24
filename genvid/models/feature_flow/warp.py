"""genvid's context warp (issue 48): feature flow's copy for the horizon, every future frame's displacement drawn
at once from the whole context by a stack of dilated convolutions that sees most of the frame.

    D_1 … D_H = S([x_c ‖ x_c − x_{c−1} ‖ … ‖ x_2 − x_1])          the horizon's copies  W(x_c, D_k)

S   the input average-pooled by ``scale``, a 3×3 convolution, 3×3 convolutions dilated DILATIONS (one output
    sees about 70 pooled pixels), LeakyReLU after each, and a 3×3 head that starts at zero, so that the untrained
    warp copies the last context frame in place; upsampled back, D = MAX_SHIFT · tanh(head / SOFTNESS) pixels
W   the frame read at each pixel plus its displacement, bilinearly (flow.warp_pixels)

``motion="layered"`` (genvid's, for a scene of objects on a still background): a backward warp alone can make an
object vanish, and under the squared error it does, wherever the object's next place is uncertain (it draws the
background over it; docs/learning.md). So the frame becomes two layers. The last context frame under a soft matte
α is an object layer that moves rigidly: per future frame one translation t_k and one turn θ_k about α's centroid,
the α-weighted means of three more of S's channels, so it can move, but neither vanish nor tear. Under it, the
whole frame warped by D_k as above (which may stretch the background over where the object was):

    x̂_k = (1 − W(α, O_k)) · W(x_c, D_k) + W(α · x_c, O_k)          O_k: the displacement of (t_k, θ_k), everywhere

α = σ(S's matte channel, upsampled, + two 3×3 convolutions of [x_c ‖ x_c − x_{c−1}] at the frame's resolution), so
its edge can follow the object's. (benchmarks/motion_probe.py, on the validation clips: the two convolutions learned
more a step than one; a matte forced to 0 or 1 in the forward pass, straight-through, learned less.)

Nothing in that sum says which layer is the object's, and under the squared error alone the matte learned the
reverse: near 1 over the still background, low on the object, which the free warp below then moved and tore
(docs/learning.md). ``matte_weight`` λ adds λ · mean(α) to the loss: the moved layer costs its area, so it
covers what moving pays for, the object (about 3 % of a Dynamics frame).

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
# layered: the module docstring's two layers
MOTIONS = ("free", "acceleration", "layered")
MAX_TURN = 3.0  # layered: the object layer turns at most this many radians by a future frame
# squared: the mean squared error; absolute: the mean absolute error, whose best guess at a pixel that is the object's
# or the background's is one of them, where the squared error's is a blend: a see-through object, half moved
LOSSES = ("squared", "absolute")
MATTE_WIDTH = 8  # layered: the hidden channels of the matte's two 3×3 convolutions at the frame's resolution


class DisplacementStack(nn.Module):
    """inputs [B, C_in, H, W] -> ``outputs`` displacement fields [B, 2 · outputs, H, W], in pixels of the frame
    (x then y per field)."""

    def __init__(self, inputs: int, outputs: int, width: int, scale: int, extra: int = 0):
        """``extra``: more channels after the fields', upsampled but not scaled (the layered motion's)."""
        super().__init__()
        self.scale, self.fields = scale, 2 * outputs
        layers: list[nn.Module] = [nn.Conv2d(inputs, width, 3, 1, 1), nn.LeakyReLU(LEAKY_SLOPE)]
        for d in DILATIONS:
            layers += [nn.Conv2d(width, width, 3, 1, d, dilation=d), nn.LeakyReLU(LEAKY_SLOPE)]
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(width, 2 * outputs + extra, 3, 1, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def raw(self, x: Tensor) -> Tensor:
        """The head's output at the frame's size, before the cap."""
        if self.scale > 1:
            x = F.avg_pool2d(x, self.scale)
        out = self.head(self.body(x))
        if self.scale > 1:  # a displacement in pooled pixels is ``scale`` frame pixels
            out = F.interpolate(out, scale_factor=self.scale, mode="bilinear", align_corners=False)
            out = torch.cat([out[:, :self.fields] * self.scale, out[:, self.fields:]], dim=1)
        return out

    def forward(self, x: Tensor) -> Tensor:
        return cap(self.raw(x)[:, :self.fields])


def cap(raw: Tensor) -> Tensor:
    """A displacement of at most MAX_SHIFT pixels, about ``raw`` / SOFTNESS · MAX_SHIFT near 0."""
    return MAX_SHIFT * torch.tanh(raw / SOFTNESS)


def differences(frames: list[Tensor], count: int) -> list[Tensor]:
    """The last ``count`` differences between successive frames, newest first; zeros where there are too few."""
    return [frames[-1 - j] - frames[-2 - j] if len(frames) >= j + 2 else torch.zeros_like(frames[-1])
            for j in range(count)]


def stack_input(frames: list[Tensor]) -> Tensor:
    """The displacement stack's input: the last context frame and the differences back to the first."""
    return torch.cat([frames[-1], *differences(frames, len(frames) - 1)], dim=1)


class ContextWarp(nn.Module):
    """context [B, ``context_frames``, C, H, W] -> the first ``frames`` future frames, each the last context frame
    warped by its own displacement."""

    def __init__(self, channels: int, context_frames: int, frames: int, width: int, scale: int,
                 motion: str = "free", levels: int = 1, loss: str = "squared", matte_weight: float = 0.0):
        super().__init__()
        if motion not in MOTIONS:
            raise GenvidError(f"the context warp's motion must be one of {', '.join(MOTIONS)}, got {motion!r}")
        if loss not in LOSSES:
            raise GenvidError(f"the context warp's loss must be one of {', '.join(LOSSES)}, got {loss!r}")
        if loss == "absolute" and levels > 1:
            raise GenvidError(f"the context warp's pyramid (levels {levels}) sums squared errors: it has no absolute loss")
        self.context_frames, self.frames, self.motion, self.levels = context_frames, frames, motion, levels
        self.norm = loss
        if matte_weight < 0 or (matte_weight > 0 and motion != "layered"):
            raise GenvidError(f"the context warp's matte weight must be >= 0, and 0 but for the layered motion (it has "
                              f"the matte), got {matte_weight} with {motion!r}")
        self.matte_weight = matte_weight
        fields = {"free": frames, "acceleration": 2, "layered": frames}[motion]
        self.stack = DisplacementStack(channels * context_frames, fields, width, scale,
                                       3 * frames + 1 if motion == "layered" else 0)
        if motion == "layered":  # the matte's edge at the frame's resolution
            self.matte = nn.Sequential(nn.Conv2d(2 * channels, MATTE_WIDTH, 3, 1, 1), nn.LeakyReLU(LEAKY_SLOPE),
                                       nn.Conv2d(MATTE_WIDTH, 1, 3, 1, 1))

    def displacements(self, context: Tensor) -> Tensor:
        """[B, frames, 2, H, W]: each future frame's displacement, drawn from ``context``."""
        inputs = stack_input(list(context.unbind(1)))
        if self.motion != "acceleration":  # layered: the lower layer's
            return self.stack(inputs).unflatten(1, (self.frames, 2))
        raw = self.stack.raw(inputs)  # a velocity and an acceleration per pixel
        v, a = raw[:, :2], raw[:, 2:]
        return torch.stack([cap((k + 1) * v + (k + 1) ** 2 / 2 * a) for k in range(self.frames)], dim=1)

    def forward(self, context: Tensor, horizon: int, hard_matte: bool = False) -> Tensor:
        """[B, min(horizon, frames), C, H, W]: the copies of the first future frames; ``hard_matte`` (predicting,
        layered only): the matte 1 where α > 1/2, else 0, so that no pixel blends the two layers."""
        if self.motion == "layered":
            return self.layered(context, horizon, hard_matte)[0]
        if hard_matte:
            raise GenvidError(f"a hard matte needs the layered motion, not {self.motion!r}: it has no matte")
        shifts = self.displacements(context)
        return torch.stack([warp_pixels(context[:, -1], shifts[:, k]) for k in range(min(horizon, self.frames))], dim=1)

    def layered(self, context: Tensor, horizon: int, hard_matte: bool = False) -> tuple[Tensor, Tensor]:
        """The layered motion's copies (module docstring) and its trained matte α [B, 1, H, W]."""
        frames = list(context.unbind(1))
        last, f = frames[-1], self.frames
        raw = self.stack.raw(stack_input(frames))
        fields = cap(raw[:, :2 * f]).unflatten(1, (f, 2))
        moves, matte = raw[:, 2 * f:5 * f], raw[:, 5 * f:]
        alpha = torch.sigmoid(matte + self.matte(torch.cat([last, *differences(frames, 1)], dim=1)))
        weight = alpha / alpha.sum(dim=(2, 3), keepdim=True)
        n = min(horizon, f)
        moves = (moves * weight).sum(dim=(2, 3)).unflatten(1, (f, 3))[:, :n, :, None, None]  # [B, n, 3, 1, 1]
        h, w = last.shape[2:]
        cols = torch.arange(w, dtype=last.dtype, device=last.device).view(1, 1, w)
        rows = torch.arange(h, dtype=last.dtype, device=last.device).view(1, h, 1)
        cx = (weight[:, :1] * cols).sum(dim=(2, 3), keepdim=True)  # [B, 1, 1, 1]: the matte's centroid
        cy = (weight[:, :1] * rows).sum(dim=(2, 3), keepdim=True)
        # hard: after the centroid and the moves, which the trained α weighs
        matte_of_layer = (alpha > 0.5).to(alpha.dtype) if hard_matte else alpha
        t, turn = cap(moves[:, :, :2]), MAX_TURN * torch.tanh(moves[:, :, 2] / SOFTNESS)
        cos, sin = torch.cos(turn), torch.sin(turn)  # [B, n, 1, 1]
        # output pixel q reads the layer at c + R(-θ)(q - c - t)
        u, v = cols - cx - t[:, :, 0], rows - cy - t[:, :, 1]
        reads = torch.stack([cx + cos * u + sin * v - cols, cy - sin * u + cos * v - rows], dim=2)  # [B, n, 2, H, W]

        def each(frame: Tensor, shifts: Tensor) -> Tensor:  # ``frame`` read by each future frame's field at once
            return warp_pixels(frame.unsqueeze(1).expand(-1, n, -1, -1, -1).flatten(0, 1),
                               shifts.flatten(0, 1)).unflatten(0, (-1, n))

        moved = each(torch.cat([matte_of_layer * last, matte_of_layer], dim=1), reads)
        return (1 - moved[:, :, -1:]) * each(last, fields[:, :n]) + moved[:, :, :-1], alpha

    def loss(self, clips: Tensor) -> tuple[Tensor, dict[str, float]]:
        """The squared error of the warped frames against the clips' own futures ([B, T, C, H, W] in [0, 1], the
        first ``context_frames`` the context), beside copy-last's on the same frames; plus ``matte_weight`` ·
        mean(α) where it is above 0."""
        c = self.context_frames
        if clips.ndim != 5 or clips.shape[1] <= c:
            raise GenvidError(f"the context warp trains on clips [B, T > {c}, C, H, W], got {list(clips.shape)}")
        if self.matte_weight > 0:
            copies, alpha = self.layered(clips[:, :c], clips.shape[1] - c)
        else:
            copies, alpha = self(clips[:, :c], clips.shape[1] - c), None
        truth = clips[:, c:c + copies.shape[1]]
        mse = ((copies - truth) ** 2).mean()
        copy_last = float(((clips[:, c - 1:c] - truth) ** 2).mean())
        if self.norm == "absolute":
            loss = (copies - truth).abs().mean()
        else:
            loss = pyramid_mse(copies, truth, self.levels) if self.levels > 1 else mse
        scalars = {"mse": float(mse.detach()), "copy_last_mse": copy_last}
        if alpha is not None:
            area = alpha.mean()
            loss = loss + self.matte_weight * area
            scalars["matte_area"] = float(area.detach())
        return loss, scalars


def pyramid_mse(pred: Tensor, truth: Tensor, levels: int) -> Tensor:
    """The mean of the squared errors of ``pred`` and ``truth`` ([B, T, C, H, W]) average-pooled by 1, 2, … 2^(levels-1):
    a blurred frame still overlaps where an object went, so a displacement far off still has a gradient."""
    a, b = pred.flatten(0, 1), truth.flatten(0, 1)
    total = ((a - b) ** 2).mean()
    for _ in range(levels - 1):
        a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
        total = total + ((a - b) ** 2).mean()
    return total / levels

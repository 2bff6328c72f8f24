"""A conditioned pixel model that only the tests register (it is not one of genvid's models).

It moves the last frame sideways by a learned gain times each step's steering (column 0 of the
per-frame ``action``), adds a learned brightness and the generator's noise. Simple enough that a
test can say what it must predict, real enough to go through every path a conditioned family
takes: ``pixel_spec(..., conditioning="action")``, clip sets of (frames, actions), the training
loop, stage sample's ``cond`` and the samples file's ``cond`` dataset.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from genvid.models.pixel import pixel_spec

NAME = "steer_shift"


@dataclass(frozen=True)
class SteerConfig:
    channels: int
    resolution: int
    context_frames: int
    gain: float = 4.0  # pixels of shift per unit of steering, at initialisation
    noise: float = 0.02


class SteerShift(nn.Module):
    def __init__(self, cfg: SteerConfig):
        super().__init__()
        self.cfg = cfg
        self.gain = nn.Parameter(torch.tensor(cfg.gain))
        self.bias = nn.Parameter(torch.zeros(()))

    def step(self, frame: Tensor, steer: Tensor) -> Tensor:
        """frame [N, C, H, W], steer [N]: the next frame (action t leads from frame t to t + 1)."""
        shifts = torch.round(self.gain.detach() * steer).long().tolist()
        return torch.stack([torch.roll(f, s, dims=-1) for f, s in zip(frame, shifts)]) + self.bias

    def loss(self, frames: Tensor, step: int, cond: Tensor) -> tuple[Tensor, dict[str, float]]:
        c = self.cfg.context_frames
        mse = F.mse_loss(self.step(frames[:, c - 1], cond[:, c - 1, 0]), frames[:, c])
        return mse, {"mse": float(mse.detach())}

    def generate(self, context: Tensor, horizon: int, num_samples: int, generator: torch.Generator,
                 cond: Tensor) -> Tensor:
        b, c = context.shape[:2]
        frame, steer = context[:, -1].repeat_interleave(num_samples, 0), cond[..., 0].repeat_interleave(num_samples, 0)
        out = []
        for t in range(horizon):
            frame = self.step(frame, steer[:, c - 1 + t])
            out.append(frame + self.cfg.noise * torch.randn(frame.shape, generator=generator).to(frame.device))
        return torch.stack(out, 1).view(b, num_samples, horizon, *frame.shape[1:])


def spec():
    """Its ModelSpec (a fresh one: register it with monkeypatch.setitem(registry.MODELS, NAME, spec()))."""
    return pixel_spec(NAME, SteerConfig, SteerShift, conditioning="action")

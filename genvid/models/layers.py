"""Small helpers shared by the model families (issue 18): each defined once here.

Every function keeps the exact floating-point operations, in the same order, of the copies it
replaces, so trained weights and samples stay byte-identical (tests/test_layers.py checks that
against verbatim copies of the old code).
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor, nn

from genvid.errors import GenvidError

Draw = Callable[[tuple[int, ...]], Tensor]  # standard-normal noise of a shape, on the model's device


# -- KL divergences -------------------------------------------------------------------------------

def gaussian_kl(mu_q: Tensor, s_q: Tensor, mu_p: Tensor, s_p: Tensor) -> Tensor:
    """KL(N(μ_q, s_q²) || N(μ_p, s_p²)) elementwise, from standard deviations (VRNN, RFN, HVRNN)."""
    return torch.log(s_p / s_q) + (s_q ** 2 + (mu_q - mu_p) ** 2) / (2.0 * s_p ** 2) - 0.5


def gaussian_kl_logvar(mu_q: Tensor, logvar_q: Tensor, mu_p: Tensor, logvar_p: Tensor) -> Tensor:
    """KL(N(μ_q, σ_q²) || N(μ_p, σ_p²)) elementwise, from log-variances (SVG-LP, as SVG's kl_criterion).

    The same divergence as ``gaussian_kl``, but SVG's networks output log σ², and converting to σ
    first would change the rounding of a trained model's loss."""
    return 0.5 * (logvar_p - logvar_q) + (logvar_q.exp() + (mu_q - mu_p) ** 2) / (2.0 * logvar_p.exp()) - 0.5


# -- the KL weight schedule -----------------------------------------------------------------------

def beta_warmup(step: int, warmup_steps: int, start: float = 1e-6) -> float:
    """KL weight at optimisation step ``step`` (0-based): linear from ``start`` at step 0 to 1 at
    ``warmup_steps``, then 1; ``warmup_steps`` 0 means 1 throughout. A pure function of the step,
    so it is exact across a resume.

    The families differ only in ``start``: VRNN/SRNN and RFN start at ``beta_start`` (1e-6, seed 001
    §8.4, Tables A.2–A.3, the default here); HVRNN starts at 0 (Sønderby et al. 2016's warm-up, seed
    004 §4.5) and passes ``start=0.0``, which gives exactly ``step / warmup_steps``: 0.0 + 1.0 · s / w
    rounds once, like s / w."""
    if step < 0:
        raise GenvidError(f"step must be >= 0, got {step}")
    if warmup_steps <= 0 or step >= warmup_steps:
        return 1.0
    return start + (1.0 - start) * step / warmup_steps


# -- layers ---------------------------------------------------------------------------------------

def norm_layer(kind: str, channels: int) -> nn.Module:
    """``"batch"`` -> BatchNorm2d, ``"group"`` -> GroupNorm with gcd(channels, 8) groups, else Identity."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        return nn.GroupNorm(math.gcd(channels, 8), channels)
    return nn.Identity()


def upsample_nearest(x: Tensor, factor: int) -> Tensor:
    """Nearest-neighbour upsampling of [B, C, H, W] by ``factor`` in H and W; factor 1 returns ``x``.

    By expand + reshape rather than ``F.interpolate``: the backward of expand is a sum, which is
    deterministic on every device (interpolate's backward uses atomics on CUDA)."""
    if factor == 1:
        return x
    b, c, h, w = x.shape
    return x[:, :, :, None, :, None].expand(b, c, h, factor, w, factor).reshape(b, c, h * factor, w * factor)


# -- noise ----------------------------------------------------------------------------------------

def _drawn_on(fn: Callable[..., Tensor], generator: torch.Generator, shape: tuple[int, ...],
              device: torch.device, dtype: torch.dtype | None) -> Tensor:
    # Drawn on the generator's own device, then moved: the same seed gives the same numbers
    # whichever device the model is on.
    x = fn(shape, generator=generator, device=generator.device)
    return x.to(device) if dtype is None else x.to(device, dtype)


def randn_on(generator: torch.Generator, shape: tuple[int, ...], device: torch.device,
             dtype: torch.dtype | None = None) -> Tensor:
    """Standard-normal noise of ``shape`` drawn from ``generator`` (default dtype, on the generator's
    device), then moved to ``device`` (and cast to ``dtype`` if given)."""
    return _drawn_on(torch.randn, generator, shape, device, dtype)


def rand_on(generator: torch.Generator, shape: tuple[int, ...], device: torch.device,
            dtype: torch.dtype | None = None) -> Tensor:
    """``randn_on`` for U[0, 1) noise."""
    return _drawn_on(torch.rand, generator, shape, device, dtype)


def normal_drawer(generator: torch.Generator | None, device: torch.device) -> Draw:
    """shape -> standard-normal noise on ``device``: from the global RNG when ``generator`` is None
    (training, seeded by the stage), else from ``generator`` via ``randn_on``."""
    if generator is None:
        return lambda shape: torch.randn(shape, device=device)
    return lambda shape: randn_on(generator, shape, device)

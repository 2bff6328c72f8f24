"""A conditional Glow (seed 001 Ch. 4, §4.6, §8.2.4), every layer written out with its log-determinant.

Direction convention: ``forward`` is the normalising direction x -> z and returns
``(z, logdet)`` with ``logdet = log|det ∂z/∂x|`` per sample [B]; ``inverse`` is the generating
direction z -> x. Every layer is an exact bijection, the split and the top prior included: a
conditional Gaussian N(x_b; μ, σ²) is written as the affine map ε = (x_b − μ)/σ (logdet −Σ log σ)
followed by a standard normal, so

    log p(x | c) = Σ_levels log N(ε_l; 0, I) + Σ_layers logdet

and sampling at temperature T draws ε ~ N(0, T² I) (seed 001 §8.2.4: the standard deviations of
the base distribution and of the split priors are multiplied by T).

    x [B,C,H,W]
    level l = 1..L:  squeeze 2×2 -> K × [ActNorm -> 1×1 conv (PLU) -> conditional affine coupling(c_l)]
                     -> split (l < L): keep x_a, factor out x_b ~ N(μ(x_a, c_l), softplus(·)²)
    top:             the last level's output ~ N(μ(c_L), softplus(·)²)

``c_l`` is the condition at level l, at the level's spatial size H/2^l × W/2^l.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genvid.errors import GenvidError
from genvid.models.layers import randn_on

LOG_2PI = math.log(2.0 * math.pi)
# softplus(raw + SOFTPLUS_ONE) = 1 at raw = 0, so a zero-initialised prior net starts as N(0, 1).
SOFTPLUS_ONE = math.log(math.e - 1.0)
MIN_STD = 1e-6  # numerical floor only: keeps log σ finite if softplus underflows


def standard_normal_log_prob(eps: Tensor) -> Tensor:
    """Σ over all but the batch dimension of log N(ε; 0, 1)."""
    return (-0.5 * (eps ** 2 + LOG_2PI)).flatten(1).sum(1)


def _per_sample(value: Tensor, like: Tensor) -> Tensor:
    """A scalar log-determinant broadcast to [B] in ``like``'s dtype."""
    return value.to(like.dtype).expand(like.shape[0])


class ActNorm(nn.Module):
    """y = (x + b) ⊙ exp(log s) per channel (seed 001 eq. 4.38, §8.2.4).

    Data-dependent initialisation on the first batch: b = −mean, s = 1/(std + 1e-6), so that
    batch's output has zero mean and unit variance per channel. ``initialized`` is a buffer, so a
    loaded checkpoint does not re-initialise.
    """

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.log_scale = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.register_buffer("initialized", torch.tensor(False))

    @torch.no_grad()
    def initialize(self, x: Tensor) -> None:
        mean = x.mean(dim=(0, 2, 3), keepdim=True)
        std = x.std(dim=(0, 2, 3), keepdim=True, unbiased=False)
        self.bias.copy_(-mean)
        self.log_scale.copy_(-torch.log(std + self.eps))
        self.initialized.fill_(True)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if not bool(self.initialized):
            self.initialize(x)
        y = (x + self.bias) * torch.exp(self.log_scale)
        return y, _per_sample(x.shape[2] * x.shape[3] * self.log_scale.sum(), x)

    def inverse(self, y: Tensor) -> Tensor:
        return y * torch.exp(-self.log_scale) - self.bias


class InvConv1x1(nn.Module):
    """Invertible 1×1 convolution with W = P L (U + diag(sign(s) ⊙ exp(log|s|))) (seed 001 §4.3.2).

    P is a fixed permutation, L unit lower triangular and U strictly upper triangular (both
    learned), log|s| learned and sign(s) fixed. W starts as a random rotation (QR of a Gaussian
    matrix, Glow). log|det ∂y/∂x| = H·W·Σ log|s|.
    """

    def __init__(self, channels: int):
        super().__init__()
        w = torch.linalg.qr(torch.randn(channels, channels))[0]
        p, lower, upper = torch.linalg.lu(w)
        s = upper.diagonal()
        self.register_buffer("perm", p)
        self.register_buffer("sign_s", torch.sign(s))
        self.register_buffer("lower_mask", torch.tril(torch.ones(channels, channels), -1))
        self.register_buffer("eye", torch.eye(channels))
        self.lower = nn.Parameter(lower)
        self.upper = nn.Parameter(torch.triu(upper, 1))
        self.log_s = nn.Parameter(torch.log(s.abs()))

    def _factors(self) -> tuple[Tensor, Tensor]:
        lower = self.lower * self.lower_mask + self.eye
        upper = self.upper * self.lower_mask.T + torch.diag(self.sign_s * torch.exp(self.log_s))
        return lower, upper

    def weight(self) -> Tensor:
        lower, upper = self._factors()
        return self.perm @ lower @ upper

    def inverse_weight(self) -> Tensor:
        """W⁻¹ = U⁻¹ L⁻¹ Pᵀ by two triangular solves."""
        lower, upper = self._factors()
        l_inv_pt = torch.linalg.solve_triangular(lower, self.perm.T, upper=False, unitriangular=True)
        return torch.linalg.solve_triangular(upper, l_inv_pt, upper=True)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        c = x.shape[1]
        y = F.conv2d(x, self.weight().to(x.dtype).view(c, c, 1, 1))
        return y, _per_sample(x.shape[2] * x.shape[3] * self.log_s.sum(), x)

    def inverse(self, y: Tensor) -> Tensor:
        c = y.shape[1]
        return F.conv2d(y, self.inverse_weight().to(y.dtype).view(c, c, 1, 1))


class Conditioner(nn.Module):
    """The "3-1-3" conv net of seed 001 §8.2.4: 3×3 conv -> ActNorm -> ReLU -> 1×1 conv -> ActNorm
    -> ReLU -> 3×3 conv, the last conv's weights and bias initialised to zero (Glow), so the layer
    it parameterises starts as the identity (coupling) or N(0, 1) (priors)."""

    def __init__(self, in_channels: int, hidden: int, out_channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, hidden, 3, padding=1, bias=False)  # ActNorm has the bias
        self.norm1 = ActNorm(hidden)
        self.conv2 = nn.Conv2d(hidden, hidden, 1, bias=False)
        self.norm2 = ActNorm(hidden)
        self.conv3 = nn.Conv2d(hidden, out_channels, 3, padding=1)
        nn.init.zeros_(self.conv3.weight)
        nn.init.zeros_(self.conv3.bias)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.norm1(self.conv1(x))[0])
        x = F.relu(self.norm2(self.conv2(x))[0])
        return self.conv3(x)


class ConditionalCoupling(nn.Module):
    """Conditional affine coupling (seed 001 eq. 4.44, 5.4, §8.2.4).

    x = [x_a ‖ x_b] (first ⌊C/2⌋ channels, the rest); [t, r] = NN([x_a ‖ c]);
    log α = s_scale ⊙ tanh(r) + s_shift, with s_scale (init 1) and s_shift (init 0) learned per
    channel: seed 001 §8.2.4's affine tanh clamp, so |log α| ≤ |s_scale| + |s_shift|;
    y_b = x_b ⊙ exp(log α) + t, y_a = x_a, logdet = Σ log α.
    """

    def __init__(self, channels: int, cond_channels: int, hidden: int):
        super().__init__()
        if channels < 2:
            raise GenvidError(f"a coupling layer needs at least 2 channels, got {channels}")
        self.ca, self.cb = channels // 2, channels - channels // 2
        self.net = Conditioner(self.ca + cond_channels, hidden, 2 * self.cb)
        self.s_scale = nn.Parameter(torch.ones(1, self.cb, 1, 1))
        self.s_shift = nn.Parameter(torch.zeros(1, self.cb, 1, 1))

    def _shift_log_scale(self, xa: Tensor, cond: Tensor) -> tuple[Tensor, Tensor]:
        h = self.net(torch.cat([xa, cond], dim=1))
        shift, raw = h[:, :self.cb], h[:, self.cb:]
        return shift, self.s_scale * torch.tanh(raw) + self.s_shift

    def forward(self, x: Tensor, cond: Tensor) -> tuple[Tensor, Tensor]:
        xa, xb = x[:, :self.ca], x[:, self.ca:]
        shift, log_a = self._shift_log_scale(xa, cond)
        return torch.cat([xa, xb * torch.exp(log_a) + shift], dim=1), log_a.flatten(1).sum(1)

    def inverse(self, y: Tensor, cond: Tensor) -> Tensor:
        ya, yb = y[:, :self.ca], y[:, self.ca:]
        shift, log_a = self._shift_log_scale(ya, cond)
        return torch.cat([ya, (yb - shift) * torch.exp(-log_a)], dim=1)


def squeeze(x: Tensor) -> Tensor:
    """Space-to-depth 2×2: [B, C, H, W] -> [B, 4C, H/2, W/2] (seed 001 §4.4, Fig. 4.4). logdet 0."""
    b, c, h, w = x.shape
    if h % 2 or w % 2:
        raise GenvidError(f"squeeze needs an even height and width, got {h}×{w}")
    x = x.view(b, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4)
    return x.reshape(b, 4 * c, h // 2, w // 2)


def unsqueeze(x: Tensor) -> Tensor:
    """Depth-to-space 2×2, the inverse of ``squeeze``."""
    b, c4, h, w = x.shape
    c = c4 // 4
    x = x.view(b, c, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3)
    return x.reshape(b, c, 2 * h, 2 * w)


class ConditionalGaussian(nn.Module):
    """N(x; μ, σ²) with [μ, r] = Conditioner(input), σ = softplus(r + log(e − 1)) (seed 001 §8.2.4:
    a Softplus σ, "crucial" against the unstable gradients of exp), written as the bijection
    ε = (x − μ)/σ with logdet −Σ log σ. The softplus offset is our choice: σ = 1 at init."""

    def __init__(self, in_channels: int, hidden: int, channels: int):
        super().__init__()
        self.channels = channels
        self.net = Conditioner(in_channels, hidden, 2 * channels)

    def mean_std(self, h: Tensor) -> tuple[Tensor, Tensor]:
        out = self.net(h)
        mean, raw = out[:, :self.channels], out[:, self.channels:]
        return mean, F.softplus(raw + SOFTPLUS_ONE) + MIN_STD

    def forward(self, x: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        mean, std = self.mean_std(h)
        return (x - mean) / std, -torch.log(std).flatten(1).sum(1)

    def inverse(self, eps: Tensor, h: Tensor) -> Tensor:
        mean, std = self.mean_std(h)
        return mean + std * eps


class ConditionalSplit(nn.Module):
    """The multi-scale split with a conditional prior (seed 001 eq. 4.46, 8.1):
    x = [x_a ‖ x_b] -> keep x_a, factor out ε = (x_b − μ(x_a, c)) / σ(x_a, c)."""

    def __init__(self, channels: int, cond_channels: int, hidden: int):
        super().__init__()
        self.ca, self.cb = channels // 2, channels - channels // 2
        self.prior = ConditionalGaussian(self.ca + cond_channels, hidden, self.cb)

    def forward(self, x: Tensor, cond: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        xa, xb = x[:, :self.ca], x[:, self.ca:]
        eps, logdet = self.prior(xb, torch.cat([xa, cond], dim=1))
        return xa, eps, logdet

    def inverse(self, xa: Tensor, eps: Tensor, cond: Tensor) -> Tensor:
        return torch.cat([xa, self.prior.inverse(eps, torch.cat([xa, cond], dim=1))], dim=1)


class FlowStep(nn.Module):
    """One Glow step (seed 001 Fig. 4.8 B): ActNorm -> 1×1 conv -> conditional coupling; only the
    coupling sees the condition (seed 001 §4.6)."""

    def __init__(self, channels: int, cond_channels: int, hidden: int):
        super().__init__()
        self.actnorm = ActNorm(channels)
        self.conv = InvConv1x1(channels)
        self.coupling = ConditionalCoupling(channels, cond_channels, hidden)

    def forward(self, x: Tensor, cond: Tensor) -> tuple[Tensor, Tensor]:
        x, ld1 = self.actnorm(x)
        x, ld2 = self.conv(x)
        x, ld3 = self.coupling(x, cond)
        return x, ld1 + ld2 + ld3

    def inverse(self, y: Tensor, cond: Tensor) -> Tensor:
        return self.actnorm.inverse(self.conv.inverse(self.coupling.inverse(y, cond)))


class ConditionalGlow(nn.Module):
    """L levels of [squeeze, K × FlowStep, split] with a conditional top prior (seed 001 §8.2.4).

    As in Glow the last level has no split: its whole output goes to the top prior
    N(μ(c_L), σ(c_L)²), the base distribution p(b_t | z_t, h_t) of seed 001 eq. 5.3.
    ``cond_channels[l]`` is the channel count of the condition at level l + 1; ``top_hidden`` the
    width of the top prior's net (Table A.2's "channels in base distribution").
    """

    def __init__(self, in_channels: int, levels: int, steps: int, hidden: int,
                 cond_channels: Sequence[int], top_hidden: int | None = None):
        super().__init__()
        if levels < 1 or steps < 1:
            raise GenvidError(f"a Glow needs levels >= 1 and steps >= 1, got {levels} and {steps}")
        if len(cond_channels) != levels:
            raise GenvidError(f"cond_channels needs one entry per level ({levels}), got {list(cond_channels)}")
        self.in_channels, self.levels = in_channels, levels
        self.steps = nn.ModuleList()
        self.splits = nn.ModuleList()
        channels = in_channels
        self.level_channels: list[int] = []  # channels inside each level (after its squeeze)
        for level in range(levels):
            channels *= 4
            self.level_channels.append(channels)
            self.steps.append(nn.ModuleList(FlowStep(channels, cond_channels[level], hidden)
                                            for _ in range(steps)))
            if level < levels - 1:
                split = ConditionalSplit(channels, cond_channels[level], hidden)
                self.splits.append(split)
                channels = split.ca
        self.top = ConditionalGaussian(cond_channels[-1], top_hidden or hidden, channels)
        self.top_channels = channels

    def _check(self, conds: Sequence[Tensor], x: Tensor | None = None) -> None:
        if len(conds) != self.levels:
            raise GenvidError(f"the Glow needs {self.levels} conditions, one per level, got {len(conds)}")
        if x is not None:
            h, w = x.shape[-2:]
            if x.ndim != 4 or x.shape[1] != self.in_channels or h % 2 ** self.levels or w % 2 ** self.levels:
                raise GenvidError(f"Glow input must be [B, {self.in_channels}, H, W] with H and W multiples "
                                  f"of 2^{self.levels}, got {list(x.shape)}")
            for level, c in enumerate(conds):
                size = (h >> (level + 1), w >> (level + 1))
                if tuple(c.shape[-2:]) != size or c.shape[0] != x.shape[0]:
                    raise GenvidError(f"condition of level {level + 1} must be [{x.shape[0]}, *, {size[0]}, "
                                      f"{size[1]}], got {list(c.shape)}")

    def forward(self, x: Tensor, conds: Sequence[Tensor]) -> tuple[list[Tensor], Tensor]:
        """x -> (ε of every split and of the top prior, log|det ∂ε/∂x| [B])."""
        self._check(conds, x)
        eps: list[Tensor] = []
        logdet = x.new_zeros(x.shape[0])
        for level in range(self.levels):
            x = squeeze(x)
            for step in self.steps[level]:
                x, ld = step(x, conds[level])
                logdet = logdet + ld
            if level < self.levels - 1:
                x, e, ld = self.splits[level](x, conds[level])
                eps.append(e)
                logdet = logdet + ld
        e, ld = self.top(x, conds[-1])
        eps.append(e)
        return eps, logdet + ld

    def inverse(self, eps: Sequence[Tensor], conds: Sequence[Tensor]) -> Tensor:
        self._check(conds)
        x = self.top.inverse(eps[-1], conds[-1])
        for level in reversed(range(self.levels)):
            if level < self.levels - 1:
                x = self.splits[level].inverse(x, eps[level], conds[level])
            for step in reversed(self.steps[level]):
                x = step.inverse(x, conds[level])
            x = unsqueeze(x)
        return x

    def log_prob(self, x: Tensor, conds: Sequence[Tensor]) -> Tensor:
        """log p(x | c) in nats per sample [B] (a density: x is continuous)."""
        eps, logdet = self(x, conds)
        return sum(standard_normal_log_prob(e) for e in eps) + logdet

    def eps_shapes(self, conds: Sequence[Tensor]) -> list[tuple[int, ...]]:
        """Shapes of the ε tensors, from the conditions' batch and spatial sizes."""
        shapes = []
        for level, c in enumerate(conds):
            b, _, h, w = c.shape
            if level < self.levels - 1:
                shapes.append((b, self.splits[level].cb, h, w))
        b, _, h, w = conds[-1].shape
        shapes.append((b, self.top_channels, h, w))
        return shapes

    def sample(self, conds: Sequence[Tensor], temperature: float, generator: torch.Generator) -> Tensor:
        """x = inverse(ε), ε ~ N(0, T² I) drawn on ``generator`` (level 1 first, top last).
        T = 0 gives the deterministic path through every prior's mean."""
        self._check(conds)
        device, dtype = conds[0].device, conds[0].dtype
        eps = [temperature * randn_on(generator, s, device, dtype) for s in self.eps_shapes(conds)]
        return self.inverse(eps, conds)

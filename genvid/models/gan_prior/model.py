"""Seed 002 §3.2's GAN prior over VQ codes (Fig. 3.3, Table 6.3), on genvid's 3D code grids.

One tier's prior is a progressively grown WGAN-GP: a generator G(z, condition) and a critic
D(codes, condition) that mirror each other over the same scales, coarse to fine, each scale a
stack of gated conditional residual blocks (the thesis's "residual blocks with gated linear
units"), with one SAGAN self-attention layer (learnable gamma, initialised to 0; Fig. 3.4) in G
and in D of both tiers, at the scale whose grid is the top tier's (§3.2: "a self attention layer was
added to both the top and bottom generators and discriminators in the layer corresponding to 32x32
latents", the top tier's size; Table 6.3: "Self attention layers 1 | 1"): the top tier's finest
scale, the bottom tier's second finest.

The condition of every block is the tier's *condition map*, pooled to the block's scale:
    - the context codes (the clip's first ``c`` code steps, known to the predictor) and a mask of
      them: genvid's proposal (docs/models.md), so that the prior is a Predictor that never sees
      a future code;
    - the bottom tier also gets the top tier's codes, resized to its grid (the thesis's bottom
      GAN "conditioned on the top latent at every structural level").
The critic sees the same condition, and its input's context steps are the real context codes in
real and generated grids alike (only the future is judged).

Code representation (seed 002 does not state it; its GAN worked only on noisy-VQ latents, whose
neighbouring indices decode alike, which only an ordered representation can exploit): one
scalar per code position, the index mapped linearly onto [-1, 1]; a generated value becomes the
nearest index (clamped to [0, K - 1]). The critic's real codes are dequantised, index + U(-1/2,
1/2), so that the real distribution has no lattice a critic could spot. Time is never resampled
(the grids have 4-8 code steps); growing doubles the height and width.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genvid.config import parse_config, rule
from genvid.errors import GenvidError

Shape3 = tuple[int, int, int]


@dataclass(frozen=True)
class GANPriorConfig:
    """One tier's GAN prior. Sizes come from params.yaml; ``num_codes``, ``shape``, ``cond_shape``
    and ``attention`` from the latent file and the tier (genvid.models.gan_prior.family)."""

    num_codes: int = field(metadata=rule(min=2))  # K
    shape: Shape3  # the code grid (T, H, W) this tier models
    channels: tuple[int, ...]  # per scale, coarse to fine (thesis top: 512, 256, 64, 32)
    res_blocks: int = field(metadata=rule(min=1))  # gated conditional residual blocks per scale (thesis: 4)
    noise_dim: int = field(metadata=rule(min=1))  # z (thesis: 512, its distribution not stated; here N(0, I))
    attention: tuple[int, int] | None  # (H, W) of the one scale with self-attention (the top tier's grid)
    kernel_size: int = field(default=3, metadata=rule(min=1))  # thesis: 3
    cond_shape: Shape3 | None = None  # the top tier's grid, for the bottom tier
    attention_channels: int = field(default=8, metadata=rule(min=1))  # query/key width (SAGAN: C / 8)
    # progressive growing (Table 6.3 gives steps per scale: top 48k, 96k, 96k, 200k): the steps
    # spent at each scale but the finest, which trains for the rest; each new scale fades in
    # linearly over ``fade_steps`` (the progressive GAN's schedule; seed 002 does not state one)
    grow_steps: tuple[int, ...] = ()
    fade_steps: int = field(default=1, metadata=rule(min=1))
    gp_weight: float = field(default=10.0, metadata=rule(min=0.0))  # lambda of WGAN-GP (not stated: the paper's 10)
    drift: float = field(default=0.001, metadata=rule(min=0.0))  # eps_drift * D(real)^2 (progressive GAN)

    @classmethod
    def from_dict(cls, values: dict, section: str = "gan", source: str | None = None) -> "GANPriorConfig":
        return parse_config(cls, values, section, source)

    def validate(self) -> str | None:
        if not self.channels or min(self.channels) < 1:
            return f"channels must list one positive width per scale, got {list(self.channels)}"
        if self.kernel_size % 2 == 0:
            return f"kernel_size must be odd, got {self.kernel_size}"
        if len(self.grow_steps) != len(self.channels) - 1 or any(n < 1 for n in self.grow_steps):
            return (f"grow_steps must give the steps of each scale but the finest ({len(self.channels) - 1} "
                    f"positive numbers for {len(self.channels)} channels), got {list(self.grow_steps)}")
        if any(self.fade_steps > n for n in self.grow_steps[1:]):
            return f"fade_steps ({self.fade_steps}) must not exceed the steps of a grown scale {list(self.grow_steps[1:])}"
        if self.attention is not None and self.attention_scale is None:
            grids = [list(self.grid(s)[1:]) for s in range(self.scales)]
            return f"attention: no scale has the grid {list(self.attention)} (the scales' grids: {grids})"
        if self.shape[0] < 2:
            return f"shape: the code grid needs 2 or more code steps (context and future), got {list(self.shape)}"
        factor = 2 ** (len(self.channels) - 1)
        if self.shape[1] % factor or self.shape[2] % factor:
            return (f"channels: {len(self.channels)} scales halve the {self.shape[1]}x{self.shape[2]} code grid "
                    f"{len(self.channels) - 1} times; it must be divisible by {factor}")
        return None

    @property
    def scales(self) -> int:
        return len(self.channels)

    def grid(self, scale: int) -> Shape3:
        """The code grid at ``scale`` (0 the coarsest)."""
        f = 2 ** (self.scales - 1 - scale)
        return self.shape[0], self.shape[1] // f, self.shape[2] // f

    @property
    def attention_scale(self) -> int | None:
        """The scale whose (H, W) grid is ``attention`` (None: no self-attention)."""
        return next((s for s in range(self.scales) if self.grid(s)[1:] == tuple(self.attention or ())), None)

    @property
    def cond_channels(self) -> int:
        """Condition-map channels: context values, the context mask (and the top codes)."""
        return 2 + (self.cond_shape is not None)


# ----------------------------------------------------------------------------- the code representation

def codes_to_values(codes: Tensor, num_codes: int) -> Tensor:
    """int indices [B, T, H, W] -> float [B, 1, T, H, W]: 0 -> -1, K - 1 -> 1, evenly between."""
    return (codes.float() * (2.0 / (num_codes - 1)) - 1.0).unsqueeze(1)


def values_to_codes(values: Tensor, num_codes: int) -> Tensor:
    """The nearest index of each value (clamped into [0, K - 1]): the inverse of codes_to_values."""
    return ((values.squeeze(1).float() + 1.0) * ((num_codes - 1) / 2.0)).round().clamp_(0, num_codes - 1).long()


def dequantised(codes: Tensor, num_codes: int, generator: torch.Generator | None = None) -> Tensor:
    """codes_to_values of index + U(-1/2, 1/2) (noise from ``generator``, else the global RNG)."""
    u = torch.rand(codes.shape, generator=generator, device=codes.device) - 0.5
    return ((codes.float() + u) * (2.0 / (num_codes - 1)) - 1.0).unsqueeze(1)


def context_mask(batch: int, steps: Tensor | int, shape: Shape3, device: torch.device) -> Tensor:
    """[B, 1, T, H, W]: 1 on the first ``steps`` code steps of each row (an int or one per row)."""
    steps = torch.as_tensor(steps, device=device).expand(batch)
    t = torch.arange(shape[0], device=device)
    return (t[None, :] < steps[:, None]).float()[:, None, :, None, None].expand(batch, 1, *shape)


def condition_map(values: Tensor, mask: Tensor, top: Tensor | None = None) -> Tensor:
    """The tier's condition [B, cond_channels, T, H, W]: context values (0 elsewhere), the mask,
    and the top tier's values resized to the grid (nearest, the bottom tier)."""
    parts = [values * mask, mask]
    if top is not None:
        parts.append(upsample_to(top, values.shape[2:]))
    return torch.cat(parts, dim=1)


def upsample_to(x: Tensor, shape: tuple[int, ...]) -> Tensor:
    """Nearest upsampling of [B, C, T, H, W] to ``shape`` (whole factors), by expand + reshape:
    a deterministic backward on every device (interpolate's uses atomics on CUDA)."""
    b, c, t, h, w = x.shape
    ft, fh, fw = shape[0] // t, shape[1] // h, shape[2] // w
    if (ft * t, fh * h, fw * w) != tuple(shape):
        raise GenvidError(f"grid {list(shape)} is not a whole multiple of {[t, h, w]}")
    x = x[:, :, :, None, :, None, :, None].expand(b, c, t, ft, h, fh, w, fw)
    return x.reshape(b, c, *shape)


def halve(x: Tensor) -> Tensor:
    """2x2 spatial mean pooling of [B, C, T, H, W] (time kept), by reshape: deterministic backward."""
    b, c, t, h, w = x.shape
    return x.reshape(b, c, t, h // 2, 2, w // 2, 2).mean(dim=(4, 6))


def pooled(x: Tensor, times: int) -> Tensor:
    for _ in range(times):
        x = halve(x)
    return x


# ----------------------------------------------------------------------------- the blocks

def conv(cin: int, cout: int, kernel: int) -> nn.Conv3d:
    return nn.Conv3d(cin, cout, kernel, padding=kernel // 2)


class PixelNorm(nn.Module):
    """Each position's feature vector scaled to unit mean square (the progressive GAN's generator
    normalisation; seed 002 does not state its own)."""

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


class GatedConditionalResidual(nn.Module):
    """h + a * sigmoid(b), [a, b] = conv(act(conv(act(h)))) + W c: a gated residual block whose
    gate and value also read the condition map c (PixelSNAIL's conditional block, in a GAN)."""

    def __init__(self, channels: int, cond_channels: int, kernel: int, norm: bool):
        super().__init__()
        self.conv1 = conv(channels, channels, kernel)
        self.conv2 = conv(channels, 2 * channels, kernel)
        self.cond = nn.Conv3d(cond_channels, 2 * channels, 1)
        self.norm = PixelNorm() if norm else nn.Identity()

    def forward(self, h: Tensor, c: Tensor) -> Tensor:
        y = self.conv1(F.leaky_relu(h, 0.2))
        a, b = (self.conv2(F.leaky_relu(y, 0.2)) + self.cond(c)).chunk(2, dim=1)
        return self.norm(h + a * torch.sigmoid(b))


class SelfAttention(nn.Module):
    """SAGAN's self-attention over every position of a [B, C, T, H, W] grid, added residually
    with a learnable gamma initialised to 0 (seed 002 Fig. 3.4)."""

    def __init__(self, channels: int, key_channels: int):
        super().__init__()
        self.query = nn.Conv3d(channels, key_channels, 1)
        self.key = nn.Conv3d(channels, key_channels, 1)
        self.value = nn.Conv3d(channels, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: Tensor) -> Tensor:
        b, c = x.shape[:2]
        q, k, v = (f(x).flatten(2) for f in (self.query, self.key, self.value))
        weights = torch.softmax(q.transpose(1, 2) @ k, dim=-1)  # [B, N, N]: position i attends to j
        return x + self.gamma * (v @ weights.transpose(1, 2)).view_as(x)


class Scale(nn.Module):
    """One scale's stack: gated conditional residual blocks, then (optionally) self-attention."""

    def __init__(self, channels: int, cfg: GANPriorConfig, attention: bool, norm: bool):
        super().__init__()
        self.blocks = nn.ModuleList(GatedConditionalResidual(channels, cfg.cond_channels, cfg.kernel_size, norm)
                                    for _ in range(cfg.res_blocks))
        self.attention = SelfAttention(channels, cfg.attention_channels) if attention else None

    def forward(self, h: Tensor, c: Tensor) -> Tensor:
        for block in self.blocks:
            h = block(h, c)
        return h if self.attention is None else self.attention(h)


# ----------------------------------------------------------------------------- G and D

class Generator(nn.Module):
    """z [B, noise_dim] and the condition map -> code values [B, 1, T, H, W] at the grown scale."""

    def __init__(self, cfg: GANPriorConfig):
        super().__init__()
        self.cfg = cfg
        t, h, w = cfg.grid(0)
        self.stem = nn.Linear(cfg.noise_dim, cfg.channels[0] * t * h * w)
        self.grow = nn.ModuleList(conv(cin, cout, cfg.kernel_size)
                                  for cin, cout in zip(cfg.channels, cfg.channels[1:]))
        self.scales = nn.ModuleList(Scale(ch, cfg, s == cfg.attention_scale, norm=True)
                                    for s, ch in enumerate(cfg.channels))
        self.to_codes = nn.ModuleList(nn.Conv3d(ch, 1, 1) for ch in cfg.channels)  # linear output

    def forward(self, z: Tensor, cond: Tensor, scale: int | None = None, alpha: float = 1.0) -> Tensor:
        cfg, scale = self.cfg, self.cfg.scales - 1 if scale is None else scale
        h = self.stem(z).view(z.shape[0], cfg.channels[0], *cfg.grid(0))
        previous = None
        for s in range(scale + 1):
            if s:
                previous = h
                h = self.grow[s - 1](F.leaky_relu(upsample_to(h, cfg.grid(s)), 0.2))
            h = self.scales[s](h, pooled(cond, scale_gap(cfg, s)))
        out = self.to_codes[scale](h)
        if alpha < 1.0 and scale > 0:  # fade-in: the previous scale's output, upsampled, fades out
            out = alpha * out + (1.0 - alpha) * upsample_to(self.to_codes[scale - 1](previous), out.shape[2:])
        return out


class Critic(nn.Module):
    """Code values [B, 1, T, H, W] at the grown scale and the condition map -> one score per row."""

    def __init__(self, cfg: GANPriorConfig):
        super().__init__()
        self.cfg = cfg
        self.from_codes = nn.ModuleList(nn.Conv3d(1 + cfg.cond_channels, ch, 1) for ch in cfg.channels)
        self.scales = nn.ModuleList(Scale(ch, cfg, s == cfg.attention_scale, norm=False)
                                    for s, ch in enumerate(cfg.channels))
        self.shrink = nn.ModuleList(conv(cin, cout, cfg.kernel_size)
                                    for cin, cout in zip(cfg.channels[1:], cfg.channels))
        t, h, w = cfg.grid(0)
        self.head = nn.Linear(cfg.channels[0] * t * h * w, 1)  # a linear output (Table 6.3)

    def forward(self, x: Tensor, cond: Tensor, scale: int | None = None, alpha: float = 1.0) -> Tensor:
        cfg, scale = self.cfg, self.cfg.scales - 1 if scale is None else scale
        c = pooled(cond, scale_gap(cfg, scale))
        h = self.from_codes[scale](torch.cat([x, c], dim=1))
        for s in range(scale, -1, -1):
            h = self.scales[s](h, pooled(cond, scale_gap(cfg, s)))
            if s:
                h = self.shrink[s - 1](F.leaky_relu(halve(h), 0.2))
                if s == scale and alpha < 1.0:  # fade-in: the pooled input through the previous scale's entry
                    skip = self.from_codes[s - 1](torch.cat([halve(x), halve(c)], dim=1))
                    h = alpha * h + (1.0 - alpha) * skip
        return self.head(F.leaky_relu(h, 0.2).flatten(1)).squeeze(1)


def scale_gap(cfg: GANPriorConfig, scale: int) -> int:
    """Halvings from the full grid down to ``scale``."""
    return cfg.scales - 1 - scale


class GANPrior(nn.Module):
    """One tier's generator and critic, trained together by the one loop with two optimisers
    ("g" and "d"; genvid.models.gan_prior.family.gan_objective)."""

    def __init__(self, cfg: GANPriorConfig):
        super().__init__()
        self.cfg = cfg
        self.generator = Generator(cfg)
        self.critic = Critic(cfg)

    def schedule(self, step: int) -> tuple[int, float]:
        """(scale, fade-in alpha) of training step ``step``: a pure function of it (exact resume)."""
        start = 0
        for scale, steps in enumerate(self.cfg.grow_steps + (None,)):
            if steps is None or step < start + steps:
                alpha = 1.0 if scale == 0 else min(1.0, (step - start + 1) / self.cfg.fade_steps)
                return scale, alpha
            start += steps
        raise AssertionError("unreachable")

    def losses(self, codes: Tensor, top: Tensor | None, step: int) -> tuple[dict[str, Tensor], dict[str, float]]:
        """WGAN-GP at step ``step``'s scale: {"g": -D(fake), "d": D(fake) - D(real) + lambda GP +
        drift D(real)^2}, means over the batch. Each row's context length (1 .. T - 1 code steps)
        and the noise come from the global RNG, which the training loop seeds and checkpoints."""
        cfg, b = self.cfg, codes.shape[0]
        scale, alpha = self.schedule(step)
        steps = torch.randint(1, cfg.shape[0], (b,), device=codes.device)
        cond = self.condition(codes, steps, top)
        mask = cond[:, 1:2]
        real = pooled(mask * codes_to_values(codes, cfg.num_codes) + (1 - mask) * dequantised(codes, cfg.num_codes),
                      scale_gap(cfg, scale))
        mask = pooled(mask, scale_gap(cfg, scale))
        z = torch.randn((b, cfg.noise_dim), device=codes.device)
        fake = mask * real + (1 - mask) * self.generator(z, cond, scale, alpha)  # the context is given
        g_loss = -self.critic(fake, cond, scale, alpha).mean()
        d_real, d_fake = self.critic(real, cond, scale, alpha), self.critic(fake.detach(), cond, scale, alpha)
        penalty = self.gradient_penalty(real, fake.detach(), cond, scale, alpha)
        d_loss = d_fake.mean() - d_real.mean() + cfg.gp_weight * penalty + cfg.drift * d_real.pow(2).mean()
        return {"g": g_loss, "d": d_loss}, {"wasserstein": float((d_real.mean() - d_fake.mean()).detach()),
                                            "gradient_penalty": float(penalty.detach()), "scale": scale, "alpha": alpha}

    def gradient_penalty(self, real: Tensor, fake: Tensor, cond: Tensor, scale: int, alpha: float) -> Tensor:
        """mean (||grad_x D(x)|| - 1)^2 at x between real and generated rows (Gulrajani et al. 2017)."""
        training = torch.is_grad_enabled()  # validation runs under no_grad: the value, no graph
        eps = torch.rand((real.shape[0], 1, 1, 1, 1), device=real.device)
        with torch.enable_grad():
            x = (eps * real + (1 - eps) * fake).requires_grad_(True)
            score = self.critic(x, cond, scale, alpha)
            grad, = torch.autograd.grad(score.sum(), x, create_graph=training)
        return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()

    def optimizers(self) -> dict[str, list[nn.Parameter]]:
        # "g" first: the loop steps optimisers in this order, and the critic's loss reads the
        # generated codes detached, so the generator's step never changes the critic's graph
        return {"g": list(self.generator.parameters()), "d": list(self.critic.parameters())}

    def condition(self, codes: Tensor, steps: Tensor | int, top: Tensor | None = None) -> Tensor:
        """The condition map of ``codes`` [B, T, H, W] whose first ``steps`` code steps are context."""
        self._check(codes, top)
        mask = context_mask(codes.shape[0], steps, self.cfg.shape, codes.device)
        top_values = None if top is None else codes_to_values(top, self.cfg.num_codes)
        return condition_map(codes_to_values(codes, self.cfg.num_codes), mask, top_values)

    @torch.no_grad()
    def sample(self, codes: Tensor, steps: int, generator: torch.Generator, temperature: float = 1.0,
               top: Tensor | None = None) -> Tensor:
        """``codes`` with every code step from ``steps`` on generated in one pass: z ~ N(0, T^2 I)
        from ``generator`` (T = ``temperature``, the truncation knob), the first ``steps`` kept."""
        cond = self.condition(codes, steps, top)
        z = torch.randn((codes.shape[0], self.cfg.noise_dim), generator=generator, device=generator.device)
        values = self.generator(z.to(codes.device) * temperature, cond)
        out = codes.clone()
        out[:, steps:] = values_to_codes(values, self.cfg.num_codes)[:, steps:]
        return out

    def _check(self, codes: Tensor, top: Tensor | None) -> None:
        if tuple(codes.shape[1:]) != tuple(self.cfg.shape):
            raise GenvidError(f"GAN prior: codes on grid {list(codes.shape[1:])}, the prior models {list(self.cfg.shape)}")
        if (top is None) != (self.cfg.cond_shape is None):
            raise GenvidError("GAN prior: the bottom tier needs the top codes, the top tier takes none")
        if top is not None and tuple(top.shape[1:]) != tuple(self.cfg.cond_shape):
            raise GenvidError(f"GAN prior: top codes on grid {list(top.shape[1:])}, the prior was built for "
                              f"{list(self.cfg.cond_shape)}")

"""Seed 004's cascaded video GAN (CVG, Ch. 6, Eq 6.1), made a predictor of the future from the context.

    p(x¹ … x^L | context) = p_{g_1}(x¹ | context) · Π_{l>1} p_{g_l}(x^l | x^{l-1}, context)

Level l of L sees the clip at 1/2^(L-l) of its resolution and every 2^(L-l)-th frame (f_s, f_t of
§6.2). Its time grid is anchored at the last context frame: frame j of level l is clip frame
c - 1 + j·2^(L-l), so j ≤ 0 are context frames (real, downsampled) and j = 1 … J the future it
generates.

    level 1   z, e = enc(context¹) → linear → 4×4, replicated J times → per unit: ConvGRU over time,
              two 2D ResNet blocks with batch norm conditional on (z, e), ×2 nearest upsampling in all
              units but the last → BN-ReLU-conv-tanh (§6.A.1)
    level l   the same from its own z and context, with the upsampling levels' separable 3D ResNet
              block in place of the ConvGRU (``temporal``), and the coarser level's video as a
              residual input: frame j takes coarse frame ⌊j/2⌋ (coarse frame 0 is the real last
              context frame), nearest-resized with the last context frame of its own resolution,
              1×1-projected and added to every unit's output (§6.3)

Discriminators per level: a 2D one on ``frame_frames`` random future frames, a 3D one on the
×2-downsampled video (the real context, then the future: the notes' conditioning), and on upsampling
levels with ``matching`` the matching discriminator: the 3D architecture on (coarse video ‖ the fine
video downsampled to it), real pairs from data, fake pairs the previous level's sample and this
level's output for it (§6.3). Their outputs are concatenated and trained with the geometric (hinge)
loss, averaged over samples and outputs as §6.A writes (which weights each discriminator by its
output count).

Upsampling levels train on ``window`` coarse frames at a time (temporal crops, §6.2); at test every
level runs over the whole horizon: the ConvGRU unrolls, the separable convolutions slide.

What the thesis leaves open or what genvid changes (the report's deviations table): the context
encoder (a 2D CNN over the context frames stacked as channels) and its place (the class embedding's);
the residuals' second input (the last context frame); PyTorch's default initialisation, not orthogonal
(its LAPACK QR would make weights depend on the CPU, issue 19); batch norm frozen at test; widths
(App. 6.A's multiplier rule min(8, 64 / resolution), scaled by ``g_width``); discriminator widths
doubling per halving from ``d_width``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genvid.config import rule
from genvid.errors import GenvidError
from genvid.models.cvg.layers import (ConvGRU, FrameDiscriminator, GBlock, SeparableBlock, VideoDiscriminator,
                                      area_down, resize_to, sn)
from genvid.models.layers import Draw, normal_drawer
from genvid.models.predictor import sample_rows

MAX_LEVELS = 3
TEMPORAL = ("convgru", "separable")


@dataclass(frozen=True)
class CVGConfig:
    """``models.cvg``: sizes have no defaults (params.yaml / profiles); channels, resolution and
    context_frames come from the benchmark."""

    channels: int = field(metadata=rule(min=1))
    resolution: int = field(metadata=rule(min=16))
    context_frames: int = field(metadata=rule(min=1))
    levels: int = field(metadata=rule(min=1, max=MAX_LEVELS))  # L (default profile 2, gpu/paper 3)
    g_width: int = field(metadata=rule(min=1))  # ch of App. 6.A: unit widths g_width · min(8, 64 / resolution)
    d_width: int = field(metadata=rule(min=1))  # the discriminators' first width, doubled per halving (at most 8x)
    z_dim: int = field(metadata=rule(min=1))  # one noise vector per video and level (thesis: 128)
    embed_dim: int = field(metadata=rule(min=1))  # the context's embedding, where the class embedding was
    frame_frames: int = field(metadata=rule(min=1))  # future frames the 2D discriminator sees (thesis: 8)
    temporal: str = field(default="separable", metadata=rule(choices=TEMPORAL))  # the upsampling levels' unit
    matching: bool = True  # the matching discriminator of the upsampling levels (Table 6.3)
    window: int = field(default=0, metadata=rule(min=0))  # coarse frames per upsampling level's crop; 0: all

    def validate(self) -> str | None:
        if self.resolution & (self.resolution - 1):
            return f"resolution must be a power of two, got {self.resolution}"
        if self.resolution >> (self.levels - 1) < 8:
            return f"levels: level 1 would be {self.resolution >> (self.levels - 1)} pixels wide; at least 8 needed"
        return None

    def factor(self, level: int) -> int:
        """Level ``level`` (1-based): 1/factor of the resolution, every factor-th frame."""
        return 2 ** (self.levels - level)

    def level_resolution(self, level: int) -> int:
        return self.resolution // self.factor(level)

    def level_context(self, level: int) -> int:
        """Context frames on level ``level``'s grid: c-1, c-1-f, ... >= 0."""
        return (self.context_frames - 1) // self.factor(level) + 1


def multipliers(resolution: int) -> list[int]:
    """App. 6.A's unit widths (in g_width) from 4×4 up to ``resolution``: [8, 8, 4, 2] at 32, [.., 1] at 64."""
    sizes = [4 * 2 ** i for i in range(resolution.bit_length() - 2)]
    return [max(1, min(8, 64 // r)) for r in sizes]


def level_context(frames: Tensor, context_frames: int, factor: int) -> Tensor:
    """The context frames of clips [B, T, C, H, W] on the grid of a level of ``factor``: frames
    c-1-k·f >= 0 (oldest first), area-downsampled by ``factor``."""
    return area_down(frames[:, list(range(context_frames - 1, -1, -factor))[::-1]], factor)


def level_view(frames: Tensor, context_frames: int, factor: int, future: int | None = None) -> tuple[Tensor, Tensor]:
    """(context, future) of clips [B, T, C, H, W] on the grid of a level of ``factor``: the context as
    ``level_context``, future frames c-1+j·f for j = 1 … ⌊(T - c)/f⌋ (or ``future`` of them >= 1)."""
    c = context_frames
    count = (frames.shape[1] - c) // factor if future is None else future
    if count < 1 or c - 1 + count * factor >= frames.shape[1]:
        raise GenvidError(f"a level of factor {factor} needs clips of at least {c + factor} frames "
                          f"({count} future frames asked), got {frames.shape[1]}")
    ahead = [c - 1 + j * factor for j in range(1, count + 1)]
    return level_context(frames, c, factor), area_down(frames[:, ahead], factor)


def coarse_to_fine(coarse: Tensor, frames: int) -> Tensor:
    """Coarse frames 0 … J' [B, J'+1, ...] (0: the last context frame) on the fine grid: fine frame
    j = 1 … ``frames`` takes coarse frame ⌊j/2⌋, the one at or before it."""
    index = torch.arange(1, frames + 1, device=coarse.device) // 2
    if int(index[-1]) >= coarse.shape[1]:
        raise GenvidError(f"{frames} fine frames need {int(index[-1]) + 1} coarse frames, got {coarse.shape[1]}")
    return coarse[:, index]


class ContextEncoder(nn.Module):
    """The context frames of a level [B, K, C, r, r], stacked as channels -> stride-2 convs down to
    4×4 -> the embedding [B, embed_dim]."""

    def __init__(self, in_channels: int, resolution: int, width: int, embed_dim: int):
        super().__init__()
        layers: list[nn.Module] = []
        channels, size = in_channels, resolution
        while size > 4:
            out = width * min(8, 2 ** (len(layers) // 2))
            layers += [sn(nn.Conv2d(channels, out, 4, 2, 1)), nn.ReLU()]
            channels, size = out, size // 2
        self.convs = nn.Sequential(*layers)
        self.out = sn(nn.Linear(channels * 16, embed_dim))

    def forward(self, context: Tensor) -> Tensor:
        return self.out(self.convs(context.flatten(1, 2)).flatten(1))


class LevelGenerator(nn.Module):
    """g_l: (z, context on the level's grid, J, coarse video on the fine grid or None) -> J frames in [-1, 1]."""

    def __init__(self, cfg: CVGConfig, level: int):
        super().__init__()
        self.cfg, self.level = cfg, level
        res, c = cfg.level_resolution(level), cfg.channels
        widths = [cfg.g_width * m for m in multipliers(res)]
        cond = cfg.z_dim + cfg.embed_dim
        self.encoder = ContextEncoder(cfg.level_context(level) * c, res, cfg.g_width, cfg.embed_dim)
        self.project = sn(nn.Linear(cond, widths[0] * 16))
        self.upsampling = level > 1
        ins = [widths[0]] + widths[:-1]
        self.temporal = nn.ModuleList(
            SeparableBlock(w, cond) if self.upsampling and cfg.temporal == "separable" else ConvGRU(w) for w in ins)
        self.blocks = nn.ModuleList(nn.ModuleList([GBlock(i, o, cond, upsample=k < len(widths) - 1),
                                                   GBlock(o, o, cond, upsample=False)])
                                    for k, (i, o) in enumerate(zip(ins, widths)))
        # the residual input: the coarse frame and the level's last context frame, 1×1-projected per unit
        self.residual = nn.ModuleList(sn(nn.Conv2d(2 * c, w, 1)) for w in widths) if self.upsampling else None
        self.head_norm = nn.BatchNorm2d(widths[-1])
        self.head = sn(nn.Conv2d(widths[-1], c, 3, padding=1))

    def forward(self, z: Tensor, context: Tensor, frames: int, coarse: Tensor | None = None) -> Tensor:
        """z [B, z_dim], context [B, K, C, r, r], coarse [B, frames, C, r', r'] (upsampling levels) ->
        [B, frames, C, r, r]."""
        b = z.shape[0]
        if (coarse is None) == self.upsampling:
            raise GenvidError(f"level {self.level} {'needs' if self.upsampling else 'takes no'} coarse video")
        y = torch.cat([z, self.encoder(context)], 1)
        y_frames = y.repeat_interleave(frames, 0)  # one row per frame, batch-major
        x = self.project(y).view(b, 1, -1, 4, 4).expand(b, frames, -1, 4, 4)
        if coarse is not None:
            res = self.cfg.level_resolution(self.level)
            last = context[:, -1:].expand(b, frames, *context.shape[2:])
            given = torch.cat([resize_to(coarse.flatten(0, 1), res), last.flatten(0, 1)], 1)  # [B·J, 2C, r, r]
        for k, (temporal, (block1, block2)) in enumerate(zip(self.temporal, self.blocks)):
            x = temporal(x) if isinstance(temporal, ConvGRU) else temporal(x, y_frames)
            h = block2(block1(x.flatten(0, 1), y_frames), y_frames)
            if self.residual is not None:
                h = h + self.residual[k](resize_to(given, h.shape[-1]))
            x = h.unflatten(0, (b, frames))
        out = self.head(F.relu(self.head_norm(x.flatten(0, 1))))
        return torch.tanh(out).unflatten(0, (b, frames))


def hinge(real: Tensor, fake: Tensor) -> Tensor:
    """The geometric GAN's discriminator loss (Lim & Ye 2017): E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]."""
    return F.relu(1 - real).mean() + F.relu(1 + fake).mean()


class CVGLevel(nn.Module):
    """One level: its generator and discriminators; ``loss`` returns one loss per optimiser ("g", "d")."""

    def __init__(self, cfg: CVGConfig, level: int):
        super().__init__()
        if not 1 <= level <= cfg.levels:
            raise GenvidError(f"level must be in 1 … {cfg.levels}, got {level}")
        self.cfg, self.level = cfg, level
        res, c = cfg.level_resolution(level), cfg.channels
        self.generator = LevelGenerator(cfg, level)
        self.frame_d = FrameDiscriminator(c, res, cfg.d_width)
        self.video_d = VideoDiscriminator(c, res // 2, cfg.d_width)
        self.matching_d = (VideoDiscriminator(2 * c, res // 2, cfg.d_width)
                           if level > 1 and cfg.matching else None)

    def optimizer_groups(self) -> dict[str, list[nn.Parameter]]:
        """The training loop steps "g", then "d", each on its own loss (genvid.train.loop)."""
        d = [p for name, p in self.named_parameters() if not name.startswith("generator.")]
        return {"g": list(self.generator.parameters()), "d": d}

    def _logits(self, context: Tensor, future: Tensor, pair: Tensor | None, picks: Tensor) -> Tensor:
        """Every discriminator output of a batch, concatenated: [B, frame_frames + 1 (+ 1)]."""
        b = future.shape[0]
        frames = future[torch.arange(b, device=future.device)[:, None], picks]  # [B, k, C, r, r]
        outs = [self.frame_d(frames.flatten(0, 1)).view(b, -1),
                self.video_d(area_down(torch.cat([context, future], 1), 2))[:, None]]
        if self.matching_d is not None and pair is not None:
            outs.append(self.matching_d(pair)[:, None])
        return torch.cat(outs, 1)

    def loss(self, frames: Tensor, coarse_fake: Tensor | None = None) -> tuple[dict[str, Tensor], dict[str, float]]:
        """Clips [B, T, C, H, W] in [-1, 1]; ``coarse_fake`` the previous level's sample for them
        [B, J', C, r', r'] (upsampling levels). Noise, the window and the 2D discriminator's frames
        come from the global RNG (the loop seeds it and restores it on resume)."""
        cfg, level = self.cfg, self.level
        f = cfg.factor(level)
        context, real = level_view(frames, cfg.context_frames, f)
        coarse_real = given = None
        if level > 1:
            if coarse_fake is None:
                raise GenvidError(f"level {level} trains on the previous level's samples (coarse_fake)")
            c_context, c_future = level_view(frames, cfg.context_frames, 2 * f, coarse_fake.shape[1])
            real_coarse = torch.cat([c_context[:, -1:], c_future], 1)
            fake_coarse = torch.cat([c_context[:, -1:], coarse_fake], 1)
            coarse_real = coarse_to_fine(real_coarse, real.shape[1])
            given = coarse_to_fine(fake_coarse, real.shape[1])
            if cfg.window and 2 * cfg.window < real.shape[1]:  # a temporal crop of the fine frames
                n = 2 * cfg.window
                start = int(torch.randint(0, real.shape[1] - n + 1, ()))
                real, coarse_real, given = (x[:, start:start + n] for x in (real, coarse_real, given))
        b, j = real.shape[:2]
        z = torch.randn(b, cfg.z_dim, device=frames.device)
        fake = self.generator(z, context, j, given)
        k = min(cfg.frame_frames, j)
        picks = torch.stack([torch.randperm(j)[:k] for _ in range(b)]).to(frames.device)

        def pair(fine: Tensor, coarse: Tensor | None) -> Tensor | None:
            return None if coarse is None else torch.cat([coarse, area_down(fine, 2)], 2)

        g_logits = self._logits(context, fake, pair(fake, given), picks)
        both = self._logits(torch.cat([context, context]), torch.cat([real, fake.detach()]),
                            None if given is None else torch.cat([pair(real, coarse_real), pair(fake.detach(), given)]),
                            torch.cat([picks, picks]))
        d_real, d_fake = both[:b], both[b:]
        scalars = {"d_real": float(d_real.detach().mean()), "d_fake": float(d_fake.detach().mean())}
        return {"g": -g_logits.mean(), "d": hinge(d_real, d_fake)}, scalars


class Cascade(nn.Module):
    """The trained levels' generators, run in order: the predictor's sampler (generate) and the
    source of an upsampling level's training inputs (``sample``)."""

    def __init__(self, generators: list[LevelGenerator]):
        super().__init__()
        self.generators = nn.ModuleList(generators)

    @property
    def cfg(self) -> CVGConfig:
        return self.generators[0].cfg

    def sample(self, context: Tensor, horizon: int, draw: Draw, levels: int | None = None) -> list[Tensor]:
        """Each level's video for the ``horizon`` frames after ``context`` [B, c, C, H, W] in [-1, 1]:
        level l's [B, ⌈horizon / f_l⌉, C, r_l, r_l], for the first ``levels`` levels (default: all)."""
        cfg = self.cfg
        outs: list[Tensor] = []
        for level, g in enumerate(self.generators[:levels], start=1):
            f = cfg.factor(level)
            ctx = level_context(context, cfg.context_frames, f)
            frames = -(-horizon // f)
            z = draw((context.shape[0], cfg.z_dim))
            coarse = None
            if level > 1:
                last = level_context(context, cfg.context_frames, 2 * f)[:, -1:]
                coarse = coarse_to_fine(torch.cat([last, outs[-1]], 1), frames)
            outs.append(g(z, ctx, frames, coarse))
        return outs

    def generate(self, context: Tensor, horizon: int, num_samples: int, generator: torch.Generator,
                 levels: bool = False) -> Tensor | list[Tensor]:
        """[B, num_samples, horizon, C, H, W] in [0, 1] from context [B, c, C, H, W] in [0, 1]; all
        noise from ``generator``. ``levels``: every level's output instead ([B, S, J_l, C, r_l, r_l])."""
        cfg = self.cfg
        if context.ndim != 5 or context.shape[1] != cfg.context_frames or tuple(context.shape[2:]) != (
                cfg.channels, cfg.resolution, cfg.resolution):
            raise GenvidError(f"context must be [B, {cfg.context_frames}, {cfg.channels}, {cfg.resolution}, "
                              f"{cfg.resolution}], got {list(context.shape)}")
        if len(self.generators) != cfg.levels:
            raise GenvidError(f"the cascade has {len(self.generators)} of its {cfg.levels} levels")
        b = context.shape[0]
        x = sample_rows(context, horizon, num_samples) * 2 - 1
        with torch.no_grad():
            outs = self.sample(x, horizon, normal_drawer(generator, x.device))
        unit = [((o + 1) / 2).unflatten(0, (b, num_samples)) for o in outs]
        return unit if levels else unit[-1][:, :, :horizon]

"""3D PixelSNAIL priors over VQ-VAE code indices (seed 000 §3.3.2, §4.3, §5.3; docs/design.md §6).

The prior models p(z) = prod_i p(z_i | z_<i) over a code grid [B, T, H, W] in raster order
(t, h, w). Building blocks, as in seed 000 Figs. 4.4-4.6, with the causal convolutions split
into three stacks so that they have no blind spot (below):

    codes --Embedding--> x0 --stem--> (f, v, h)   (+ conditioning on h, bottom prior)
    repeat `snail_blocks` times (one SNAIL block):
        (+ per-block conditioning on h, bottom prior)
        `res_blocks` x StackLayer, one gated residual per stack (Fig. 4.5):
            f <- f + a*sigmoid(b), [a, b] = Conv(ELU(FrameConv(ELU(f))))
            v <- v + ...               RowsConv(ELU(v)) + Link(ELU(f))
            h <- h + ...               RowConv(ELU(h))  + Link(ELU(v))
        attention (top prior only) on h: query from h, keys/values from [x0 || h || position],
            strictly causal (a position attends to earlier positions only), then a gated
            residual that mixes the attention output into h
    ELU(h) -> 1x1 conv -> logits over the K codes [B, K, T, H, W]

The three stacks (Gated PixelCNN's vertical/horizontal stacks, van den Oord et al. 2016,
extended to video by one more level; seed 000 §3.3.1 / Fig. 3.7 describes the 2D pair):

    f, the frame stack: at (t, h, w) it sees frames < t only. Its stem reads the k-1 previous
        frames (k x k window); each layer reads f at the full k x k window of frame t (which is
        allowed: f of frame t knows nothing of frame t) and at (t-1, h, w).
    v, the rows stack: sees the rows above in frame t, all columns, plus f. Its stem reads the
        r = k//2 rows above (k columns); each layer reads v at rows h-r..h (row h included: v
        there only knows rows < h), plus a 1x1 link from f at (t, h, w).
    h, the row stack: sees row h of frame t left of w, plus v. Its stem reads the r codes to the
        left; each layer reads h at columns w-r..w, plus a 1x1 link from v at (t, h, w).
    The stems are summed (v += f, h += v), so h's stem reads exactly the taps of a mask-A
    k x k x k conv.

Causality: f(t) depends on codes in frames < t, v(t, h) on codes before row (t, h), h(t, h, w)
on codes before (t, h, w) (induction over the layers: every tap reads a feature whose support
lies in that set). Attention reads x0 and h at j < i. The logits at i therefore never depend
on code i or later (tests check this, by perturbation and by gradients).

No blind spot. A single masked k x k x k conv stack (what this module used before) sees, in
frame t, the rows above only within a cone widening by r columns per row, so the upper-right
of the current frame is never seen; and it reaches an earlier frame's lower rows only r rows
per frame step, so the top of frame t never sees the bottom of frame t-1. Here f spreads freely
in all four directions inside frame t, v across the full width of the rows above, h along the
row: the receptive field of position i is every earlier position within reach (r positions
per layer in h and w, one frame per layer in t, plus the stems' k-1 frames), with no holes. On
a grid the stacks can span (a test: every position of a 3x4x4 grid with 4 layers), every
earlier position reaches every later one. Beyond that reach the bottom prior, which has no
attention, is limited by depth as any conv net is; the top prior's attention covers the clip.

Sizes. Seed 000 Table 5.4 (top: 256 channels, 4/6/8 residual blocks per SNAIL block, 5 SNAIL
blocks, key 16, value 128) gives 34M/50M/60M parameters. The thesis's residual layer has one
stack; here one "residual block" of the table is one StackLayer (all three stacks), and each
stack keeps the thesis's layer: a causal first conv and a pointwise conv for the gate ("the
output of the first convolution is fed into two separate convolutions", §4.3.1). Per layer, in
units of C^2 weights: frame conv 10 taps (9 in frame t, 1 in frame t-1), rows conv 6 (2 rows x
3 columns), row conv 2, two 1x1 links 1 each, three gate convs (C -> 2C) 2 each: 26 C^2, 1.71M
at C = 256 (the single masked stack it replaces had 23 + 2 = 25). The frame stack steps back
one frame per layer (one temporal tap) rather than k-1 (a k-frame box, 27 C^2 per layer in
all): that keeps the thesis's count, and 30 layers step back far more than the top grid's 4
frames. With the stems (22 C^2 = 1.44M), attention (0.31M per SNAIL block), embedding and head
(0.26M), the 6-block top prior has 54.5M parameters (4/8 blocks: 37.4M/71.5M). The bottom
prior (102M in §5.3.2; seed 002 Table 6.1 is comparable) gets 5 SNAIL blocks x 8 layers
(68.3M) and a deep conditioning stack of 15 residual blocks on the top grid (§5.3.2: "the
residual conditioning stack is made quite deep"; 32.5M with its embedding, 3x3x3 in/out convs
and per-block projections): 102.5M with stems, embedding and head. Weight normalisation
(PixelSNAIL) is not used; seed 000 does not mention it.

Kernels (issue 25: a GPU launches one or more per ATen op). Every tensor stays channels-first
[B, C, T, H, W]: each causal conv is one padded convolution (its taps scattered into the box only
where they do not fill it, the frame conv's 10 of 18), each 1x1 conv one batched product W x
(the link summed into conv1's output by the same product), dropout one op, the gate's
x + a*sigmoid(b) one addcmul. At the thesis sizes that cut the ATen ops of a training step by
a fifth to a third (benchmarks/gpu_estimates.py); the three stacks' convs stay three, as their
tap windows differ (one grouped conv over the union of the windows would cost about twice the FLOPs).
With params device.compile, the stems, each SNAIL block and the conditioning stack are compiled for
training (genvid.device.compile_units): Inductor fuses the elementwise ops around the convs and products
(and builds the causal kernels from static pads, genvid.models.vq.causal_conv), and the ATen ops a step
dispatches fall about 4-fold (benchmarks/prior_ops.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from genvid.config import parse_config, rule
from genvid.errors import GenvidError, ParamError
from genvid.models.store import register_kind
from genvid.models.vq.causal_conv import CausalConv3d, Shape3, frame_taps, row_taps, rows_taps


@dataclass(frozen=True)
class PixelSNAILConfig:
    """A prior's config (genvid.config). Sizes have no defaults: params.yaml / profiles give them;
    ``num_codes``, ``shape``, ``attention`` and the ``cond_*`` grid come from the latent file and
    the level (genvid.models.vq.priors.prior_config)."""

    num_codes: int = field(metadata=rule(min=1))  # K, codebook size of the codes being modelled
    shape: Shape3  # code grid (T, H, W) this prior models
    channels: int = field(metadata=rule(min=1))
    res_blocks: int = field(metadata=rule(min=1))  # gated residual layers per SNAIL block
    snail_blocks: int = field(metadata=rule(min=1))
    kernel_size: int = field(metadata=rule(min=3))  # causal window: frames t-k+1..t, rows/cols centred
    attention: bool  # top prior: yes; bottom prior: no (seed 000 §4.3.2)
    heads: int = field(default=1, metadata=rule(min=1))
    key_channels: int = field(default=16, metadata=rule(min=1))  # per head (PixelSNAIL: 16)
    value_channels: int = field(default=64, metadata=rule(min=1))  # per head (PixelSNAIL / thesis: 128)
    dropout: float = field(default=0.0, metadata=rule(min=0.0, max=1.0, exclusive_max=True))
    # recompute each SNAIL block in the backward pass instead of keeping its activations (issue 25:
    # the thesis bottom prior at batch 8 on one GPU); the same gradients, bit for bit, for ~1/3 more compute
    checkpoint: bool = False
    # conditioning on the top codes (bottom prior); cond_shape None = unconditional
    cond_shape: Shape3 | None = None
    cond_num_codes: int = field(default=0, metadata=rule(min=0))  # 0 = same K as num_codes
    cond_channels: int = field(default=0, metadata=rule(min=0))  # 0 = same as channels
    cond_res_blocks: int = field(default=0, metadata=rule(min=0))
    cond_every_block: bool = True  # also add (a projection of) the condition to each SNAIL block
    # per-frame actions (vq_action, issue 24); 0 = none. ``action_stride`` frames make one code step
    # (set from the latent file); mean/std standardise them (the training split's, set by train)
    actions: int = field(default=0, metadata=rule(min=0))
    action_stride: int = field(default=0, metadata=rule(min=0))
    action_mean: tuple[float, ...] | None = None
    action_std: tuple[float, ...] | None = None

    @classmethod
    def from_dict(cls, params: dict, section: str = "prior", source: str | None = None) -> "PixelSNAILConfig":
        """Build from a params.yaml mapping; unknown keys and bad values raise one ParamError line."""
        return parse_config(cls, params, section, source)

    def validate(self) -> str | None:
        if self.kernel_size % 2 == 0:
            return f"kernel_size must be odd and >= 3, got {self.kernel_size}"
        for key in ("shape", "cond_shape"):
            value = getattr(self, key)
            if value is not None and min(value) < 1:
                return f"{key} must be three positive integers (T, H, W), got {list(value)}"
        if self.cond_shape is not None and any(b % c for b, c in zip(self.shape, self.cond_shape)):
            return f"shape: code grid {self.shape} is not a multiple of the top grid {self.cond_shape}"
        if self.actions and self.action_stride < 1:
            return f"action_stride must be >= 1 (frames per code step) when actions is set, got {self.action_stride}"
        for key in ("action_mean", "action_std"):
            value = getattr(self, key)
            if value is not None and len(value) != self.actions:
                return f"{key} must have {self.actions} values (one per action column), got {len(value)}"
        if self.action_std is not None and min(self.action_std) <= 0:
            return f"action_std must be positive, got {list(self.action_std)}"
        return None

    @property
    def action_frames(self) -> int:
        """Frames of per-frame actions the prior reads with a code grid (0 without actions)."""
        return self.shape[0] * self.action_stride if self.actions else 0

    @property
    def length(self) -> int:
        t, h, w = self.shape
        return t * h * w

    @property
    def cond_codes(self) -> int:
        return self.cond_num_codes or self.num_codes

    def check_condition(self, top: "PixelSNAILConfig") -> None:
        """One-line GenvidError unless this (bottom) prior was built for ``top``'s grid and K."""
        if self.cond_shape is None:
            raise GenvidError("this prior is unconditional (a top prior); it takes no top prior's codes")
        if tuple(self.cond_shape) != tuple(top.shape) or self.cond_codes != top.num_codes:
            raise GenvidError(f"the bottom prior was built for top codes on grid {tuple(self.cond_shape)} with "
                              f"K={self.cond_codes}, but the top prior models grid {tuple(top.shape)} with "
                              f"K={top.num_codes}")


class Pointwise(nn.Linear):
    """1x1x1 conv (PixelSNAIL's "nin") on [B, C, *grid]: W x for each clip, one batched matrix product
    over all positions in the channels-first layout the causal convs read, so no transposed copy is
    made; ``add`` (e.g. a conv's output) is summed into the product in place of the bias. A matrix
    product rather than Conv3d because then every position's output is the same bits whether the
    grid is a whole clip or a few positions (the fast sampler relies on it; CPU Conv3d switches
    algorithms with the number of positions)."""

    def forward(self, x: torch.Tensor, add: torch.Tensor | None = None) -> torch.Tensor:
        flat, weight = x.flatten(2), self.weight.expand(x.shape[0], -1, -1)
        summand = None if add is None else add.flatten(2)
        if self.bias is not None:
            summand = self.bias[:, None] if summand is None else summand + self.bias[:, None]
        out = torch.bmm(weight, flat) if summand is None else torch.baddbmm(summand, weight, flat)
        return out.view(x.shape[0], -1, *x.shape[2:])


def pointwise(cin: int, cout: int, bias: bool = True) -> Pointwise:
    return Pointwise(cin, cout, bias=bias)


class Dropout(nn.Dropout):
    """nn.Dropout as one ATen op on every device (torch.native_dropout, which F.dropout takes on a
    GPU but replaces by four ops on the CPU): the same masks and values (tests/test_pixelsnail3d.py)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        return torch.native_dropout(x, self.p, True)[0]


class GatedResidual(nn.Module):
    """Residual layer of seed 000 Fig. 4.5: x + a*sigmoid(b), [a, b] = conv2(ELU(conv1(ELU(x)) [+ aux])).
    `aux` is the stacks' 1x1 link (or the attention output) added before the gate; the link has no
    bias of its own, conv1's is added to the same sum."""

    def __init__(self, channels: int, conv1: nn.Module, dropout: float, aux_channels: int = 0):
        super().__init__()
        self.conv1 = conv1
        self.aux = pointwise(aux_channels, channels, bias=False) if aux_channels else None
        self.drop = Dropout(dropout)
        self.conv2 = pointwise(channels, 2 * channels)

    def forward(self, x: torch.Tensor, aux: torch.Tensor | None = None) -> torch.Tensor:
        return self.gate(x, self.conv1(F.elu(x)), None if aux is None else F.elu(aux))

    def gate(self, x: torch.Tensor, c: torch.Tensor, elu_aux: torch.Tensor | None = None) -> torch.Tensor:
        """Everything after conv1, given its output c and ELU(aux); pointwise, so the fast sampler
        runs it on a few positions (the ELUs on whole frames or rows: an elementwise kernel rounds
        a strided piece of a tensor otherwise than the whole)."""
        if self.aux is not None:
            c = self.aux(elu_aux, add=c)
        a, b = self.conv2(self.drop(F.elu(c))).chunk(2, dim=1)
        return torch.addcmul(x, a, torch.sigmoid(b))


class Stem(nn.Module):
    """The three stacks' first convs on the embedded codes; v includes f, h includes v."""

    compile_unit = True  # params device.compile: the pads and sums fuse around the three convs

    def __init__(self, c: int, k: int):
        super().__init__()
        self.frame = CausalConv3d(c, c, frame_taps(k, stem=True))
        self.rows = CausalConv3d(c, c, rows_taps(k, stem=True))
        self.row = CausalConv3d(c, c, row_taps(k, stem=True))

    def forward(self, x0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        f = self.frame(x0)
        v = self.rows(x0) + f
        return f, v, self.row(x0) + v


class StackLayer(nn.Module):
    """One residual layer of the three stacks (one "residual block" of seed 000 Table 5.4)."""

    def __init__(self, c: int, k: int, dropout: float):
        super().__init__()
        self.frame = GatedResidual(c, CausalConv3d(c, c, frame_taps(k, stem=False)), dropout)
        self.rows = GatedResidual(c, CausalConv3d(c, c, rows_taps(k, stem=False)), dropout, aux_channels=c)
        self.row = GatedResidual(c, CausalConv3d(c, c, row_taps(k, stem=False)), dropout, aux_channels=c)

    def forward(self, f: torch.Tensor, v: torch.Tensor,
                h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        f = self.frame(f)
        v = self.rows(v, f)
        return f, v, self.row(h, v)


def positions(shape: Shape3) -> torch.Tensor:
    """Fixed 3D positional channels [3, T, H, W]: t, h, w scaled to [-0.5, 0.5] (PixelSNAIL's background)."""
    axes = [torch.linspace(-0.5, 0.5, n) if n > 1 else torch.zeros(1) for n in shape]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"))


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, allowed: torch.Tensor,
           drop: nn.Module) -> torch.Tensor:
    """q [B, h, M, dk] over keys k [B, h, dk, N] and values v [B, h, dv, N]; allowed [M, N] (True =
    may attend). A query with no allowed key (the first position) gets zeros. Shared by the
    full forward (M = N) and the fast sampler (M = a few positions) so both do the same ops."""
    scores = torch.matmul(q, k) * (1.0 / math.sqrt(q.shape[-1]))
    scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
    probs = torch.softmax(scores, dim=-1).masked_fill(~allowed, 0.0)
    return torch.matmul(drop(probs), v.transpose(-1, -2))  # [B, h, M, dv]


class CausalAttention(nn.Module):
    """Seed 000 Fig. 4.6: 1x1 convs make query (from h), keys and values (from [x0 || h]),
    both with positional channels; masked so position i attends to positions j < i only."""

    def __init__(self, cfg: PixelSNAILConfig):
        super().__init__()
        c, self.heads = cfg.channels, cfg.heads
        self.query = pointwise(c + 3, cfg.heads * cfg.key_channels)
        self.key = pointwise(2 * c + 3, cfg.heads * cfg.key_channels)
        self.value = pointwise(2 * c + 3, cfg.heads * cfg.value_channels)
        self.drop = Dropout(cfg.dropout)

    def keys_values(self, x0: torch.Tensor, h: torch.Tensor, pos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        src = torch.cat([x0, h, pos], dim=1)
        return self.key(src), self.value(src)  # [B, heads*d, ...]

    def split(self, x: torch.Tensor) -> torch.Tensor:  # [B, heads*d, ...] -> [B, heads, d, n]
        return x.reshape(x.shape[0], self.heads, -1, math.prod(x.shape[2:]))

    def forward(self, x0: torch.Tensor, h: torch.Tensor, pos: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        k, v = self.keys_values(x0, h, pos)
        return self.attend(self.query(torch.cat([h, pos], dim=1)), k, v, allowed)

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        """q [B, heads*dk, *grid] against flat k/v [B, heads, d, N]; returns [B, heads*dv, *grid]."""
        k, v = k if k.dim() == 4 else self.split(k), v if v.dim() == 4 else self.split(v)
        out = attend(self.split(q).transpose(-1, -2), k, v, allowed, self.drop)
        return out.transpose(-1, -2).reshape(q.shape[0], -1, *q.shape[2:])


class SnailBlock(nn.Module):
    """Seed 000 Fig. 4.4: residual layers (of the three stacks), then (top prior) attention on
    the row stack h, mixed in by a gated residual."""

    compile_unit = True  # params device.compile: one compiled graph serves every block (genvid.device)

    def __init__(self, cfg: PixelSNAILConfig):
        super().__init__()
        c = cfg.channels
        self.layers = nn.ModuleList(StackLayer(c, cfg.kernel_size, cfg.dropout) for _ in range(cfg.res_blocks))
        self.attn = CausalAttention(cfg) if cfg.attention else None
        aux = cfg.heads * cfg.value_channels
        self.attn_out = GatedResidual(c, pointwise(c, c), cfg.dropout, aux) if cfg.attention else None

    def forward(self, f: torch.Tensor, v: torch.Tensor, h: torch.Tensor, x0: torch.Tensor,
                pos: torch.Tensor | None, allowed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        for layer in self.layers:
            f, v, h = layer(f, v, h)
        if self.attn is not None:
            h = self.attn_out(h, self.attn(x0, h, pos, allowed))
        return f, v, h


class Conditioning(nn.Module):
    """Top codes -> features on the bottom grid (seed 000 §4.3.2): embedding, a residual stack
    on the top grid (non-causal: all top codes are given), nearest upsampling, 3x3x3 conv;
    one pointwise projection per SNAIL block when `cond_every_block`."""

    compile_unit = True

    def __init__(self, cfg: PixelSNAILConfig):
        super().__init__()
        cc, c = cfg.cond_channels or cfg.channels, cfg.channels
        self.shape = cfg.shape
        self.embed = nn.Embedding(cfg.cond_codes, cc)
        self.conv_in = nn.Conv3d(cc, cc, 3, padding=1)
        self.layers = nn.ModuleList(
            GatedResidual(cc, nn.Conv3d(cc, cc, 3, padding=1), cfg.dropout) for _ in range(cfg.cond_res_blocks))
        self.conv_out = nn.Conv3d(cc, c, 3, padding=1)
        n = cfg.snail_blocks if cfg.cond_every_block else 0
        self.per_block = nn.ModuleList(pointwise(c, c) for _ in range(n))

    def forward(self, cond: torch.Tensor) -> list[torch.Tensor]:
        """Returns [added to the stem output, then one per SNAIL block (or none)]."""
        h = self.conv_in(self.embed(cond).permute(0, 4, 1, 2, 3))
        for layer in self.layers:
            h = layer(h)
        h = self.conv_out(F.elu(F.interpolate(h, size=self.shape, mode="nearest")))
        return [h] + [proj(h) for proj in self.per_block]


class ActionConditioning(nn.Module):
    """Per-frame actions -> features on the code grid (vq_action, issue 24; genvid's, not seed 000's).

    Frame t of the window is reached by the action after frame t-1, so code step s reads the
    standardised a_{t-1} of its ``action_stride`` frames t (the window's first frame, whose action
    lies before the window, reads 0: the training mean), concatenated: [B, T', stride * A] ->
    Linear -> ELU -> Linear, one vector per code step, broadcast over the step's H' x W' positions
    and added to the row stack h like the top codes' condition: at the stem and, through one linear
    projection each, at every SNAIL block. Actions are known for every frame, future ones included
    (the user's steering), so reading them breaks no causality of the codes."""

    def __init__(self, cfg: PixelSNAILConfig):
        super().__init__()
        c, self.cfg = cfg.channels, cfg
        self.embed = nn.Sequential(nn.Linear(cfg.action_stride * cfg.actions, c), nn.ELU(), nn.Linear(c, c))
        self.per_block = nn.ModuleList(nn.Linear(c, c) for _ in range(cfg.snail_blocks))
        stats = (cfg.action_mean, cfg.action_std)
        mean, std = (torch.tensor(v, dtype=torch.float32) if v is not None else None for v in stats)
        self.register_buffer("mean", mean if mean is not None else torch.zeros(cfg.actions), persistent=False)
        self.register_buffer("std", std if std is not None else torch.ones(cfg.actions), persistent=False)

    def steps(self, actions: torch.Tensor) -> torch.Tensor:
        """Raw per-frame actions [B, T' * stride, A] -> one input row per code step [B, T', stride * A]."""
        a = (actions.float() - self.mean) / self.std
        a = torch.cat([torch.zeros_like(a[:, :1]), a[:, :-1]], dim=1)  # frame t reads a_{t-1}
        return a.reshape(a.shape[0], self.cfg.shape[0], -1)

    def forward(self, actions: torch.Tensor) -> list[torch.Tensor]:
        """[added to the stem output, then one per SNAIL block], each [B, C, T', H', W'] (a broadcast view)."""
        e = self.embed(self.steps(actions))  # [B, T', C]
        grid = (-1, -1, -1, *self.cfg.shape[1:])
        return [x.movedim(-1, 1)[..., None, None].expand(*grid) for x in [e] + [p(e) for p in self.per_block]]


def combine(*conditions: list[torch.Tensor]) -> list[torch.Tensor]:
    """Lists of additive conditions ([stem, block 1, ...]) summed entry by entry; a shorter list adds
    nothing past its end."""
    out: list[torch.Tensor] = []
    for cond in conditions:
        for i, x in enumerate(cond):
            if i < len(out):
                out[i] = out[i] + x
            else:
                out.append(x)
    return out


class PixelSNAIL3d(nn.Module):
    def __init__(self, cfg: PixelSNAILConfig):
        super().__init__()
        cfg.validate()
        self.config = cfg
        c = cfg.channels
        self.embed = nn.Embedding(cfg.num_codes, c)
        self.stem = Stem(c, cfg.kernel_size)
        self.cond = Conditioning(cfg) if cfg.cond_shape is not None else None
        self.action = ActionConditioning(cfg) if cfg.actions else None
        self.blocks = nn.ModuleList(SnailBlock(cfg) for _ in range(cfg.snail_blocks))
        self.head = pointwise(c, cfg.num_codes)
        self.register_buffer("pos", positions(cfg.shape).unsqueeze(0), persistent=False)
        n = cfg.length if cfg.attention else 0  # allowed[i, j]: position i may attend to j < i
        self.register_buffer("allowed", torch.ones(n, n, dtype=torch.bool).tril(-1), persistent=False)

    def embed_codes(self, codes: torch.Tensor) -> torch.Tensor:
        return self.embed(codes).permute(0, 4, 1, 2, 3).contiguous()  # [B, C, T, H, W]

    def forward(self, codes: torch.Tensor, cond: torch.Tensor | None = None,
                actions: torch.Tensor | None = None) -> torch.Tensor:
        """codes [B, T, H, W] (long) -> logits [B, K, T, H, W]; `cond`: top codes (bottom prior);
        `actions`: per-frame actions [B, T * action_stride, A] (a prior built with ``actions``)."""
        return self.logits(codes, self.conditions(cond, actions))

    def conditions(self, cond: torch.Tensor | None = None, actions: torch.Tensor | None = None) -> list[torch.Tensor]:
        """What the row stack h adds: [at the stem, at SNAIL block 1, ...] (empty when unconditional)."""
        return combine(self.cond(cond) if self.cond is not None else [],
                       self.action(actions) if self.action is not None else [])

    def logits(self, codes: torch.Tensor, conds: list[torch.Tensor]) -> torch.Tensor:
        """The network on the codes, given ``conditions``' output."""
        x0 = self.embed_codes(codes)
        f, v, h = self.stem(x0)
        if conds:  # the condition is known everywhere: it goes to h, the stack the logits come from
            h = h + conds[0]
        pos = self.pos.expand(codes.shape[0], -1, -1, -1, -1) if self.config.attention else None
        recompute = self.config.checkpoint and torch.is_grad_enabled()
        for i, block in enumerate(self.blocks):
            if len(conds) > 1:
                h = h + conds[1 + i]
            if recompute:  # the RNG state is restored for the recomputation: dropout draws the same masks
                f, v, h = checkpoint(block, f, v, h, x0, pos, self.allowed, use_reentrant=False)
            else:
                f, v, h = block(f, v, h, x0, pos, self.allowed)
        return self.head(F.elu(h))

    def check_inputs(self, codes: torch.Tensor, cond: torch.Tensor | None = None,
                     actions: torch.Tensor | None = None) -> None:
        """One-line GenvidError for codes/cond/actions this prior cannot take (shape, dtype, index >= K,
        a top grid other than the one the bottom prior was built for, actions it does not read)."""
        cfg = self.config
        _check_codes("latent codes", codes, cfg.shape, cfg.num_codes)
        if not cfg.actions and actions is not None:
            raise GenvidError("this prior reads no actions (built without models.<m>.prior_*.actions), but actions "
                              "were given")
        if cfg.actions:
            expected = [codes.shape[0], cfg.action_frames, cfg.actions]
            if actions is None:
                raise GenvidError(f"this prior is conditioned on per-frame actions: it needs actions {expected}")
            if not actions.dtype.is_floating_point or list(actions.shape) != expected:
                raise GenvidError(f"actions must be float {expected} (batch, frames of the code grid, columns), "
                                  f"got {actions.dtype} {list(actions.shape)}")
        if cfg.cond_shape is None:
            if cond is not None:
                raise GenvidError("this prior is unconditional (top prior) but cond codes were given")
            return
        if cond is None:
            raise GenvidError("the bottom prior needs the top codes as cond, got none")
        if cond.dim() == 4 and tuple(cond.shape[1:]) != tuple(cfg.cond_shape):
            raise GenvidError(f"cond (top) codes are on grid {tuple(cond.shape[1:])} but this bottom prior was "
                              f"built for the top grid {tuple(cfg.cond_shape)}")
        _check_codes("cond (top) codes", cond, cfg.cond_shape, cfg.cond_codes)
        if cond.shape[0] != codes.shape[0]:
            raise GenvidError(f"cond has batch size {cond.shape[0]} but the codes have {codes.shape[0]}")

    def loss(self, codes: torch.Tensor, cond: torch.Tensor | None = None,
             actions: torch.Tensor | None = None) -> torch.Tensor:
        """Cross-entropy over the K codes: mean nats per code."""
        return code_cross_entropy(self(codes, cond, actions), codes)


def code_cross_entropy(logits: torch.Tensor, codes: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """``F.cross_entropy(logits, codes, reduction=...)`` for logits [B, K, *grid] and codes [B, *grid],
    computed as the one-dimensional NLL over the flattened positions. On CUDA, cross-entropy over a
    grid dispatches nll_loss2d, whose reduction accumulates with atomics and raises under
    torch.use_deterministic_algorithms; the flat NLL reduces in one block (deterministic). The
    log-softmax still runs over dim 1 of the grid layout, so on CPU the values and gradients are
    bitwise those of F.cross_entropy (tests/test_pixelsnail3d.py). Half-precision logits are
    taken to float32 first, as autocast does for cross_entropy. ``reduction="none"``: [B, *grid]."""
    if reduction not in ("mean", "sum", "none"):
        raise GenvidError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if logits.dim() < 2 or codes.shape != logits.shape[:1] + logits.shape[2:]:
        raise GenvidError(f"logits of shape {list(logits.shape)} do not match codes of shape {list(codes.shape)} "
                          "(expected logits [B, K, ...] and codes [B, ...])")
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()
    k = logits.shape[1]
    log_probs = F.log_softmax(logits, dim=1).movedim(1, -1).reshape(-1, k)
    nll = F.nll_loss(log_probs, codes.reshape(-1), reduction=reduction)
    return nll.reshape(codes.shape) if reduction == "none" else nll


def _check_codes(what: str, codes: torch.Tensor, shape: Shape3, k: int) -> None:
    if codes.dim() != 4 or tuple(codes.shape[1:]) != tuple(shape):
        expected = ", ".join(str(n) for n in shape)
        raise GenvidError(f"{what} have shape {list(codes.shape)} but the prior expects [B, {expected}]")
    if codes.dtype.is_floating_point or codes.dtype.is_complex or codes.dtype == torch.bool:
        raise GenvidError(f"{what} must be integer indices, got dtype {codes.dtype}")
    if codes.numel():
        low, high = int(codes.min()), int(codes.max())
        if low < 0 or high >= k:
            raise GenvidError(f"{what} contain index {high if high >= k else low} but the prior has K={k}")


def bits_per_code(nats: float | torch.Tensor) -> float | torch.Tensor:
    return nats / math.log(2.0)


def count_parameters(cfg: PixelSNAILConfig) -> int:
    """Parameter count without allocating memory (built on the meta device)."""
    with torch.device("meta"):
        model = PixelSNAIL3d(cfg)
    return sum(p.numel() for p in model.parameters())


def _stored(config: dict) -> nn.Module:
    return PixelSNAIL3d(PixelSNAILConfig.from_dict(config))


register_kind("pixelsnail3d_top", _stored)  # its model files, one kind per level (genvid.models.store)
register_kind("pixelsnail3d_bottom", _stored)

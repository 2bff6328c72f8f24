"""3D PixelSNAIL priors over VQ-VAE code indices (seed 000 §3.3.2, §4.3, §5.3; SPEC §6).

The prior models p(z) = prod_i p(z_i | z_<i) over a code grid [B, T, H, W] in raster order
(t, h, w). Building blocks, as in seed 000 Figs. 4.4-4.6:

    codes --Embedding--> x0 --CausalConv3d(mask A)--> h (+ conditioning, bottom prior)
    repeat `snail_blocks` times (one SNAIL block):
        (+ per-block conditioning, bottom prior)
        `res_blocks` x GatedResidual: h + a*sigmoid(b), [a, b] = Conv(ELU(Conv(ELU(h))))
        attention (top prior only): query from h, keys/values from [x0 || h || position],
            strictly causal (a position attends to earlier positions only), then a gated
            residual that mixes the attention output into h
    ELU -> 1x1 conv -> logits over the K codes [B, K, T, H, W]

Causality: the stem conv never sees the centre (mask A) and every later conv sees positions
<= the centre (mask B), so the features at i depend on codes < i only; attention reads codes
at j < i. The logits at i therefore never depend on code i or later (tests check this).
Masked convs (rather than PixelSNAIL's shifted "down"/"down-right" pair) keep one conv per
layer and make the fast sampler's windows plain boxes. Their blind spot is the upper-right
triangle of the current frame only (earlier frames are seen in full); attention covers it
in the top prior. Weight normalisation (PixelSNAIL) is not used; seed 000 does not mention it.

Sizes. Seed 000 Table 5.4 (top: 256 channels, 4/6/8 residual blocks per SNAIL block,
5 SNAIL blocks, key 16, value 128) gives 34M/50M/60M parameters. We use a causal 3x3x3 conv
(23 causal taps) as the first conv of each residual layer and a pointwise conv for the
gate's second conv ("the output of the first convolution is fed into two separate
convolutions", §4.3.1): 25*C^2 = 1.64M per residual layer, so the 6-block profile has 52.4M
parameters (4/8 blocks: 36.0M/68.8M). Two causal 3x3x3 convs per layer would give ~139M, far
off the thesis count. The bottom prior (102M in §5.3.2; seed 002 Table 6.1 is comparable) gets
5 SNAIL blocks x 8 residual layers and a deep conditioning stack of 15 residual blocks on the
top grid (§5.3.2: "the residual conditioning stack is made quite deep"): 99.8M.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genvid.errors import GenvidError, ParamError

Shape3 = tuple[int, int, int]


@dataclass(frozen=True)
class PixelSNAILConfig:
    num_codes: int = 128  # K, codebook size of the codes being modelled
    shape: Shape3 = (4, 8, 8)  # code grid (T, H, W) this prior models
    channels: int = 64
    res_blocks: int = 2  # gated residual layers per SNAIL block
    snail_blocks: int = 2
    kernel_size: int = 3  # causal k x k x k box: frames t-k+1..t, rows/cols centred
    attention: bool = True  # top prior: yes; bottom prior: no (seed 000 §4.3.2)
    heads: int = 1
    key_channels: int = 16  # per head (PixelSNAIL: 16)
    value_channels: int = 64  # per head (PixelSNAIL / thesis: 128)
    dropout: float = 0.1
    # conditioning on the top codes (bottom prior); cond_shape None = unconditional
    cond_shape: Shape3 | None = None
    cond_num_codes: int = 0  # 0 = same K as num_codes
    cond_channels: int = 0  # 0 = same as channels
    cond_res_blocks: int = 2
    cond_every_block: bool = True  # also add (a projection of) the condition to each SNAIL block

    @classmethod
    def from_dict(cls, params: dict, section: str = "prior") -> "PixelSNAILConfig":
        """Build from a params.yaml mapping; unknown keys and bad values raise ParamError."""
        known = {f.name for f in dataclasses.fields(cls)}
        for key in params:
            if key not in known:
                raise ParamError(f"{section}.{key} is not a known parameter (known: {', '.join(sorted(known))})")
        values = dict(params)
        for key in ("shape", "cond_shape"):
            if values.get(key) is not None:
                if not isinstance(values[key], (list, tuple)):
                    raise ParamError(f"{section}.{key} must be a list [T, H, W], got {values[key]!r}")
                values[key] = tuple(values[key])
        config = cls(**values)
        config.validate(section)
        return config

    def validate(self, section: str = "prior") -> None:
        ints = ("num_codes", "channels", "res_blocks", "snail_blocks", "kernel_size", "heads",
                "key_channels", "value_channels", "cond_num_codes", "cond_channels", "cond_res_blocks")
        for key in ints:
            value = getattr(self, key)
            minimum = 0 if key in ("cond_num_codes", "cond_channels", "cond_res_blocks") else 1
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                raise ParamError(f"{section}.{key} must be an integer >= {minimum}, got {value!r}")
        if self.kernel_size < 3 or self.kernel_size % 2 == 0:
            raise ParamError(f"{section}.kernel_size must be odd and >= 3, got {self.kernel_size}")
        for key in ("attention", "cond_every_block"):
            if not isinstance(getattr(self, key), bool):
                raise ParamError(f"{section}.{key} must be true or false, got {getattr(self, key)!r}")
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)) or not 0 <= self.dropout < 1:
            raise ParamError(f"{section}.dropout must be in [0, 1), got {self.dropout!r}")
        for key in ("shape", "cond_shape"):
            value = getattr(self, key)
            if value is None and key == "cond_shape":
                continue
            if len(value) != 3 or any(not isinstance(v, int) or v < 1 for v in value):
                raise ParamError(f"{section}.{key} must be three positive integers (T, H, W), got {value!r}")
        if self.cond_shape is not None and any(b % c for b, c in zip(self.shape, self.cond_shape)):
            raise ParamError(f"{section}: code grid {self.shape} is not a multiple of the top grid {self.cond_shape}")

    @property
    def length(self) -> int:
        t, h, w = self.shape
        return t * h * w

    @property
    def cond_codes(self) -> int:
        return self.cond_num_codes or self.num_codes


# Profiles (SPEC §6). The default profile runs on a CPU; the thesis profile is seed 000's.
PROFILES: dict[str, dict] = {
    "top_default": dict(num_codes=128, shape=(4, 8, 8), channels=64, res_blocks=2, snail_blocks=2),
    "bottom_default": dict(num_codes=128, shape=(8, 16, 16), channels=64, res_blocks=2, snail_blocks=2,
                           attention=False, cond_shape=(4, 8, 8), cond_res_blocks=2),
    "top_thesis": dict(num_codes=512, shape=(4, 32, 32), channels=256, res_blocks=6, snail_blocks=5,
                       heads=1, key_channels=16, value_channels=128),
    "bottom_thesis": dict(num_codes=512, shape=(8, 64, 64), channels=256, res_blocks=8, snail_blocks=5,
                          attention=False, cond_shape=(4, 32, 32), cond_res_blocks=15),
}


def causal_taps(k: int, mask: str) -> torch.Tensor:
    """Flat indices into a k*k*k box of the taps a causal conv may use (mask 'A' or 'B')."""
    r, taps = k // 2, []
    for tau in range(k):  # box frame tau is frame t-k+1+tau; tau = k-1 is the current frame
        for a in range(k):
            for b in range(k):
                current = tau == k - 1
                if not current or a < r or (a == r and (b < r or (b == r and mask == "B"))):
                    taps.append((tau * k + a) * k + b)
    return torch.tensor(taps, dtype=torch.long)


class CausalConv3d(nn.Module):
    """Conv over earlier raster positions only. Only the causal taps are parameters (honest
    parameter counts); `kernel()` scatters them into the dense k*k*k box with zeros elsewhere."""

    def __init__(self, cin: int, cout: int, k: int, mask: str):
        super().__init__()
        self.cin, self.cout, self.k = cin, cout, k
        self.register_buffer("taps", causal_taps(k, mask), persistent=False)
        self.weight = nn.Parameter(torch.empty(cout, cin, len(self.taps)))
        self.bias = nn.Parameter(torch.empty(cout))
        bound = 1.0 / math.sqrt(cin * len(self.taps))  # PyTorch's default conv init
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def kernel(self) -> torch.Tensor:
        dense = self.weight.new_zeros(self.cout, self.cin, self.k ** 3).index_copy(2, self.taps, self.weight)
        return dense.view(self.cout, self.cin, self.k, self.k, self.k)

    def padding(self) -> tuple[int, ...]:
        r = self.k // 2  # F.pad order: (w_left, w_right, h_top, h_bottom, t_front, t_back)
        return (r, r, r, r, self.k - 1, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv3d(F.pad(x, self.padding()), self.kernel(), self.bias)


class Pointwise(nn.Linear):
    """1x1x1 conv (PixelSNAIL's "nin") on [B, C, *grid], computed as one matrix product over all
    positions. Done as F.linear rather than Conv3d because then every position's output is
    the same bits whether the grid is a whole clip or one row (the fast sampler relies on it;
    CPU Conv3d switches algorithms with the number of positions)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x.movedim(1, -1), self.weight, self.bias).movedim(-1, 1).contiguous()


def pointwise(cin: int, cout: int) -> Pointwise:
    return Pointwise(cin, cout)


class GatedResidual(nn.Module):
    """Residual layer of seed 000 Fig. 4.5: x + a*sigmoid(b), [a, b] = conv2(ELU(conv1(ELU(x)) [+ aux]))."""

    def __init__(self, channels: int, conv1: nn.Module, dropout: float, aux_channels: int = 0):
        super().__init__()
        self.conv1 = conv1
        self.aux = pointwise(aux_channels, channels) if aux_channels else None
        self.drop = nn.Dropout(dropout)
        self.conv2 = pointwise(channels, 2 * channels)

    def forward(self, x: torch.Tensor, aux: torch.Tensor | None = None) -> torch.Tensor:
        return self.gate(x, self.conv1(F.elu(x)), aux)

    def gate(self, x: torch.Tensor, c: torch.Tensor, aux: torch.Tensor | None = None) -> torch.Tensor:
        """Everything after conv1; pointwise, so the fast sampler runs it on a few positions."""
        if self.aux is not None:
            c = c + self.aux(F.elu(aux))
        a, b = self.conv2(self.drop(F.elu(c))).chunk(2, dim=1)
        return x + a * torch.sigmoid(b)


def positions(shape: Shape3) -> torch.Tensor:
    """Fixed 3D positional channels [3, T, H, W]: t, h, w scaled to [-0.5, 0.5] (PixelSNAIL's background)."""
    axes = [torch.linspace(-0.5, 0.5, n) if n > 1 else torch.zeros(1) for n in shape]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"))


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, allowed: torch.Tensor,
           drop: nn.Dropout) -> torch.Tensor:
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
        self.drop = nn.Dropout(cfg.dropout)

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
    """Seed 000 Fig. 4.4: residual layers, then (top prior) attention mixed in by a gated residual."""

    def __init__(self, cfg: PixelSNAILConfig):
        super().__init__()
        c = cfg.channels
        self.layers = nn.ModuleList(
            GatedResidual(c, CausalConv3d(c, c, cfg.kernel_size, "B"), cfg.dropout) for _ in range(cfg.res_blocks))
        self.attn = CausalAttention(cfg) if cfg.attention else None
        aux = cfg.heads * cfg.value_channels
        self.attn_out = GatedResidual(c, pointwise(c, c), cfg.dropout, aux) if cfg.attention else None

    def forward(self, h: torch.Tensor, x0: torch.Tensor, pos: torch.Tensor | None,
                allowed: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            h = layer(h)
        if self.attn is not None:
            h = self.attn_out(h, self.attn(x0, h, pos, allowed))
        return h


class Conditioning(nn.Module):
    """Top codes -> features on the bottom grid (seed 000 §4.3.2): embedding, a residual stack
    on the top grid (non-causal: all top codes are given), nearest upsampling, 3x3x3 conv;
    one pointwise projection per SNAIL block when `cond_every_block`."""

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


class PixelSNAIL3d(nn.Module):
    def __init__(self, cfg: PixelSNAILConfig):
        super().__init__()
        cfg.validate()
        self.config = cfg
        c = cfg.channels
        self.embed = nn.Embedding(cfg.num_codes, c)
        self.stem = CausalConv3d(c, c, cfg.kernel_size, "A")
        self.cond = Conditioning(cfg) if cfg.cond_shape is not None else None
        self.blocks = nn.ModuleList(SnailBlock(cfg) for _ in range(cfg.snail_blocks))
        self.head = pointwise(c, cfg.num_codes)
        self.register_buffer("pos", positions(cfg.shape).unsqueeze(0), persistent=False)
        n = cfg.length if cfg.attention else 0  # allowed[i, j]: position i may attend to j < i
        self.register_buffer("allowed", torch.ones(n, n, dtype=torch.bool).tril(-1), persistent=False)

    def embed_codes(self, codes: torch.Tensor) -> torch.Tensor:
        return self.embed(codes).permute(0, 4, 1, 2, 3).contiguous()  # [B, C, T, H, W]

    def forward(self, codes: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """codes [B, T, H, W] (long) -> logits [B, K, T, H, W]; `cond`: top codes (bottom prior)."""
        x0 = self.embed_codes(codes)
        h = self.stem(x0)
        conds = self.cond(cond) if self.cond is not None else []
        if conds:
            h = h + conds[0]
        pos = self.pos.expand(codes.shape[0], -1, -1, -1, -1) if self.config.attention else None
        for i, block in enumerate(self.blocks):
            if len(conds) > 1:
                h = h + conds[1 + i]
            h = block(h, x0, pos, self.allowed)
        return self.head(F.elu(h))

    def check_inputs(self, codes: torch.Tensor, cond: torch.Tensor | None = None) -> None:
        """One-line GenvidError for codes/cond this prior cannot take (shape, dtype, index >= K)."""
        cfg = self.config
        _check_codes("latent codes", codes, cfg.shape, cfg.num_codes)
        if cfg.cond_shape is None:
            if cond is not None:
                raise GenvidError("this prior is unconditional (top prior) but cond codes were given")
            return
        if cond is None:
            raise GenvidError("the bottom prior needs the top codes as cond, got none")
        _check_codes("cond (top) codes", cond, cfg.cond_shape, cfg.cond_codes)
        if cond.shape[0] != codes.shape[0]:
            raise GenvidError(f"cond has batch size {cond.shape[0]} but the codes have {codes.shape[0]}")

    def loss(self, codes: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """Cross-entropy over the K codes: mean nats per code."""
        return F.cross_entropy(self(codes, cond), codes)


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

"""Two-level 3D VQ-VAE (seed 000 §4.2, §5.2; VQ-VAE-2 with Conv2d -> Conv3d).

    x [B,3,T,H,W]
     └ bottom encoder: Conv3d (4,8,8)/(2,4,4)/(1,2,2) -> residual stack ─┬─ 1x1x1 -> EMA VQ (bottom) ─┐
                                                                           └ top encoder: Conv3d 4/2/1    │
                                                                             -> residual stack            │
                                                                             -> 1x1x1 -> EMA VQ (top)     │
     decoder: [ConvT3d 4/2/1 (top codes) ‖ bottom codes] -> Conv3d 3 -> residual stack -> ReLU          ◄─┘
              -> ConvT3d (4,8,8)/(2,4,4)/(1,2,2) -> recon [B,3,T,H,W]
                 (computed as a matrix product and an overlap-add: overlap_add, the same bits on every CPU)

Loss (eq. 5.3): MSE(x, recon) + β·commitment; the codebook term is replaced by EMA updates (eq. 5.4).
Options (off by default): dead-code restarts (Jukebox style, seed 002 §2.4.6) and seed 002 §3.1
noisy quantisation.

Structure options (issue 8 items 1(a), 8; defaults = genvid's original model):
  temporal_padding      "same" (symmetric, as drawn above) | "causal": every temporal conv of the
                        encoder pads on the past side only, so a code step depends only on frames
                        up to the end of its own window (bottom step j: frames <= 2j+1; top step j:
                        frames <= 4j+3); the context's codes can then be taken from a clip whose
                        future is anything (`encode_context`).
  res_kernel            the residual layers' first conv kernel; (1,3,3) in the thesis author's code.
  condition_bottom_on_top  genvid's VQ-VAE-2 conditioning of the bottom code on the top codes
                        (``top_to_bottom``); false = the thesis author's independent levels.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from genvid.config import parse_config, rule, to_dict
from genvid.errors import ParamError
from genvid.models.store import register_kind
from genvid.models.vq.overlap_add import OverlapAddConvTranspose3d


@dataclass(frozen=True)
class VQVAEConfig:
    """``models.<vq model>.vqvae`` (genvid.config): sizes have no defaults (params.yaml, profiles)."""

    channels: int = field(metadata=rule(min=1))  # encoder/decoder conv channels (Table 5.2: 128)
    res_channels: int = field(metadata=rule(min=1))  # inner width of each residual layer (64)
    res_blocks: int = field(metadata=rule(min=0))  # residual layers per stack (5)
    codebook_size: int = field(metadata=rule(min=1))  # K (512)
    code_dim: int = field(metadata=rule(min=1))  # D (64)
    in_channels: int = field(default=3, metadata=rule(min=1))
    beta: float = field(default=0.25, metadata=rule(min=0.0))  # commitment weight (seed 000 §5.2.1)
    ema_decay: float = field(default=0.99, metadata=rule(min=0.0, max=1.0, exclusive_min=True,
                                                          exclusive_max=True))  # γ (eq. 5.4)
    ema_eps: float = field(default=1e-5, metadata=rule(min=0.0, exclusive_min=True))  # Laplace smoothing
    dead_code_restart: bool = False
    dead_code_threshold: float = field(default=1.0, metadata=rule(min=0.0))  # restart codes with N_i below
    noisy_sigma: float = field(default=0.0, metadata=rule(min=0.0))  # seed 002 §3.1 index noise (0 = off)
    # seed 000 §6.4/§6.5's proposed fix: during training, replace a clip's bottom code vectors
    # by zeros with this probability, so the decoder must use the top codes (0 = off).
    bottom_dropout: float = field(default=0.0, metadata=rule(min=0.0, max=1.0, exclusive_max=True))
    # Issue 8 item 1(a): "causal" pads every temporal conv of the encoder on the past side only
    # (decoder unchanged). "same" is the thesis's (k4/p1 in time) model.
    temporal_padding: str = field(default="same", metadata=rule(choices=("same", "causal")))
    # Kernel (t, h, w) of each residual layer's first conv, encoder and decoder alike (seed 000
    # §4.2.4: the same parameters for both). Seed 000 §4.2.1 gives no size; genvid read it as
    # 3x3x3, the author's public code (mattiasxu/master_project_github, models/vidvqvae.py) uses
    # (1,3,3). Odd sizes only: "same" padding k//2 keeps the size only for odd k.
    res_kernel: tuple[int, int, int] = (3, 3, 3)
    # True: the bottom code also reads the quantised top codes (VQ-VAE-2; see `top_to_bottom`).
    # False: the bottom code comes from the bottom features alone (the author's code).
    condition_bottom_on_top: bool = True

    def validate(self) -> str | None:
        if any(k < 1 or k % 2 == 0 for k in self.res_kernel):
            return f"res_kernel must be three odd positive integers [kt, kh, kw], got {list(self.res_kernel)}"
        return None

    @classmethod
    def from_dict(cls, d: dict[str, Any], prefix: str = "vqvae", source: str | None = None) -> "VQVAEConfig":
        """Build from a params.yaml section; one ParamError line naming ``prefix.key`` on error."""
        return parse_config(cls, d, prefix, source)

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML/JSON values (res_kernel as a list); from_dict(to_dict()) == self."""
        return to_dict(self)


# --------------------------------------------------------------------------- building blocks

# Bottom encoder / final decoder layer (seed 000 §4.2.1, §4.2.3): T/2, H/4, W/4.
BOTTOM_KERNEL, BOTTOM_STRIDE, BOTTOM_PAD = (4, 8, 8), (2, 4, 4), (1, 2, 2)
TOP_KERNEL, TOP_STRIDE, TOP_PAD = 4, 2, 1  # top encoder: all dims /2


class PastPaddedConv3d(nn.Conv3d):
    """Conv3d whose time axis is zero-padded on the past side only, by k_t - s_t steps.

    Output step j then reads input steps s_t·j + s_t - k_t … s_t·j + s_t - 1: it ends with the
    last step of its own stride window and reads nothing later, and T_out = T_in / s_t, the
    same length as the symmetric padding (k_t - s_t)/2 per side gives. Height and width keep
    their symmetric padding. Same parameters (and state_dict keys) as an nn.Conv3d.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int | tuple[int, int, int],
                 stride: int | tuple[int, int, int] = 1, spatial_padding: tuple[int, int] = (0, 0)):
        kernel, stride = _t(kernel), _t(stride)
        super().__init__(in_channels, out_channels, kernel, stride, padding=(0, *spatial_padding))
        self.past = kernel[0] - stride[0]

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(F.pad(x, (0, 0, 0, 0, self.past, 0)))


def encoder_conv(in_channels: int, out_channels: int, kernel: int | tuple[int, int, int],
                 stride: int | tuple[int, int, int], padding: int | tuple[int, int, int],
                 causal: bool) -> nn.Conv3d:
    """An encoder conv: symmetric `padding` ("same"), or past-side padding in time ("causal")."""
    if causal:
        return PastPaddedConv3d(in_channels, out_channels, kernel, stride, _t(padding)[1:])
    return nn.Conv3d(in_channels, out_channels, kernel, stride, padding)


class ResidualLayer(nn.Module):
    """x + Conv1(ReLU(Conv_k(ReLU(x)))) (seed 000 Fig. 4.3): widen to res_channels and back."""

    def __init__(self, channels: int, res_channels: int, kernel: tuple[int, int, int] = (3, 3, 3),
                 causal: bool = False):
        super().__init__()
        self.block = nn.Sequential(
            nn.ReLU(),
            encoder_conv(channels, res_channels, kernel, 1, tuple(k // 2 for k in kernel), causal),
            nn.ReLU(),
            nn.Conv3d(res_channels, channels, kernel_size=1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.block(x)


class ResidualStack(nn.Sequential):
    """n residual layers then a ReLU. The closing ReLU is VQ-VAE-2's (seed 000 §4.2 follows
    it); the thesis names only the layers, so the ReLU is our reading of "same structure"."""

    def __init__(self, channels: int, res_channels: int, n: int, kernel: tuple[int, int, int] = (3, 3, 3),
                 causal: bool = False):
        super().__init__(*[ResidualLayer(channels, res_channels, kernel, causal) for _ in range(n)], nn.ReLU())


class CausalTopToBottom(nn.ConvTranspose3d):
    """Top codes -> bottom grid (x2 in every dim) such that bottom step i reads top step (i-1)//2 only.

    Top step m covers frames 4m..4m+3, bottom step i frames 2i, 2i+1. The symmetric upsampler
    (ConvTranspose k4/s2/p1 in time) feeds bottom step i from top steps (i-1)//2 and (i+1)//2:
    bottom step 3 (frames 6, 7) reads top step 2 (frames 8..11), the future. Kernel 2 = stride 2
    in time gives each bottom step exactly one top step, its parent i//2, with no overlap; but
    for an even i the parent still ends two frames after bottom step i does (bottom step 2,
    frames 4, 5, would read top step 1, frames 4..7). A delay of one bottom step makes it
    (i-1)//2, the last top step that has ended by frame 2i+1: odd steps read their parent, even
    steps the previous top step, step 0 reads zeros. Height and width are upsampled as in the
    symmetric model (k4/s2/p1).
    """

    def __init__(self, dim: int):
        super().__init__(dim, dim, kernel_size=(2, TOP_KERNEL, TOP_KERNEL), stride=TOP_STRIDE,
                         padding=(0, TOP_PAD, TOP_PAD))

    def forward(self, q_top: Tensor) -> Tensor:
        up = super().forward(q_top)  # bottom step i <- top step i // 2
        return F.pad(up, (0, 0, 0, 0, 1, 0))[:, :, :-1]  # delayed: bottom step i <- top step (i-1)//2


def reflect_indices(j: Tensor, k: int) -> Tensor:
    """Indices folded back into 0..k-1 by reflection at the ends: -1 -> 1, k -> k-2."""
    if k == 1:
        return torch.zeros_like(j)
    period = 2 * (k - 1)
    j = torch.remainder(j, period)
    return torch.where(j > k - 1, period - j, j)


class Quantized(NamedTuple):
    codes: Tensor  # [B,D,T,H,W] quantised vectors fed to the decoder (straight-through to z)
    commitment: Tensor  # mean ||z - sg[e_clean]||²
    indices: Tensor  # [B,T,H,W] indices fed to the decoder (noisy in training when σ > 0)
    perplexity: Tensor  # exp(entropy) of this batch's usage of `indices`


class EMAQuantizer(nn.Module):
    """Nearest-neighbour (Euclidean) vector quantiser with an EMA codebook (seed 000 §4.2.2, eq. 5.4).

    Buffers (all in state_dict): `embed` e [K,D], `cluster_size` N [K], `embed_sum` m [K,D].
    """

    def __init__(self, cfg: VQVAEConfig):
        super().__init__()
        k, d = cfg.codebook_size, cfg.code_dim
        self.k, self.decay, self.eps = k, cfg.ema_decay, cfg.ema_eps
        self.restart, self.threshold, self.sigma = cfg.dead_code_restart, cfg.dead_code_threshold, cfg.noisy_sigma
        embed = torch.rand(k, d)  # seed 000 §4.2.2: each number uniform in [0, 1)
        self.register_buffer("embed", embed)
        # Each code starts as the average of one (virtual) vector: N = 1, m = e. With N = 0
        # (as in VQ-VAE-2 code) an unused code's first update would be e = γe/ε, i.e. it would
        # be flung far away; with N = 1 it stays put and decays towards 0 only as γ^t.
        self.register_buffer("cluster_size", torch.ones(k))
        self.register_buffer("embed_sum", embed.clone())

    def nearest(self, flat: Tensor) -> Tensor:
        """argmin_j ||z - e_j||² for each row of flat [M,D] (ties: lowest index)."""
        dist = (flat.pow(2).sum(1, keepdim=True) - 2 * flat @ self.embed.t()
                + self.embed.pow(2).sum(1)[None, :])
        return dist.argmin(1)

    def lookup(self, indices: Tensor) -> Tensor:
        """Indices [B,T,H,W] -> code vectors [B,D,T,H,W]."""
        return F.embedding(indices, self.embed).permute(0, 4, 1, 2, 3)

    def add_noise(self, indices: Tensor) -> Tensor:
        """Seed 002 §3.1: index + ε, ε = round(N(0, σ²)) per position, independently. Three
        choices the thesis leaves open (genvid's, in the report's deviations table):
        - σ is the standard deviation ("a discrete Gaussian distribution with mean 0 and
          variance σ" as printed would make σ = 0.2 a standard deviation of 0.45);
        - a rounded continuous Gaussian, not a true discrete Gaussian (∝ exp(-k²/2σ²)): it moves
          an index more often at small σ (P(ε ≠ 0) = 0.32 against 0.21 at σ = 0.5; 0.012 against
          0.000007 at σ = 0.2; the largest gap in any probability is 0.016 at σ = 1, 0.005 at 1.5);
        - out-of-range indices are reflected at 0 and K-1 (``reflect_indices``), so that the noise
          stays a move to a *neighbouring* code, where clamping would pile the tails' mass onto
          the two end codes.
        The noise comes from the global generator, which the training loop seeds from the train
        seed and checkpoints with the weights (genvid.train.loop): a resumed run draws the same."""
        eps = torch.round(torch.randn(indices.shape, device=indices.device) * self.sigma).long()
        return reflect_indices(indices + eps, self.k)

    def forward(self, z: Tensor) -> Quantized:
        b, d, t, h, w = z.shape
        flat = z.permute(0, 2, 3, 4, 1).reshape(-1, d)
        clean = self.nearest(flat.detach())
        used = self.add_noise(clean) if self.training and self.sigma > 0 else clean
        # Usage counts by comparison, not one_hot/bincount/index_add_: deterministic on every
        # device and shape-only on the meta device.
        onehot = (used[:, None] == torch.arange(self.k, device=used.device)[None, :]).to(flat.dtype)
        counts = onehot.sum(0)

        e_clean, e_used = self.embed[clean], self.embed[used]  # codebook before this step's update
        commitment = (flat - e_clean.detach()).pow(2).mean()  # against the clean code (seed 002 §3.1)
        if self.training:
            self._ema_update(flat.detach(), onehot, counts)  # on the code actually used (noisy)

        # Straight-through: the value is exactly e_used, the gradient w.r.t. z is the identity.
        codes = e_used.detach() + (flat - flat.detach())
        codes = codes.view(b, t, h, w, d).permute(0, 4, 1, 2, 3)
        probs = counts / counts.sum()
        perplexity = torch.exp(-(probs * torch.log(probs + 1e-10)).sum())
        return Quantized(codes, commitment, used.view(b, t, h, w), perplexity)

    @torch.no_grad()
    def _ema_update(self, flat: Tensor, onehot: Tensor, counts: Tensor) -> None:
        """Eq. 5.4 with Laplace-smoothed counts: N ← γN + (1-γ)n, m ← γm + (1-γ)Σz, e = m / N̂.
        Under several training processes n and Σz are summed over them: the global batch's."""
        counts, sums = counts.clone(), onehot.t() @ flat
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            dist.all_reduce(counts)
            dist.all_reduce(sums)
        self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.embed_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        total = self.cluster_size.sum()
        smoothed = (self.cluster_size + self.eps) / (total + self.k * self.eps) * total
        self.embed.copy_(self.embed_sum / smoothed[:, None])
        if self.restart:
            self._restart_dead_codes(flat)

    def _restart_dead_codes(self, flat: Tensor) -> None:
        """Codes with N_i < threshold become random encoder outputs of this batch (Jukebox
        random restarts, seed 002 §2.4.6), with N_i = 1, m_i = e_i. K draws every step whatever
        the number of dead codes, so the RNG stream does not depend on the data."""
        pick = flat[torch.randint(0, flat.shape[0], (self.k,), device=flat.device)]
        dead = (self.cluster_size < self.threshold)[:, None]
        self.embed.copy_(torch.where(dead, pick, self.embed))
        self.embed_sum.copy_(torch.where(dead, pick, self.embed_sum))
        self.cluster_size.copy_(torch.where(dead[:, 0], torch.ones_like(self.cluster_size), self.cluster_size))


# --------------------------------------------------------------------------- the model

@dataclass
class VQVAEOutput:
    recon: Tensor  # [B,C,T,H,W]
    commitment_loss: Tensor  # sum over levels of mean ||z_e - sg[e]||² (unweighted by β)
    top_indices: Tensor  # [B,Tt,Ht,Wt] long
    bottom_indices: Tensor  # [B,Tb,Hb,Wb] long
    top_perplexity: Tensor
    bottom_perplexity: Tensor


def vqvae_loss(out: VQVAEOutput, x: Tensor, beta: float) -> tuple[Tensor, dict[str, float]]:
    """Eq. 5.3: MSE(x, x̂) + β·commitment, and the scalars to log."""
    mse = F.mse_loss(out.recon, x)
    loss = mse + beta * out.commitment_loss
    scalars = {
        "mse": mse.item(),
        "commitment": out.commitment_loss.item(),
        "perplexity_top": out.top_perplexity.item(),
        "perplexity_bottom": out.bottom_perplexity.item(),
    }
    return loss, scalars


class VQVAE3D(nn.Module):
    def __init__(self, cfg: VQVAEConfig):
        super().__init__()
        self.cfg = cfg
        ch, res, n, dim = cfg.channels, cfg.res_channels, cfg.res_blocks, cfg.code_dim
        causal, kernel = cfg.temporal_padding == "causal", cfg.res_kernel
        self.enc_bottom = nn.Sequential(
            encoder_conv(cfg.in_channels, ch, BOTTOM_KERNEL, BOTTOM_STRIDE, BOTTOM_PAD, causal),
            ResidualStack(ch, res, n, kernel, causal),
        )
        # The top encoder reads the bottom features before their 1x1x1 projection (seed 000 §4.2.1).
        self.enc_top = nn.Sequential(
            encoder_conv(ch, ch, TOP_KERNEL, TOP_STRIDE, TOP_PAD, causal),
            ResidualStack(ch, res, n, kernel, causal),
        )
        self.to_code_top = nn.Conv3d(ch, dim, kernel_size=1)
        if cfg.condition_bottom_on_top:
            # VQ-VAE-2 (Razavi et al. 2019, whose structure seed 000 §4.2 follows): the bottom code
            # is computed from the bottom features *and* the quantised top codes brought to the
            # bottom grid, so the bottom level encodes what the top misses. With independent
            # levels the decoder can rely on the bottom codes alone and the top codebook
            # collapses to one or two codes (measured on the default profile: 1 % usage).
            # The thesis author's code has independent levels (condition_bottom_on_top: false).
            self.top_to_bottom = (CausalTopToBottom(dim) if causal
                                  else nn.ConvTranspose3d(dim, dim, TOP_KERNEL, TOP_STRIDE, TOP_PAD))
        self.to_code_bottom = nn.Conv3d(ch + (dim if cfg.condition_bottom_on_top else 0), dim, kernel_size=1)
        self.quant_bottom = EMAQuantizer(cfg)
        self.quant_top = EMAQuantizer(cfg)
        # Decoder (seed 000 §4.2.3, VQ-VAE-2 layout): the top codes are upsampled to the bottom
        # grid by a transposed conv and concatenated with the bottom codes; a 3x3x3 conv brings
        # the 2D channels to `channels` for the residual stack (the thesis says only "fed into
        # a residual block"); the same parameters as the encoder (seed 000 §4.2.4). It stays
        # symmetric in time in both temporal_padding modes: its input is codes, not frames, so
        # decoding context codes next to generated codes cannot leak a future frame.
        self.upsample_top = nn.ConvTranspose3d(dim, dim, TOP_KERNEL, TOP_STRIDE, TOP_PAD)
        self.decoder = nn.Sequential(
            nn.Conv3d(2 * dim, ch, kernel_size=3, padding=1),
            ResidualStack(ch, res, n, kernel),
            # nn.ConvTranspose3d's sum as a matrix product: oneDNN's kernel for it rounds by the CPU's caches
            OverlapAddConvTranspose3d(ch, cfg.in_channels, BOTTOM_KERNEL, BOTTOM_STRIDE, BOTTOM_PAD),
        )

    # ----------------------------------------------------------------------- shapes

    def code_shapes(self, clip_len: int, height: int, width: int) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
        """((Tt,Ht,Wt), (Tb,Hb,Wb)) for clips of T×H×W, by conv arithmetic.

        The decoder inverts the encoder exactly only when T % 4 == 0 and H, W % 8 == 0. Both
        temporal_padding modes pad k - s steps in time in all (k4/s2: 1 + 1 or 2 + 0), so the
        symmetric arithmetic below holds for both.
        """
        if clip_len % 4 or height % 8 or width % 8:
            raise ParamError(f"vqvae input {clip_len}x{height}x{width}: clip_len must be a multiple of 4"
                             " and height, width multiples of 8")

        def conv(sizes, k, s, p):
            return tuple((n + 2 * p_ - k_) // s_ + 1 for n, k_, s_, p_ in zip(sizes, _t(k), _t(s), _t(p)))

        bottom = conv((clip_len, height, width), BOTTOM_KERNEL, BOTTOM_STRIDE, BOTTOM_PAD)
        top = conv(bottom, TOP_KERNEL, TOP_STRIDE, TOP_PAD)
        return top, bottom

    def bits_reduction(self, clip_len: int, height: int, width: int) -> float:
        """1 - code bits / raw 8-bit RGB bits (seed 000 §4.2: 98.7 % for the thesis profile)."""
        top, bottom = self.code_shapes(clip_len, height, width)
        code_bits = (math.prod(top) + math.prod(bottom)) * math.log2(self.cfg.codebook_size)
        return 1.0 - code_bits / (self.cfg.in_channels * clip_len * height * width * 8)

    # ----------------------------------------------------------------------- encode / decode

    def _encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Bottom features [B,C,...] and the continuous top encoder output z_top [B,D,...]."""
        if x.ndim != 5 or x.shape[1] != self.cfg.in_channels:
            raise ValueError(f"expected [B,{self.cfg.in_channels},T,H,W], got {list(x.shape)}")
        self.code_shapes(*x.shape[2:])
        h_bottom = self.enc_bottom(x)
        return h_bottom, self.to_code_top(self.enc_top(h_bottom))

    def _z_bottom(self, h_bottom: Tensor, q_top: Tensor) -> Tensor:
        """Continuous bottom encoder output from the bottom features and (if conditioned) the
        quantised top; with condition_bottom_on_top false, q_top is not read."""
        if not self.cfg.condition_bottom_on_top:
            return self.to_code_bottom(h_bottom)
        return self.to_code_bottom(torch.cat([h_bottom, self.top_to_bottom(q_top)], dim=1))

    def _decode(self, q_top: Tensor, q_bottom: Tensor) -> Tensor:
        return self.decoder(torch.cat([self.upsample_top(q_top), q_bottom], dim=1))

    def forward(self, x: Tensor) -> VQVAEOutput:
        h_bottom, z_top = self._encode(x)
        top = self.quant_top(z_top)
        bottom = self.quant_bottom(self._z_bottom(h_bottom, top.codes))
        q_bottom = bottom.codes
        if self.training and self.cfg.bottom_dropout > 0:
            keep = torch.rand(x.shape[0], 1, 1, 1, 1, device=x.device) >= self.cfg.bottom_dropout
            q_bottom = q_bottom * keep.to(q_bottom.dtype)
        return VQVAEOutput(
            recon=self._decode(top.codes, q_bottom),
            commitment_loss=top.commitment + bottom.commitment,
            top_indices=top.indices,
            bottom_indices=bottom.indices,
            top_perplexity=top.perplexity,
            bottom_perplexity=bottom.perplexity,
        )

    def loss(self, x: Tensor) -> tuple[Tensor, dict[str, float]]:
        """Forward + eq. 5.3 with the configured β."""
        return vqvae_loss(self(x), x, self.cfg.beta)

    @torch.no_grad()
    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Clean nearest-code indices (top [B,Tt,Ht,Wt], bottom [B,Tb,Hb,Wb]); no noise, no EMA."""
        h_bottom, z_top = self._encode(x)
        top = self._nearest(self.quant_top, z_top)
        bottom = self._nearest(self.quant_bottom, self._z_bottom(h_bottom, self.quant_top.lookup(top)))
        return top, bottom

    @staticmethod
    def context_steps(context_len: int) -> tuple[int, int]:
        """(top, bottom) number of code time steps that lie entirely inside the first
        ``context_len`` frames: top step j covers frames 4j..4j+3, bottom step j frames 2j, 2j+1."""
        return context_len // 4, context_len // 2

    @torch.no_grad()
    def encode_context(self, context: Tensor, clip_len: int) -> tuple[Tensor, Tensor]:
        """Code indices of a clip of ``clip_len`` frames from its first frames alone (issue 8 item 1).

        context: normalised frames [B,C,Tc,H,W], 1 <= Tc <= clip_len. The clip is completed with
        copies of the last context frame and encoded; top steps < Tc // 4 and bottom steps
        < Tc // 2 (`context_steps`) are kept, the later steps are zero-filled (they are to be
        generated). Returns full-length grids (top [B,Tt,Ht,Wt], bottom [B,Tb,Hb,Wb]).
          - temporal_padding "causal" (option (a)): the kept steps read no frame after Tc - 1,
            so the padding cannot matter; they equal the codes of the true clip.
          - "same" (option (b), the thesis's encoder): the kept steps near the end of the context
            read the repeated last frame in place of the unknown future, so they may differ from
            the true clip's codes, but they never depend on it.
        """
        if context.ndim != 5 or not 1 <= context.shape[2] <= clip_len:
            raise ValueError(f"context must be [B,C,Tc,H,W] with 1 <= Tc <= clip_len={clip_len}, "
                             f"got {list(context.shape)}")
        n_ctx = context.shape[2]
        last = context[:, :, -1:].expand(-1, -1, clip_len - n_ctx, -1, -1)
        top, bottom = self.encode(torch.cat([context, last], dim=2))
        n_top, n_bottom = self.context_steps(n_ctx)
        top[:, n_top:] = 0
        bottom[:, n_bottom:] = 0
        return top, bottom

    @staticmethod
    def _nearest(quant: EMAQuantizer, z: Tensor) -> Tensor:
        b, d, t, h, w = z.shape
        return quant.nearest(z.permute(0, 2, 3, 4, 1).reshape(-1, d)).view(b, t, h, w)

    def decode_codes(self, top: Tensor, bottom: Tensor,
                     zero_level: Literal["top", "bottom"] | None = None) -> Tensor:
        """Indices -> video. zero_level replaces that level's code vectors by zeros (the
        top-only / bottom-only decodings of seed 000 Fig. 6.1)."""
        if zero_level not in (None, "top", "bottom"):
            raise ValueError(f"zero_level must be None, 'top' or 'bottom', got {zero_level!r}")
        q_top, q_bottom = self.quant_top.lookup(top), self.quant_bottom.lookup(bottom)
        if zero_level == "top":
            q_top = torch.zeros_like(q_top)
        elif zero_level == "bottom":
            q_bottom = torch.zeros_like(q_bottom)
        return self._decode(q_top, q_bottom)


def _t(v: int | tuple[int, int, int]) -> tuple[int, int, int]:
    return v if isinstance(v, tuple) else (v, v, v)


register_kind("vqvae3d", lambda config: VQVAE3D(VQVAEConfig.from_dict(config)))  # its model files (genvid.models.store)

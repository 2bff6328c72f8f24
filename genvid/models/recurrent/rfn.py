"""Recurrent Flow Network (seed 001 Ch. 5, §8.2–8.4, Table A.2): SRNN-style latent dynamics whose
emission is a conditional Glow.

Frames x_1..x_T; u_t = x_{t-1} (§5.1); F_E(x) are the feature maps of the VGG extractor, one per
level, F_E^L(x) the deepest (H/2^L × W/2^L)::

    F_E     VGG extractor (§8.2.1, Table 8.1): per level two 3×3 conv + norm + LeakyReLU(0.2), max-pool 2;
            width base·2^(l−1) at level l
    h_t     = ConvLSTM(h_{t-1}, F_E^L(x_{t-1}))                                     (eq. 5.1, §8.2.2)
    a_t     = ConvLSTM_backward(a_{t+1}, [h_t ‖ F_E^L(x_t)])                        (smoothing, eq. 3.30)
    prior   p(z_t | z_{t-1}, h_t) = N(μ, σ²), [μ, σ] = 2 convs([z_{t-1} ‖ h_t])          (eq. 5.2, §8.2.2)
    post.   q(z_t | z_{t-1}, a_t) = N(μ, σ²), [μ, σ] = 2 convs([z_{t-1} ‖ a_t])          (eq. 3.30, 5.5)
    cond.   c_t^l = the mirrored VGG on [h_t ‖ z_t], each block fed the U-Net skip F_E^l(x_{t-1})
            (§8.2.3; skips into the conditioning network only, Table 9.1)
    emit    p(x_t | z_t, h_t) = ConditionalGlow(levels L, steps K; conditions c_t^1..c_t^L)  (§8.2.4)

z_t is spatial: latent_channels × H/2^L × W/2^L; σ = softplus + 1e-3. The first frame only
conditions (h_1 from F_E^L(x_1), z_1 = 0 as z_0 in the thesis): the likelihood and the KL cover
x_2..x_T ("trained on 10 frames and conditioned on 1", Table 9.5), D = (T−1)·C·H·W sub-pixels.

Preprocessing (§8.3), B = ``n_bits`` (8: every data set of the thesis is 8-bit, and no reduced bit
depth is used; an option): k = ⌊x₂₅₅ / 2^(8−B)⌋ ∈ {0..2^B−1}, the flow models
y = (k + u)/2^B − 0.5, u ~ U[0, 1)^D (uniform dequantisation, then the x/2^B − 0.5 scaling), and

    log P(k | z) ≥ E_u[log p_y(y | z)] − D·log 2^B                     (c = −M log 2^B, §8.3)

so every likelihood below (ELBO, ``log_weights``) is a bound on the discrete log-likelihood in nats
and −ELBO/(D ln 2) bounds the bits per dimension. The extractor (and so h, a and q) sees the
un-noised y₀ = k/2^B − 0.5; only the flow's target is dequantised, so q(z, u | x) = q(z | x)·U(u)
and the importance weights below are exact.

Loss: the β-weighted negative ELBO in bits per dimension, β linear from 1e-6 to 1 over
``beta_warmup_steps`` (Table A.2, §8.4; the thesis does not give the length). Sampling: z from the
prior (standard deviation × ``prior_temperature``, 1 as in the thesis: App. A.6 found scaling it no
help), x from the Glow at ``temperature`` (default 0.6: the thesis's BAIR results use T = 0.6, and
Table 9.3's best FVD is at T 0.5–0.7); each generated frame is quantised to the B-bit grid and fed
back as u_{t+1}.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genvid.config import parse_config, rule
from genvid.errors import GenvidError
# seed 001's models share the Gaussian heads and densities (§8.2.2); the β warm-up (§8.4) is in layers
from genvid.models.recurrent.vrnn import LEAKY_SLOPE, GaussianHead, gaussian_log_prob
from genvid.models.convlstm import ConvLSTMCell, State
from genvid.models.layers import beta_warmup, gaussian_kl, norm_layer, rand_on, randn_on, upsample_nearest
from genvid.models.recurrent.flows import ConditionalGlow


Draw = Callable[[tuple[int, ...], str], Tensor]  # ("normal" | "uniform") noise of a shape, on the model's device


@dataclass(frozen=True)
class RFNConfig:
    """``models.rfn``: sizes have no defaults (params.yaml / profiles); Table A.2 in the comments."""

    channels: int = field(metadata=rule(min=1))  # image channels: 1 (SM-MNIST) or 3 (driving)
    levels: int = field(metadata=rule(min=1, max=6))  # L: flow levels = VGG blocks (Table A.2: 4)
    flow_steps: int = field(metadata=rule(min=1))  # K per level (Table A.2: 10)
    coupling_channels: int = field(metadata=rule(min=1))  # 3-1-3 conditioner width (Table A.2: 256)
    base_distribution_channels: int = field(metadata=rule(min=1))  # top prior net width (Table A.2: 512)
    base_channels: int = field(metadata=rule(min=1))  # first VGG block's width, doubled per level (Table 8.1: 8)
    hidden_channels: int = field(metadata=rule(min=1))  # h_t (Table A.2: 256)
    smoothing_channels: int = field(metadata=rule(min=1))  # a_t (Table A.2: 256)
    latent_channels: int = field(metadata=rule(min=1))  # z_t (Table A.2: 3 for SM-MNIST, 5 BAIR)
    beta_warmup_steps: int = field(metadata=rule(min=0))  # linear β warm-up length; 0 = β is 1 throughout
    beta_start: float = field(default=1e-6, metadata=rule(min=0.0, max=1.0))  # Table A.2
    n_bits: int = field(default=8, metadata=rule(min=1, max=8))  # B of §8.3
    temperature: float = field(default=0.6, metadata=rule(min=0.0))  # flow sampling T (§9.4, Table 9.3)
    prior_temperature: float = field(default=1.0, metadata=rule(min=0.0))  # scales the z prior's σ (App. A.6)
    norm: str = field(default="batch", metadata=rule(choices=("batch", "group", "none")))  # Table A.2: batch
    resolution: int | None = field(default=None, metadata=rule(min=1))  # frame size, checked against 2^L

    def validate(self) -> str | None:
        if self.resolution is not None and self.resolution % 2 ** self.levels:
            return f"resolution must be a multiple of 2^levels = {2 ** self.levels}, got {self.resolution}"
        return None


def _vgg_block(cin: int, cout: int, norm: str) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), norm_layer(norm, cout), nn.LeakyReLU(LEAKY_SLOPE),
                         nn.Conv2d(cout, cout, 3, padding=1), norm_layer(norm, cout), nn.LeakyReLU(LEAKY_SLOPE))


class FeatureExtractor(nn.Module):
    """VGG (Table 8.1): level l = two 3×3 convs of width base·2^(l−1), then 2×2 max-pooling."""

    def __init__(self, in_channels: int, widths: list[int], norm: str):
        super().__init__()
        cins = [in_channels] + widths[:-1]
        self.blocks = nn.ModuleList(_vgg_block(ci, co, norm) for ci, co in zip(cins, widths))

    def forward(self, x: Tensor) -> list[Tensor]:
        feats = []
        for block in self.blocks:
            x = F.max_pool2d(block(x), 2)
            feats.append(x)
        return feats


class ConditioningNetwork(nn.Module):
    """The extractor reversed (§8.2.3): from [h ‖ z] at level L up to level 1, each block's input
    concatenated with the extractor's output of that level (U-Net skip), nearest-neighbour
    upsampling between blocks. Block l's output is the Glow's condition at level l."""

    def __init__(self, in_channels: int, widths: list[int], norm: str):
        super().__init__()
        blocks, prev = [], in_channels
        for width in reversed(widths):
            blocks.append(_vgg_block(prev + width, width, norm))
            prev = width
        self.blocks = nn.ModuleList(reversed(blocks))  # blocks[l] serves level l + 1

    def forward(self, hz: Tensor, skips: list[Tensor]) -> list[Tensor]:
        conds: list[Tensor] = [hz] * len(self.blocks)
        x = hz
        for level in reversed(range(len(self.blocks))):
            x = self.blocks[level](torch.cat([x, skips[level]], dim=1))
            conds[level] = x
            if level:
                x = upsample_nearest(x, 2)
        return conds


class Encoded(NamedTuple):
    """The deterministic part of a clip: everything that does not depend on z or the noise."""

    k: Tensor  # [B, T, C, H, W] B-bit levels
    feats: list[Tensor]  # per level [B, T, w_l, H/2^l, W/2^l], F_E of every frame
    h: Tensor  # [B, T-1, hidden, h, w]: h_t for the scored frames x_2..x_T
    a: Tensor  # [B, T-1, smoothing, h, w]: a_t for x_2..x_T
    state: State | None  # ConvLSTM state after h_T (None for T = 1)


class SampleTerms(NamedTuple):
    recon: Tensor  # [B] log p(x_{2:T} | z) in nats, dequantisation constant included
    kl: Tensor  # [B] Σ_t KL(q(z_t | ·) ‖ p(z_t | ·)), analytic given the sampled z_{t-1}
    log_ratio: Tensor  # [B] Σ_t log p(z_t | ·) − log q(z_t | ·) at the sampled z


class RFN(nn.Module):
    """The Recurrent Flow Network; ``loss`` / ``generate`` follow genvid/models/predictor.py."""

    def __init__(self, cfg: RFNConfig):
        super().__init__()
        self.cfg = cfg
        widths = [cfg.base_channels * 2 ** level for level in range(cfg.levels)]
        deepest = widths[-1]
        self.extractor = FeatureExtractor(cfg.channels, widths, cfg.norm)
        self.transition = ConvLSTMCell(deepest, cfg.hidden_channels)
        self.smoother = ConvLSTMCell(cfg.hidden_channels + deepest, cfg.smoothing_channels)
        self.prior = GaussianHead(cfg.latent_channels + cfg.hidden_channels, cfg.hidden_channels,
                                    cfg.latent_channels)
        self.posterior = GaussianHead(cfg.latent_channels + cfg.smoothing_channels, cfg.hidden_channels,
                                        cfg.latent_channels)
        self.conditioning = ConditioningNetwork(cfg.hidden_channels + cfg.latent_channels, widths, cfg.norm)
        self.flow = ConditionalGlow(cfg.channels, cfg.levels, cfg.flow_steps, cfg.coupling_channels,
                                    widths, top_hidden=cfg.base_distribution_channels)

    # ---------------------------------------------------------------- preprocessing (§8.3)
    def _check(self, frames: Tensor, min_frames: int, what: str) -> None:
        mult = 2 ** self.cfg.levels
        if (frames.ndim != 5 or not frames.is_floating_point() or frames.shape[1] < min_frames
                or frames.shape[2] != self.cfg.channels or frames.shape[3] % mult or frames.shape[4] % mult):
            raise GenvidError(f"{what} must be float [B, T>={min_frames}, {self.cfg.channels}, H, W] with H and W "
                              f"multiples of 2^levels = {mult}, got {frames.dtype} {list(frames.shape)}")
        if frames.numel() and (frames.min() < 0 or frames.max() > 1):
            raise GenvidError(f"{what} must be in [0, 1] (uint8 / 255)")

    def _levels(self, frames: Tensor) -> Tensor:
        """[0, 1] frames (uint8/255) -> B-bit integer levels k, as float."""
        return torch.floor(torch.round(frames * 255.0) / 2 ** (8 - self.cfg.n_bits))

    def _scale(self, k: Tensor) -> Tensor:
        """k -> k/2^B − 0.5 (add u/2^B for the dequantised value)."""
        return k / 2 ** self.cfg.n_bits - 0.5

    def _quantise(self, y: Tensor) -> Tensor:
        """A flow sample y -> its B-bit level: the bin [k, k+1)/2^B − 0.5 it falls in, clamped."""
        return torch.floor((y + 0.5) * 2 ** self.cfg.n_bits).clamp_(0, 2 ** self.cfg.n_bits - 1)

    def _to_unit(self, k: Tensor) -> Tensor:
        return k * 2 ** (8 - self.cfg.n_bits) / 255.0

    @staticmethod
    def scored_dims(frames_shape: tuple[int, ...] | torch.Size) -> int:
        """Sub-pixels the likelihood covers for [B, T, C, H, W] clips: (T − 1)·C·H·W."""
        _, t, c, h, w = frames_shape
        return (t - 1) * c * h * w

    # ---------------------------------------------------------------- inference
    def _features(self, y: Tensor) -> list[Tensor]:
        """F_E of [B, T, C, H, W] frames -> per level [B, T, w, h, w]."""
        b, t = y.shape[:2]
        return [f.view(b, t, *f.shape[1:]) for f in self.extractor(y.flatten(0, 1))]

    def _encode(self, frames: Tensor) -> Encoded:
        k = self._levels(frames)
        feats = self._features(self._scale(k))
        deepest, t = feats[-1], frames.shape[1]
        hs, state = [], None
        for i in range(1, t):  # h of frame i (0-based) from u = frame i − 1
            state = self.transition(deepest[:, i - 1], state)
            hs.append(state[0])
        a_state, a_rev = None, []
        for i in reversed(range(1, t)):  # smoothing runs backwards over [h_t ‖ F_E^L(x_t)]
            a_state = self.smoother(torch.cat([hs[i - 1], deepest[:, i]], dim=1), a_state)
            a_rev.append(a_state[0])
        empty = deepest.new_zeros(deepest.shape[0], 0, 1, 1, 1)
        h = torch.stack(hs, 1) if hs else empty
        a = torch.stack(a_rev[::-1], 1) if a_rev else empty
        return Encoded(k, feats, h, a, state)

    def _z0(self, enc: Encoded) -> Tensor:
        b, _, _, hh, ww = enc.feats[-1].shape
        return enc.feats[-1].new_zeros(b, self.cfg.latent_channels, hh, ww)

    def _posterior_chain(self, enc: Encoded, draw: Draw) -> tuple[Tensor, Tensor, Tensor]:
        """z_t ~ q(z_t | z_{t-1}, a_t) for t = 2..T -> (z [B, T-1, ...], KL [B], log p − log q [B])."""
        z_prev = self._z0(enc)
        zs, kl, log_ratio = [], 0.0, 0.0
        for i in range(enc.h.shape[1]):
            mu_p, s_p = self.prior(torch.cat([z_prev, enc.h[:, i]], dim=1))
            mu_q, s_q = self.posterior(torch.cat([z_prev, enc.a[:, i]], dim=1))
            z = mu_q + s_q * draw(tuple(mu_q.shape), "normal")
            kl = kl + gaussian_kl(mu_q, s_q, mu_p, s_p).flatten(1).sum(1)
            log_ratio = log_ratio + (gaussian_log_prob(z, mu_p, s_p) - gaussian_log_prob(z, mu_q, s_q)).flatten(1).sum(1)
            zs.append(z)
            z_prev = z
        return torch.stack(zs, 1), kl, log_ratio

    def _conditions(self, h: Tensor, z: Tensor, skips: list[Tensor]) -> list[Tensor]:
        return self.conditioning(torch.cat([h, z], dim=1), skips)

    def _sample_terms(self, enc: Encoded, draw: Draw) -> SampleTerms:
        """One draw of (u, z) for every clip: the dequantised flow likelihood and the latent terms."""
        b, t = enc.k.shape[:2]
        target = enc.k[:, 1:]
        y = self._scale(target + draw(tuple(target.shape), "uniform"))  # (k + u)/2^B − 0.5
        z, kl, log_ratio = self._posterior_chain(enc, draw)
        skips = [f[:, :-1].flatten(0, 1) for f in enc.feats]  # F_E of u_t = x_{t-1}
        conds = self._conditions(enc.h.flatten(0, 1), z.flatten(0, 1), skips)
        log_p = self.flow.log_prob(y.flatten(0, 1), conds).view(b, t - 1).sum(1)
        dims = self.scored_dims(enc.k.shape)
        return SampleTerms(log_p - dims * self.cfg.n_bits * math.log(2.0), kl, log_ratio)

    def _drawer(self, generator: torch.Generator | None) -> Draw:
        device = next(self.parameters()).device

        def draw(shape: tuple[int, ...], kind: str) -> Tensor:
            if generator is None:  # training: the global RNG, seeded by the stage
                return (torch.randn if kind == "normal" else torch.rand)(shape, device=device)
            return (randn_on if kind == "normal" else rand_on)(generator, shape, device)
        return draw

    def elbo_terms(self, frames: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """(log p(x_{2:T} | z) with the −D log 2^B dequantisation constant, KL) per sequence in nats,
        one draw of (u, z); ELBO = first − second."""
        self._check(frames, 2, "frames")
        terms = self._sample_terms(self._encode(frames), self._drawer(generator))
        return terms.recon, terms.kl

    def elbo(self, frames: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """ELBO per sequence in nats [B] (a lower bound on the discrete log-likelihood of x_{2:T})."""
        recon, kl = self.elbo_terms(frames, generator)
        return recon - kl

    @torch.no_grad()
    def log_weights(self, frames: Tensor, k: int, generator: torch.Generator | None = None) -> Tensor:
        """K importance weights log p(x_{2:T}, z_k) − log q(z_k | x) per sequence in nats: [B, K].

        Each weight has its own dequantisation noise u_k and posterior draw z_k; with
        q(z, u | x) = q(z | x)·U(u), log w = log p_y(y_k | z_k) − D log 2^B + log p(z_k) − log q(z_k | x),
        so log-mean-exp over K bounds the discrete log-likelihood (IWAE, seed 001 eq. 3.19).
        The deterministic part (features, h, a) is computed once. Call in eval mode."""
        if k < 1:
            raise GenvidError(f"k must be >= 1, got {k}")
        self._check(frames, 2, "frames")
        enc, draw = self._encode(frames), self._drawer(generator)
        weights = []
        for _ in range(k):
            terms = self._sample_terms(enc, draw)
            weights.append(terms.recon + terms.log_ratio)
        return torch.stack(weights, 1)

    def elbo_bits_per_dim(self, frames: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """−ELBO / (D ln 2) per sequence [B]: an upper bound on the bits per sub-pixel."""
        return -self.elbo(frames, generator) / (self.scored_dims(frames.shape) * math.log(2.0))

    def beta(self, step: int) -> float:
        return beta_warmup(step, self.cfg.beta_warmup_steps, self.cfg.beta_start)

    def loss(self, frames: Tensor, step: int) -> tuple[Tensor, dict[str, float]]:
        """β-weighted negative ELBO in bits per sub-pixel (mean over the batch)."""
        recon, kl = self.elbo_terms(frames)
        per_dim = self.scored_dims(frames.shape) * math.log(2.0)
        beta = self.beta(step)
        loss = ((-recon + beta * kl) / per_dim).mean()
        recon, kl = recon.detach(), kl.detach()
        scalars = {"beta": beta,
                   "bpd_elbo": float(((kl - recon) / per_dim).mean()),
                   "recon_bpd": float((-recon / per_dim).mean()),
                   "kl_nats": float(kl.mean())}
        return loss, scalars

    # ---------------------------------------------------------------- generation
    @torch.no_grad()
    def generate(self, context: Tensor, horizon: int, num_samples: int,
                 generator: torch.Generator) -> Tensor:
        """[B, Tc, C, H, W] context in [0, 1] -> [B, num_samples, horizon, C, H, W] in [0, 1].

        Warm-up on the context with the posterior (smoothing over the context frames only), then
        z_t from the prior and x_t from the Glow at ``temperature``; each frame is quantised and
        fed back. Noise order: the context's z draws, then per future frame z then the flow's ε,
        so a longer horizon only appends draws (streaming)."""
        self._check(context, 1, "context")
        if horizon < 1 or num_samples < 1:
            raise GenvidError(f"horizon and num_samples must be >= 1, got {horizon} and {num_samples}")
        b = context.shape[0]
        draw = self._drawer(generator)
        enc = self._encode(context.repeat_interleave(num_samples, dim=0))
        z_prev = self._posterior_chain(enc, draw)[0][:, -1] if enc.h.shape[1] else self._z0(enc)
        state, skips = enc.state, [f[:, -1] for f in enc.feats]
        frames = []
        for _ in range(horizon):
            state = self.transition(skips[-1], state)
            mu_p, s_p = self.prior(torch.cat([z_prev, state[0]], dim=1))
            z = mu_p + self.cfg.prior_temperature * s_p * draw(tuple(mu_p.shape), "normal")
            conds = self._conditions(state[0], z, skips)
            k = self._quantise(self.flow.sample(conds, self.cfg.temperature, generator))
            frames.append(self._to_unit(k))
            skips = self.extractor(self._scale(k))
            z_prev = z
        out = torch.stack(frames, 1)
        return out.view(b, num_samples, *out.shape[1:])


def build_rfn(values: dict, section: str = "models.rfn", source: str | None = "params.yaml") -> RFN:
    """Validate a params section and build the model (one ParamError line naming the key)."""
    return RFN(parse_config(RFNConfig, values, section, source))

"""Convolutional VRNN and SRNN with a discrete pixel likelihood (seed 001 §3.4–3.7, §8.1, Table A.3).

One module, two configs (``VRNNConfig``, ``SRNNConfig``: the same fields, ``kind`` vrnn or srnn); the
two models differ only in what feeds the transition, the prior and
the posterior (Fig. 8.1: the blue arrows). Frames x_1..x_T, u_t = x_{t-1} (§3.3), e = F_E(x):

    F_E   VGG feature extractor (Table 8.1): per level two 3×3 conv + norm + LeakyReLU(0.2), max-pool 2
    VRNN  h_t = ConvLSTM(h_{t-1}, [e(x_{t-1}) ‖ φ_z(z_{t-1})])                         (eq. 3.25)
          p(z_t | h_t),  q(z_t | e(x_t), h_t)                                    (eqs. 3.23, 3.27)
    SRNN  h_t = ConvLSTM(h_{t-1}, e(x_{t-1}))  (no z in the deterministic path)           (§3.5)
          p(z_t | z_{t-1}, h_t),  q(z_t | z_{t-1}, a_t),
          a_t = ConvLSTM_backward(a_{t+1}, [h_t ‖ e(x_t)])   (smoothing, eq. 3.30)
    D_C   p(x_t | z_t, h_t): the mirrored VGG on [φ_z(z_t) ‖ h_t] -> discretised logistic mixture
          (or discretised Gaussian) parameters (eq. 3.24, §8.1); optional U-Net skips carry the
          feature maps of u_t = x_{t-1} (never of x_t) into D_C.

z_t is spatial: latent_channels × H/2^L × W/2^L. The prior and posterior are "a single block with
2 convolution layers" (§8.2.2) giving (μ, σ), σ = softplus + 1e-3.

Conditioning (Table 9.5: "trained on 10 frames and conditioned on 1"): x_1 only conditions (it is
u_2, h_0 = 0, z_1 = 0); the likelihood and the KL cover x_2..x_T, so a T-frame clip scores
(T - 1)·C·H·W sub-pixels. The loss is the β-weighted negative ELBO per scored sub-pixel (nats);
β warms up linearly from 1e-6 to 1 (Table A.3, §8.4), free bits (Kingma et al. 2016) is optional.

Generation warms up on the context with the posterior (ground-truth frames), then runs the prior
and feeds each predicted frame back as u_{t+1}: by default the mean of p(x_t | z_t, h_t) with z_t
sampled from the prior (``sample_pixels: true`` draws the pixels too; per-pixel noise that a
briefly trained model has never seen as input makes its roll-outs diverge). For the SRNN the
smoothing state a_t at generation time runs backwards over the *context frames only* (the future
is unknown), whereas in training it runs from the end of the clip.

Bits per pixel: ``log_weights`` gives K importance weights log p(x_{2:T}, z) - log q(z | x) per
sequence. The pixel likelihood is a probability mass over the 256 values, so the IWAE bound is a
bound on the discrete log-likelihood directly: no dequantisation noise and no -D log 256 constant
(that convention, §8.3, belongs to the continuous RFN).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genvid.config import rule
from genvid.errors import GenvidError
from genvid.models.convlstm import ConvLSTMCell
from genvid.models.layers import Draw, beta_warmup, gaussian_kl, norm_layer, normal_drawer, upsample_nearest
from genvid.models.recurrent.dmol import make_likelihood

SIGMA_MIN = 1e-3  # floor on the latent scales (§3.6: a lower-bounded variance keeps z stochastic)
LEAKY_SLOPE = 0.2  # §8.2.1


@dataclass(frozen=True)
class VRNNConfig:
    """``models.vrnn``: sizes have no defaults (params.yaml / profiles)."""

    channels: int = field(metadata=rule(min=1))  # image channels: 1 (SM-MNIST) or 3 (driving)
    levels: int = field(metadata=rule(min=1))  # VGG blocks; each halves H and W (Table 8.1)
    base_channels: int = field(metadata=rule(min=1))  # first block's width, doubled per level (Table 8.1)
    hidden_channels: int = field(metadata=rule(min=1))  # h_t, and a_t for the SRNN (both 256, Table A.3)
    latent_channels: int = field(metadata=rule(min=1))  # z_t (15 for SM-MNIST, 25 BAIR, Table A.3)
    components: int = field(metadata=rule(min=1))  # logistic mixture components (not in the thesis)
    beta_warmup_steps: int = field(metadata=rule(min=0))  # linear β warm-up length; 0 = β is 1 from the start
    output: str = field(default="dmol", metadata=rule(choices=("dmol", "gaussian")))
    beta_start: float = field(default=1e-6, metadata=rule(min=0.0, max=1.0))  # Table A.3
    free_bits: float = field(default=0.0, metadata=rule(min=0.0))  # nats per latent channel and step; 0 = off
    norm: str = field(default="batch", metadata=rule(choices=("batch", "group", "none")))  # Table A.3: batch
    skip_connections: bool = False  # U-Net skips from F_E(x_{t-1}) into D_C (not in §8.1's VRNN/SRNN)
    # Emit (and feed back) the mean of p(x_t | z_t, h_t), z_t sampled, as SVG/SRVP decode; true also
    # samples the pixel likelihood. The thesis does not say which its prediction figures used.
    sample_pixels: bool = False
    kind: str = field(default="vrnn", metadata=rule(choices=("vrnn",)))


@dataclass(frozen=True)
class SRNNConfig(VRNNConfig):
    """``models.srnn``: the same fields; the kind adds z_{t-1} -> z_t and the smoothing state (§3.5)."""

    kind: str = field(default="srnn", metadata=rule(choices=("srnn",)))


# ---------------------------------------------------------------------------------------------
# Building blocks


def _conv_block(cin: int, cout: int, norm: str) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), norm_layer(norm, cout), nn.LeakyReLU(LEAKY_SLOPE))


class FeatureExtractor(nn.Module):
    """F_E (Table 8.1): level l has two 3×3 convs of base·2^(l-1) channels, then a 2×2 max-pool.
    Returns every level's output (the last is e_t; the others are the optional skips)."""

    def __init__(self, in_channels: int, widths: list[int], norm: str):
        super().__init__()
        ins = [in_channels] + widths[:-1]
        self.blocks = nn.ModuleList(nn.Sequential(_conv_block(i, o, norm), _conv_block(o, o, norm), nn.MaxPool2d(2))
                                    for i, o in zip(ins, widths))

    def forward(self, x: Tensor) -> list[Tensor]:
        outs = []
        for block in self.blocks:
            x = block(x)
            outs.append(x)
        return outs


class Decoder(nn.Module):
    """D_C: F_E mirrored, nearest-neighbour upsampling; ends in a 1×1 conv to the likelihood's params."""

    def __init__(self, in_channels: int, widths: list[int], out_channels: int, norm: str, skips: bool):
        super().__init__()
        self.skips = skips
        self.stem = _conv_block(in_channels, widths[-1], norm)
        outs = [widths[0]] + widths[:-1]  # level l ends with level l-1's width
        self.pre = nn.ModuleList(_conv_block(w * (2 if skips else 1), w, norm) for w in widths)
        self.post = nn.ModuleList(_conv_block(w, o, norm) for w, o in zip(widths, outs))
        self.head = nn.Conv2d(widths[0], out_channels, 1)

    def forward(self, x: Tensor, skips: list[Tensor] | None) -> Tensor:
        x = self.stem(x)
        for level in reversed(range(len(self.pre))):
            if self.skips:
                x = torch.cat([x, skips[level]], dim=1)
            x = self.post[level](upsample_nearest(self.pre[level](x), 2))
        return self.head(x)


class GaussianHead(nn.Module):
    """Two 3×3 convs (§8.2.2) -> (μ, σ) of a diagonal Gaussian over the spatial z."""

    def __init__(self, in_channels: int, width: int, latent_channels: int):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1), nn.LeakyReLU(LEAKY_SLOPE),
                                 nn.Conv2d(width, 2 * latent_channels, 3, padding=1))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mu, raw = self.net(x).chunk(2, dim=1)
        return mu, F.softplus(raw) + SIGMA_MIN


def gaussian_log_prob(z: Tensor, mu: Tensor, sigma: Tensor) -> Tensor:
    return -0.5 * ((z - mu) / sigma) ** 2 - torch.log(sigma) - 0.5 * math.log(2.0 * math.pi)


# ---------------------------------------------------------------------------------------------
# The model


class VRNN(nn.Module):
    """Convolutional VRNN (``VRNNConfig``) or SRNN with smoothing (``SRNNConfig``)."""

    def __init__(self, cfg: VRNNConfig):
        super().__init__()
        self.cfg = cfg
        widths = [cfg.base_channels * 2 ** level for level in range(cfg.levels)]
        hc, zc, e_ch = cfg.hidden_channels, cfg.latent_channels, widths[-1]
        srnn = cfg.kind == "srnn"
        self.features = FeatureExtractor(cfg.channels, widths, cfg.norm)
        self.phi_z = nn.Sequential(nn.Conv2d(zc, hc, 3, padding=1), nn.LeakyReLU(LEAKY_SLOPE))
        self.transition = ConvLSTMCell(e_ch if srnn else e_ch + hc, hc)
        self.prior = GaussianHead(hc + zc if srnn else hc, hc, zc)
        self.posterior = GaussianHead(hc + zc if srnn else e_ch + hc, hc, zc)
        self.smoother = ConvLSTMCell(hc + e_ch, hc) if srnn else None
        self.likelihood = make_likelihood(cfg.output, cfg.channels, cfg.components)
        self.decoder = Decoder(2 * hc, widths, self.likelihood.num_params, cfg.norm, cfg.skip_connections)
        self.likelihood.init_head(self.decoder.head)

    # -- shapes ------------------------------------------------------------------------------

    def _check(self, frames: Tensor, min_frames: int, what: str) -> None:
        c, f = self.cfg.channels, 2 ** self.cfg.levels
        if frames.ndim != 5 or frames.shape[2] != c or frames.shape[1] < min_frames:
            raise GenvidError(f"{what} must be float [B, T>={min_frames}, {c}, H, W], got {list(frames.shape)}")
        if frames.shape[-1] % f or frames.shape[-2] % f:
            raise GenvidError(f"{what}: H and W must be multiples of 2^levels = {f}, got {list(frames.shape[-2:])}")

    @staticmethod
    def scored_dims(frames_shape: tuple[int, ...] | torch.Size) -> int:
        """Sub-pixels the likelihood covers for clips of ``frames_shape`` [B, T, C, H, W]: (T-1)·C·H·W
        (the first frame only conditions)."""
        _, t, c, h, w = frames_shape
        return (t - 1) * c * h * w

    def _encode(self, frames: Tensor) -> list[Tensor]:
        """F_E of every frame: per level [B, T, c_l, h_l, w_l]."""
        b, t = frames.shape[:2]
        return [f.unflatten(0, (b, t)) for f in self.features(frames.flatten(0, 1))]

    # -- one step of the state-space model ---------------------------------------------------

    def _step_h(self, state, e_prev: Tensor, z_prev: Tensor):
        inp = e_prev if self.cfg.kind == "srnn" else torch.cat([e_prev, self.phi_z(z_prev)], dim=1)
        return self.transition(inp, state)

    def _prior(self, h: Tensor, z_prev: Tensor) -> tuple[Tensor, Tensor]:
        return self.prior(torch.cat([h, z_prev], dim=1) if self.cfg.kind == "srnn" else h)

    def _posterior(self, h_or_a: Tensor, e_t: Tensor, z_prev: Tensor) -> tuple[Tensor, Tensor]:
        if self.cfg.kind == "srnn":  # h_or_a is the smoothing state a_t, which already saw e(x_t)
            return self.posterior(torch.cat([h_or_a, z_prev], dim=1))
        return self.posterior(torch.cat([e_t, h_or_a], dim=1))

    def _smooth(self, hs: list[Tensor], es: list[Tensor]) -> list[Tensor]:
        """a_t = ConvLSTM_backward(a_{t+1}, [h_t ‖ e(x_t)]) over the given steps, returned in time order."""
        state, out = None, []
        for h, e in zip(reversed(hs), reversed(es)):
            state = self.smoother(torch.cat([h, e], dim=1), state)
            out.append(state[0])
        return out[::-1]

    def _decode(self, z: Tensor, h: Tensor, skips: list[Tensor] | None) -> Tensor:
        return self.decoder(torch.cat([self.phi_z(z), h], dim=1), skips)

    # -- inference over a clip ---------------------------------------------------------------

    def _infer(self, frames: Tensor, draw: Draw) -> dict[str, Tensor]:
        """Posterior pass over x_{2:T} given x_1: per sequence log p(x|z) [B], KL [B, T-1, zc]
        (summed over space), and log p(z) - log q(z) at the sampled z [B]."""
        b, t = frames.shape[:2]
        feats = self._encode(frames)
        e = feats[-1]
        z = e.new_zeros(b, self.cfg.latent_channels, *e.shape[-2:])
        state, hs, zs, kls, log_ratio = None, [], [], [], e.new_zeros(b)
        smooth = None
        if self.cfg.kind == "srnn":  # h does not depend on z: run it first, then the backward smoother
            for step in range(1, t):
                state = self._step_h(state, e[:, step - 1], z)
                hs.append(state[0])
            smooth = self._smooth(hs, [e[:, step] for step in range(1, t)])
        for i, step in enumerate(range(1, t)):
            if smooth is None:
                state = self._step_h(state, e[:, step - 1], z)
                hs.append(state[0])
            h = hs[i]
            mu_p, s_p = self._prior(h, z)
            mu_q, s_q = self._posterior(smooth[i] if smooth is not None else h, e[:, step], z)
            z = mu_q + s_q * draw(tuple(mu_q.shape))
            kls.append(gaussian_kl(mu_q, s_q, mu_p, s_p).sum((-2, -1)))
            log_ratio = log_ratio + (gaussian_log_prob(z, mu_p, s_p) - gaussian_log_prob(z, mu_q, s_q)).sum((1, 2, 3))
            zs.append(z)
        skips = [f[:, :-1].flatten(0, 1) for f in feats] if self.cfg.skip_connections else None
        params = self._decode(torch.stack(zs, 1).flatten(0, 1), torch.stack(hs, 1).flatten(0, 1), skips)
        log_px = self.likelihood.log_prob(params, frames[:, 1:].flatten(0, 1)).unflatten(0, (b, t - 1))
        return {"log_px": log_px.sum((1, 2, 3, 4)), "kl": torch.stack(kls, 1), "log_ratio": log_ratio}

    def loss(self, frames: Tensor, step: int) -> tuple[Tensor, dict[str, float]]:
        """β-weighted negative ELBO in nats per scored sub-pixel; z noise from the global RNG."""
        self._check(frames, 2, "frames")
        out = self._infer(frames, normal_drawer(None, frames.device))
        recon, kl = -out["log_px"], out["kl"]
        kl_seq = kl.sum((1, 2))
        if self.cfg.free_bits > 0:  # Kingma et al. 2016: per latent channel and step, batch-averaged
            kl_term = kl.mean(0).clamp_min(self.cfg.free_bits).sum()
        else:
            kl_term = kl_seq.mean()
        beta = beta_warmup(step, self.cfg.beta_warmup_steps, self.cfg.beta_start)
        dims = self.scored_dims(frames.shape)
        loss = (recon.mean() + beta * kl_term) / dims
        to_bits = 1.0 / (dims * math.log(2.0))
        recon, kl_seq = recon.detach(), kl_seq.detach()
        return loss, {"nelbo_bpd": float((recon + kl_seq).mean()) * to_bits,
                      "recon_bpd": float(recon.mean()) * to_bits,
                      "kl_nats_per_frame": float(kl_seq.mean()) / (frames.shape[1] - 1),
                      "beta": beta}

    @torch.no_grad()
    def elbo(self, frames: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """ELBO (analytic KL, one z sample) in nats per sequence: [B]."""
        self._check(frames, 2, "frames")
        out = self._infer(frames, normal_drawer(generator, frames.device))
        return out["log_px"] - out["kl"].sum((1, 2))

    @torch.no_grad()
    def log_weights(self, frames: Tensor, k: int, generator: torch.Generator | None = None) -> Tensor:
        """K importance weights log p(x_{2:T}, z | x_1) - log q(z | x) in nats per sequence: [B, K].
        Call in eval mode (batch norm on running statistics) for a batch-independent bound."""
        self._check(frames, 2, "frames")
        if k < 1:
            raise GenvidError(f"importance samples k must be >= 1, got {k}")
        draw = normal_drawer(generator, frames.device)
        weights = []
        for _ in range(k):
            out = self._infer(frames, draw)
            weights.append(out["log_px"] + out["log_ratio"])
        return torch.stack(weights, 1)

    # -- generation --------------------------------------------------------------------------

    @torch.no_grad()
    def generate(self, context: Tensor, horizon: int, num_samples: int, generator: torch.Generator) -> Tensor:
        """Posterior over the context, then the prior: [B, num_samples, horizon, C, H, W] in [0, 1].

        Noise order, fixed so the first frames do not depend on ``horizon``: one z draw per context
        step 2..Tc, then per predicted frame a z draw and the pixel noise."""
        self._check(context, 1, "context")
        if horizon < 1 or num_samples < 1:
            raise GenvidError(f"horizon and num_samples must be >= 1, got {horizon}, {num_samples}")
        b, tc = context.shape[:2]
        x = context.repeat_interleave(num_samples, dim=0)  # [B*S, Tc, C, H, W], sample-major per clip
        draw = normal_drawer(generator, x.device)
        feats = self._encode(x)
        e = feats[-1]
        z = e.new_zeros(x.shape[0], self.cfg.latent_channels, *e.shape[-2:])
        state, hs = None, []
        if self.cfg.kind == "srnn":
            for step in range(1, tc):
                state = self._step_h(state, e[:, step - 1], z)
                hs.append(state[0])
            smooth = self._smooth(hs, [e[:, step] for step in range(1, tc)])  # context only
        for i, step in enumerate(range(1, tc)):  # warm-up on the ground truth with the posterior
            if self.cfg.kind == "srnn":
                mu_q, s_q = self._posterior(smooth[i], e[:, step], z)
            else:
                state = self._step_h(state, e[:, step - 1], z)
                mu_q, s_q = self._posterior(state[0], e[:, step], z)
            z = mu_q + s_q * draw(tuple(mu_q.shape))
        prev = [f[:, -1] for f in feats]  # F_E(x_{t-1}) at every level
        frames = []
        for _ in range(horizon):
            state = self._step_h(state, prev[-1], z)
            mu_p, s_p = self._prior(state[0], z)
            z = mu_p + s_p * draw(tuple(mu_p.shape))
            params = self._decode(z, state[0], prev if self.cfg.skip_connections else None)
            frame = (self.likelihood.sample(params, generator) if self.cfg.sample_pixels
                     else self.likelihood.mean(params))
            frames.append(frame)
            prev = self.features(frame)
        return torch.stack(frames, 1).unflatten(0, (b, num_samples))

"""Improved Conditional VRNN with a hierarchy of latents (seed 004 §4.4, App. 4.A–4.B).

Context c_1..c_D, future x_1..x_T (§4.3); e_t^r is the frame encoder's feature map of frame t at
resolution r; levels l = 1..L of latents z_t^l at resolutions r_1 < ... < r_L (default 1, 8, 32).

    frame encoder (Table 4.4)  Conv -> ResBlock | per halving: MaxPool, 2 ResBlocks | MaxPool to 4×4
                               -> ResBlock (4×4 kernel, 4×4 -> 1×1) -> ResBlock         => e^R ... e^8, e^4, e^1
    initial states (Table 4.7) every ConvLSTM's (h, c) = Conv+GN+ReLU, Conv+GN (e_{c_1}^r)
    per step t, level 1 first (ancestral sampling, eqs. 4.3–4.4):
        prior_l      Conv1×1+GN -> ConvLSTM -> Conv1×1 -> N(μ, σ) of z_t^l             (Table 4.6)
        posterior_l  the same network shape, its own weights
    decoder (Table 4.5)        stages at 1, 4, 8, ..., R: [ConvLSTM | Conv+GN+ReLU] interleaved with
                               UpConvs (1 -> 4, then ×2) -> Conv+GN+ReLU -> Conv -> p(x_t | ·)

Wiring (Fig. 4.2 prior, Fig. 4.8 posterior). Every network also has its own recurrent state
(the black arrows); lower levels' z are upsampled (nearest) to r_l.

    ``dense=True`` (§4.4.1: "each stochastic latent variable is connected to the input and to all
    subsequent stochastic levels"; "each latent variable has a direct connection to x_t"):
        prior_l       e_{t-1}^{r_l}, z_t^1 ... z_t^{l-1}
        posterior_l   e_{t-1}^{r_l}, e_t^{r_l}, z_t^1 ... z_t^{l-1}
        decoder       e_{t-1}^1 at its 1×1 stage, and every z_t^l at the stage of resolution r_l
    ``dense=False`` (the thesis shows only the dense graph; we read its opposite as the plain chain
    of a top-down hierarchy, z^1 -> z^2 -> ... -> z^L -> x_t, so information of an upper level
    reaches x_t only through every stochastic level below it, the §4.4.1 difficulty):
        prior_1       e_{t-1}^{r_1}               prior_l (l > 1)      z_t^{l-1}
        posterior_1   e_{t-1}^{r_1}, e_t^{r_1}    posterior_l (l > 1)  e_t^{r_l}, z_t^{l-1}
        decoder       e_{t-1}^1 at its 1×1 stage, and z_t^L only
    With one level the two are the same model.

Context (§4.4.2: "the representation of the context frames is used to initialize the states"; how
D > 1 frames combine is not stated): Table 4.7's networks initialise every state from c_1, then
the networks run over c_2..c_D teacher-forced, with posterior means as z (deterministic, no loss
terms: the ELBO is of p(x | c), eq. 4.2). Training is teacher-forced (§4.5): the prior and decoder
see the true x_{t-1}; z comes from the posterior. Generation feeds back the likelihood's mean.

Likelihood (the thesis does not state it): ``squared_error`` (the default) -- log p(x | o) :=
−(x − sigmoid(o))² per sub-pixel, a Gaussian with σ² = 1/2 without its normalising constant, read
off Tables 4.1–4.2's magnitudes (THESIS_SCALE below); ``gaussian`` -- N(x; sigmoid(o), σ²) with a
fixed σ, normalised; or ``bernoulli`` -- Bernoulli(sigmoid(o)) on [0, 1] intensities, the usual
choice for SM-MNIST. Frames are reported as the mean sigmoid(o).

ELBO (eq. 4.5) per sequence in nats: Σ_t log p(x_t | z_{≤t}, x_{<t}, c) − Σ_t Σ_l KL(q_l || p_l),
the KL analytic given the sampled lower levels. The loss is the β-weighted negative ELBO per
predicted sub-pixel, β warming up linearly from 0 to 1 (§4.5, Sønderby et al. 2016).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genvid.config import rule
from genvid.data.train_metrics import ACTIVE_KL, MAX_KL  # noqa: F401  (§4.5.1; defined beside the schema)
from genvid.errors import GenvidError
from genvid.models.convlstm import ConvLSTMCell
from genvid.models.layers import beta_warmup, gaussian_kl, normal_drawer, upsample_nearest
from genvid.models.predictor import sample_rows

SIGMA_MIN = 1e-4  # floor on the latent scales, so log σ stays finite

# Why ``squared_error``. Tables 4.1–4.2 report negative ELBOs of 883–3,826 per BAIR test sequence
# (§4.5.1: 10 predicted frames of 64×64×3, N = 122,880 sub-pixels). A normalised Gaussian adds
# N·(log σ + ½ log 2π) to that: −170,022 at σ = 0.1, +112,919 at σ = 1, so twelve rows spread over
# 10³–4·10³ would each need the squared error to cancel the constant to within a few per cent: the
# reported ELBO carries no constant. Unnormalised, −ELBO = Σ(x − μ)² / (2σ²) + KL ≥ Σ(x − μ)² / (2σ²),
# so the per-sub-pixel MSE is at most 2σ² · 3,826 / N = 0.062 σ² for Table 4.1's 1-ConvLSTM model,
# whose decoder rebuilds each frame from 1×1 features: σ = 0.1 would put its reconstructions at
# PSNR ≥ 32 dB on [0, 1] pixels, σ² = ½ (the plain sum of squared errors) at ≥ 15 dB, the scale of
# a blurry 64×64 reconstruction. genvid takes the plain sum: σ² = ½, weight 1 on Σ(x − μ)².
THESIS_SCALE = {"subpixels": 10 * 64 * 64 * 3, "neg_elbo_range": (883.10, 3826.0)}

Source = tuple[str, int]  # ("prev" | "cur", resolution) or ("z", level index)


@dataclass(frozen=True)
class HVRNNConfig:
    """``models.hvrnn``: sizes have no defaults (params.yaml / profiles)."""

    channels: int = field(metadata=rule(min=1))  # image channels
    resolution: int = field(metadata=rule(min=8))  # frame height = width, a power of two
    context_frames: int = field(metadata=rule(min=1))  # D: conditioning frames of a training clip
    # Table 4.4: one width per encoder resolution R, R/2, ..., 8, then the 1×1 width (64: 5 values)
    encoder_widths: tuple[int, ...]
    # Table 4.5: one width per decoder stage at 1, 4, 8, ..., R (64: 6 values)
    decoder_widths: tuple[int, ...]
    decoder_lstm_layers: int = field(metadata=rule(min=1))  # Table 4.1: stages (from 1×1 up) that are ConvLSTMs
    latent_resolutions: tuple[int, ...]  # Table 4.2: (1, 8, 32) at 64×64
    latent_channels: tuple[int, ...]  # z channels per level (Table 4.6: 128, 512, 512)
    latent_widths: tuple[int, ...]  # prior/posterior ConvLSTM width per level (Table 4.6)
    beta_warmup_steps: int = field(metadata=rule(min=0))  # linear 0 -> 1; 0 = off (β = 1, "naive")
    dense: bool = True  # §4.4.1 dense latent connectivity
    likelihood: str = field(default="squared_error",
                            metadata=rule(choices=("squared_error", "gaussian", "bernoulli")))
    sigma: float = field(default=0.1, metadata=rule(min=0.0, exclusive_min=True))  # ``gaussian``'s σ only
    norm_groups: int = field(default=16, metadata=rule(min=1))  # App. 4.B: g = 16

    def stage_resolutions(self) -> list[int]:
        """Decoder stages: 1, 4, 8, ..., R (Table 4.5)."""
        out, r = [1], 4
        while r <= self.resolution:
            out.append(r)
            r *= 2
        return out

    def validate(self) -> str | None:
        r = self.resolution
        if r & (r - 1):
            return f"resolution must be a power of two, got {r}"
        stages = self.stage_resolutions()
        if len(self.encoder_widths) != len(stages) - 1:
            return (f"encoder_widths needs {len(stages) - 1} values at resolution {r} "
                    f"(one per resolution {r}..8, then 1×1), got {len(self.encoder_widths)}")
        if len(self.decoder_widths) != len(stages):
            return f"decoder_widths needs {len(stages)} values (stages {stages}), got {len(self.decoder_widths)}"
        if self.decoder_lstm_layers > len(stages):
            return f"decoder_lstm_layers must be <= {len(stages)} (the decoder stages), got {self.decoder_lstm_layers}"
        levels = self.latent_resolutions
        if not levels:
            return "latent_resolutions must list at least one level"
        if any(res not in stages for res in levels):
            return f"latent_resolutions must be decoder stage resolutions {stages}, got {list(levels)}"
        if any(b <= a for a, b in zip(levels, levels[1:])):
            return f"latent_resolutions must increase, got {list(levels)}"
        for name in ("latent_channels", "latent_widths"):
            if len(getattr(self, name)) != len(levels):
                return f"{name} needs one value per level ({len(levels)}), got {len(getattr(self, name))}"
        if min(self.latent_channels) < 1:
            return f"latent_channels must be >= 1, got {list(self.latent_channels)}"
        g = self.norm_groups
        for name in ("encoder_widths", "decoder_widths", "latent_widths"):
            # two channels per group at least: a group of one channel at 1×1 normalises to 0
            bad = [w for w in getattr(self, name) if w % g or w < 2 * g]
            if bad:
                return f"{name} must be multiples of norm_groups ({g}) and >= {2 * g}, got {bad}"
        return None


def normalized_kl(kl_per_channel: Tensor) -> Tensor:
    """Fig. 4.4's colour: mean KL per channel over the 'maximally activated' 0.15, clipped to [0, 1]."""
    return (kl_per_channel / MAX_KL).clamp(0.0, 1.0)


def _kernel(res: int) -> int:
    # At 1×1 a padded 3×3 kernel reduces to its centre tap: a 1×1 kernel is the same function
    # without 8/9 of the weights dead.
    return 1 if res == 1 else 3


# ---------------------------------------------------------------------------------------------
# Building blocks (App. 4.B: 3×3 convs, GroupNorm g = 16, transposed convs 4×4 / stride 2 / pad 1)


class ResBlock(nn.Module):
    """App. 4.B's "modified ResNet block": two groups of ReLU + Conv2D + GroupNorm, plus the input
    (a projection when the width or size changes). ``valid=True`` is Table 4.4's "ks = 4" block:
    an unpadded k×k conv that maps a k×k map to 1×1."""

    def __init__(self, cin: int, cout: int, groups: int, kernel: int = 3, valid: bool = False):
        super().__init__()
        second = 1 if valid else kernel
        self.body = nn.Sequential(
            nn.ReLU(), nn.Conv2d(cin, cout, kernel, padding=0 if valid else kernel // 2), nn.GroupNorm(groups, cout),
            nn.ReLU(), nn.Conv2d(cout, cout, second, padding=second // 2), nn.GroupNorm(groups, cout))
        self.skip = (nn.Identity() if cin == cout and not valid
                     else nn.Conv2d(cin, cout, kernel if valid else 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.skip(x) + self.body(x)


class FrameEncoder(nn.Module):
    """Table 4.4, with the depth following the resolution: features at R, R/2, ..., 8, 4 and 1."""

    def __init__(self, channels: int, resolution: int, widths: tuple[int, ...], groups: int):
        super().__init__()
        *ws, top = widths
        self.resolutions = [resolution // 2 ** i for i in range(len(ws))]  # R .. 8
        self.stem = nn.Conv2d(channels, ws[0], 3, padding=1)
        stages = [nn.Sequential(ResBlock(ws[0], ws[0], groups))]
        for i in range(1, len(ws)):
            stages.append(nn.Sequential(nn.MaxPool2d(2), ResBlock(ws[i - 1], ws[i], groups), ResBlock(ws[i], ws[i], groups)))
        self.stages = nn.ModuleList(stages)
        self.pool = nn.MaxPool2d(2)  # 8×8 -> 4×4
        self.top = nn.Sequential(ResBlock(ws[-1], top, groups, kernel=4, valid=True), ResBlock(top, top, groups, kernel=1))
        self.widths = {**dict(zip(self.resolutions, ws)), 4: ws[-1], 1: top}

    def forward(self, x: Tensor) -> dict[int, Tensor]:
        feats, h = {}, self.stem(x)
        for res, stage in zip(self.resolutions, self.stages):
            h = stage(h)
            feats[res] = h
        feats[4] = self.pool(h)
        feats[1] = self.top(feats[4])
        return feats


class NormConvLSTMCell(ConvLSTMCell):
    """The shared ConvLSTM cell with GroupNorm on its gate pre-activations (App. 4.B: "ConvLSTM
    layers use 3x3 kernels ... and GroupNorm"; where the norm sits is not stated). 4g groups over
    the 4 gates, so no group mixes two gates; the forget-gate bias of 1 moves into the norm's shift,
    since the norm removes the conv's."""

    def __init__(self, cin: int, hidden: int, kernel: int, groups: int):
        super().__init__(cin, hidden, kernel)
        self.norm = nn.GroupNorm(4 * groups, 4 * hidden)
        with torch.no_grad():
            self.norm.bias[hidden:2 * hidden].fill_(1.0)

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        h, c = self.initial_state(x) if state is None else state
        i, f, o, g = self.norm(self.gates(torch.cat([x, h], dim=1))).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


class InitState(nn.Module):
    """Table 4.7: Conv1×1 + GN + ReLU, Conv1×1 + GN -> the (h, c) of one ConvLSTM."""

    def __init__(self, cin: int, hidden: int, groups: int):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(cin, hidden, 1), nn.GroupNorm(groups, hidden), nn.ReLU(),
                                 nn.Conv2d(hidden, 2 * hidden, 1), nn.GroupNorm(2 * groups, 2 * hidden))

    def forward(self, e: Tensor) -> tuple[Tensor, Tensor]:
        h, c = self.net(e).chunk(2, dim=1)
        return h, c


class LatentNet(nn.Module):
    """Table 4.6: Conv1×1 + GN -> ConvLSTM -> Conv1×1 -> (μ, σ), σ = softplus + 1e-4. Table 4.6
    also lists a GroupNorm on the last layer; we leave it out, since normalising the Gaussian's
    parameters across channels would tie the channels' means and scales together."""

    def __init__(self, cin: int, width: int, latent: int, res: int, groups: int):
        super().__init__()
        self.inp = nn.Sequential(nn.Conv2d(cin, width, 1), nn.GroupNorm(groups, width))
        self.cell = NormConvLSTMCell(width, width, _kernel(res), groups)
        self.out = nn.Conv2d(width, 2 * latent, 1)

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor, tuple[Tensor, Tensor]]:
        state = self.cell(self.inp(x), state)
        mu, raw = self.out(state[0]).chunk(2, dim=1)
        return mu, F.softplus(raw) + SIGMA_MIN, state


class Decoder(nn.Module):
    """Table 4.5: a stage per resolution 1, 4, 8, ..., R; stage i takes the upsampled previous
    stage (stage 0: e_{t-1}^1) and the z entering at its resolution; the first
    ``lstm_layers`` stages are ConvLSTMs (Table 4.1), the others Conv + GN + ReLU blocks."""

    def __init__(self, in_channels: int, widths: tuple[int, ...], stages: list[int], z_in: list[int],
                 lstm_layers: int, out_channels: int, groups: int):
        super().__init__()
        self.lstm_layers = lstm_layers
        ups, layers = [], []
        for i, (res, w) in enumerate(zip(stages, widths)):
            if i > 0:  # UpConv: 1 -> 4 ("scale = 4"), then 4×4 kernels, stride 2, padding 1
                stride, pad = (1, 0) if i == 1 else (2, 1)
                ups.append(nn.Sequential(nn.ConvTranspose2d(widths[i - 1], w, 4, stride, pad),
                                         nn.GroupNorm(groups, w), nn.ReLU()))
            cin = (in_channels if i == 0 else w) + z_in[i]
            k = _kernel(res)
            layers.append(NormConvLSTMCell(cin, w, k, groups) if i < lstm_layers else
                          nn.Sequential(nn.Conv2d(cin, w, k, padding=k // 2), nn.GroupNorm(groups, w), nn.ReLU()))
        self.ups, self.layers = nn.ModuleList(ups), nn.ModuleList(layers)
        w = widths[-1]
        self.head = nn.Sequential(nn.Conv2d(w, w, 3, padding=1), nn.GroupNorm(groups, w), nn.ReLU(),
                                  nn.Conv2d(w, out_channels, 3, padding=1))

    def forward(self, e_top: Tensor, z_in: list[list[Tensor]], states: list[tuple[Tensor, Tensor]],
                output: bool = True) -> tuple[Tensor | None, list[tuple[Tensor, Tensor]]]:
        """One step; ``output=False`` stops after the last ConvLSTM (context warm-up)."""
        h, new = e_top, []
        last = len(self.layers) if output else self.lstm_layers
        for i in range(last):
            if i > 0:
                h = self.ups[i - 1](h)
            x = torch.cat([h, *z_in[i]], dim=1) if z_in[i] else h
            if i < self.lstm_layers:
                state = self.layers[i](x, states[i])
                new.append(state)
                h = state[0]
            else:
                h = self.layers[i](x)
        return (self.head(h) if output else None), new


# ---------------------------------------------------------------------------------------------
# The model


@dataclass
class State:
    """Recurrent state of every ConvLSTM: per level (prior, posterior), per decoder LSTM stage."""

    prior: list[tuple[Tensor, Tensor]]
    posterior: list[tuple[Tensor, Tensor]]
    decoder: list[tuple[Tensor, Tensor]]


@dataclass
class Unroll:
    """A teacher-forced pass over the future frames: per future step, per level, the posterior and
    prior (μ, σ), and the decoder's raw output o_t (the likelihood's parameter)."""

    posterior: list[list[tuple[Tensor, Tensor]]]
    prior: list[list[tuple[Tensor, Tensor]]]
    outputs: list[Tensor]
    targets: Tensor  # [B, T, C, H, W], the future frames


class HVRNN(nn.Module):
    """The hierarchical VRNN (seed 004 §4.4). The pixel-model contract: ``loss``, ``generate``;
    diagnostics: ``elbo_terms``, ``kl_per_channel``."""

    def __init__(self, cfg: HVRNNConfig):
        super().__init__()
        problem = cfg.validate()
        if problem:
            raise GenvidError(f"models.hvrnn: {problem}")
        self.cfg = cfg
        g = cfg.norm_groups
        self.stages = cfg.stage_resolutions()
        self.levels = list(cfg.latent_resolutions)
        self.encoder = FrameEncoder(cfg.channels, cfg.resolution, cfg.encoder_widths, g)
        ew = self.encoder.widths
        self.priors = nn.ModuleList(
            LatentNet(self._channels(self.prior_sources(l)), cfg.latent_widths[l], cfg.latent_channels[l], r, g)
            for l, r in enumerate(self.levels))
        self.posteriors = nn.ModuleList(
            LatentNet(self._channels(self.posterior_sources(l)), cfg.latent_widths[l], cfg.latent_channels[l], r, g)
            for l, r in enumerate(self.levels))
        z_in = [sum(cfg.latent_channels[l] for l in self.decoder_levels() if self.levels[l] == r) for r in self.stages]
        self.decoder = Decoder(ew[1], cfg.decoder_widths, self.stages, z_in, cfg.decoder_lstm_layers, cfg.channels, g)
        self.prior_init = nn.ModuleList(InitState(ew[r], cfg.latent_widths[l], g) for l, r in enumerate(self.levels))
        self.posterior_init = nn.ModuleList(InitState(ew[r], cfg.latent_widths[l], g) for l, r in enumerate(self.levels))
        self.decoder_init = nn.ModuleList(InitState(ew[r], cfg.decoder_widths[i], g)
                                          for i, r in enumerate(self.stages[:cfg.decoder_lstm_layers]))

    # -- the wiring (Fig. 4.2 / 4.8): one place, read by the layer widths and by the step --------

    def prior_sources(self, l: int) -> list[Source]:
        """What prior_l reads besides its own state (see the module docstring's table)."""
        r = self.levels[l]
        if self.cfg.dense:
            return [("prev", r)] + [("z", k) for k in range(l)]
        return [("prev", r)] if l == 0 else [("z", l - 1)]

    def posterior_sources(self, l: int) -> list[Source]:
        r = self.levels[l]
        if self.cfg.dense:
            return [("prev", r), ("cur", r)] + [("z", k) for k in range(l)]
        return [("prev", r), ("cur", r)] if l == 0 else [("cur", r), ("z", l - 1)]

    def decoder_levels(self) -> list[int]:
        """Levels with a direct connection to the output."""
        return list(range(len(self.levels))) if self.cfg.dense else [len(self.levels) - 1]

    def _channels(self, sources: list[Source]) -> int:
        widths = self.encoder.widths
        return sum(self.cfg.latent_channels[i] if kind == "z" else widths[i] for kind, i in sources)

    def _gather(self, l: int, sources: list[Source], enc_prev: dict[int, Tensor],
                enc_cur: dict[int, Tensor] | None, zs: list[Tensor]) -> Tensor:
        r, parts = self.levels[l], []
        for kind, i in sources:
            if kind == "z":
                parts.append(upsample_nearest(zs[i], r // self.levels[i]))
            else:
                parts.append((enc_prev if kind == "prev" else enc_cur)[i])
        return torch.cat(parts, dim=1)

    def prior_params(self, l: int, enc_prev: dict[int, Tensor], zs: list[Tensor],
                     state: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor, tuple[Tensor, Tensor]]:
        """p(z_t^l | z_t^{<l}, z_{<t}^l, x_{<t}, c): (μ, σ, new state). ``zs`` holds z_t^1.. (at least l)."""
        return self.priors[l](self._gather(l, self.prior_sources(l), enc_prev, None, zs), state)

    def posterior_params(self, l: int, enc_prev: dict[int, Tensor], enc_cur: dict[int, Tensor],
                         zs: list[Tensor], state: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor, tuple[Tensor, Tensor]]:
        """q(z_t^l | z_t^{<l}, z_{<t}^l, x_{≤t}, c): (μ, σ, new state)."""
        return self.posteriors[l](self._gather(l, self.posterior_sources(l), enc_prev, enc_cur, zs), state)

    def decode(self, enc_prev: dict[int, Tensor], zs: list[Tensor], states: list[tuple[Tensor, Tensor]],
               output: bool = True) -> tuple[Tensor | None, list[tuple[Tensor, Tensor]]]:
        """p(x_t | z_{≤t}, x_{<t}, c): the raw output o_t [B, C, H, W] and the new decoder states."""
        connected = set(self.decoder_levels())
        z_in = [[zs[l] for l in range(len(self.levels)) if l in connected and self.levels[l] == r]
                for r in self.stages]
        return self.decoder(enc_prev[1], z_in, states, output)

    # -- one step and a teacher-forced pass ----------------------------------------------------

    def initial_state(self, enc_first: dict[int, Tensor]) -> State:
        """Table 4.7: every ConvLSTM's (h, c) from the first context frame's features."""
        return State(prior=[net(enc_first[r]) for net, r in zip(self.prior_init, self.levels)],
                     posterior=[net(enc_first[r]) for net, r in zip(self.posterior_init, self.levels)],
                     decoder=[net(enc_first[r]) for net, r in zip(self.decoder_init, self.stages)])

    def _step(self, enc_prev: dict[int, Tensor], enc_cur: dict[int, Tensor] | None, state: State,
              draw, output: bool = True):
        """One time step, level 1 first. With ``enc_cur`` z comes from the posterior (a sample, or
        its mean when ``draw`` is None), else from the prior. Returns (per-level posterior and prior
        (μ, σ), decoder output or None, new state)."""
        zs, post, prior = [], [], []
        new = State([], [], [])
        for l in range(len(self.levels)):
            mu_p, s_p, st = self.prior_params(l, enc_prev, zs, state.prior[l])
            new.prior.append(st)
            prior.append((mu_p, s_p))
            if enc_cur is not None:
                mu, s, st = self.posterior_params(l, enc_prev, enc_cur, zs, state.posterior[l])
                new.posterior.append(st)
                post.append((mu, s))
            else:
                mu, s = mu_p, s_p
            zs.append(mu if draw is None else mu + s * draw(tuple(mu.shape)))
        if enc_cur is None:
            new.posterior = state.posterior
        out, new.decoder = self.decode(enc_prev, zs, state.decoder, output)
        return post, prior, out, new

    def _encode(self, frames: Tensor) -> list[dict[int, Tensor]]:
        """Encoder features per frame (GroupNorm is per sample, so one batched call is exact)."""
        b, t = frames.shape[:2]
        feats = self.encoder(frames.flatten(0, 1))
        return [{r: f.unflatten(0, (b, t))[:, i] for r, f in feats.items()} for i in range(t)]

    def _warm_up(self, enc: list[dict[int, Tensor]], context: int) -> State:
        """States after the context: initialised from c_1, then teacher-forced over c_2..c_D with
        posterior means (no noise, no loss terms)."""
        state = self.initial_state(enc[0])
        for t in range(1, context):
            _, _, _, state = self._step(enc[t - 1], enc[t], state, None, output=False)
        return state

    def _check(self, frames: Tensor, min_frames: int, what: str) -> None:
        c, r = self.cfg.channels, self.cfg.resolution
        if frames.ndim != 5 or tuple(frames.shape[2:]) != (c, r, r) or frames.shape[1] < min_frames:
            raise GenvidError(f"{what} must be float [B, T>={min_frames}, {c}, {r}, {r}], got {list(frames.shape)}")

    def unroll(self, frames: Tensor, generator: torch.Generator | None = None) -> Unroll:
        """Teacher-forced pass over a clip [B, D+T, C, H, W] (D = ``context_frames``); posterior
        noise from ``generator`` (None: the global RNG, as in training)."""
        d = self.cfg.context_frames
        self._check(frames, d + 1, "frames")
        draw = normal_drawer(generator, frames.device)
        enc = self._encode(frames)
        state = self._warm_up(enc, d)
        posts, priors, outs = [], [], []
        for t in range(d, frames.shape[1]):
            post, prior, out, state = self._step(enc[t - 1], enc[t], state, draw)
            posts.append(post)
            priors.append(prior)
            outs.append(out)
        return Unroll(posts, priors, outs, frames[:, d:])

    # -- the ELBO ------------------------------------------------------------------------------

    def log_likelihood(self, out: Tensor, x: Tensor) -> Tensor:
        """log p(x | o) per sub-pixel (nats; ``squared_error``: up to the Gaussian's constant)."""
        if self.cfg.likelihood == "bernoulli":
            return -F.binary_cross_entropy_with_logits(out, x, reduction="none")
        if self.cfg.likelihood == "squared_error":
            return -(x - torch.sigmoid(out)) ** 2
        s = self.cfg.sigma
        return -0.5 * ((x - torch.sigmoid(out)) / s) ** 2 - math.log(s) - 0.5 * math.log(2.0 * math.pi)

    @property
    def elbo_unit(self) -> str:
        """What ``elbo_terms``' numbers are, for the files that record them."""
        if self.cfg.likelihood == "squared_error":
            return "per sequence (the predicted frames): summed squared error + KL in nats, seed 004's scale"
        return "nats per sequence (the predicted frames)"

    def _terms(self, u: Unroll) -> dict[str, Tensor]:
        recon = sum(self.log_likelihood(o, u.targets[:, t]).sum((1, 2, 3)) for t, o in enumerate(u.outputs))
        kls = [sum(gaussian_kl(*u.posterior[t][l], *u.prior[t][l]).sum((1, 2, 3)) for t in range(len(u.outputs)))
               for l in range(len(self.levels))]
        terms = {"recon": recon}
        terms.update({f"kl_{r}x{r}": kl for r, kl in zip(self.levels, kls)})
        terms["kl"] = torch.stack(kls, 0).sum(0)
        terms["elbo"] = recon - terms["kl"]
        return terms

    @torch.no_grad()
    def elbo_terms(self, frames: Tensor, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Per sequence [B], nats: ``recon`` = Σ_t log p(x_t | ·), ``kl_{r}x{r}`` per level (Σ over t,
        channels and positions), ``kl`` = Σ_l, ``elbo`` = recon − kl (eq. 4.5; one posterior sample,
        analytic KL). Frames [B, D+T, C, H, W]; the T frames after the D context frames are scored."""
        return self._terms(self.unroll(frames, generator))

    def loss(self, frames: Tensor, step: int) -> tuple[Tensor, dict[str, float]]:
        """β-weighted negative ELBO per predicted sub-pixel; posterior noise from the global RNG."""
        terms = self._terms(self.unroll(frames))
        beta = beta_warmup(step, self.cfg.beta_warmup_steps, start=0.0)  # from 0, seed 004 §4.5
        dims = (frames.shape[1] - self.cfg.context_frames) * frames[0, 0].numel()
        loss = (beta * terms["kl"] - terms["recon"]).mean() / dims
        scalars = {name: float(v.detach().mean()) for name, v in terms.items()}
        scalars["beta"] = beta
        return loss, scalars

    @torch.no_grad()
    def kl_per_channel(self, frames: Tensor, generator: torch.Generator | None = None,
                       positions: str = "mean") -> list[Tensor]:
        """Mean KL per latent channel, per level: [latent_channels[l]] averaged over clips and future
        steps, and over the channel's r×r positions (``positions="mean"``: the KL of one latent unit,
        comparable across levels; our reading of Fig. 4.4's "normalized") or summed over them
        (``"sum"``: the KL of the whole channel map). §4.5.1: a channel is active above 0.01."""
        if positions not in ("mean", "sum"):
            raise GenvidError(f"positions must be 'mean' or 'sum', got {positions!r}")
        u = self.unroll(frames, generator)
        out = []
        for l in range(len(self.levels)):
            kl = torch.stack([gaussian_kl(*u.posterior[t][l], *u.prior[t][l]) for t in range(len(u.outputs))])
            kl = kl.mean((3, 4)) if positions == "mean" else kl.sum((3, 4))
            out.append(kl.mean((0, 1)))
        return out

    # -- generation ----------------------------------------------------------------------------

    def rollout(self, context: Tensor, horizon: int, num_samples: int, generator: torch.Generator) -> Tensor:
        """``generate`` with autograd left as the caller has it (for gradient checks)."""
        self._check(context, 1, "context")
        b, tc = context.shape[:2]
        x = sample_rows(context, horizon, num_samples)  # [B*S, Tc, ...], sample-major per clip
        draw = normal_drawer(generator, x.device)
        enc = self._encode(x)
        state = self._warm_up(enc, tc)
        prev, frames = enc[-1], []
        for _ in range(horizon):  # noise: one draw per level per step, so the prefix never changes
            _, _, out, state = self._step(prev, None, state, draw)
            frame = torch.sigmoid(out)
            frames.append(frame)
            prev = self.encoder(frame)
        return torch.stack(frames, 1).unflatten(0, (b, num_samples))

    def generate(self, context: Tensor, horizon: int, num_samples: int, generator: torch.Generator) -> Tensor:
        """[B, num_samples, horizon, C, H, W] in [0, 1]: context warm-up, then ancestral sampling from
        the prior, feeding back the likelihood's mean. All noise from ``generator``."""
        with torch.no_grad():
            return self.rollout(context, horizon, num_samples, generator)

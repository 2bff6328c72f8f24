"""SVG-LP: stochastic video generation with a learned prior (Denton & Fergus 2018), the
baseline of seed 004 Table 4.3.

    encoder  DCGAN: per halving Conv 4×4/2/1 + BN + LeakyReLU(0.2), widths nf·2^i, down to 4×4,
             then Conv 4×4 (valid) + BN + tanh -> h_t ∈ R^g; the feature maps are the skips
    posterior q(z_t | x_{1:t})     = LSTM(h_t)        -> (μ, log σ²)   (1 layer, 256 units)
    prior     p(z_t | x_{1:t-1})   = LSTM(h_{t-1})    -> (μ, log σ²)   (1 layer, 256 units)
    predictor g_t = LSTM([h_{t-1} ‖ z_t]) -> Linear -> tanh            (2 layers, 256 units)
    decoder  DCGAN mirrored: ConvT 4×4 (1 -> 4) + BN + LeakyReLU, then per doubling
             ConvT 4×4/2/1 on [features ‖ skip], the last with a sigmoid -> x̂_t

Each LSTM is SVG's: Linear embedding -> stacked LSTM cells -> linear heads, zero initial state.
Skips: the decoder's skips are the encoder features of the last *observed* frame: inside the
context, the frame before the one predicted; from the first predicted frame on, the last context
frame, kept for the whole rollout (SVG's choice: predicted frames never feed the skips). SVG's
code takes them from frame n_past - 1 (1-based), one before the last context frame; we follow the
paper ("the last ground truth frame").

Training (SVG's): every frame after the first is predicted teacher-forced with z from the
posterior; loss = Σ_t MSE_t + β Σ_t KL(q_t || p_t), MSE the mean over pixels, KL summed over z,
both per sequence and averaged over the batch; β = 1e-4, no annealing. We encode all frames of a
batch in one call, so the training-mode batch norm sees B·T frames (SVG: B per call).
Steered by actions (``svg_lp_action``, issue 24; genvid's, not SVG's): the action a_{t-1} that
leads from frame t-1 to frame t (row t-1 of the per-frame ``cond``, standardised with the training
split's statistics) joins the prior's and the predictor's inputs, p(z_t | x_{1:t-1}, a_{t-1}) and
g_t = LSTM([h_{t-1} ‖ z_t ‖ a_{t-1}]): z then carries what the action does not explain. The posterior
is SVG's. Context actions are read like context frames, the horizon's are the steering.
With ``ego_warp`` (issue 48; genvid's): steering turns the camera, and a turn moves the whole scene
sideways, which a blurred decoder renders as a fraction of a pixel. So the steered model may also
move the previous frame: a head reads g_t (which read a_{t-1}) and gives a horizontal shift
s_t = max_shift · tanh(·) in pixels, the decoder gives one more channel, a mask m_t, and

    x̂_t = m_t ⊙ shift(x_{t-1}, s_t) + (1 − m_t) ⊙ decoder(g_t, skips)

where x_{t-1} is the real previous frame while training (teacher-forced, like the encoder's input)
and the model's own previous output while predicting; ``shift`` interpolates linearly between
pixels and repeats the border column (``horizontal_shift``). The decoder reads the skips of one frame (the
last context frame's for a whole rollout), so it draws in that frame's pose; with ``warp_decoder`` its
output is shifted by the s summed since that frame before the blend. With ``warp_mask: hard`` each pixel takes
one of the two, m_t rounded to 0 or 1, its gradient the soft blend's (straight-through). With
``sampling.mask: hard`` (a prediction-time option: the model trains as it would without it) each predicted
pixel takes the side the trained soft mask favours, m_t > 1/2, instead of the blend: a blend of a moved and a
drawn picture differs less between two steers than either does.
Generation in eval mode (SVG's generation script keeps training mode, batch statistics; genvid's
choice, so a prediction never depends on the other sequences of its batch): z from the posterior
over the context (its samples feed the predictor and the prior runs to keep its state), then from
the prior; each predicted frame is fed back.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genvid.config import rule
from genvid.data.frames import ACTION_NAMES
from genvid.errors import GenvidError
from genvid.models.layers import gaussian_kl_logvar, normal_drawer, randn_on
from genvid.models.predictor import sample_rows
from genvid.models.steering import action_stats_problem, register_action_stats, standardised_actions

LEAKY_SLOPE = 0.2


WARP_KERNELS = ("linear", "cubic")  # the ego warp's interpolation (horizontal_shift)


@dataclass(frozen=True)
class SVGLPConfig:
    """``models.svg_lp``: sizes have no defaults (params.yaml / profiles)."""

    channels: int = field(metadata=rule(min=1))
    resolution: int = field(metadata=rule(min=8))  # a power of two; the DCGAN depth follows it
    context_frames: int = field(metadata=rule(min=1))  # n_past of a training clip
    nf: int = field(metadata=rule(min=1))  # DCGAN base width (SVG: 64)
    g_dim: int = field(metadata=rule(min=1))  # frame embedding h_t (SVG: 128)
    rnn_size: int = field(metadata=rule(min=1))  # LSTM units (SVG: 256)
    z_dim: int = field(metadata=rule(min=1))  # SVG: 10 on SM-MNIST
    prior_layers: int = field(metadata=rule(min=1))  # SVG: 1
    posterior_layers: int = field(metadata=rule(min=1))  # SVG: 1
    predictor_layers: int = field(metadata=rule(min=1))  # SVG: 2
    beta: float = field(default=1e-4, metadata=rule(min=0.0))  # KL weight (SVG: 1e-4)

    def validate(self) -> str | None:
        if self.resolution & (self.resolution - 1):
            return f"resolution must be a power of two, got {self.resolution}"
        return None


@dataclass(frozen=True)
class SVGLPActionConfig(SVGLPConfig):
    """``models.svg_lp_action``: SVG-LP's sizes; the action statistics come from the training split
    (genvid.models.pixel sets them, like channels and resolution; None: not standardised)."""

    actions: int = field(default=len(ACTION_NAMES), metadata=rule(min=1))  # columns of the per-frame action
    cond_mean: tuple[float, ...] | None = None
    cond_std: tuple[float, ...] | None = None
    ego_warp: bool = False  # genvid's (issue 48): blend in the previous frame shifted sideways (module docstring)
    max_shift: float = field(default=4.0, metadata=rule(min=0.0, exclusive_min=True))  # pixels a frame, at most
    warp_kernel: str = field(default="linear", metadata=rule(choices=WARP_KERNELS))  # the shift's interpolation
    # genvid's (issue 48): the decoder's frame moves too, by the shifts summed since the skip frame (module docstring)
    warp_decoder: bool = False
    # genvid's (issue 48): "hard" picks the warp or the decoder per pixel (a straight-through 0/1 mask) where "soft"
    # blends them; a soft blend of two pictures that moved differently differs less between two steers than either
    warp_mask: str = field(default="soft", metadata=rule(choices=("soft", "hard")))
    # genvid's (issue 48): the shift head reads a_{t-1} itself beside g_t, so a steer moves the frame through one
    # linear map from the start of training instead of only through what the LSTM kept of it
    shift_reads_action: bool = False

    def validate(self) -> str | None:
        problem = action_stats_problem(self) or super().validate()
        if problem is None and self.warp_decoder and not self.ego_warp:
            problem = "warp_decoder moves the decoder's frame by the ego warp's shifts: it needs ego_warp: true"
        if problem is None and self.warp_mask != "soft" and not self.ego_warp:
            problem = "warp_mask chooses between the ego warp and the decoder: it needs ego_warp: true"
        if problem is None and self.shift_reads_action and not self.ego_warp:
            problem = "shift_reads_action feeds the action to the ego warp's shift head: it needs ego_warp: true"
        return problem


@dataclass(frozen=True)
class SVGLPSampling:
    """``models.svg_lp_action.sampling``: prediction-time options (read when predicting, not trained)."""

    # genvid's (issue 48): "hard": each predicted pixel the shifted previous frame or the decoder's, whichever
    # the soft mask favours (m_t > 1/2); "soft": their blend, as trained
    mask: str = field(default="soft", metadata=rule(choices=("soft", "hard")))

    def against(self, cfg: SVGLPConfig) -> str | None:
        """A problem with these options for a model of ``cfg``, or None."""
        if self.mask != "soft" and not getattr(cfg, "ego_warp", False):
            return "mask chooses between the ego warp and the decoder: it needs ego_warp: true"
        return None


def _tent(d: Tensor) -> Tensor:
    return (1 - d.abs()).clamp(min=0)


def _keys(d: Tensor) -> Tensor:
    """Keys' cubic convolution kernel (a = -1/2): interpolating, and its passband loses far less than the
    tent's at a half-pixel shift (0.88 against 0.71 at a 4-pixel period), which a rollout that shifts its own
    output every frame compounds."""
    d = d.abs()
    near = (1.5 * d - 2.5) * d * d + 1
    far = ((-0.5 * d + 2.5) * d - 4) * d + 2
    return torch.where(d <= 1, near, torch.where(d < 2, far, torch.zeros_like(d)))


def horizontal_shift(frames: Tensor, shift: Tensor, kernel: str = "linear") -> Tensor:
    """``frames`` [N, C, H, W] moved right by ``shift`` [N] pixels (negative: left), interpolated between
    columns by ``kernel`` (``linear``: the tent, the two nearest columns; ``cubic``: Keys', the four
    nearest), the border column repeated. Differentiable in both; a batched matmul, deterministic on every
    device (grid_sample's CUDA backward is not)."""
    n, c, h, w = frames.shape
    if shift.shape != (n,):
        raise GenvidError(f"shift must be [{n}], got {list(shift.shape)}")
    if kernel not in WARP_KERNELS:
        raise GenvidError(f"kernel must be one of {', '.join(WARP_KERNELS)}, got {kernel!r}")
    pad = 0 if kernel == "linear" else 2  # cubic's outer taps may fall off the grid: they read the border column
    cols = torch.arange(w, device=frames.device, dtype=frames.dtype)
    padded = torch.arange(-pad, w + pad, device=frames.device, dtype=frames.dtype)
    source = (cols[None, :] - shift[:, None]).clamp(0, w - 1)  # [N, W]: where output column j reads from
    weights = (_tent if kernel == "linear" else _keys)(source[:, :, None] - padded[None, None, :])
    if pad:
        frames = F.pad(frames.flatten(0, 1), (pad, pad), mode="replicate").unflatten(0, (n, c))
    return torch.einsum("nchw,nvw->nchv", frames, weights)


def _dcgan_init(m: nn.Module) -> None:
    """DCGAN init, as SVG: conv/linear weights N(0, 0.02), biases 0; batch-norm scales N(1, 0.02)."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        nn.init.zeros_(m.bias)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


class Encoder(nn.Module):
    """DCGAN-64's encoder with log2(R) − 2 halvings: R=64 gives nf, 2nf, 4nf, 8nf at 32..4."""

    def __init__(self, channels: int, resolution: int, nf: int, g_dim: int):
        super().__init__()
        n = int(math.log2(resolution)) - 2
        widths = [nf * 2 ** i for i in range(n)]
        ins = [channels] + widths[:-1]
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Conv2d(i, o, 4, 2, 1), nn.BatchNorm2d(o), nn.LeakyReLU(LEAKY_SLOPE)) for i, o in zip(ins, widths))
        self.out = nn.Sequential(nn.Conv2d(widths[-1], g_dim, 4, 1, 0), nn.BatchNorm2d(g_dim), nn.Tanh())

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        skips = []
        for block in self.blocks:
            x = block(x)
            skips.append(x)
        return self.out(x).flatten(1), skips


class Decoder(nn.Module):
    """DCGAN-64's decoder, mirrored from ``Encoder``; each upsampling reads [features ‖ skip]."""

    def __init__(self, channels: int, resolution: int, nf: int, g_dim: int):
        super().__init__()
        n = int(math.log2(resolution)) - 2
        widths = [nf * 2 ** i for i in range(n)]
        self.g_dim = g_dim
        self.inp = nn.Sequential(nn.ConvTranspose2d(g_dim, widths[-1], 4, 1, 0), nn.BatchNorm2d(widths[-1]),
                                 nn.LeakyReLU(LEAKY_SLOPE))
        ups = [nn.Sequential(nn.ConvTranspose2d(2 * widths[i], widths[i - 1], 4, 2, 1), nn.BatchNorm2d(widths[i - 1]),
                             nn.LeakyReLU(LEAKY_SLOPE)) for i in range(n - 1, 0, -1)]
        ups.append(nn.Sequential(nn.ConvTranspose2d(2 * widths[0], channels, 4, 2, 1), nn.Sigmoid()))
        self.ups = nn.ModuleList(ups)

    def forward(self, g: Tensor, skips: list[Tensor]) -> Tensor:
        x = self.inp(g.view(-1, self.g_dim, 1, 1))
        for up, skip in zip(self.ups, reversed(skips)):
            x = up(torch.cat([x, skip], dim=1))
        return x


class LSTMStack(nn.Module):
    """SVG's LSTM: Linear embedding -> ``layers`` LSTM cells; the state is kept by the caller."""

    def __init__(self, in_dim: int, hidden: int, layers: int):
        super().__init__()
        self.embed = nn.Linear(in_dim, hidden)
        self.cells = nn.ModuleList(nn.LSTMCell(hidden, hidden) for _ in range(layers))

    def zero_state(self, batch: int, like: Tensor) -> list[tuple[Tensor, Tensor]]:
        zeros = like.new_zeros(batch, self.embed.out_features)
        return [(zeros, zeros) for _ in self.cells]

    def run(self, x: Tensor, state: list[tuple[Tensor, Tensor]]) -> tuple[Tensor, list[tuple[Tensor, Tensor]]]:
        h, new = self.embed(x), []
        for cell, st in zip(self.cells, state):
            st = cell(h, st)
            new.append(st)
            h = st[0]
        return h, new

    def sequence(self, x: Tensor) -> Tensor:
        """``run`` over a whole sequence x [B, T, in] from the zero state: the last cell's h_t [B, T, hidden].
        The same cells (the same weights), in one ``torch.lstm`` call: a few fused kernels for the whole
        sequence on cuDNN, every step's input projection in one matmul on the CPU."""
        h = self.embed(x)
        zeros = h.new_zeros(len(self.cells), x.shape[0], self.embed.out_features)
        weights = [w for c in self.cells for w in (c.weight_ih, c.weight_hh, c.bias_ih, c.bias_hh)]
        out, _, _ = torch.lstm(h, (zeros, zeros), weights, True, len(self.cells), 0.0, self.training, False, True)
        return out


class GaussianLSTM(LSTMStack):
    """The prior / posterior: -> (μ, log σ²) of z_t."""

    def __init__(self, in_dim: int, z_dim: int, hidden: int, layers: int):
        super().__init__(in_dim, hidden, layers)
        self.mu, self.logvar = nn.Linear(hidden, z_dim), nn.Linear(hidden, z_dim)

    def forward(self, x: Tensor, state):
        h, state = self.run(x, state)
        return self.mu(h), self.logvar(h), state

    def over(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(μ, log σ²) [B, T, z] of a whole sequence x [B, T, in] from the zero state."""
        h = self.sequence(x)
        return self.mu(h), self.logvar(h)


class PredictorLSTM(LSTMStack):
    """The frame predictor: [h_{t-1} ‖ z_t] -> g_t = tanh(Linear(LSTM))."""

    def __init__(self, in_dim: int, out_dim: int, hidden: int, layers: int):
        super().__init__(in_dim, hidden, layers)
        self.out = nn.Linear(hidden, out_dim)

    def forward(self, x: Tensor, state):
        h, state = self.run(x, state)
        return torch.tanh(self.out(h)), state

    def over(self, x: Tensor) -> Tensor:
        """g [B, T, out] of a whole sequence x [B, T, in] from the zero state."""
        return torch.tanh(self.out(self.sequence(x)))


class SVGLP(nn.Module):
    """SVG-LP on [0, 1] frames [B, T, C, H, W]: ``loss`` and ``generate`` (pixel-model contract)."""

    def __init__(self, cfg: SVGLPConfig):
        super().__init__()
        problem = cfg.validate()
        if problem:
            raise GenvidError(f"models.svg_lp: {problem}")
        self.cfg = cfg
        a = self.actions = getattr(cfg, "actions", 0)  # 0: SVG-LP itself, unconditioned
        self.warp = bool(getattr(cfg, "ego_warp", False))
        self.encoder = Encoder(cfg.channels, cfg.resolution, cfg.nf, cfg.g_dim)
        self.decoder = Decoder(cfg.channels + self.warp, cfg.resolution, cfg.nf, cfg.g_dim)  # + the mask m_t
        self.posterior = GaussianLSTM(cfg.g_dim, cfg.z_dim, cfg.rnn_size, cfg.posterior_layers)
        self.prior = GaussianLSTM(cfg.g_dim + a, cfg.z_dim, cfg.rnn_size, cfg.prior_layers)
        self.predictor = PredictorLSTM(cfg.g_dim + cfg.z_dim + a, cfg.g_dim, cfg.rnn_size, cfg.predictor_layers)
        if self.warp:  # g_t (‖ a_{t-1}) -> s_t (DCGAN init: near 0, the frame kept in place)
            self.shift_reads = a if getattr(cfg, "shift_reads_action", False) else 0
            self.shift_head = nn.Linear(cfg.g_dim + self.shift_reads, 1)
        self.apply(_dcgan_init)
        register_action_stats(self, cfg)
        self.sampling = SVGLPSampling()

    def configure_sampling(self, sampling: SVGLPSampling) -> None:
        """The prediction-time options (``models.svg_lp_action.sampling``): the predictor sets them."""
        problem = sampling.against(self.cfg)
        if problem:
            raise GenvidError(f"models.svg_lp_action.sampling: {problem}")
        self.sampling = sampling

    def _actions(self, cond: Tensor | None, frames: int) -> Tensor | None:
        """The standardised per-frame actions [B, T, A] (None for the unconditioned model)."""
        return standardised_actions(self, self.actions, cond, frames, "svg_lp_action", "SVG-LP without actions")

    @staticmethod
    def _with(x: Tensor, actions: Tensor | None, t: int) -> Tensor:
        """[x ‖ a_t] (x alone without actions)."""
        return x if actions is None else torch.cat([x, actions[:, t]], dim=1)

    def _check(self, frames: Tensor, min_frames: int, what: str) -> None:
        c, r = self.cfg.channels, self.cfg.resolution
        if frames.ndim != 5 or tuple(frames.shape[2:]) != (c, r, r) or frames.shape[1] < min_frames:
            raise GenvidError(f"{what} must be float [B, T>={min_frames}, {c}, {r}, {r}], got {list(frames.shape)}")

    def _encode(self, frames: Tensor) -> tuple[Tensor, list[Tensor]]:
        """h [B, T, g] and skips, each [B, T, c, r, r]."""
        b, t = frames.shape[:2]
        h, skips = self.encoder(frames.flatten(0, 1))
        return h.unflatten(0, (b, t)), [s.unflatten(0, (b, t)) for s in skips]

    @staticmethod
    def skip_frame(t: int, context: int) -> int:
        """Index of the frame whose encoder features are the skips when predicting frame ``t``
        (0-based): the last observed one."""
        return min(t - 1, context - 1)

    def _shift(self, g: Tensor, action: Tensor | None) -> Tensor:
        """s_t [...] in pixels from g_t [..., g] (and, with ``shift_reads_action``, a_{t-1} [..., A])."""
        x = torch.cat([g, action], dim=-1) if self.shift_reads else g
        return self.cfg.max_shift * torch.tanh(self.shift_head(x)[..., 0])

    def _frame(self, g: Tensor, skips: list[Tensor], previous: Tensor, moved: Tensor | None = None,
               action: Tensor | None = None, pick: bool = False) -> tuple[Tensor, Tensor | None]:
        """x̂_t from g_t [N, g] and the skips; with ``ego_warp``, blended with ``previous`` [N, C, H, W] shifted
        by s_t (read from g_t and ``action`` a_{t-1} [N, A]), and with ``warp_decoder`` the decoder's frame
        shifted by ``moved`` [N] + s_t, ``moved`` being the shift from the skip frame to the previous frame;
        ``pick`` (predicting with ``sampling.mask: hard``): each pixel one of the two, where m_t > 1/2.
        Returns x̂_t and the shifts s_t [N] (None without the warp)."""
        out = self.decoder(g, skips)
        if not self.warp:
            return out, None
        c, kernel = self.cfg.channels, self.cfg.warp_kernel
        shift = self._shift(g, action)
        drawn = out[:, :c]
        if getattr(self.cfg, "warp_decoder", False):
            drawn = horizontal_shift(drawn, shift if moved is None else moved + shift, kernel)
        mask = out[:, c:]
        if getattr(self.cfg, "warp_mask", "soft") == "hard":  # 0 or 1 forward, the soft mask's gradient backward
            mask = (mask > 0.5).to(mask.dtype) + mask - mask.detach()
        if pick:
            mask = (mask > 0.5).to(mask.dtype)
        return mask * horizontal_shift(previous, shift, kernel) + (1 - mask) * drawn, shift

    def teacher_forced(self, frames: Tensor, draw, actions: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Predictions x̂_1..x̂_{T-1} [B, T-1, C, H, W] and per-step KL [B, T-1] (summed over z);
        ``actions`` [B, T, A] standardised (the steered model); ``draw`` gives the posterior noise
        of every step at once, [B, T-1, z].

        Teacher-forced, every LSTM's inputs are known before it runs: the posterior's are h_1..h_{T-1},
        the prior's h_0..h_{T-2}, and the predictor's [h_{i-1} ‖ z_i], z_i needing only the posterior's
        outputs. So each runs over the whole sequence in one call (``LSTMStack.sequence``), the same
        recurrence as ``rollout``'s step-by-step cells, and the heads, the KL and the decoder run once on
        all steps: a handful of kernels per step instead of dozens (issue 20 item 2)."""
        b, t = frames.shape[:2]
        h, skips = self._encode(frames)
        past = h[:, :-1] if actions is None else torch.cat([h[:, :-1], actions[:, :t - 1]], dim=2)
        mu, logvar = self.posterior.over(h[:, 1:])
        mu_p, logvar_p = self.prior.over(past)
        z = mu + (0.5 * logvar).exp() * draw(tuple(mu.shape))
        inputs = torch.cat([h[:, :-1], z], dim=2)
        g = self.predictor.over(inputs if actions is None else torch.cat([inputs, actions[:, :t - 1]], dim=2))
        src = [self.skip_frame(i, self.cfg.context_frames) for i in range(1, t)]
        skip = [s[:, src].flatten(0, 1) for s in skips]  # the decoder is not recurrent: one batched call
        moved, steer = None, None if actions is None else actions[:, :t - 1]  # a_{i-1} leads to frame i
        if getattr(self.cfg, "warp_decoder", False):  # the skip frame's pose to frame i - 1's: s_{src+1} + .. + s_{i-1}
            shifts = self._shift(g, steer)  # [B, T-1]: s_1 .. s_{T-1}
            summed = F.pad(shifts.cumsum(1), (1, 0))  # [B, T]: s_1 + .. + s_i at column i
            moved = (summed[:, :-1] - summed[:, src]).flatten()  # for frame i: columns i - 1 and src
        x_hat, _ = self._frame(g.flatten(0, 1), skip, frames[:, :-1].flatten(0, 1), moved,
                               None if steer is None else steer.flatten(0, 1))
        x_hat = x_hat.unflatten(0, (b, t - 1))
        return x_hat, gaussian_kl_logvar(mu, logvar, mu_p, logvar_p).sum(2)

    def loss(self, frames: Tensor, step: int, cond: Tensor | None = None) -> tuple[Tensor, dict[str, float]]:
        """SVG's objective: Σ_t MSE_t + β Σ_t KL_t per sequence, batch mean (``step`` unused: no
        annealing). Posterior noise from the global RNG."""
        self._check(frames, max(2, self.cfg.context_frames), "frames")
        actions = self._actions(cond, frames.shape[1])
        x_hat, kl = self.teacher_forced(frames, normal_drawer(None, frames.device), actions)
        mse = ((x_hat - frames[:, 1:]) ** 2).mean((2, 3, 4)).sum(1)
        kl = kl.sum(1)
        loss = (mse + self.cfg.beta * kl).mean()
        return loss, {"mse": float(mse.detach().mean()), "kl": float(kl.detach().mean())}

    def rollout(self, context: Tensor, horizon: int, num_samples: int, generator: torch.Generator,
                cond: Tensor | None = None) -> Tensor:
        """``generate`` with autograd left as the caller has it (for gradient checks)."""
        self._check(context, 1, "context")
        b, tc = context.shape[:2]
        x = sample_rows(context, horizon, num_samples)  # [B*S, Tc, ...], sample-major per clip
        n = x.shape[0]
        actions = self._actions(cond, tc + horizon)
        if actions is not None:
            actions = actions.repeat_interleave(num_samples, dim=0)

        def draw(shape):
            return randn_on(generator, shape, x.device)

        h, skips = self._encode(x)
        post, prior, pred = (m.zero_state(n, h) for m in (self.posterior, self.prior, self.predictor))
        for i in range(1, tc):  # the context: z from the posterior, the prior only keeps its state
            mu, logvar, post = self.posterior(h[:, i], post)
            _, _, prior = self.prior(self._with(h[:, i - 1], actions, i - 1), prior)
            z = mu + (0.5 * logvar).exp() * draw(tuple(mu.shape))
            _, pred = self.predictor(self._with(torch.cat([h[:, i - 1], z], dim=1), actions, i - 1), pred)
        skip = [s[:, tc - 1] for s in skips]  # the last context frame's, for the whole rollout
        h_prev, frames, frame, moved = h[:, tc - 1], [], x[:, tc - 1], None
        for j in range(horizon):  # frame tc + j follows the action after frame tc - 1 + j
            mu_p, logvar_p, prior = self.prior(self._with(h_prev, actions, tc - 1 + j), prior)
            z = mu_p + (0.5 * logvar_p).exp() * draw(tuple(mu_p.shape))
            g, pred = self.predictor(self._with(torch.cat([h_prev, z], dim=1), actions, tc - 1 + j), pred)
            frame, shift = self._frame(g, skip, frame, moved, None if actions is None else actions[:, tc - 1 + j],
                                       pick=self.sampling.mask == "hard")
            if shift is not None:  # the pose of frame tc + j against the skip frame's (tc - 1)
                moved = shift if moved is None else moved + shift
            frames.append(frame)
            h_prev, _ = self.encoder(frame)
        return torch.stack(frames, 1).unflatten(0, (b, num_samples))

    def generate(self, context: Tensor, horizon: int, num_samples: int, generator: torch.Generator,
                 cond: Tensor | None = None) -> Tensor:
        """[B, num_samples, horizon, C, H, W] in [0, 1]; all noise from ``generator``; the steered
        model reads ``cond`` [B, Tc + horizon, A] (rows Tc - 1 .. Tc + horizon - 2 steer the horizon)."""
        with torch.no_grad():
            return self.rollout(context, horizon, num_samples, generator, cond)

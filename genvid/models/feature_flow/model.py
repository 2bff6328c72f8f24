"""Seed 003's feature flow GAN (§6.3, Eq 6.2, Figs 6.6-6.9): the next frame is the previous one's
features moved by a flow field drawn from noise, decoded to pixels.

    x̃_t = m_t ⊙ x_{t-1} + (1 - m_t) ⊙ D²(F[E¹(x_{t-1}), D¹(z_t, E²(E¹(x_{t-1})))])        (Eq 6.2)

    E¹  CNN with ``log2(flow_scale)`` halvings, then a ConvLSTM: the fixels at 1/flow_scale of the frame
    E²  two more halvings of the fixels: what preconditions the flow ("observed to help", Fig 6.6)
    D¹  z_t (fresh N(0, I) each step, fn 13) -> Linear -> the E² grid, two doublings, then a ConvLSTM
        and a 1×1 conv to κ² logits: a softmax per source fixel (genvid.models.feature_flow.flow)
    F   Eq 6.3's outward transport, the same flow for every channel
    D²  doublings back to the frame: C channels, and with ``copy_mask`` one more, the learned
        past-frame copy mask m_t (§6.3.3: "it did take care of the noisy background")

§6.3.3's practice: CNNs "with aggressive downsampling" everywhere but "two ConvLSTM ... right before
the application of F", one yielding the fixels, one the flow; batch norm in the generator, weight
norm in the discriminator, Adam. The discriminator is the Conv3D + ConvLSTM classifier that won
§5.2.2 on Dynamics: 3D convolutions whose temporal kernel shrinks with depth, two late ConvLSTMs,
the last step's state pooled into one logit.

Training (Fig 6.9's best setting, "close/open loop mode"): each frame t of a clip is predicted from
frame t-1; while t-1 is a context frame (closed loop) the input is the real frame and the
prediction gets an L2 loss, afterwards (open loop) the input is the model's own previous output.
The discriminator sees the first real frame followed by every predicted frame against the real
clip; the generator minimises ``l2_weight`` · L2 + ``adv_weight`` · the non-saturating adversarial
loss (Eq 3.9), the discriminator its cross-entropy. ``l2_weight`` 0 is the pure GAN. genvid adds
``open_l2_weight`` · the open-loop frames' L2 (0: the thesis's objective): learning curves showed the
open-loop rollouts drifting further from the truth as training went on (docs/learning.md).

genvid's second addition, ``frame_difference``: E¹ reads [x_{t-1} ‖ x_{t-1} − x_{t-2}] (zero difference at the
first step; real frames while they are context, the model's own outputs after), so that the motion reaches E¹
at the frame's resolution instead of only through the ConvLSTM on the coarse fixels (docs/learning.md).

Two more of genvid's additions, tried on Dynamics and off in every profile (docs/learning.md: neither helped):
``move_copy``, the copy mask blends x_{t-1} moved by F with the fixels' flow (each fixel's cell of pixels moving
whole: flow.move_pixels) instead of x_{t-1} where it was; ``flow_skip``, D¹'s ConvLSTM reads the fixels beside
what comes back up from E², whose grid is coarser than a small object's fixels. Off, the model is the thesis's.
A third, ``pixel_warp`` (also off everywhere; docs/learning.md: it did not help either), blends x_{t-1} read at each
pixel plus a displacement D² draws in two more channels (bilinear, flow.warp_pixels), so motion of a fraction of a
pixel can be copied sharp.
A fourth, ``object_weight`` (off everywhere; docs/learning.md: it did not help either), weighs the L2 terms towards
the pixels where the clip's moving object is or was (``object_weights``), a few percent of a Dynamics frame.
A fifth, ``context_warp`` (off everywhere; docs/learning.md: it moved the object but lost FVD): in the horizon the copy mask blends the last context
frame warped by the k-th displacement a context warp drew at once from the whole context (genvid.models.feature_flow
.warp), trained first and alone, frozen here; every other frame copies x_{t-1} as the thesis's model does.

Steered by actions (``feature_flow_action``, issue 48; genvid's, not the thesis's): the action a_{t-1}
that leads from frame t-1 to frame t (row t-1 of the per-frame ``cond``, standardised with the
training split's statistics) joins z_t at D¹'s input, Linear([z_t ‖ a_{t-1}]): the flow, which is
what moves the scene when the camera turns, is drawn from the noise and the action together.
Context actions are read like context frames, the horizon's are the steering.

Prediction: the context is teacher-forced through the recurrent states (each step draws its z from
the caller's generator, as in training), then the model rolls out on its own outputs. Generation
runs in eval mode: batch norm with its running statistics, so a clip's futures never depend on
the other clips of its batch.

What the thesis leaves open (genvid's choices, also in the report's deviations table): every
depth, width and kernel; the initialisation (PyTorch's defaults); κ (Fig 6.7 draws κ = 3); z's size; the copy mask's form (a sigmoid
channel of D², blended in pixel space); the L2 and adversarial weights; the loss form (the
non-saturating one the thesis names as practice); the border rule of F; the learning rates.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import weight_norm

from genvid.config import rule
from genvid.data.frames import ACTION_NAMES
from genvid.errors import GenvidError
from genvid.models.convlstm import ConvLSTMCell, State
from genvid.models.feature_flow.flow import (check_kappa, feature_flow, flow_weights, move_pixels, offset_index,
                                             warp_pixels)
from genvid.models.feature_flow.warp import ContextWarp
from genvid.models.layers import randn_on
from genvid.models.predictor import sample_rows
from genvid.models.steering import action_stats_problem, register_action_stats, standardised_actions

LEAKY_SLOPE = 0.2
OBJECT_THRESHOLD = 0.05  # object_weight: a pixel is the object's where any channel is this far from the clip's median
MASK_BIAS = 2.0  # the copy mask's initial logit
STILL_BIAS = 4.0  # with move_copy, the flow's initial logit of "stay" (κ = 3: 87 % of each cell's mass stays)


@dataclass(frozen=True)
class FeatureFlowConfig:
    """``models.feature_flow``: sizes have no defaults (params.yaml / profiles)."""

    channels: int = field(metadata=rule(min=1))
    resolution: int = field(metadata=rule(min=16))  # a power of two
    context_frames: int = field(metadata=rule(min=1))  # the closed-loop frames of a training clip
    width: int = field(metadata=rule(min=1))  # E¹'s first width, doubled at each halving
    fixel_channels: int = field(metadata=rule(min=1))  # C of the fixels F moves
    flow_channels: int = field(metadata=rule(min=1))  # D¹'s ConvLSTM state
    z_dim: int = field(metadata=rule(min=1))
    flow_scale: int = field(metadata=rule(min=2))  # F acts at resolution / flow_scale (thesis: 120 -> 30)
    kappa: int = field(metadata=rule(min=3))  # the flow patch (Fig 6.7: 3)
    disc_width: int = field(metadata=rule(min=1))
    copy_mask: bool = True
    l2_weight: float = field(default=1.0, metadata=rule(min=0.0))  # closed-loop L2; 0: the pure GAN
    # genvid's addition (issue 48): L2 on the open-loop frames too. The thesis trains them by the adversary
    # alone; at a CPU's scale that adversary barely learns, and the rollouts a test scores drift unchecked
    open_l2_weight: float = field(default=0.0, metadata=rule(min=0.0))
    adv_weight: float = field(default=0.01, metadata=rule(min=0.0))
    # genvid's addition (issue 48): E¹ reads [x_{t-1} ‖ x_{t-1} - x_{t-2}], the motion as a pixel-sharp cue
    frame_difference: bool = False
    # genvid's addition (issue 48): the copy mask blends x_{t-1} moved by F with the fixels' flow (its pixels
    # grouped into the fixels' cells), not x_{t-1} where it was: what moves is copied sharp, not redrawn by D²
    move_copy: bool = False
    # genvid's addition (issue 48): D¹'s ConvLSTM also reads the fixels themselves, not only what comes back up
    # from E²'s 1/4-size grid, so the flow can differ between neighbouring fixels: a small object's cells can move
    # while the background's around them stay
    flow_skip: bool = False
    # genvid's addition (issue 48): the copy mask blends x_{t-1} warped by a per-pixel displacement D² draws
    # (bilinear, at most ``max_warp`` pixels a frame), so an object moves by fractions of a pixel, copied sharp
    pixel_warp: bool = False
    max_warp: float = field(default=4.0, metadata=rule(min=0.5))
    # genvid's addition (issue 48): the L2 terms weigh each pixel 1 + ``object_weight`` where the target frame or the
    # frame before it differs from the clip's median over time (a moving object on a static background: where it is
    # and where it was), so that a small object's motion is not drowned by the background the copy mask keeps
    object_weight: float = field(default=0.0, metadata=rule(min=0.0))
    # genvid's addition (issue 48): in the horizon the copy mask blends the last context frame warped by the context
    # warp (genvid.models.feature_flow.warp: every future frame's displacement drawn at once from the whole context),
    # trained first and alone as the family's ``warp`` component, then frozen; future frames past ``warp_frames``
    # copy the previous frame in place, as the thesis's model does
    context_warp: bool = False
    warp_frames: int = field(default=8, metadata=rule(min=1))
    warp_width: int = field(default=24, metadata=rule(min=1))
    warp_scale: int = field(default=2, metadata=rule(min=1))  # the warp reads the frames average-pooled by this
    # free: a displacement field per future frame; layered: an object layer moved rigidly over that warp (warp.py)
    warp_motion: str = field(default="free", metadata=rule(choices=("free", "layered")))
    warp_loss: str = field(default="squared", metadata=rule(choices=("squared", "absolute")))  # its training loss
    warp_matte_weight: float = field(default=0.0, metadata=rule(min=0.0))  # layered: λ · mean(α) added to its loss

    def validate(self) -> str | None:
        for name in ("pixel_warp", "context_warp"):
            if getattr(self, name) and not self.copy_mask:
                return f"{name} blends a warped frame through the copy mask: it needs copy_mask: true"
        if sum((self.pixel_warp, self.move_copy, self.context_warp)) > 1:
            return "pixel_warp, move_copy and context_warp are ways of moving the copy: choose one"
        for name in ("resolution", "flow_scale", "warp_scale"):
            value = getattr(self, name)
            if value & (value - 1):
                return f"{name} must be a power of two, got {value}"
        if self.resolution // self.flow_scale < 4:
            return f"resolution / flow_scale must be >= 4 (E² halves the fixels twice), got " \
                   f"{self.resolution} / {self.flow_scale}"
        if self.context_warp and self.resolution // self.warp_scale < 8:
            return f"resolution / warp_scale must be >= 8, got {self.resolution} / {self.warp_scale}"
        if self.warp_matte_weight > 0 and not (self.context_warp and self.warp_motion == "layered"):
            return "warp_matte_weight weighs the layered context warp's matte: it needs context_warp: true and " \
                   "warp_motion: layered"
        if self.kappa % 2 != 1:
            return f"kappa must be odd (kappa = 2n + 1), got {self.kappa}"
        return None

    @property
    def halvings(self) -> int:
        return int(math.log2(self.flow_scale))

    @property
    def flow_resolution(self) -> int:
        return self.resolution // self.flow_scale


@dataclass(frozen=True)
class FeatureFlowActionConfig(FeatureFlowConfig):
    """``models.feature_flow_action``: feature flow's sizes; the action statistics come from the training
    split (genvid.models.pixel sets them, like channels and resolution; None: not standardised)."""

    actions: int = field(default=len(ACTION_NAMES), metadata=rule(min=1))  # columns of the per-frame action
    cond_mean: tuple[float, ...] | None = None
    cond_std: tuple[float, ...] | None = None

    def validate(self) -> str | None:
        return action_stats_problem(self) or super().validate()


@dataclass(frozen=True)
class FeatureFlowSampling:
    """``models.<feature flow model>.sampling``: prediction-time options (read when predicting, not trained)."""

    # genvid's (issue 48): "hard": each predicted pixel the copy (x_{t-1} in place, or the context warp's frame) or
    # D²'s, whichever the copy mask favours (m_t > 1/2); "soft": their blend, as trained
    mask: str = field(default="soft", metadata=rule(choices=("soft", "hard")))
    # genvid's (issue 48): "hard": the layered context warp's matte 1 where α > 1/2, else 0, so that each pixel of its
    # frames is the moved layer's or the warped one's; "soft": their blend, as trained
    matte: str = field(default="soft", metadata=rule(choices=("soft", "hard")))

    def against(self, cfg: FeatureFlowConfig) -> str | None:
        """A problem with these options for a model of ``cfg``, or None."""
        if self.mask != "soft" and not cfg.copy_mask:
            return "mask picks between the copy and D²'s frame: it needs copy_mask: true"
        if self.matte != "soft" and not (cfg.context_warp and cfg.warp_motion == "layered"):
            return "matte hardens the layered context warp's matte: it needs context_warp: true and warp_motion: layered"
        return None


WARP_SIZES = ("channels", "resolution", "context_frames", "warp_frames", "warp_width", "warp_scale", "warp_motion",
              "warp_loss", "warp_matte_weight")


def context_warp(cfg: FeatureFlowConfig) -> ContextWarp:
    """The config's context warp (genvid.models.feature_flow.warp), untrained."""
    return ContextWarp(cfg.channels, cfg.context_frames, cfg.warp_frames, cfg.warp_width, cfg.warp_scale,
                       cfg.warp_motion, loss=cfg.warp_loss, matte_weight=cfg.warp_matte_weight)


def object_weights(frames: Tensor, weight: float) -> Tensor:
    """[B, T-1, 1, H, W]: the L2 weight of each predicted frame t = 1..T-1's pixels, 1 + ``weight`` where frame t or
    t-1 differs from the clip's median frame by more than OBJECT_THRESHOLD in some channel (``object_weight``)."""
    off = (frames - frames.median(dim=1, keepdim=True).values).abs().amax(dim=2, keepdim=True) > OBJECT_THRESHOLD
    return 1.0 + weight * (off[:, 1:] | off[:, :-1]).to(frames.dtype)


def _down(i: int, o: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(i, o, 4, 2, 1), nn.BatchNorm2d(o), nn.LeakyReLU(LEAKY_SLOPE))


def _up(i: int, o: int) -> nn.Sequential:
    return nn.Sequential(nn.ConvTranspose2d(i, o, 4, 2, 1), nn.BatchNorm2d(o), nn.ReLU())


class Generator(nn.Module):
    """One step of Eq 6.2: (x_{t-1}, z_t, state) -> (x̃_t, state)."""

    def __init__(self, cfg: FeatureFlowConfig):
        super().__init__()
        self.cfg = cfg
        widths = [cfg.width * 2 ** i for i in range(cfg.halvings + 1)]
        inputs = cfg.channels * (2 if cfg.frame_difference else 1)
        self.e1 = nn.Sequential(nn.Conv2d(inputs, widths[0], 3, 1, 1), nn.BatchNorm2d(widths[0]),
                                nn.LeakyReLU(LEAKY_SLOPE),
                                *(_down(i, o) for i, o in zip(widths[:-1], widths[1:])))
        self.e1_lstm = ConvLSTMCell(widths[-1], cfg.fixel_channels)  # the fixels
        f = cfg.fixel_channels
        self.e2 = nn.Sequential(_down(f, f), _down(f, f))
        r2 = cfg.flow_resolution // 4
        self.z_in = nn.Linear(cfg.z_dim + getattr(cfg, "actions", 0), f * r2 * r2)
        self.d1 = nn.Sequential(_up(2 * f, f), _up(f, f))
        self.d1_lstm = ConvLSTMCell(2 * f if cfg.flow_skip else f, cfg.flow_channels)  # the flow field
        self.flow_head = nn.Conv2d(cfg.flow_channels, cfg.kappa ** 2, 1)
        out = cfg.channels + (1 if cfg.copy_mask else 0) + (2 if cfg.pixel_warp else 0)
        up = [f, *reversed(widths[1:])]
        self.d2 = nn.Sequential(*(_up(i, o) for i, o in zip(up[:-1], up[1:])),
                                nn.Conv2d(up[-1], out, 3, 1, 1))
        if cfg.copy_mask:  # genvid's choice: start close to copying (σ(2) = 0.88), learn where to move
            with torch.no_grad():
                self.d2[-1].bias[cfg.channels].fill_(MASK_BIAS)
        if cfg.pixel_warp:  # the displacement starts at 0 everywhere: the untrained model still copies in place
            with torch.no_grad():
                self.d2[-1].weight[cfg.channels + 1:].zero_()
                self.d2[-1].bias[cfg.channels + 1:].zero_()
        if cfg.move_copy:  # the moved copy starts where x_{t-1} is, so the untrained model still nearly copies
            with torch.no_grad():
                self.flow_head.bias[offset_index(0, 0, cfg.kappa)] += STILL_BIAS

    def forward(self, x_prev: Tensor, z: Tensor, state: tuple[State | None, State | None],
                x_before: Tensor | None = None, copy: Tensor | None = None,
                pick: bool = False) -> tuple[Tensor, tuple[State, State], Tensor]:
        """(x̃_t [B, C, H, W] in [0, 1], the new states, the flow weights [B, κ², r, r]); the steered
        model's z arrives as [z_t ‖ a_{t-1}]; ``copy``: what the copy mask blends instead of x_{t-1} (the
        context warp's frame); ``pick`` (predicting with ``sampling.mask: hard``): each pixel the copy or D²'s
        frame, where m_t > 1/2, instead of their blend."""
        cfg = self.cfg
        seen = x_prev
        if cfg.frame_difference:
            seen = torch.cat([x_prev, x_prev - (x_prev if x_before is None else x_before)], dim=1)
        fixel_state = self.e1_lstm(self.e1(seen), state[0])
        fixels = fixel_state[0]
        r2 = cfg.flow_resolution // 4
        noise = self.z_in(z).view(-1, cfg.fixel_channels, r2, r2)
        up = self.d1(torch.cat([noise, self.e2(fixels)], dim=1))
        flow_state = self.d1_lstm(torch.cat([up, fixels], dim=1) if cfg.flow_skip else up, state[1])
        weights = flow_weights(self.flow_head(flow_state[0]), cfg.kappa)
        out = self.d2(feature_flow(fixels, weights, cfg.kappa))
        frame = torch.sigmoid(out[:, :cfg.channels])
        if cfg.copy_mask:
            c = cfg.channels
            mask = torch.sigmoid(out[:, c:c + 1])
            if pick:
                mask = (mask > 0.5).to(mask.dtype)
            if copy is not None:
                copied = copy
            elif cfg.pixel_warp:
                copied = warp_pixels(x_prev, cfg.max_warp * torch.tanh(out[:, c + 1:c + 3]))
            elif cfg.move_copy:
                copied = move_pixels(x_prev, weights, cfg.kappa, cfg.flow_scale)
            else:
                copied = x_prev
            frame = mask * copied + (1 - mask) * frame
        return frame, (fixel_state, flow_state), weights


class Discriminator(nn.Module):
    """§5.2.2's Conv3D + ConvLSTM classifier as the critic: video [B, T, C, H, W] -> logit [B]."""

    def __init__(self, cfg: FeatureFlowConfig):
        super().__init__()
        w = cfg.disc_width
        self.convs = nn.Sequential(  # temporal kernel 3, 3, then 1: it shrinks with depth
            weight_norm(nn.Conv3d(cfg.channels, w, (3, 4, 4), (1, 2, 2), (1, 1, 1))), nn.LeakyReLU(LEAKY_SLOPE),
            weight_norm(nn.Conv3d(w, 2 * w, (3, 4, 4), (1, 2, 2), (1, 1, 1))), nn.LeakyReLU(LEAKY_SLOPE),
            weight_norm(nn.Conv3d(2 * w, 4 * w, (1, 4, 4), (1, 2, 2), (0, 1, 1))), nn.LeakyReLU(LEAKY_SLOPE))
        self.lstm1 = ConvLSTMCell(4 * w, 4 * w)
        self.lstm2 = ConvLSTMCell(4 * w, 4 * w)
        for cell in (self.lstm1, self.lstm2):
            weight_norm(cell.gates)
        self.head = weight_norm(nn.Linear(4 * w, 1))

    def forward(self, video: Tensor) -> Tensor:
        feats = self.convs(video.transpose(1, 2)).transpose(1, 2)  # [B, T, 4w, H/8, W/8]
        s1 = s2 = None
        for t in range(feats.shape[1]):
            s1 = self.lstm1(feats[:, t], s1)
            s2 = self.lstm2(s1[0], s2)
        return self.head(s2[0].mean(dim=(2, 3))).squeeze(1)


class FeatureFlow(nn.Module):
    """The generator and its discriminator; ``loss`` returns one loss per optimiser ("g", "d")."""

    def __init__(self, cfg: FeatureFlowConfig):
        super().__init__()
        check_kappa(cfg.kappa)
        problem = cfg.validate()
        if problem:
            raise GenvidError(f"models.feature_flow: {problem}")
        self.cfg = cfg
        self.generator = Generator(cfg)
        self.discriminator = Discriminator(cfg)
        self.actions = register_action_stats(self, cfg)  # 0: the thesis's model, unconditioned
        self.warp = context_warp(cfg) if cfg.context_warp else None
        self.sampling = FeatureFlowSampling()

    def configure_sampling(self, sampling: FeatureFlowSampling) -> None:
        """The prediction-time options (``models.<model>.sampling``): the predictor sets them."""
        problem = sampling.against(self.cfg)
        if problem:
            raise GenvidError(f"models.{'feature_flow_action' if self.actions else 'feature_flow'}.sampling: {problem}")
        self.sampling = sampling

    def _actions(self, cond: Tensor | None, frames: int) -> Tensor | None:
        """The standardised per-frame actions [B, T, A] (None for the unconditioned model)."""
        return standardised_actions(self, self.actions, cond, frames, "feature_flow_action", "feature_flow")

    def optimizer_groups(self) -> dict[str, list[nn.Parameter]]:
        """The training loop steps "g", then "d", each on its own loss (genvid.train.loop)."""
        return {"g": list(self.generator.parameters()), "d": list(self.discriminator.parameters())}

    def _check(self, frames: Tensor, min_frames: int, what: str) -> None:
        c, r = self.cfg.channels, self.cfg.resolution
        if frames.ndim != 5 or tuple(frames.shape[2:]) != (c, r, r) or frames.shape[1] < min_frames:
            raise GenvidError(f"{what} must be float [B, T>={min_frames}, {c}, {r}, {r}], got {list(frames.shape)}")

    def unroll(self, frames: Tensor, closed: int, total: int, draw, actions: Tensor | None = None,
               pick: bool = False, hard_matte: bool = False) -> Tensor:
        """Predictions of frames 1..total-1 [B, total-1, C, H, W]: frame t from real frame t-1 while
        t <= ``closed`` (closed loop), from the previous prediction after (open loop); the steered
        model's frame t also from ``actions[:, t-1]`` ([B, >=total-1, A], standardised); ``pick``: the
        generator's (each pixel the copy or D²'s frame); ``hard_matte``: the context warp's."""
        state: tuple = (None, None)
        copies = self.warped(frames, closed, total, hard_matte)
        x_before, x_prev, out = None, frames[:, 0], []
        for t in range(1, total):
            z = draw((frames.shape[0], self.cfg.z_dim))
            if actions is not None:
                z = torch.cat([z, actions[:, t - 1]], dim=1)
            k = t - closed  # the future frame's index in the horizon
            copy = copies[:, k] if copies is not None and 0 <= k < copies.shape[1] else None
            frame, state, _ = self.generator(x_prev, z, state, x_before, copy, pick)
            out.append(frame)
            x_before, x_prev = x_prev, frames[:, t] if t < closed and t < frames.shape[1] else frame
        return torch.stack(out, 1)

    def warped(self, frames: Tensor, closed: int, total: int, hard_matte: bool = False) -> Tensor | None:
        """The context warp's copies of future frames closed … (None without one): drawn from the last
        ``context_frames`` real frames before frame ``closed``, with no gradient (the warp trains first, alone);
        ``hard_matte``: its matte 0 or 1 (``sampling.matte: hard``)."""
        if self.warp is None:
            return None
        c = self.cfg.context_frames
        if closed < c:
            raise GenvidError(f"context_warp reads {c} context frames, got {closed}")
        with torch.no_grad():
            return self.warp(frames[:, closed - c:closed], total - closed, hard_matte)

    def loss(self, frames: Tensor, step: int, cond: Tensor | None = None) -> tuple[dict[str, Tensor], dict[str, float]]:
        """{"g": l2_weight · closed-loop L2 + adv_weight · non-saturating loss, "d": cross-entropy};
        z from the global RNG (the loop seeds it and restores it on resume); the steered model reads
        ``cond`` [B, T, A]."""
        cfg = self.cfg
        self._check(frames, cfg.context_frames + 1, "frames")
        actions = self._actions(cond, frames.shape[1])
        closed = cfg.context_frames  # frames 1..context are predicted from real frames
        pred = self.unroll(frames, closed, frames.shape[1],
                           lambda shape: torch.randn(shape, device=frames.device), actions)
        weights = object_weights(frames, cfg.object_weight) if cfg.object_weight > 0 else None

        def l2_of(frames_: slice) -> Tensor:  # the (weighted) L2 of predictions ``frames_`` (of frames 1..T-1)
            err = (pred[:, frames_] - frames[:, 1:][:, frames_]) ** 2
            return (err * weights[:, frames_]).mean() if weights is not None else err.mean()

        l2 = l2_of(slice(None, closed))
        fake = torch.cat([frames[:, :1], pred], dim=1)
        g_adv = F.softplus(-self.discriminator(fake)).mean()
        real_logit, fake_logit = self.discriminator(frames), self.discriminator(fake.detach())
        d_loss = F.softplus(-real_logit).mean() + F.softplus(fake_logit).mean()
        open_l2 = l2_of(slice(closed, None)) if frames.shape[1] > closed + 1 else l2
        scalars = {"l2": float(l2.detach()), "open_l2": float(open_l2.detach()), "g_adv": float(g_adv.detach()),
                   "d_real": float(torch.sigmoid(real_logit).detach().mean()),
                   "d_fake": float(torch.sigmoid(fake_logit).detach().mean())}
        g_loss = cfg.l2_weight * l2 + cfg.adv_weight * g_adv
        if cfg.open_l2_weight > 0 and frames.shape[1] > closed + 1:
            g_loss = g_loss + cfg.open_l2_weight * open_l2
        return {"g": g_loss, "d": d_loss}, scalars

    def generate(self, context: Tensor, horizon: int, num_samples: int, generator: torch.Generator,
                 cond: Tensor | None = None) -> Tensor:
        """[B, num_samples, horizon, C, H, W] in [0, 1]; all noise from ``generator``; the steered
        model reads ``cond`` [B, Tc + horizon, A] (rows Tc - 1 .. Tc + horizon - 2 steer the horizon); with
        ``sampling.mask: hard`` each pixel is the copy or D²'s frame, whichever the copy mask favours; with
        ``sampling.matte: hard`` the context warp's matte is 0 or 1."""
        self._check(context, 1, "context")
        b, tc = context.shape[:2]
        x = sample_rows(context, horizon, num_samples)
        actions = self._actions(cond, tc + horizon)
        if actions is not None:
            actions = actions.repeat_interleave(num_samples, dim=0)
        with torch.no_grad():
            pred = self.unroll(x, tc, tc + horizon, lambda shape: randn_on(generator, shape, x.device), actions,
                               pick=self.sampling.mask == "hard", hard_matte=self.sampling.matte == "hard")
        return pred[:, tc - 1:].unflatten(0, (b, num_samples))

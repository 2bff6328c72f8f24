"""Discrete pixel likelihoods for 8-bit frames: the discretised mixture of logistics and a discretised Gaussian.

Seed 001 §3.7 (eq. 3.39) and §8.1: the VRNN/SRNN output p(x_t | z_t, h_t) is PixelCNN++'s discretised
mixture of logistics (Salimans et al. 2017), so that log p(x | z) is a log-*probability* over the 256
values of each sub-pixel and bits per pixel need no dequantisation constant. Pixel k ∈ {0..255} sits
at c_k = 2k/255 − 1 in [−1, 1]; its bin is [c_k − 1/255, c_k + 1/255], with the two edge bins
stretched to ±∞ so the 256 masses sum to exactly 1::

    p(k) = Σ_i π_i [σ((c_k + 1/255 − μ_i)/s_i) − σ((c_k − 1/255 − μ_i)/s_i)]     (eq. 3.39)
    p(0) = Σ_i π_i σ((c_0 + 1/255 − μ_i)/s_i),      p(255) = Σ_i π_i [1 − σ((c_255 − 1/255 − μ_i)/s_i)]

Per channel: the channels of a pixel are independent given the decoder output (no RGB
autoregressive coupling: the decoder conditions on (z_t, h_t), which already carry the pixel's
context; our choice, the thesis does not say which form it used).
The number of mixture components is a parameter (the thesis does not state it; PixelCNN++ used 10).

The Gaussian option (§8.1: "N(μ, νI) with ν a learned parameter", used there for tuning) is
discretised over the same 256 bins, so its bits per pixel are comparable with the mixture's.
Its scale is learned, one per channel, independent of the pixel.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genvid.errors import GenvidError
from genvid.models.layers import rand_on, randn_on

BINS = 256
_BIN_WIDTH = 2.0 / (BINS - 1)  # spacing of the bin centres c_k = 2k/255 - 1 in [-1, 1] units
# PixelCNN++ clamps the log-scale at -7 (s ≈ 1e-3, a quarter of a bin); the upper bound keeps the bin
# width over s representable, so no bin mass underflows to 0 in float32.
LOG_SCALE_MIN, LOG_SCALE_MAX = -7.0, 7.0
GAUSSIAN_LOG_SCALE_MAX = 0.0  # σ ≤ 1 (half the data range): keeps log Φ differences well conditioned
INIT_SCALE = 0.1  # initial s (logistic) or σ (Gaussian) in [-1, 1] units, about 13 bins: our choice
_UNIFORM_EPS = 1e-7  # uniform noise in [eps, 1 - eps]: each logistic / Gumbel tail truncated at 1e-7


def to_bin(x: Tensor) -> Tensor:
    """Frames in [0, 1] (uint8 / 255) -> integer bin index k in {0..255} as float."""
    return (x * (BINS - 1)).round().clamp(0, BINS - 1)


def _to_bin_units(v: Tensor) -> Tensor:
    """[-1, 1] units -> bin units: centre c_k = 2k/255 - 1 becomes k."""
    return (v + 1.0) * ((BINS - 1) / 2.0)


def _log1mexp(d: Tensor) -> Tensor:
    """log(1 - exp(-d)) for d > 0, accurate at both ends (Mächler 2012)."""
    return torch.where(d < math.log(2.0), torch.log(-torch.expm1(-d)), torch.log1p(-torch.exp(-d)))


def _uniform(shape: tuple[int, ...], generator: torch.Generator, device: torch.device) -> Tensor:
    u = rand_on(generator, shape, device)
    return u.mul(1.0 - 2.0 * _UNIFORM_EPS).add_(_UNIFORM_EPS)


class DiscretizedLogisticMixture(nn.Module):
    """PixelCNN++'s discretised logistic mixture, per channel; no learned parameters of its own.

    ``params``: [..., C * 3 * K, H, W], read as (3, K, C): mixture logits, means μ (in [-1, 1] units)
    and log-scales, for each of the C channels. ``x``: [..., C, H, W] frames in [0, 1].
    """

    def __init__(self, channels: int, components: int):
        super().__init__()
        if channels < 1 or components < 1:
            raise GenvidError(f"DiscretizedLogisticMixture needs channels, components >= 1, "
                              f"got {channels}, {components}")
        self.channels, self.components = channels, components

    @property
    def num_params(self) -> int:
        return self.channels * 3 * self.components

    def _split(self, params: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        if params.ndim < 3 or params.shape[-3] != self.num_params:
            raise GenvidError(f"mixture params must be [..., {self.num_params}, H, W] "
                              f"(C={self.channels} x 3 x K={self.components}), got {list(params.shape)}")
        p = params.unflatten(-3, (3, self.components, self.channels))  # [..., 3, K, C, H, W]
        logits, means, log_scales = p.unbind(-5)
        return logits, means, log_scales.clamp(LOG_SCALE_MIN, LOG_SCALE_MAX)

    def init_head(self, head: nn.Conv2d, scale: float = INIT_SCALE) -> None:
        """Start the log-scales of the conv producing ``params`` at log(scale) (through its bias).
        From the default ~0 (s = 1, half the data range) Adam moves a log-scale by about the
        learning rate per step: thousands of steps before a sample is more than noise."""
        with torch.no_grad():
            head.bias.view(3, self.components, self.channels)[2].fill_(math.log(scale))

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        """log p(x) in nats per sub-pixel: [..., C, H, W]."""
        logits, means, log_scales = self._split(params)
        k = to_bin(x).unsqueeze(-4)  # [..., 1, C, H, W] against the mixture axis
        # In bin units (centre k, edges k ± 1/2, exact in float32), so bin k's upper edge and bin
        # k+1's lower edge are the same number and the 256 masses telescope to 1 in float32 too.
        m, r = _to_bin_units(means), _BIN_WIDTH * torch.exp(-log_scales)  # r: bin width / s
        plus, minus = (k + 0.5 - m) * r, (k - 0.5 - m) * r
        log_cdf_plus = -F.softplus(-plus)  # log σ(plus)
        log_sf_minus = -F.softplus(minus)  # log(1 - σ(minus))
        # σ(a) - σ(b) = σ(a) σ(-b) (1 - e^{-(a-b)}): exact in log space whatever the scale or the offset
        log_mid = log_cdf_plus + log_sf_minus + _log1mexp(r)
        log_bin = torch.where(k == 0, log_cdf_plus, torch.where(k == BINS - 1, log_sf_minus, log_mid))
        return torch.logsumexp(torch.log_softmax(logits, dim=-4) + log_bin, dim=-4)

    def sample(self, params: Tensor, generator: torch.Generator) -> Tensor:
        """One draw per sub-pixel, on the 8-bit grid, in [0, 1]: [..., C, H, W].

        Noise order (fixed, for streaming determinism): Gumbel noise for the component, then the
        logistic's uniform."""
        logits, means, log_scales = self._split(params)
        gumbel = -torch.log(-torch.log(_uniform(tuple(logits.shape), generator, logits.device)))
        pick = F.one_hot((logits + gumbel).argmax(dim=-4), self.components).movedim(-1, -4).to(means.dtype)
        mu = (means * pick).sum(-4)
        s = (torch.exp(log_scales) * pick).sum(-4)
        u = _uniform(tuple(mu.shape), generator, mu.device)
        v = mu + s * (torch.log(u) - torch.log1p(-u))  # inverse CDF of the logistic
        # rounding to the nearest centre (edges clamped) is exactly the discretisation of eq. 3.39
        return ((v + 1.0) * ((BINS - 1) / 2.0)).round().clamp(0, BINS - 1) / (BINS - 1)

    def mean(self, params: Tensor) -> Tensor:
        """E[clip(v, -1, 1)] of the continuous mixture, mapped to [0, 1]: within half a bin of the
        discretised mean (a deterministic decoding, used when pixels are not sampled)."""
        logits, means, log_scales = self._split(params)
        s = torch.exp(log_scales)
        # -1 + ∫_{-1}^{1} (1 - F(v)) dv with ∫ σ(-(v-μ)/s) dv = -s softplus(-(v-μ)/s)
        clipped = -1.0 + s * (F.softplus((means + 1.0) / s) - F.softplus((means - 1.0) / s))
        e = (torch.softmax(logits, dim=-4) * clipped).sum(-4)
        return ((e + 1.0) / 2.0).clamp(0.0, 1.0)


class DiscretizedGaussian(nn.Module):
    """N(μ, σ²) over the same 256 bins; ``params`` [..., C, H, W] are the means μ in [-1, 1] units,
    σ is a learned per-channel parameter (seed 001 §8.1's learned ν), initialised to ``init_scale``."""

    def __init__(self, channels: int, init_scale: float = INIT_SCALE):
        super().__init__()
        if channels < 1 or not 0.0 < init_scale <= 1.0:
            raise GenvidError(f"DiscretizedGaussian needs channels >= 1 and 0 < init_scale <= 1, "
                              f"got {channels}, {init_scale}")
        self.channels = channels
        self.log_scale = nn.Parameter(torch.full((channels,), math.log(init_scale)))

    @property
    def num_params(self) -> int:
        return self.channels

    def init_head(self, head: nn.Conv2d, scale: float = INIT_SCALE) -> None:
        """Nothing to do: σ is this module's own parameter, initialised in the constructor."""

    def _scale(self, params: Tensor) -> tuple[Tensor, Tensor]:
        if params.ndim < 3 or params.shape[-3] != self.channels:
            raise GenvidError(f"Gaussian params must be [..., {self.channels}, H, W], got {list(params.shape)}")
        log_s = self.log_scale.clamp(LOG_SCALE_MIN, GAUSSIAN_LOG_SCALE_MAX)
        return params, log_s[:, None, None].exp()

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        """log P(bin of x) in nats per sub-pixel: [..., C, H, W]."""
        mu, s = self._scale(params)
        k = to_bin(x)
        m, s_bins = _to_bin_units(mu), s / _BIN_WIDTH  # bin units, as in the mixture
        hi, lo = (k + 0.5 - m) / s_bins, (k - 0.5 - m) / s_bins
        # Φ(hi) - Φ(lo), computed in whichever tail keeps both terms small (Φ(-lo) - Φ(-hi) above 0)
        upper = lo > 0
        a = torch.where(upper, -lo, hi)
        b = torch.where(upper, -hi, lo)
        log_a, log_b = torch.special.log_ndtr(a), torch.special.log_ndtr(b)
        log_mid = log_a + _log1mexp((log_a - log_b).clamp_min(1e-30))
        log_low = torch.special.log_ndtr(hi)
        log_high = torch.special.log_ndtr(-lo)
        return torch.where(k == 0, log_low, torch.where(k == BINS - 1, log_high, log_mid))

    def sample(self, params: Tensor, generator: torch.Generator) -> Tensor:
        """μ + σ ε rounded to the nearest bin centre (edges clamped), in [0, 1]."""
        mu, s = self._scale(params)
        eps = randn_on(generator, tuple(mu.shape), mu.device)
        v = mu + s * eps
        return ((v + 1.0) * ((BINS - 1) / 2.0)).round().clamp(0, BINS - 1) / (BINS - 1)

    def mean(self, params: Tensor) -> Tensor:
        """E[clip(v, -1, 1)] mapped to [0, 1]."""
        mu, s = self._scale(params)

        def g(u: Tensor) -> Tensor:  # an antiderivative of 1 - Φ(u)
            return u * torch.special.ndtr(-u) - torch.exp(-0.5 * u * u) / math.sqrt(2.0 * math.pi)

        e = -1.0 + s * (g((1.0 - mu) / s) - g((-1.0 - mu) / s))
        return ((e + 1.0) / 2.0).clamp(0.0, 1.0)


def make_likelihood(kind: str, channels: int, components: int) -> DiscretizedLogisticMixture | DiscretizedGaussian:
    """``"dmol"`` -> the logistic mixture with ``components``; ``"gaussian"`` -> the discretised Gaussian."""
    if kind == "dmol":
        return DiscretizedLogisticMixture(channels, components)
    if kind == "gaussian":
        return DiscretizedGaussian(channels)
    raise GenvidError(f"unknown pixel likelihood {kind!r} (dmol or gaussian)")

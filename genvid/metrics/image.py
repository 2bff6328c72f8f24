"""Per-frame image metrics on pixels in [0, 1]: MSE, PSNR, SSIM (docs/design.md §7, seed 001 §6.1).

Every function takes ``pred`` and ``target`` of shape [N, C, H, W] or [N, T, C, H, W] (C = 3, or
1 for grey benchmarks: the same values as the grey repeated to RGB)
and returns one value per frame ([N] or [N, T]) as float64 (the sums over a frame are
done in float64 so per-frame values do not depend on the batch layout).

Pinned settings (stated in the report):
- MSE: mean over channels and pixels of the squared difference.
- PSNR: 10·log10(1 / MSE) with data range 1. Identical frames (MSE = 0) would give
  +inf, which JSON cannot store and which turns any mean into inf; we floor the MSE
  at ``MSE_FLOOR`` = 1e-10, so PSNR is capped at 100 dB. (Two 8-bit 256×256 frames that
  differ by one level in one value have MSE ≈ 7.8e-11, i.e. 101 dB, so below 256×256 the
  cap only ever touches exact copies.)
- SSIM (Wang et al. 2004): Gaussian window of 11 taps (σ = 1.5, truncated at 3.5 σ),
  data range 1, K1 = 0.01, K2 = 0.03, population (not sample) covariance, computed per
  channel over the 'valid' region (the window never leaves the image: a border of 5
  pixels is dropped) and averaged over the valid pixels and the three channels. This is
  exactly scikit-image's ``structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False, data_range=1.0, channel_axis=-1)``: scikit-image filters
  the whole image with reflect padding and then crops the same 5-pixel border, so the
  padding never reaches the pixels that are averaged.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

MSE_FLOOR = 1e-10  # PSNR cap: 10·log10(1 / 1e-10) = 100 dB
PSNR_MAX = 10.0 * math.log10(1.0 / MSE_FLOOR)

SSIM_SIGMA = 1.5
SSIM_TRUNCATE = 3.5  # scipy.ndimage / scikit-image default for gaussian_weights=True
SSIM_RADIUS = int(SSIM_TRUNCATE * SSIM_SIGMA + 0.5)  # 5 → an 11-tap window
SSIM_WIN = 2 * SSIM_RADIUS + 1
SSIM_K1 = 0.01
SSIM_K2 = 0.03
DATA_RANGE = 1.0


def _frames(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, tuple[int, ...]]:
    """Flatten [N,C,H,W] or [N,T,C,H,W] (C = 1 grey or 3 RGB) to [B,C,H,W] (float64); return the
    leading shape."""
    if pred.shape != target.shape:
        raise ValueError(f"pred and target shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
    if pred.dim() not in (4, 5) or pred.shape[-3] not in (1, 3):
        raise ValueError(f"expected [N,C,H,W] or [N,T,C,H,W] frames with C in (1, 3), got {tuple(pred.shape)}")
    lead = tuple(pred.shape[:-3])
    c, h, w = pred.shape[-3:]
    return pred.reshape(-1, c, h, w).double(), target.reshape(-1, c, h, w).double(), lead


def mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error per frame: [N(,T)] float64."""
    x, y, lead = _frames(pred, target)
    return (x - y).pow(2).mean(dim=(1, 2, 3)).reshape(lead)


def psnr(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """PSNR in dB per frame, data range 1, capped at ``PSNR_MAX`` (100 dB) for identical frames."""
    return 10.0 * torch.log10(DATA_RANGE**2 / mse(pred, target).clamp_min(MSE_FLOOR))


def gaussian_window(device: torch.device | None = None) -> torch.Tensor:
    """The 1-D SSIM window: 11 taps of exp(-x²/2σ²), normalised to sum 1 (as scipy.ndimage)."""
    x = torch.arange(-SSIM_RADIUS, SSIM_RADIUS + 1, dtype=torch.float64, device=device)
    g = torch.exp(-0.5 * (x / SSIM_SIGMA) ** 2)
    return g / g.sum()


def _blur_valid(x: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian filter, 'valid' region only: [B,C,H,W] → [B,C,H-10,W-10]."""
    c = x.shape[1]
    g = gaussian_window(x.device)
    x = F.conv2d(x, g.view(1, 1, 1, -1).expand(c, 1, 1, SSIM_WIN), groups=c)
    return F.conv2d(x, g.view(1, 1, -1, 1).expand(c, 1, SSIM_WIN, 1), groups=c)


def ssim(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean SSIM per frame (pinned settings in the module docstring): [N(,T)] float64."""
    x, y, lead = _frames(pred, target)
    if min(x.shape[-2:]) < SSIM_WIN:
        raise ValueError(f"SSIM needs frames of at least {SSIM_WIN}×{SSIM_WIN}, got {tuple(x.shape[-2:])}")
    # One grouped filter pass over the five local moments: x, y, x², y², xy (C channels each).
    mu_x, mu_y, e_xx, e_yy, e_xy = _blur_valid(torch.cat([x, y, x * x, y * y, x * y], dim=1)).chunk(5, dim=1)
    var_x = e_xx - mu_x * mu_x
    var_y = e_yy - mu_y * mu_y
    cov = e_xy - mu_x * mu_y
    c1 = (SSIM_K1 * DATA_RANGE) ** 2
    c2 = (SSIM_K2 * DATA_RANGE) ** 2
    num = (2 * mu_x * mu_y + c1) * (2 * cov + c2)
    den = (mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2)
    # Mean over the valid pixels of each channel, then over channels (equal pixel counts,
    # so this is the plain mean over (C, H, W)).
    return (num / den).mean(dim=(1, 2, 3)).reshape(lead)


def frame_metrics(pred: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    """MSE, PSNR and SSIM per frame, in one dict (the keys used by genvid.metrics.stats)."""
    m = mse(pred, target)
    return {"mse": m, "psnr": 10.0 * torch.log10(DATA_RANGE**2 / m.clamp_min(MSE_FLOOR)), "ssim": ssim(pred, target)}

"""Best-of-N / mean-of-N over stochastic samples, and 95 % intervals across test clips.

Protocol (SPEC §7; seed 001 §6.2 "max. PSNR/SSIM or min. LPIPS"; SRVP, Franceschi et al.
2020): a model draws N samples per test clip; per-frame scores have shape
[clips C, samples N, timesteps T].

- best-of-N, chosen per clip and per metric: the sample whose score *averaged over the
  predicted timesteps* is best (max for PSNR/SSIM, min for MSE/LPIPS); we report that
  one sample's whole per-timestep curve. One sample per clip, so the curve is a real
  trajectory. (Seed 001 §9.1's wording, "sampled 100 times for each time step to find
  the maximum", could also be read as a per-timestep maximum over samples; that mixes
  samples within a clip and is optimistic, so we follow SRVP.) Ties go to the lowest
  sample index.
- mean-of-N: the per-timestep mean over the N samples.
- Intervals: across clips, normal approximation mean ± 1.96·s/√C with the sample
  standard deviation s (ddof = 1), per timestep and for the per-clip time average.
  ``bootstrap_ci`` (percentile, seeded) is available as a check for small C.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

HIGHER_IS_BETTER = {"mse": False, "psnr": True, "ssim": True, "lpips": False}
Z95 = 1.959963984540054  # Φ⁻¹(0.975)


def _scores(scores: np.ndarray | torch.Tensor) -> np.ndarray:
    s = np.asarray(scores.detach().cpu() if isinstance(scores, torch.Tensor) else scores, dtype=np.float64)
    if s.ndim != 3 or 0 in s.shape:
        raise ValueError(f"scores must be [clips, samples, timesteps] and non-empty, got {s.shape}")
    if not np.isfinite(s).all():
        raise ValueError("scores contain NaN or inf")
    return s


def _direction(metric: str) -> bool:
    try:
        return HIGHER_IS_BETTER[metric]
    except KeyError:
        raise ValueError(f"unknown metric {metric!r}; known: {sorted(HIGHER_IS_BETTER)}") from None


def best_sample_index(scores: np.ndarray | torch.Tensor, metric: str) -> np.ndarray:
    """Per clip, the index of the sample with the best time-averaged score: [C] int."""
    mean_over_time = _scores(scores).mean(axis=2)  # [C, N]
    return (mean_over_time.argmax(axis=1) if _direction(metric) else mean_over_time.argmin(axis=1)).astype(np.int64)


def best_of_n(scores: np.ndarray | torch.Tensor, metric: str) -> np.ndarray:
    """The per-timestep curve [C, T] of each clip's best sample (see module docstring)."""
    s = _scores(scores)
    return s[np.arange(s.shape[0]), best_sample_index(s, metric)]


def mean_of_n(scores: np.ndarray | torch.Tensor) -> np.ndarray:
    """Per-timestep mean over samples: [C, T]."""
    return _scores(scores).mean(axis=1)


def normal_ci(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean over clips (axis 0) and the 95 % half-width 1.96·std(ddof=1)/√C; needs C ≥ 2."""
    v = np.asarray(values, dtype=np.float64)
    if v.shape[0] < 2:
        raise ValueError(f"a confidence interval needs at least 2 clips, got {v.shape[0]}")
    return v.mean(axis=0), Z95 * v.std(axis=0, ddof=1) / np.sqrt(v.shape[0])


def bootstrap_ci(values: np.ndarray, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap over clips (axis 0), seeded: (low, high) of the mean."""
    v = np.asarray(values, dtype=np.float64)
    if v.shape[0] < 2:
        raise ValueError(f"a confidence interval needs at least 2 clips, got {v.shape[0]}")
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.shape[0], size=(n_boot, v.shape[0]))].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    return np.quantile(means, alpha, axis=0), np.quantile(means, 1.0 - alpha, axis=0)


def _curve_summary(curves: np.ndarray) -> dict[str, Any]:
    """{"per_timestep": {"mean", "ci95"}, "average": {"mean", "ci95"}} for curves [C, T]."""
    per_clip_avg = curves.mean(axis=1)
    if curves.shape[0] >= 2:
        m_t, h_t = normal_ci(curves)
        m_a, h_a = normal_ci(per_clip_avg)
        ci_t, ci_a = h_t.tolist(), float(h_a)
    else:  # one clip: no interval (JSON null), never a made-up number
        m_t, m_a, ci_t, ci_a = curves[0], per_clip_avg[0], None, None
    return {"per_timestep": {"mean": m_t.tolist(), "ci95": ci_t}, "average": {"mean": float(m_a), "ci95": ci_a}}


def summarize(scores: np.ndarray | torch.Tensor, metric: str) -> dict[str, Any]:
    """Best-of-N and mean-of-N, per timestep and averaged, with 95 % half-widths (JSON-ready).

    ``ci95`` is the half-width of the normal-approximation interval across clips.
    """
    s = _scores(scores)
    return {
        "metric": metric,
        "higher_is_better": _direction(metric),
        "n_clips": int(s.shape[0]),
        "n_samples": int(s.shape[1]),
        "best_of_n": _curve_summary(best_of_n(s, metric)),
        "mean_of_n": _curve_summary(mean_of_n(s)),
    }

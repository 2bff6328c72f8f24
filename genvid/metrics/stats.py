"""Best-of-N / mean-of-N over stochastic samples, and 95 % intervals across test clips.

Protocol (docs/design.md §7; SRVP, Franceschi et al. 2020; seed 001 §9.1): a model draws N samples per
test clip; per-frame scores have shape [clips C, samples N, timesteps T].

- best-of-N per sequence (``best_seq``, the headline, SRVP): per clip and metric, the sample
  whose score *averaged over the predicted timesteps* is best (max PSNR/SSIM, min MSE/LPIPS);
  that one sample's whole curve. Ties go to the lowest sample index.
- best-of-N per timestep (``best_step``, seed 001 §9.1: "sampled 100 times for each time step
  to find the maximum"): at every timestep the best of the N samples. It mixes samples within
  a clip, so it is at least as good as ``best_seq``: labelled, never the headline.
- mean-of-N (``mean``): the per-timestep mean over the N samples.
- Intervals: test clips are not independent (clips of one episode are neighbours in time;
  with overlapping windows one clip's future is the next one's context). ``cluster_bootstrap``
  resamples whole clusters of clips (blocks of consecutive clips of one episode; one
  sequence each for SM-MNIST) with replacement and takes the percentile interval of the
  mean over clips. Copying a clip inside its cluster does not narrow it (a test checks).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # tensors are accepted, never needed: the leaderboard and report read scores without torch
    import torch

HIGHER_IS_BETTER = {"mse": False, "psnr": True, "ssim": True, "lpips": False}

# metrics.json's precision (``dvc metrics show``, one screen): 4 decimals for scores in [0, 1] and bits per
# dimension, 2 for PSNR (dB) and FVD; every interval and the full precision stay in scores.json
HEADLINE_DECIMALS = 4
WIDE_DECIMALS = {"psnr": 2, "fvd": 2, "long_fvd": 2}


def headline_number(key: str, value: float) -> float:
    """One metrics.json value at its key's precision (``WIDE_DECIMALS``, else ``HEADLINE_DECIMALS``)."""
    return round(float(value), WIDE_DECIMALS.get(key, HEADLINE_DECIMALS))


def _scores(scores: np.ndarray | torch.Tensor) -> np.ndarray:
    s = np.asarray(scores.detach().cpu() if hasattr(scores, "detach") else scores, dtype=np.float64)
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


def best_of_n_per_step(scores: np.ndarray | torch.Tensor, metric: str) -> np.ndarray:
    """Per clip and timestep, the best score over the samples: [C, T] (seed 001 §9.1)."""
    s = _scores(scores)
    return s.max(axis=1) if _direction(metric) else s.min(axis=1)


RULES = ("best_seq", "best_step", "mean")


def reduce_samples(scores: np.ndarray | torch.Tensor, metric: str, rule: str) -> np.ndarray:
    """[C, N, T] -> [C, T] under one of RULES."""
    if rule == "best_seq":
        return best_of_n(scores, metric)
    if rule == "best_step":
        return best_of_n_per_step(scores, metric)
    if rule == "mean":
        return mean_of_n(scores)
    raise ValueError(f"unknown rule {rule!r}; known: {', '.join(RULES)}")


def cluster_bootstrap(values: np.ndarray, clusters: np.ndarray, n_boot: int = 2000, seed: int = 0,
                      level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of the mean over clips (axis 0), resampling whole clusters.

    Each resample draws as many clusters as there are, with replacement, and averages every
    clip of the drawn clusters (a cluster drawn twice counts twice). Seeded: same bytes.
    """
    v = np.asarray(values, dtype=np.float64)
    ids, inverse = np.unique(np.asarray(clusters), return_inverse=True)
    k = len(ids)
    if v.shape[0] != len(inverse):
        raise ValueError(f"{v.shape[0]} values but {len(inverse)} cluster ids")
    if k < 2:
        raise ValueError(f"a cluster bootstrap needs at least 2 clusters, got {k}")
    sums = np.zeros((k, *v.shape[1:]))
    np.add.at(sums, inverse, v)
    counts = np.bincount(inverse, minlength=k).astype(np.float64)
    draws = np.random.default_rng(seed).integers(0, k, size=(n_boot, k))
    weights = np.zeros((n_boot, k))
    np.add.at(weights, (np.repeat(np.arange(n_boot), k), draws.ravel()), 1.0)
    means = np.tensordot(weights, sums, axes=(1, 0)) / (weights @ counts).reshape(-1, *[1] * (v.ndim - 1))
    alpha = (1.0 - level) / 2.0
    return np.quantile(means, alpha, axis=0), np.quantile(means, 1.0 - alpha, axis=0)


def cluster_resamples(clusters: np.ndarray, n_boot: int = 2000, seed: int = 0) -> list[np.ndarray]:
    """The row indices of ``n_boot`` cluster-bootstrap resamples, drawn as ``cluster_bootstrap`` draws them:
    as many clusters as there are, with replacement, every row of a drawn cluster (twice if drawn twice),
    in drawing order. For statistics that are not a mean over clips (FVD)."""
    ids, inverse = np.unique(np.asarray(clusters), return_inverse=True)
    k = len(ids)
    if k < 2:
        raise ValueError(f"a cluster bootstrap needs at least 2 clusters, got {k}")
    rows = [np.flatnonzero(inverse == c) for c in range(k)]
    draws = np.random.default_rng(seed).integers(0, k, size=(n_boot, k))
    return [np.concatenate([rows[c] for c in draw]) for draw in draws]


def spread_interval(estimate: float, resampled: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The percentile interval of the resampled values moved so that their mean is ``estimate``:
    [estimate - (mean - q_lo), estimate + (q_hi - mean)]. For a statistic whose bootstrap values are
    biased (a Fréchet distance grows when a resample repeats clips), this keeps the sampling spread and
    drops the resampling's shift, which the raw percentile interval would carry above the estimate."""
    r = np.asarray(resampled, dtype=np.float64)
    alpha = (1.0 - level) / 2.0
    centre = r.mean()
    return (float(estimate - (centre - np.quantile(r, alpha))), float(estimate + (np.quantile(r, 1.0 - alpha) - centre)))


def stratified_bootstrap(strata: list[tuple[np.ndarray, np.ndarray]], n_boot: int = 2000, seed: int = 0,
                         level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of the mean over strata of each stratum's mean over clips, resampling whole
    clusters within each stratum (``strata``: (values [clips], cluster ids [clips]) per stratum, e.g. per
    train seed: the seeds are kept, their clips resampled). One generator seeded by ``seed`` draws the
    strata in order: same bytes."""
    rng = np.random.default_rng(seed)
    total = np.zeros(n_boot)
    for values, clusters in strata:
        v = np.asarray(values, dtype=np.float64)
        ids, inverse = np.unique(np.asarray(clusters), return_inverse=True)
        k = len(ids)
        if v.shape != inverse.shape:
            raise ValueError(f"{v.shape[0]} values but {len(inverse)} cluster ids")
        if k < 2:
            raise ValueError(f"a cluster bootstrap needs at least 2 clusters, got {k}")
        sums, counts = np.bincount(inverse, weights=v, minlength=k), np.bincount(inverse, minlength=k)
        draws = rng.integers(0, k, size=(n_boot, k))
        total += sums[draws].sum(axis=1) / counts[draws].sum(axis=1)
    means = total / len(strata)
    alpha = (1.0 - level) / 2.0
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1.0 - alpha))


def ratio_bootstrap(numerator: np.ndarray, denominator: np.ndarray, clusters: np.ndarray, n_boot: int = 2000,
                    seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of sum(numerator) / sum(denominator) over clips (a ratio of means),
    resampling whole clusters as ``cluster_bootstrap`` does."""
    ids, inverse = np.unique(np.asarray(clusters), return_inverse=True)
    k = len(ids)
    if k < 2:
        raise ValueError(f"a cluster bootstrap needs at least 2 clusters, got {k}")
    num, den = np.zeros(k), np.zeros(k)
    np.add.at(num, inverse, np.asarray(numerator, dtype=np.float64))
    np.add.at(den, inverse, np.asarray(denominator, dtype=np.float64))
    draws = np.random.default_rng(seed).integers(0, k, size=(n_boot, k))
    ratios = num[draws].sum(1) / np.maximum(den[draws].sum(1), 1e-300)
    alpha = (1.0 - level) / 2.0
    return float(np.quantile(ratios, alpha)), float(np.quantile(ratios, 1.0 - alpha))


def curve_summary(curves: np.ndarray, clusters: np.ndarray, n_boot: int, seed: int) -> dict[str, Any]:
    """Mean over clips per timestep and of the per-clip time average, with cluster-bootstrap
    95 % intervals [lo, hi] (null with fewer than 2 clusters: never a made-up number)."""
    per_clip = curves.mean(axis=1)
    out = {"per_timestep": {"mean": curves.mean(axis=0).tolist(), "lo": None, "hi": None},
           "average": {"mean": float(per_clip.mean()), "ci95": None}}
    if len(np.unique(clusters)) >= 2:
        lo_t, hi_t = cluster_bootstrap(curves, clusters, n_boot, seed)
        lo, hi = cluster_bootstrap(per_clip, clusters, n_boot, seed)
        out["per_timestep"].update(lo=lo_t.tolist(), hi=hi_t.tolist())
        out["average"]["ci95"] = [float(lo), float(hi)]
    return out


def summarize(scores: np.ndarray | torch.Tensor, metric: str, clusters: np.ndarray, n_boot: int = 2000,
              seed: int = 0) -> dict[str, Any]:
    """Every rule of RULES, per timestep and averaged, with intervals (JSON-ready)."""
    s = _scores(scores)
    return {rule: curve_summary(reduce_samples(s, metric, rule), clusters, n_boot, seed) for rule in RULES}

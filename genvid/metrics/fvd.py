"""Fréchet distance between feature sets, and FVD (Unterthiner et al. 2019; seed 001 eq. 6.4).

    d² = ‖μ₁ - μ₂‖² + Tr(Σ₁ + Σ₂ - 2 (Σ₁ Σ₂)^{1/2})

Σ₁Σ₂ is not symmetric, but it is similar to the symmetric PSD matrix
M = Σ₁^{1/2} Σ₂ Σ₁^{1/2}, so Tr((Σ₁Σ₂)^{1/2}) = Σᵢ √λᵢ(M). We take both square roots by
symmetric eigen-decomposition in float64 and clip the tiny negative eigenvalues that
rounding produces; this stays real and stable when the covariances are singular (fewer
videos than feature dimensions), where ``scipy.linalg.sqrtm`` returns complex noise;
from raw features with n ≤ D we use an exact low-rank form instead (see
``frechet_distance_features``).

Statistics follow the reference FVD code (TF-GAN ``frechet_classifier_distance``): the
unbiased covariance (divide by n - 1). FVD embeds each video with the 400 I3D logits
(``I3D.logits``: 224×224 TF1-bilinear resize, [-1, 1]; see genvid.metrics.i3d).
"""
from __future__ import annotations

import numpy as np
import torch

from genvid.metrics.i3d import I3D


def feature_stats(features: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Mean [D] and unbiased covariance [D, D] (float64) of features [n, D], n ≥ 2."""
    f = np.asarray(features.detach().cpu() if isinstance(features, torch.Tensor) else features, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"need features of shape [n >= 2, D], got {f.shape}")
    if not np.isfinite(f).all():
        raise ValueError("features contain NaN or inf")
    return f.mean(axis=0), np.cov(f, rowvar=False, ddof=1).reshape(f.shape[1], f.shape[1])


def _sqrt_psd(m: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric PSD matrix (negative rounding noise clipped)."""
    w, v = np.linalg.eigh((m + m.T) / 2.0)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Squared Fréchet (2-Wasserstein) distance between N(mu1, sigma1) and N(mu2, sigma2)."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != mu1.shape * 2:
        raise ValueError(f"mismatched statistics: mu {mu1.shape}/{mu2.shape}, sigma {sigma1.shape}/{sigma2.shape}")
    root1 = _sqrt_psd(sigma1)
    middle = root1 @ sigma2 @ root1
    eig = np.linalg.eigvalsh((middle + middle.T) / 2.0)
    tr_covmean = np.sqrt(np.clip(eig, 0.0, None)).sum()
    diff = mu1 - mu2
    d2 = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)
    # Mathematically d2 ≥ 0; identical sets give rounding noise around 0 (≈1e-10 relative).
    return max(d2, 0.0)


def frechet_distance_features(f1: np.ndarray | torch.Tensor, f2: np.ndarray | torch.Tensor) -> float:
    """Fréchet distance between two feature sets [n1, D] and [n2, D].

    With fewer videos than dimensions (the usual case: tens of clips, 400 logits) the
    covariances are singular and the eigenvalue route loses ~1e-5 relative accuracy to
    the square roots of rounding noise. There we use the exact low-rank form: with
    Σᵢ = AᵢAᵢᵀ, Aᵢ = centred featuresᵀ / √(nᵢ-1), the eigenvalues of Σ₁Σ₂ are the squared
    singular values of A₁ᵀA₂ (n₁×n₂), so Tr((Σ₁Σ₂)^{1/2}) is its nuclear norm.
    """
    mu1, sigma1 = feature_stats(f1)
    mu2, sigma2 = feature_stats(f2)
    if sigma1.shape != sigma2.shape:
        raise ValueError(f"feature dimensions differ: {sigma1.shape[0]} vs {sigma2.shape[0]}")
    a1, a2 = _centred(f1), _centred(f2)
    if min(a1.shape[0], a2.shape[0]) > a1.shape[1]:
        return frechet_distance(mu1, sigma1, mu2, sigma2)
    tr_covmean = np.linalg.svd(a1 @ a2.T, compute_uv=False).sum()
    diff = mu1 - mu2
    d2 = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)
    return max(d2, 0.0)


def frechet_distance_low_rank(f1: np.ndarray, f2: np.ndarray) -> float:
    """``frechet_distance_features``' low-rank form for feature sets [n, D] float64, without a D×D
    covariance (Tr Σᵢ = ‖Aᵢ‖²_F; the nuclear norm holds for any n): the thousands of bootstrap resamples
    of genvid.evaluation.fvd_interval take it. It agrees with ``frechet_distance_features`` to rounding."""
    a1, a2 = _centred(f1), _centred(f2)
    diff = f1.mean(axis=0) - f2.mean(axis=0)
    d2 = diff @ diff + (a1 * a1).sum() + (a2 * a2).sum() - 2.0 * np.linalg.svd(a1 @ a2.T, compute_uv=False).sum()
    return max(float(d2), 0.0)


def _centred(features: np.ndarray | torch.Tensor) -> np.ndarray:
    """(f - mean) / sqrt(n - 1), float64: Σ = Aᵀ A for the rows A of the result."""
    f = np.asarray(features.detach().cpu() if isinstance(features, torch.Tensor) else features, dtype=np.float64)
    return (f - f.mean(axis=0)) / np.sqrt(f.shape[0] - 1)


@torch.no_grad()
def i3d_logits(i3d: I3D, videos: torch.Tensor, batch_size: int = 8) -> torch.Tensor:
    """I3D logits [N, 400] (float64, CPU) of videos [N, T, 3, H, W] in [0, 1], in batches."""
    device = next(i3d.parameters()).device
    out = [i3d.logits(videos[i : i + batch_size].to(device)).double().cpu()
           for i in range(0, videos.shape[0], batch_size)]
    return torch.cat(out)


def fvd(real_videos: torch.Tensor, fake_videos: torch.Tensor, i3d: I3D, batch_size: int = 8) -> float:
    """FVD between two sets of videos [N, T, 3, H, W] in [0, 1] (T ≥ 9; 16 is standard)."""
    return frechet_distance_features(i3d_logits(i3d, real_videos, batch_size), i3d_logits(i3d, fake_videos, batch_size))

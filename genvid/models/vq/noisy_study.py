"""The noisy-VQ study (seed 002 §4; issue 21): a VQ run's tokenizer retrained at each index-noise
level σ (``VQVAEConfig.noisy_sigma``, seed 002 §3.1) and train seed, each measured with the noise
off, per tier (top, bottom), on held-out clips (genvid.data.probe):

    usage, perplexity   the share of the K codes used, exp(entropy) of their use (§4.2: collapse)
    order               Spearman ρ between |i - j| and ||e_i - e_j|| over every pair of codes: an
                        index-ordered codebook scores near 1, a shuffled one near 0 (§4.2, Fig. 4.2)
    pca                 the codebook projected on its first two principal components (Fig. 4.2)
    shift_psnr_drop     reconstruction PSNR minus the PSNR with every index of the tier moved by
                        +1 and by -1 (the mean of the two; reflected at 0 and K-1), the other tier
                        kept (§4.1: perturbed latents decode to garbage unless the codebook is ordered)
    probe_accuracy      a linear probe on the tier's index map, read as numbers (§4.4; index order is
                        what a linear read-out of indices can use), against the majority class
    psnr, ssim          reconstruction of the held-out clips (§4.5), noise off
    clips               per held-out clip: its cluster (an episode; each sequence its own on generated
                        benchmarks), its PSNR, and per tier its shift drop and whether the probe is
                        right, so the report can bootstrap over clips within seeds (issue 46)

The probe is ridge regression on one-hot targets (argmax decides), its features standardised with
the fit set's statistics; the ridge weight is picked from RIDGES by fitting on one half of the fit
set and scoring on the other, then refitted on all of it. Seed 002 used an untuned "simple
classifier" with 5-fold cross-validation; a closed form keeps the probe deterministic and cheap.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader

from genvid.data.clips import denormalize
from genvid.data.noisy_vq import TIERS
from genvid.data.probe import ProbeData
from genvid.metrics.codebook import code_histogram, usage_stats
from genvid.metrics.image import psnr, ssim
from genvid.models.vq.vqvae3d import VQVAE3D, reflect_indices

SHIFTS = (1, -1)
RIDGES = (0.1, 1.0, 10.0, 100.0, 1000.0)


# ----------------------------------------------------------------------------- codebook order

def average_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n of ``x``, ties sharing the mean of their ranks (as Spearman's ρ needs)."""
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.arange(1, len(x) + 1)
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse.reshape(-1), weights=ranks)
    return sums[inverse.reshape(-1)] / counts[inverse.reshape(-1)]


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation (Pearson's r of the average ranks); 0 if either is constant."""
    rx, ry = average_ranks(np.asarray(x, dtype=np.float64)), average_ranks(np.asarray(y, dtype=np.float64))
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denominator = np.sqrt((rx * rx).sum() * (ry * ry).sum())
    return float((rx * ry).sum() / denominator) if denominator > 0 else 0.0


def codebook_order(embed: Tensor) -> float:
    """ρ between the index distance |i - j| and the vector distance ||e_i - e_j|| over all i < j."""
    e = embed.detach().double().cpu()
    i, j = torch.triu_indices(len(e), len(e), 1)
    return spearman((j - i).numpy(), (e[i] - e[j]).norm(dim=1).numpy())


def pca_2d(embed: Tensor) -> np.ndarray:
    """The codebook [K, D] on its first two principal components [K, 2]; each axis's sign makes
    its correlation with the index non-negative, so ordered codebooks of two runs look alike."""
    e = embed.detach().double().cpu().numpy()
    e = e - e.mean(0)
    _, _, vt = np.linalg.svd(e, full_matrices=False)
    out = np.zeros((len(e), 2))
    for axis in range(min(2, vt.shape[0])):
        out[:, axis] = e @ vt[axis]
        if np.dot(out[:, axis] - out[:, axis].mean(), np.arange(len(e)) - (len(e) - 1) / 2) < 0:
            out[:, axis] = -out[:, axis]
    return out


# ----------------------------------------------------------------------------- linear probe

def _ridge_fit(x: np.ndarray, y: np.ndarray, ridge: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mean, std = x.mean(0), x.std(0)
    std = np.where(std > 1e-12, std, 1.0)  # a feature constant over the fit set carries nothing
    z = np.concatenate([(x - mean) / std, np.ones((len(x), 1))], axis=1)
    penalty = ridge * np.eye(z.shape[1])
    penalty[-1, -1] = 0.0  # the bias is not shrunk
    weights = np.linalg.solve(z.T @ z + penalty, z.T @ y)
    return mean, std, weights


def _correct(model, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per row: the probe's answer is one of the right ones."""
    mean, std, weights = model
    z = np.concatenate([(x - mean) / std, np.ones((len(x), 1))], axis=1)
    pick = (z @ weights).argmax(1)
    return y[np.arange(len(y)), pick] > 0


def _accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    return float(_correct(model, x, y).mean())


def ridge_probe(fit_x: np.ndarray, fit_y: np.ndarray, held_x: np.ndarray, held_y: np.ndarray) -> dict[str, float]:
    """Held-out accuracy of the ridge probe (the weight picked on halves of the fit set), whether it is right
    on each held-out row, and the accuracy of always answering the fit set's most frequent class.
    ``*_y`` [n, classes]: 1 at each right answer."""
    fit_x, held_x = np.asarray(fit_x, np.float64), np.asarray(held_x, np.float64)
    fit_y, held_y = np.asarray(fit_y, np.float64), np.asarray(held_y, np.float64)
    half = len(fit_x) // 2
    scores = [_accuracy(_ridge_fit(fit_x[:half], fit_y[:half], r), fit_x[half:], fit_y[half:]) for r in RIDGES]
    ridge = RIDGES[int(np.argmax(scores))]  # ties: the smallest weight
    majority = int(fit_y.sum(0).argmax())
    correct = _correct(_ridge_fit(fit_x, fit_y, ridge), held_x, held_y)
    return {"accuracy": float(correct.mean()), "correct": [int(c) for c in correct],
            "majority": float((held_y[:, majority] > 0).mean()), "ridge": ridge}


def index_features(indices: Tensor, k: int) -> np.ndarray:
    """A tier's index maps [B, T, H, W] as numbers i / (K - 1), one row per clip."""
    return (indices.reshape(len(indices), -1).double() / max(k - 1, 1)).cpu().numpy()


# ----------------------------------------------------------------------------- one tokenizer

def _shifted(top: Tensor, bottom: Tensor, tier: str, offset: int, k: int) -> tuple[Tensor, Tensor]:
    if tier == "top":
        return reflect_indices(top + offset, k), bottom
    return top, reflect_indices(bottom + offset, k)


@torch.no_grad()
def measure(vqvae: VQVAE3D, probe: ProbeData, mean: np.ndarray, std: np.ndarray,
            batch_size: int = 16) -> dict[str, Any]:
    """Every measure of the module docstring for one trained tokenizer (eval mode: no noise)."""
    vqvae.eval()
    k, device = vqvae.cfg.codebook_size, next(vqvae.parameters()).device

    def pixels(video: Tensor) -> Tensor:
        return denormalize(video, mean, std).transpose(1, 2)  # [B, T, C, H, W] in [0, 1]

    sums = {"psnr": 0.0, "ssim": 0.0, **{f"{t}_shift": 0.0 for t in TIERS}}
    per_clip = {"psnr": [], **{f"{t}_shift": [] for t in TIERS}}  # the report's bootstrap resamples these
    hist = {t: torch.zeros(k, dtype=torch.int64) for t in TIERS}
    held = {t: [] for t in TIERS}
    for x in DataLoader(probe.held_out.clips, batch_size=batch_size):
        x = x.to(device)
        top, bottom = vqvae.encode(x)
        real, recon = pixels(x), pixels(vqvae.decode_codes(top, bottom))
        clean = psnr(recon, real).mean(dim=1)
        sums["psnr"] += float(clean.sum())
        per_clip["psnr"] += clean.tolist()
        sums["ssim"] += float(ssim(recon, real).mean(dim=1).sum())
        for tier, codes in zip(TIERS, (top, bottom)):
            hist[tier] += code_histogram(codes, k)
            held[tier].append(index_features(codes, k))
            drop = torch.zeros_like(clean)
            for offset in SHIFTS:
                moved = pixels(vqvae.decode_codes(*_shifted(top, bottom, tier, offset, k)))
                lost = clean - psnr(moved, real).mean(dim=1)
                sums[f"{tier}_shift"] += float(lost.sum()) / len(SHIFTS)
                drop += lost / len(SHIFTS)
            per_clip[f"{tier}_shift"] += drop.tolist()
    fit = {t: [] for t in TIERS}
    for x in DataLoader(probe.fit.clips, batch_size=batch_size):
        for tier, codes in zip(TIERS, vqvae.encode(x.to(device))):
            fit[tier].append(index_features(codes, k))

    n = len(probe.held_out.clips)
    out: dict[str, Any] = {"psnr": sums["psnr"] / n, "ssim": sums["ssim"] / n}
    clips: dict[str, Any] = {"cluster": [int(c) for c in probe.held_out.cluster_ids()], "psnr": _rounded(per_clip["psnr"])}
    for tier in TIERS:
        quant = getattr(vqvae, f"quant_{tier}")
        stats = usage_stats(hist[tier])
        result = ridge_probe(np.concatenate(fit[tier]), probe.fit.targets, np.concatenate(held[tier]),
                             probe.held_out.targets)
        out[tier] = {"usage": stats["usage"], "perplexity": stats["perplexity"], "codes_used": stats["codes_used"],
                     "order": codebook_order(quant.embed), "shift_psnr_drop": sums[f"{tier}_shift"] / n,
                     "probe_accuracy": result["accuracy"], "probe_ridge": result["ridge"],
                     "pca": [[round(float(a), 6), round(float(b), 6)] for a, b in pca_2d(quant.embed)]}
        out["probe_majority"] = result["majority"]
        clips[tier] = {"shift_psnr_drop": _rounded(per_clip[f"{tier}_shift"]), "probe_correct": result["correct"]}
    out["clips"] = clips
    return out


def _rounded(values: list[float]) -> list[float]:
    return [round(float(v), 6) for v in values]


def study(sigmas: list[float], seeds: list[int], train_one: Callable[[float, int], VQVAE3D], probe: ProbeData,
          mean: np.ndarray, std: np.ndarray) -> list[dict[str, Any]]:
    """``train_one(σ, seed)`` for every pair (σ outer), each measured; one row per pair."""
    rows = []
    for sigma in sigmas:
        for seed in seeds:
            vqvae = train_one(sigma, seed)
            rows.append({"sigma": sigma, "seed": seed, **measure(vqvae, probe, mean, std)})
            vqvae.cpu()
    return rows

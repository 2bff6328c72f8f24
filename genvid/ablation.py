"""Protocol scores of an ablation's variants (stage ablate, ``ablations.<run>.score: protocol``):
seed 003 §6.3.3's findings are about samples, so its variants are scored on the benchmark's test
protocol, not by a training metric.

Each model (the run itself and every variant) predicts the protocol's test clips from their context
frames with the sample stage's seeds (clip batch i from ``derived_seed(sample.seed, first clip)``),
and is scored in memory on

- best-of-N LPIPS and SSIM per sequence (the sample whose frame average is best, as evaluate's
  headline rule), averaged over clips;
- FVD of one sample per clip (evaluate's first seeded draw), against the benchmark's FVD reference;
- the static background's temporal variance (§6.3.3: "the background was unstable", fixed by the
  copy mask): over the pixels whose value stays within ``STATIC_TOLERANCE`` of itself through the
  whole real clip (context and future), the variance over the predicted frames, averaged over those
  pixels, then over samples and clips. 0 for a model that keeps them still; no value when a clip
  set has no static pixel (a moving camera).
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, ContextManager

import numpy as np
import torch

from genvid.data.frames import conditioning as frame_inputs
from genvid.data.h5 import read_h5
from genvid.errors import GenvidError
from genvid.evaluation import Features, Reference, frame_scores, fvd_draws, unit_rgb
from genvid.metrics.fvd import frechet_distance_features
from genvid.metrics.lpips import LPIPS
from genvid.sampling import protocol_batches
from genvid.train.sampler import derived_seed

STATIC_TOLERANCE = 2  # uint8 levels a pixel may vary through the real clip and still count as static


def protocol_futures(predictor: Any, frames_path: Path, starts: np.ndarray, context_frames: int, horizon: int,
                     num_samples: int, seed: int, per_call: int, stream: tuple[int, ...] = (),
                     conditioning: str | None = None, autocast: ContextManager | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(real uint8 [N, Tc + horizon, H, W, C], futures uint8 [N, S, horizon, H, W, C]): the sample stage's
    draws, by the protocol's one loop (genvid.sampling), a batch from (seed, *stream, its first clip) (the
    long horizon's stream: genvid.train.sampler); ``conditioning`` the per-frame inputs a conditioned
    model reads (ModelSpec.conditioning), ``autocast`` the run's precision (genvid.device)."""
    reals, futures = [], []
    with read_h5(frames_path, "frames file") as f:
        recorded = None if conditioning is None else frame_inputs(f, frames_path, conditioning)
        for b in protocol_batches(predictor, f["frames"], recorded, starts, context_frames, horizon, num_samples,
                                  per_call, lambda first: derived_seed(seed, *stream, first), autocast=autocast):
            reals.append(b.real)
            futures.append(b.futures)
    return np.concatenate(reals), np.concatenate(futures)


def static_background_variance(real: np.ndarray, futures: np.ndarray) -> float | None:
    """Mean temporal variance (pixels in [0, 1]) of the predicted frames over each clip's static pixels."""
    still = (real.max(axis=1).astype(np.int16) - real.min(axis=1) <= STATIC_TOLERANCE).all(axis=-1)  # [N, H, W]
    if not still.any():
        return None
    var = (futures.astype(np.float64) / 255.0).var(axis=2).mean(axis=-1)  # [N, S, H, W]
    per_clip = [var[i][:, still[i]].mean() for i in range(len(real)) if still[i].any()]
    return float(np.mean(per_clip))


def ablation_scores(real: np.ndarray, futures: np.ndarray, context_frames: int, lpips: LPIPS,
                    features: Features | None, reference: Reference | None, fvd_seed: int) -> dict[str, Any]:
    """{"lpips", "ssim" (best-of-N per sequence), "fvd" (one seeded sample per clip, or None), "static_variance", "clips"}."""
    pred = unit_rgb(futures)
    target = unit_rgb(real[:, None, context_frames:]).expand_as(pred)
    per_frame = frame_scores(pred, target, lpips)
    out: dict[str, Any] = {"clips": int(len(real))}
    for metric, better in (("lpips", np.argmin), ("ssim", np.argmax)):
        avg = per_frame[metric].mean(axis=2)  # [N, S]
        out[metric] = float(avg[np.arange(len(avg)), better(avg, axis=1)].mean())
    out["fvd"] = None
    if features is not None and reference is not None:
        if hashlib.sha256(real.tobytes()).hexdigest() != reference.sha256:
            raise GenvidError(f"{reference.path}: the ablation's test clips differ from the benchmark's FVD reference "
                              "(rerun the fvd_reference stage)")
        draw = fvd_draws(len(real), futures.shape[1], 1, fvd_seed)[0]
        context = unit_rgb(real[:, :context_frames])
        video = torch.cat([context, pred[np.arange(len(real)), draw]], dim=1)
        out["fvd"] = frechet_distance_features(reference.features, features(video).double().numpy())
    out["static_variance"] = static_background_variance(real, futures)
    return out

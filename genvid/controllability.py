"""Score a run's counterfactual futures against the simulator's (issue 24; genvid.metrics.control).

Reads the samples file's ``counterfactual/predictions`` (genvid.data.samples) and the benchmark's
counterfactuals file (genvid.data.counterfactuals), and returns scores.json's ``controllability``:

- fidelity: PSNR, SSIM and LPIPS of every predicted frame against the true counterfactual frame,
  averaged over samples, actions and frames per clip, then over clips (also per action), with
  cluster-bootstrap 95 % intervals over the protocol's clusters of the clips drawn;
- FVD of context + prediction (sample 0) against context + true future, over all M x K
  counterfactual videos, where ``evaluate.counterfactual_fvd`` asks for it (I3D passes cost seconds
  each on a CPU, and a few dozen videos give a rough FVD at best);
- action sensitivity and direction (genvid.metrics.control), with their intervals; direction also
  on the true frames, the cue's own accuracy; the sensitivity of the first predicted frame alone too.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from genvid.data.counterfactuals import Counterfactuals
from genvid.data.samples import CounterfactualPredictions, SamplesInfo
from genvid.errors import GenvidError
from genvid.evaluation import frame_scores, unit_rgb
from genvid.metrics import stats
from genvid.metrics.control import pair_distances, path_shift, turns_right_way
from genvid.metrics.fvd import frechet_distance_features
from genvid.metrics.lpips import LPIPS
from genvid.params import EvaluateConfig

FIDELITY = ("psnr", "ssim", "lpips")


def _mean_ci(values: np.ndarray, clusters: np.ndarray, cfg: EvaluateConfig) -> dict[str, Any]:
    out: dict[str, Any] = {"mean": float(np.mean(values)), "ci95": None}
    if len(np.unique(clusters)) >= 2:
        lo, hi = stats.cluster_bootstrap(values, clusters, cfg.bootstrap, cfg.seed)
        out["ci95"] = [float(lo), float(hi)]
    return out


def steer_pair(cf: Counterfactuals) -> tuple[int, int] | None:
    """Indices of the held sequences with the leftmost and rightmost steering (None if all steer alike)."""
    steer = cf.cond[0, :, -1, 0] if cf.clips else np.zeros(0)
    if len(steer) < 2 or steer.min() == steer.max():
        return None
    return int(np.argmin(steer)), int(np.argmax(steer))


def direction_per_clip(cf: Counterfactuals, futures: np.ndarray, pair: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Per clip of futures [M, K, S, horizon, ...]: the fraction of samples that turn the right way, and
    the signed shift gap, shift(leftmost steer) - shift(rightmost steer) in pixels, averaged over samples
    and signed so that positive is the right way (the image moves opposite to the heading change)."""
    left, right = pair
    rate, gap = np.zeros(cf.clips), np.zeros(cf.clips)
    for i in range(cf.clips):
        last = cf.context[i, -1]
        heading = cf.pose[i, :, -1, 1]
        turn = -np.sign(float(heading[left]) - float(heading[right]))
        shifts = [(path_shift(last, futures[i, left, s]), path_shift(last, futures[i, right, s]))
                  for s in range(futures.shape[2])]
        rate[i] = np.mean([turns_right_way(a, b, float(heading[left]), float(heading[right])) for a, b in shifts])
        gap[i] = turn * np.mean([a - b for a, b in shifts])
    return rate, gap


def check_counterfactuals(cf: Counterfactuals, info: SamplesInfo, cf_path: str | Path) -> None:
    """The counterfactuals file belongs to the samples file's benchmark and protocol (before any
    scoring): one line naming the file otherwise."""
    if not cf.available:
        return
    frame = (info.height, info.width, info.channels)
    if (cf.context_frames, cf.horizon, tuple(cf.frames.shape[3:])) != (info.context_frames, info.horizon, frame):
        raise GenvidError(f"{cf_path}: counterfactual clips of {cf.context_frames} -> {cf.horizon} frames of "
                          f"{list(cf.frames.shape[3:])}, but {info.path} holds {info.context_frames} -> {info.horizon} "
                          f"of {list(frame)} (the file of another benchmark? rerun stage counterfactuals)")


def _sensitivity(pred: np.ndarray, true: np.ndarray, clusters: np.ndarray, cfg: EvaluateConfig) -> dict[str, Any]:
    """Action sensitivity (genvid.metrics.control) of futures [M, K, S, T, ...] against the true [M, K, T, ...],
    as the ratio of the clips' summed pair distances, with its cluster-bootstrap interval."""
    m, s = pred.shape[0], pred.shape[2]
    pred_gap = np.array([np.mean([pair_distances(pred[i, :, j]) for j in range(s)]) for i in range(m)])
    true_gap = np.array([pair_distances(true[i]).mean() for i in range(m)])
    ratio = float(pred_gap.sum() / true_gap.sum()) if true_gap.sum() > 0 else float("nan")
    out: dict[str, Any] = {"mean": ratio, "ci95": None}
    if len(np.unique(clusters)) >= 2 and true_gap.sum() > 0:
        out["ci95"] = list(stats.ratio_bootstrap(pred_gap, true_gap, clusters, cfg.bootstrap, cfg.seed))
    return out


def score_controllability(cf: Counterfactuals, pred: CounterfactualPredictions | None, lpips: LPIPS,
                          features, cfg: EvaluateConfig, source: str = "samples file") -> dict[str, Any]:
    """scores.json's ``controllability`` (module docstring), or why it was not measured."""
    if not cf.available:
        return {"skipped": cf.reason}
    if pred is None:
        raise GenvidError(f"{source}: no counterfactual futures, but the benchmark has counterfactual clips "
                          "(rerun the sample stage)")
    p = pred.predictions
    if pred.sequences != cf.sequences or p.shape[:2] != cf.frames.shape[:2] or p.shape[3:] != cf.frames.shape[2:]:
        raise GenvidError(f"{source}: counterfactual futures {list(p.shape)} of {list(pred.sequences)} do not match "
                          f"the counterfactuals file's {list(cf.frames.shape)} of {list(cf.sequences)} "
                          "(rerun the sample stage)")
    clusters = cf.index["cluster"]
    m, k, s = p.shape[:3]
    true = unit_rgb(cf.frames)[:, :, None].expand(m, k, s, *cf.frames.shape[2:3], 3, *cf.frames.shape[3:5])
    per_frame = frame_scores(unit_rgb(p), true, lpips)  # metric -> [M, K, S, horizon]
    fidelity = {name: _mean_ci(per_frame[name].mean(axis=(1, 2, 3)), clusters, cfg) for name in FIDELITY}
    by_action = {seq: {name: float(per_frame[name][:, j].mean()) for name in FIDELITY}
                 for j, seq in enumerate(cf.sequences)}
    sensitivity = _sensitivity(p, cf.frames, clusters, cfg)
    # issue 46: an autoregressive sampler's futures under two actions share its random numbers only until
    # the first code that differs, after which they part like two samples; the first predicted frame alone
    # is the least mixed with sampling noise (read it beside the run's diversity)
    sensitivity_first = _sensitivity(p[:, :, :, :1], cf.frames[:, :, :1], clusters, cfg)
    pair = steer_pair(cf)
    if pair is None:
        direction: dict[str, Any] = {"skipped": "no two held sequences steer differently"}
    else:
        rate, gap = direction_per_clip(cf, p, pair)
        true_rate, true_gap = direction_per_clip(cf, cf.frames[:, :, None], pair)
        direction = {**_mean_ci(rate, clusters, cfg), "true_frames": float(true_rate.mean()),
                     "shift_gap": _mean_ci(gap, clusters, cfg), "true_shift_gap": float(true_gap.mean()),
                     "left": cf.sequences[pair[0]], "right": cf.sequences[pair[1]]}
    out: dict[str, Any] = {"skipped": None, "clips": m, "sequences": list(cf.sequences), "num_samples": s,
                           "conditioned": pred.conditioned, "fidelity": fidelity, "fidelity_by_action": by_action,
                           "sensitivity": sensitivity, "sensitivity_first": sensitivity_first, "direction": direction,
                           "fvd": {"skipped": "evaluate.counterfactual_fvd is false"}}
    if cfg.counterfactual_fvd and features is not None:
        context = unit_rgb(np.repeat(cf.context, k, axis=0))  # [M*K, Tc, 3, H, W]
        real = features(torch.cat([context, unit_rgb(cf.frames.reshape(m * k, *cf.frames.shape[2:]))], 1))
        fake = features(torch.cat([context, unit_rgb(p[:, :, 0].reshape(m * k, *p.shape[3:]))], 1))
        out["fvd"] = {"skipped": None, "value": frechet_distance_features(real.double().numpy(), fake.double().numpy()),
                      "videos": m * k}
    return out


def headline(control: dict[str, Any]) -> dict[str, float]:
    """metrics.json's flat controllability keys (absent where not measured): the counterfactual futures'
    fidelity as one number, cf_ssim (cf_lpips is in scores.json and the leaderboard: ``dvc metrics show``
    keeps within 200 columns), then sensitivity and direction."""
    if control.get("skipped"):
        return {}
    out = {"cf_ssim": stats.headline_number("cf_ssim", control["fidelity"]["ssim"]["mean"])}
    if np.isfinite(control["sensitivity"]["mean"]):
        out["sensitivity"] = stats.headline_number("sensitivity", control["sensitivity"]["mean"])
    if "mean" in control["direction"]:
        out["direction"] = stats.headline_number("direction", control["direction"]["mean"])
    return out


def summary(control: dict[str, Any]) -> str:
    """The stage's stdout tail: "; counterfactuals: ..." (empty where not measured)."""
    flat = headline(control)
    if not flat:
        return ""
    direction = f", direction {flat['direction']:.2f}" if "direction" in flat else ""
    return (f"; counterfactuals: LPIPS {control['fidelity']['lpips']['mean']:.3f}, "
            f"sensitivity {flat.get('sensitivity', float('nan')):.3f}{direction}")

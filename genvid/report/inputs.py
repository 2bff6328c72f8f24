"""Read and validate every input of the report; any problem is one GenvidError line naming the file.

The report reads the artefacts of all earlier stages (CONTRACTS.md). Required keys are checked
up front so a bad input fails before anything is rendered or written; optional keys and TSV
columns (for example a variant the evaluate stage did not score) are skipped by the builders.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from genvid import params as P
from genvid.data.frames import FramesInfo, read_frames_info
from genvid.data.h5 import plain_attrs, read_h5
from genvid.data.latents import read_latent_info
from genvid.data.split import SPLITS, validate_split_file
from genvid.data.stats import load_stats
from genvid.errors import GenvidError
from genvid.io import read_json

METRICS = ("psnr", "ssim", "lpips", "mse")
VARIANTS = ("full", "top_only", "bottom_only")  # samples.h5 datasets of shape [N,S,T,H,W,3]


@dataclass(frozen=True)
class ReportPaths:
    params: Path
    frames: Path
    split: Path
    stats: Path
    vqvae: Path
    vqvae_curves: Path  # folder with train.tsv / val.tsv
    vqvae_metrics: Path
    latents: Path
    prior_top_curves: Path
    prior_bottom_curves: Path
    prior_top_metrics: Path
    prior_bottom_metrics: Path
    samples: Path
    metrics: Path
    eval_dir: Path  # per-timestep TSVs <metric>.tsv
    lock: Path | None = None  # dvc.lock (optional: absent when the DAG ran under Snakemake)
    profiles: Path | None = None  # profiles/ folder, to name the profile in use

    @classmethod
    def under(cls, root: str | Path) -> "ReportPaths":
        """The default layout (dvc.yaml's paths) below ``root``."""
        r = Path(root)
        return cls(
            params=r / "params.yaml", frames=r / "data/raw/frames.h5", split=r / "data/splits/split.json",
            stats=r / "data/stats/normalization.json", vqvae=r / "models/vqvae.pt",
            vqvae_curves=r / "reports/train_vqvae", vqvae_metrics=r / "reports/vqvae_metrics.json",
            latents=r / "data/latents/latents.h5", prior_top_curves=r / "reports/train_prior_top",
            prior_bottom_curves=r / "reports/train_prior_bottom",
            prior_top_metrics=r / "reports/prior_top_metrics.json",
            prior_bottom_metrics=r / "reports/prior_bottom_metrics.json",
            samples=r / "data/samples/samples.h5", metrics=r / "reports/metrics.json",
            eval_dir=r / "reports/eval", lock=r / "dvc.lock", profiles=r / "profiles",
        )


# --------------------------------------------------------------------------- small readers

def read_tsv(path: str | Path, required: tuple[str, ...]) -> dict[str, np.ndarray]:
    """A numeric TSV with a header row -> {column: float64 array}; empty cells are NaN."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise GenvidError(f"{path}: file not found") from None
    if not lines:
        raise GenvidError(f"{path}: empty (expected a header row)")
    header = lines[0].split("\t")
    for name in required:
        if name not in header:
            raise GenvidError(f"{path}: missing column '{name}' (header: {', '.join(header)})")
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        cells = line.split("\t")
        if len(cells) != len(header):
            raise GenvidError(f"{path}: line {number} has {len(cells)} cells, the header has {len(header)}")
        try:
            rows.append([float(c) if c else math.nan for c in cells])
        except ValueError:
            raise GenvidError(f"{path}: line {number} holds a non-numeric cell") from None
    if not rows:
        raise GenvidError(f"{path}: no data rows")
    table = np.asarray(rows, dtype=np.float64)
    return {name: table[:, i] for i, name in enumerate(header)}


def lookup(data: Any, dotted: str, source: str | Path, required: bool = True) -> Any:
    """``data['a']['b']`` for ``'a.b'``; a missing required key is one line naming it."""
    node = data
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            if required:
                raise GenvidError(f"{source}: missing key '{dotted}'")
            return None
        node = node[part]
    return node


def number(data: Any, dotted: str, source: str | Path, required: bool = True) -> float | None:
    value = lookup(data, dotted, source, required)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise GenvidError(f"{source}: key '{dotted}' must be a finite number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class Stat:
    """A mean with an optional 95 % interval [lo, hi]."""

    mean: float
    lo: float | None = None
    hi: float | None = None


def stat(node: Any) -> Stat | None:
    """Accept the evaluate stage's summary shapes: a number, {"mean", "ci95": [lo, hi] | half-width
    | null}, or genvid.metrics.summarize's {"average": {...}}. Anything else: None (skipped)."""
    if isinstance(node, dict) and "mean" not in node and isinstance(node.get("average"), dict):
        node = node["average"]
    if isinstance(node, (int, float)) and not isinstance(node, bool):
        return Stat(float(node))
    if not isinstance(node, dict) or not isinstance(node.get("mean"), (int, float)):
        return None
    mean, ci = float(node["mean"]), node.get("ci95")
    if isinstance(ci, (list, tuple)) and len(ci) == 2 and all(isinstance(c, (int, float)) for c in ci):
        return Stat(mean, float(ci[0]), float(ci[1]))
    if isinstance(ci, (int, float)) and not isinstance(ci, bool):
        return Stat(mean, mean - float(ci), mean + float(ci))
    return Stat(mean)


# --------------------------------------------------------------------------- stage outputs

def read_curves(folder: Path) -> dict[str, dict[str, np.ndarray]]:
    """train.tsv and val.tsv of a training stage (columns step, loss, ...)."""
    return {split: read_tsv(folder / f"{split}.tsv", ("step", "loss")) for split in ("train", "val")}


def read_vqvae_metrics(path: Path) -> dict:
    data = read_json(path)
    for split in SPLITS:
        for key in ("mse_normalized", "psnr", "ssim"):
            number(data, f"{split}.{key}", path)
    return data


def read_prior_metrics(path: Path) -> dict:
    data = read_json(path)
    for split in SPLITS:
        for key in ("nll_nats", "bits_per_code"):
            number(data, f"{split}.{key}", path)
    return data


def read_eval_metrics(path: Path) -> dict:
    """reports/metrics.json: the full model's and the copy-last baseline's PSNR are required (the
    abstract states them); every other entry is optional and skipped where absent."""
    data = read_json(path)
    for key in ("full.psnr", "copy_last.psnr"):
        if stat(lookup(data, key, path)) is None and stat(lookup(data, f"{key}.best_of_n", path, False)) is None:
            raise GenvidError(f"{path}: key '{key}' holds no mean value")
    return data


def read_eval_curves(folder: Path) -> dict[str, dict[str, np.ndarray]]:
    """reports/eval/<metric>.tsv for each metric present (at least one)."""
    curves = {m: read_tsv(folder / f"{m}.tsv", ("timestep",)) for m in METRICS if (folder / f"{m}.tsv").exists()}
    if not curves:
        raise GenvidError(f"{folder}: no per-timestep TSV found (expected {', '.join(m + '.tsv' for m in METRICS)})")
    return curves


@dataclass
class Samples:
    videos: dict[str, np.ndarray]  # real/recon [n,T,H,W,3]; variants [n,S,T,H,W,3] for the chosen clips
    rows: np.ndarray  # which rows of samples.h5 were read
    num_clips: int
    num_samples: int
    context_frames: int
    attrs: dict


def read_samples(path: Path, clip_len: int, resolution: tuple[int, int], max_clips: int) -> Samples:
    """Validate samples.h5 against the contract and read ``max_clips`` evenly spaced test clips."""
    with read_h5(path, "samples file") as f:
        for name in ("real", "recon", "full"):
            if name not in f:
                raise GenvidError(f"{path}: no '{name}' dataset")
        real = f["real"]
        n, h, w = real.shape[0], *resolution
        expected = (n, clip_len, h, w, 3)
        if real.shape != expected or real.dtype != np.uint8:
            raise GenvidError(f"{path}: 'real' is {real.dtype} {list(real.shape)}, expected uint8 "
                              f"{list(expected)} (clips.clip_len={clip_len}, frames {h}x{w})")
        if n == 0:
            raise GenvidError(f"{path}: holds no clips")
        if f["recon"].shape != expected or f["recon"].dtype != np.uint8:
            raise GenvidError(f"{path}: 'recon' is {f['recon'].dtype} {list(f['recon'].shape)}, "
                              f"expected uint8 {list(expected)}")
        s = f["full"].shape[1] if f["full"].ndim == 6 else 0
        for name in VARIANTS:
            if name in f and (f[name].shape != (n, s, *expected[1:]) or f[name].dtype != np.uint8 or s < 1):
                raise GenvidError(f"{path}: '{name}' is {f[name].dtype} {list(f[name].shape)}, expected "
                                  f"uint8 [{n}, S, {clip_len}, {h}, {w}, 3] with the same S for every variant")
        attrs = plain_attrs(f)
        context = attrs.get("context_frames")
        if not isinstance(context, int) or not 1 <= context < clip_len:
            raise GenvidError(f"{path}: attribute 'context_frames' must be an integer in "
                              f"[1, {clip_len}), got {context!r}")
        rows = np.unique(np.linspace(0, n - 1, min(max_clips, n)).round().astype(np.int64))
        videos = {name: f[name][rows] for name in ("real", "recon", *VARIANTS) if name in f}
        for key in ("clip_index", "start"):
            if key in f:
                attrs[key] = f[key][rows].tolist()
    return Samples(videos, rows, n, s, context, attrs)


def code_histograms(path: Path, split: str = "test", chunk: int = 256) -> dict[str, np.ndarray]:
    """Counts of every code index per level over one split of the latent file (chunked)."""
    info = read_latent_info(path)
    k = info["codebook_size"]
    counts = {}
    with h5py.File(path, "r") as f:
        for level in ("top", "bottom"):
            ds, total = f[split][level], np.zeros(k, dtype=np.int64)
            for a in range(0, ds.shape[0], chunk):
                codes = ds[a:a + chunk].astype(np.int64).ravel()
                if codes.size and (codes.min() < 0 or codes.max() >= k):
                    raise GenvidError(f"{path}: '{split}/{level}' holds an index outside [0, {k})")
                total += np.bincount(codes, minlength=k)
            counts[level] = total
    return counts


@dataclass
class Inputs:
    paths: ReportPaths
    params: dict
    frames: FramesInfo
    split: dict
    mean: np.ndarray
    std: np.ndarray
    stats: dict
    vqvae_curves: dict
    vqvae_metrics: dict
    prior_curves: dict  # level -> {"train", "val"}
    prior_metrics: dict  # level -> dict
    eval_metrics: dict
    eval_curves: dict
    samples: Samples
    code_counts: dict


def read_inputs(paths: ReportPaths, max_clips: int = 3) -> Inputs:
    """Every input, validated; nothing is written."""
    params = P.read_params(paths.params)
    clips = P.validate_section(params, "clips", paths.params)
    frames = read_frames_info(paths.frames)
    split = validate_split_file(read_json(paths.split), str(paths.split))
    stats = read_json(paths.stats)
    mean, std = load_stats(stats, str(paths.stats))
    return Inputs(
        paths=paths, params=params, frames=frames, split=split, mean=mean, std=std, stats=stats,
        vqvae_curves=read_curves(paths.vqvae_curves),
        vqvae_metrics=read_vqvae_metrics(paths.vqvae_metrics),
        prior_curves={"top": read_curves(paths.prior_top_curves), "bottom": read_curves(paths.prior_bottom_curves)},
        prior_metrics={"top": read_prior_metrics(paths.prior_top_metrics),
                       "bottom": read_prior_metrics(paths.prior_bottom_metrics)},
        eval_metrics=read_eval_metrics(paths.metrics),
        eval_curves=read_eval_curves(paths.eval_dir),
        samples=read_samples(paths.samples, clips["clip_len"], (frames.height, frames.width), max_clips),
        code_counts=code_histograms(paths.latents),
    )

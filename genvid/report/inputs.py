"""Read and validate every input of the report; any problem is one GenvidError line naming the file.

The report reads the artefacts of every earlier stage, at the paths of genvid.layout:

    params.yaml                     report.main_run, benchmarks, runs (genvid.params)
    per benchmark b                 data/b/frames.h5, split.json, stats.json (main run's benchmark),
                                    reports/b/leaderboard/rows.json (genvid.leaderboard)
    per run r of b                  reports/b/runs/r/{metrics,scores,protocol}.json and
                                    data/b/samples/r.h5 (only through genvid.data.samples)
    the main run (VQ family)        models/r/{vqvae.pt, latents.h5}, reports/b/runs/r/train_metrics.json
                                    and curves/<component>/{train,val}.tsv

Required keys are checked up front, so a bad input fails before anything is rendered or
written; optional entries (an extra series a model does not have, FVD skipped) are skipped by
the builders.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import yaml

from genvid import params as P
from genvid.data.frames import FramesInfo, read_frames_info
from genvid.data.latents import read_latent_info
from genvid.data.samples import SamplesInfo, read_clips, read_index, read_samples_info
from genvid.data.split import SPLITS, validate_split_file
from genvid.data.stats import load_stats
from genvid.errors import GenvidError, ParamError
from genvid.io import read_json
from genvid.layout import ablation_dir, benchmark_paths, run_paths
from genvid.leaderboard import HEADLINE_RULE, IMAGE_METRICS, MEASURED, PUBLISHED
from genvid.metrics.stats import RULES
from genvid.profiles import apply

METRICS = ("psnr", "ssim", "lpips", "mse")  # display order
PREDICTIONS = "predictions"
VQ_MODEL = "vq"  # the registered family the thesis chapters describe (genvid.models.vq.family)
VQ_COMPONENTS = ("vqvae", "prior_top", "prior_bottom")
BASELINE_MODEL = "copy_last"


@dataclass(frozen=True)
class ReportPaths:
    params: Path
    root: Path  # artefact paths (genvid.layout) are relative to it
    lock: Path | None = None  # dvc.lock (optional: absent when the DAG ran under Snakemake)
    profiles: Path | None = None  # profiles/ folder, to name the profile in use

    @classmethod
    def under(cls, root: str | Path, params: str | Path | None = None) -> "ReportPaths":
        r = Path(root)
        return cls(Path(params) if params is not None else r / "params.yaml", r, r / "dvc.lock", r / "profiles")


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
    for number_, line in enumerate(lines[1:], start=2):
        cells = line.split("\t")
        if len(cells) != len(header):
            raise GenvidError(f"{path}: line {number_} has {len(cells)} cells, the header has {len(header)}")
        try:
            rows.append([float(c) if c else math.nan for c in cells])
        except ValueError:
            raise GenvidError(f"{path}: line {number_} holds a non-numeric cell") from None
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


def _json(path: Path) -> dict:
    if not path.is_file():
        raise GenvidError(f"{path}: file not found")
    data = read_json(path)
    if not isinstance(data, dict):
        raise GenvidError(f"{path}: expected a JSON object")
    return data


@dataclass(frozen=True)
class Stat:
    """A mean with an optional 95 % interval [lo, hi]."""

    mean: float
    lo: float | None = None
    hi: float | None = None


def stat(node: Any) -> Stat | None:
    """A number, {"mean", "ci95": [lo, hi] | half-width | null}, {"mean", "sd"} (FVD: no interval)
    or genvid.metrics.stats' {"average": {...}}. Anything else: None (skipped)."""
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


@dataclass(frozen=True)
class Curve:
    """One per-timestep curve (t = 1..horizon) with its 95 % interval, when there is one."""

    mean: np.ndarray
    lo: np.ndarray | None
    hi: np.ndarray | None


# --------------------------------------------------------------------------- one run's evaluation

def read_curves(folder: Path) -> dict[str, dict[str, np.ndarray]]:
    """train.tsv and val.tsv of one trained component (columns step, loss, ...)."""
    return {split: read_tsv(folder / f"{split}.tsv", ("step", "loss")) for split in ("train", "val")}


def read_protocol(path: Path) -> dict:
    data = _json(path)
    for key in ("context_frames", "horizon", "num_samples", "clips"):
        value = lookup(data, key, path)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise GenvidError(f"{path}: key '{key}' must be a positive integer, got {value!r}")
    return data


def read_scores(path: Path, horizon: int) -> dict:
    """scores.json of genvid.evaluation: every series x metric x rule, per timestep and averaged.
    The predictions must hold every metric and rule; the other series are checked where present."""
    data = _json(path)
    series = lookup(data, "series", path)
    if not isinstance(series, dict) or PREDICTIONS not in series:
        raise GenvidError(f"{path}: missing key 'series.{PREDICTIONS}'")
    for name, per_metric in series.items():
        if not isinstance(per_metric, dict):
            raise GenvidError(f"{path}: key 'series.{name}' must map metrics to their summaries")
        for metric in METRICS:
            if metric not in per_metric:
                if name == PREDICTIONS:
                    raise GenvidError(f"{path}: missing key 'series.{name}.{metric}'")
                continue
            for rule in RULES:
                key = f"series.{name}.{metric}.{rule}"
                number(data, f"{key}.average.mean", path)
                curve = lookup(data, f"{key}.per_timestep.mean", path)
                if not isinstance(curve, list) or len(curve) != horizon:
                    raise GenvidError(f"{path}: key '{key}.per_timestep.mean' must be a list of {horizon} values "
                                      f"(the horizon), got {len(curve) if isinstance(curve, list) else curve!r}")
    if not isinstance(data.get("fvd"), dict):
        raise GenvidError(f"{path}: missing key 'fvd'")
    return data


def curve(scores: dict, series: str, metric: str, rule: str) -> Curve | None:
    """A per-timestep curve of scores.json, or None where the series/metric/rule is absent."""
    node = lookup(scores, f"series.{series}.{metric}.{rule}.per_timestep", "scores.json", required=False)
    if not isinstance(node, dict):
        return None
    arr = lambda v: None if v is None else np.asarray([math.nan if x is None else x for x in v], np.float64)
    return Curve(arr(node["mean"]), arr(node.get("lo")), arr(node.get("hi")))


def average(scores: dict, series: str, metric: str, rule: str = "best_seq") -> Stat | None:
    """The time-averaged score of a series under a rule, with its interval."""
    return stat(lookup(scores, f"series.{series}.{metric}.{rule}.average", "scores.json", required=False))


@dataclass
class RunResult:
    """One run's evaluation and the shape of its samples file."""

    name: str
    benchmark: str
    model: str
    metrics: dict  # headline (metrics.json)
    scores: dict  # scores.json
    protocol: dict  # protocol.json
    samples: SamplesInfo
    episode: np.ndarray  # [N] test clip origin, to check that runs share clips
    start: np.ndarray

    @property
    def num_samples(self) -> int:
        return self.samples.samples


def read_run_result(params: dict, name: str, root: Path, source: Path) -> RunResult:
    run = P.run(params, name, source)
    bench = P.benchmark(params, run.benchmark, source)
    paths = run_paths(run.name, run.benchmark, root)
    protocol = read_protocol(paths.report_dir / "protocol.json")
    expected = {"context_frames": bench.protocol.context_frames, "horizon": bench.protocol.horizon}
    for key, value in expected.items():
        if protocol[key] != value:
            raise GenvidError(f"{paths.report_dir / 'protocol.json'}: {key} {protocol[key]} differs from params "
                              f"benchmarks.{run.benchmark}.protocol.{key} = {value} (a stale evaluation)")
    info = read_samples_info(paths.samples)
    for key, have in (("context_frames", info.context_frames), ("horizon", info.horizon),
                      ("num_samples", info.samples), ("clips", info.clips)):
        if protocol[key] != have:
            raise GenvidError(f"{paths.report_dir / 'protocol.json'}: {key} {protocol[key]} differs from the "
                              f"samples file {paths.samples} ({have}): evaluate is older than sample")
    scores = read_scores(paths.report_dir / "scores.json", info.horizon)
    metrics = _json(paths.report_dir / "metrics.json")
    index = read_index(paths.samples)
    return RunResult(run.name, run.benchmark, run.model, metrics, scores, protocol, info, index["episode"],
                     index["start"])


def pick_rows(n: int, k: int) -> np.ndarray:
    """``k`` evenly spaced clip indices of ``n`` (first and last included)."""
    return np.unique(np.linspace(0, n - 1, max(1, min(k, n))).round().astype(np.int64))


def read_rows(path: Path, series: str, rows: np.ndarray) -> np.ndarray:
    """Some rows of one series of a samples file (genvid.data.samples.read_clips, row by row)."""
    return np.concatenate([read_clips(path, series, slice(int(r), int(r) + 1)) for r in rows])


# --------------------------------------------------------------------------- the main (VQ) run

def read_train_metrics(path: Path) -> dict:
    """train_metrics.json of the VQ family (genvid.models.vq.family.train)."""
    data = _json(path)
    for split in SPLITS:
        for key in ("mse_normalized", "psnr", "ssim"):
            number(data, f"vqvae.{split}.{key}", path)
        for level in ("top", "bottom"):
            for key in ("nll_nats", "bits_per_code"):
                number(data, f"prior_{level}.{split}.{key}", path)
    number(data, "vqvae.bits_reduction", path)
    for level in ("top", "bottom"):
        shape = lookup(data, f"vqvae.code_shapes.{level}", path)
        if not (isinstance(shape, list) and len(shape) == 3 and all(isinstance(v, int) for v in shape)):
            raise GenvidError(f"{path}: key 'vqvae.code_shapes.{level}' must be [T, H, W], got {shape!r}")
    return data


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
class MainRun:
    """The run the thesis chapters describe, with its benchmark's data."""

    run: P.Run
    bench: P.BenchmarkConfig
    frames: FramesInfo
    split: dict
    stats: dict
    mean: np.ndarray
    std: np.ndarray
    train_metrics: dict
    curves: dict[str, dict[str, dict[str, np.ndarray]]]  # component -> train/val -> column -> values
    code_counts: dict[str, np.ndarray]
    vqvae: Path
    latents: Path
    result: RunResult
    rows: np.ndarray  # the test clips shown
    videos: dict[str, np.ndarray]  # "real" [k, Tc+h, H, W, C]; "predictions", extras [k, S, h, H, W, C]
    baseline: RunResult | None  # the benchmark's copy-last run, if any


def read_main_run(params: dict, paths: ReportPaths, results: dict[str, RunResult], max_clips: int) -> MainRun:
    cfg = P.top_level(params, "report", paths.params)
    if cfg.main_run not in P.run_names(params, paths.params):
        raise ParamError(f"{paths.params}: report.main_run '{cfg.main_run}' is not in runs "
                         f"(known: {', '.join(P.run_names(params, paths.params))})")
    run = P.run(params, cfg.main_run, paths.params)
    if run.model != VQ_MODEL:
        raise ParamError(f"{paths.params}: report.main_run '{run.name}' is a '{run.model}' run; the thesis "
                         f"chapters describe a '{VQ_MODEL}' (VQ-VAE + PixelSNAIL) run")
    bench = P.benchmark(params, run.benchmark, paths.params)
    data, rp = benchmark_paths(run.benchmark, paths.root), run_paths(run.name, run.benchmark, paths.root)
    frames = read_frames_info(data.frames)
    split = validate_split_file(read_json(data.split), str(data.split))
    stats = _json(data.stats)
    mean, std = load_stats(stats, str(data.stats), frames.channels)
    result = results[run.name]
    rows = pick_rows(result.samples.clips, max_clips)
    videos = {"real": read_rows(result.samples.path, "real", rows),
              PREDICTIONS: read_rows(result.samples.path, PREDICTIONS, rows)}
    for name in result.samples.extras:
        videos[name] = read_rows(result.samples.path, f"extras/{name}", rows)
    baseline = next((r for r in results.values() if r.benchmark == run.benchmark and r.model == BASELINE_MODEL),
                    None)
    return MainRun(
        run=run, bench=bench, frames=frames, split=split, stats=stats, mean=mean, std=std,
        train_metrics=read_train_metrics(rp.report_dir / "train_metrics.json"),
        curves={c: read_curves(rp.report_dir / "curves" / c) for c in VQ_COMPONENTS},
        code_counts=code_histograms(rp.model_dir / "latents.h5"),
        vqvae=rp.model_dir / "vqvae.pt", latents=rp.model_dir / "latents.h5",
        result=result, rows=rows, videos=videos, baseline=baseline)


# --------------------------------------------------------------------------- the benchmarks

@dataclass
class Leaderboard:
    """reports/<b>/leaderboard/rows.json (genvid.leaderboard.build_rows): measured rows, then
    published rows, never mixed."""

    path: Path
    protocol: dict
    note: str | None
    measured: list[dict]
    published: list[dict]


def read_leaderboard(folder: Path, benchmark: str, runs: list[str]) -> Leaderboard:
    """Validate rows.json; its measured rows must be exactly ``runs`` (else it is stale). Rows are
    shown in rows.json's order."""
    path = folder / "rows.json"
    data = _json(path)
    rows = lookup(data, "rows", path)
    if not isinstance(rows, list):
        raise GenvidError(f"{path}: key 'rows' must be a list")
    if data.get("benchmark") != benchmark:
        raise GenvidError(f"{path}: holds benchmark {data.get('benchmark')!r}, expected '{benchmark}'")
    measured, published = [], []
    for i, row in enumerate(rows):
        kind = row.get("kind") if isinstance(row, dict) else None
        if kind == MEASURED:
            for key in ("run", "model", "protocol_ok"):
                lookup(row, key, f"{path}: rows[{i}]")
            for metric in IMAGE_METRICS:
                number(row, f"metrics.{metric}.{HEADLINE_RULE}.mean", f"{path}: rows[{i}]")
            measured.append(row)
        elif kind == PUBLISHED:
            for key in ("model", "metrics", "source.cite", "differences"):
                lookup(row, key, f"{path}: rows[{i}]")
            published.append(row)
        else:
            raise GenvidError(f"{path}: rows[{i}] has kind {kind!r}, expected '{MEASURED}' or '{PUBLISHED}'")
    found = [r["run"] for r in measured]
    if sorted(found) != sorted(runs):
        raise GenvidError(f"{path}: measured rows {found} differ from the runs of benchmark '{benchmark}' in "
                          f"params.yaml {runs} (a stale leaderboard: rerun leaderboard@{benchmark})")
    protocol = data.get("protocol") if isinstance(data.get("protocol"), dict) else {}
    note = data.get("note") if isinstance(data.get("note"), str) else None
    return Leaderboard(path, protocol, note, measured, published)


@dataclass
class BenchmarkView:
    """Every run of one benchmark on its shared test clips, and its leaderboard."""

    name: str
    config: P.BenchmarkConfig
    runs: list[RunResult]  # in params.yaml order
    leaderboard: Leaderboard | None  # None: the benchmark has no runs
    rows: np.ndarray  # the test clips shown in the strips (the same for every run)
    real: np.ndarray | None  # [k, Tc+h, H, W, C]
    first_sample: dict[str, np.ndarray]  # run -> [k, h, H, W, C] (each run's first sample)
    train_metrics: dict[str, dict] = field(default_factory=dict)  # run -> train_metrics.json (SEED_MODELS)
    sharpness: dict[str, float | None] = field(default_factory=dict)  # run -> SHARPNESS ratio (SEED_MODELS)
    ablations: list["Ablation"] = field(default_factory=list)  # params ablations.<run> of this benchmark


def check_same_clips(runs: list[RunResult]) -> None:
    """Every run of a benchmark samples the same test clips (SPEC §7): same count, same origins."""
    ref = runs[0]
    for r in runs[1:]:
        same = (r.samples.clips == ref.samples.clips and np.array_equal(r.episode, ref.episode)
                and np.array_equal(r.start, ref.start))
        if not same:
            raise GenvidError(f"{r.samples.path}: its test clips differ from those of {ref.samples.path} "
                              f"({r.samples.clips} vs {ref.samples.clips} clips, or other episodes/starts); "
                              "every run of a benchmark must be sampled on the same clips")


def read_benchmark(params: dict, name: str, paths: ReportPaths, results: dict[str, RunResult],
                   max_clips: int) -> BenchmarkView:
    config = P.benchmark(params, name, paths.params)
    runs = [r for r in results.values() if r.benchmark == name]
    if not runs:
        return BenchmarkView(name, config, [], None, np.zeros(0, np.int64), None, {})
    check_same_clips(runs)
    leaderboard = read_leaderboard(benchmark_paths(name, paths.root).leaderboard, name, [r.name for r in runs])
    rows = pick_rows(runs[0].samples.clips, max_clips)
    real = read_rows(runs[0].samples.path, "real", rows)
    first = {r.name: read_rows(r.samples.path, PREDICTIONS, rows)[:, 0] for r in runs}
    seed_runs = [r for r in runs if r.model in SEED_MODELS]
    train = {r.name: read_seed_train_metrics(run_paths(r.name, name, paths.root).report_dir / "train_metrics.json",
                                             r.model) for r in seed_runs}
    sharp = {r.name: sharpness(r.samples) for r in seed_runs}
    ablations = read_ablations(params, paths, name, results)
    return BenchmarkView(name, config, runs, leaderboard, rows, real, first, train, sharp, ablations)


# --------------------------------------------------------------------------- seeds 001 and 004

SEED_MODELS = ("vrnn", "srnn", "rfn", "svg_lp", "hvrnn")  # runs with a paragraph in the Benchmarks chapter
HIERARCHY_MODEL = "hvrnn"


def read_hierarchy_metrics(data: dict, source: str | Path) -> None:
    """The seed 004 fields of an hvrnn train_metrics.json (genvid.train.pixels.test_elbo): the test
    negative ELBO and its per-level KL, the KL per latent channel and the active channels per level."""
    for key in ("neg_elbo", "recon", "kl"):
        number(data, f"test_elbo.{key}", source)
    number(data, "train_neg_elbo", source, required=False)
    res = lookup(data, "latent_resolutions", source)
    per_channel = lookup(data, "kl_per_channel", source)
    active = lookup(data, "active_channels", source)
    levels = lookup(data, "test_elbo.kl_levels", source)
    ok = (isinstance(res, list) and res and all(isinstance(r, int) for r in res)
          and isinstance(per_channel, list) and len(per_channel) == len(res)
          and all(isinstance(c, list) and c and all(isinstance(v, (int, float)) for v in c) for c in per_channel)
          and isinstance(active, list) and len(active) == len(res) and all(isinstance(a, int) for a in active))
    if not ok:
        raise GenvidError(f"{source}: keys 'latent_resolutions', 'kl_per_channel' and 'active_channels' must hold one "
                          "entry per latent level (a list of numbers per level for 'kl_per_channel')")
    if not isinstance(levels, dict) or any(f"{r}x{r}" not in levels for r in res):
        raise GenvidError(f"{source}: key 'test_elbo.kl_levels' must hold the KL of every level "
                          f"({', '.join(f'{r}x{r}' for r in res)})")


def read_seed_train_metrics(path: Path, model: str) -> dict:
    """train_metrics.json of a seed 001/004 run (genvid.train.pixels): parameters; bits per
    dimension where the model has a pixel likelihood; the hierarchy's fields for hvrnn."""
    data = _json(path)
    number(data, "parameters", path, required=False)
    if "bits_per_dim" in data:
        number(data, "bits_per_dim", path)
        number(data, "bits_per_dim_elbo", path, required=False)
    if model == HIERARCHY_MODEL:
        read_hierarchy_metrics(data, path)
    return data


def gradient_energy(frames: np.ndarray) -> tuple[float, int]:
    """Sum of |vertical| and |horizontal| differences of neighbouring pixels of uint8 frames
    [..., H, W, C] (values scaled to [0, 1]), and how many differences were summed."""
    x = frames.astype(np.int16)
    dy, dx = np.abs(np.diff(x, axis=-3)), np.abs(np.diff(x, axis=-2))
    return (float(dy.sum(dtype=np.int64)) + float(dx.sum(dtype=np.int64))) / 255.0, dy.size + dx.size


def sharpness(info: SamplesInfo, chunk: int = 8) -> float | None:
    """SHARPNESS: the mean absolute spatial gradient of every predicted frame (all clips, all samples)
    over that of the true future frames of the same clips; None if the true frames are flat."""
    pred, real = [0.0, 0], [0.0, 0]
    for a in range(0, info.clips, chunk):
        rows = slice(a, min(a + chunk, info.clips))
        for acc, frames in ((pred, read_clips(info.path, PREDICTIONS, rows)),
                            (real, read_clips(info.path, "real", rows)[:, info.context_frames:])):
            total, count = gradient_energy(frames)
            acc[0] += total
            acc[1] += count
    if real[0] <= 0 or pred[1] == 0:
        return None
    return (pred[0] / pred[1]) / (real[0] / real[1])


@dataclass
class Ablation:
    """reports/<b>/ablations/<run>/ablation.json (stage ablate): the run's variants with their
    params and training metrics; the run itself is the reference row."""

    run: str
    model: str
    path: Path
    variants: dict[str, dict]  # name -> {"models", "train", "metrics"}, in the file's order


def read_ablations(params: dict, paths: ReportPaths, benchmark: str, results: dict[str, RunResult]) -> list[Ablation]:
    """Every ``ablations.<run>`` of params.yaml whose run is a run of ``benchmark``; its variants
    must be exactly those of params.yaml (else the file is stale)."""
    section = params.get("ablations") or {}
    if not isinstance(section, dict):
        raise ParamError(f"{paths.params}: section 'ablations' must be a mapping")
    out = []
    for run, entry in section.items():
        if run not in results or results[run].benchmark != benchmark:
            continue
        path = ablation_dir(run, benchmark, paths.root) / "ablation.json"
        data = _json(path)
        if data.get("run") != run:
            raise GenvidError(f"{path}: holds run {data.get('run')!r}, expected '{run}'")
        variants = lookup(data, "variants", path)
        expected = list((entry or {}).get("variants") or {}) if isinstance(entry, dict) else []
        if not isinstance(variants, dict) or sorted(variants) != sorted(expected):
            raise GenvidError(f"{path}: variants {sorted(variants) if isinstance(variants, dict) else variants!r} "
                              f"differ from params.yaml ablations.{run}.variants {sorted(expected)} (a stale "
                              f"ablation: rerun ablate@{run})")
        model = results[run].model
        for name, v in variants.items():
            metrics = lookup(v, "metrics", f"{path}: variants.{name}")
            if not isinstance(metrics, dict):
                raise GenvidError(f"{path}: key 'variants.{name}.metrics' must be a mapping")
            if model == HIERARCHY_MODEL:
                read_hierarchy_metrics(metrics, f"{path}: variants.{name}.metrics")
        out.append(Ablation(run, model, path, variants))
    return out


@dataclass
class TemperatureRun:
    """The run of params ``report.temperature_run`` (seed 001's RFN): its model file and the real
    test clips whose futures the report redraws at ``temperatures``."""

    result: RunResult
    model_params: dict
    model: Path
    rows: np.ndarray  # the test clips redrawn
    real: np.ndarray  # [k, Tc+h, H, W, C]
    temperatures: tuple[float, ...]
    seed: int
    horizon: int  # predicted frames drawn (report.temperature_frames, at most the protocol's horizon)


def read_temperature_run(params: dict, paths: ReportPaths, results: dict[str, RunResult]) -> TemperatureRun | None:
    """None when ``report.temperature_run`` is unset or not a run of params.yaml (a profile may
    remove it): the report then has no temperature figure."""
    cfg = P.top_level(params, "report", paths.params)
    if cfg.temperature_run is None or cfg.temperature_run not in results:
        return None
    result = results[cfg.temperature_run]
    run = P.run(params, result.name, paths.params)
    rows = pick_rows(result.samples.clips, cfg.temperature_clips)
    return TemperatureRun(result, run.model_params, run_paths(run.name, run.benchmark, paths.root).model_dir / "model.pt",
                          rows, read_rows(result.samples.path, "real", rows), cfg.temperatures, cfg.temperature_seed,
                          min(cfg.temperature_frames or result.samples.horizon, result.samples.horizon))


# --------------------------------------------------------------------------- everything

def read_thesis_setup(params: dict, profiles: Path | None) -> dict:
    """params.yaml with profiles/thesis.yaml merged over it: seed 000's own setup (the deviations
    table's reference column); {} when there is no thesis profile."""
    path = profiles / "thesis.yaml" if profiles is not None else None
    if path is None or not path.is_file():
        return {}
    try:
        overrides = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise GenvidError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    try:
        return apply(params, overrides)
    except GenvidError as err:
        raise GenvidError(f"{path}: {err}") from None


@dataclass
class Inputs:
    paths: ReportPaths
    params: dict
    main: MainRun
    benchmarks: list[BenchmarkView]
    thesis: dict  # params with profiles/thesis.yaml merged over it
    temperature: TemperatureRun | None = None  # report.temperature_run, if it is a run


def read_inputs(paths: ReportPaths, main_clips: int = 3, benchmark_clips: int = 2) -> Inputs:
    """Every input, validated; nothing is written."""
    params = P.read_params(paths.params)
    P.top_level(params, "report", paths.params)
    results = {name: read_run_result(params, name, paths.root, paths.params)
               for name in P.run_names(params, paths.params)}
    main = read_main_run(params, paths, results, main_clips)
    benchmarks = [read_benchmark(params, b, paths, results, benchmark_clips)
                  for b in P.benchmark_names(params, paths.params)]
    return Inputs(paths, params, main, benchmarks, read_thesis_setup(params, paths.profiles),
                  read_temperature_run(params, paths, results))

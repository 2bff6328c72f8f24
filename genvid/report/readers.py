"""The report's generic readers: one run's evaluation (protocol, scores, samples), TSV curves, JSON,
whatever the model. Each problem is one GenvidError line naming the file.

Per family: genvid.report.vq_inputs (VQ-VAE + priors), genvid.report.seed_inputs (likelihood,
hierarchy, sharpness, ablations, temperature sweep); genvid.report.inputs puts them together.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from genvid import params as P
from genvid.data import train_metrics as TM
from genvid.data.benchmark import check_inputs
from genvid.data.samples import SamplesInfo, read_clips, read_index, read_samples_info
from genvid.data.train_metrics import lookup, number
from genvid.errors import GenvidError
from genvid.io import read_json
from genvid.layout import RunPaths, benchmark_paths, run_paths
from genvid.leaderboard import BASELINE_MODEL
from genvid.metrics.stats import RULES
from genvid.report.repro import check_benchmark_blocks

METRICS = ("psnr", "ssim", "lpips", "mse")  # display order
PREDICTIONS = "predictions"
LONG_HORIZON = "long_horizon"  # genvid.evaluation's section of scores.json and protocol.json


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


def preflight(paths: ReportPaths) -> None:
    """The params sections and benchmark files the report is given (dvc.yaml), checked before it
    renders anything: each problem is one line naming the key or the file. dvc.yaml must give the report
    (and the figures stage) every benchmark's block (genvid.report.repro.check_benchmark_blocks). The models
    and train sections are shown, not used: the train stages that ran on them checked them."""
    raw = P.read_params(paths.params)
    for name in ("device", "sample", "evaluate", "likelihood", "report"):
        P.top_level(raw, name, paths.params)
    runs = {name: P.run(raw, name, paths.params) for name in P.run_names(raw, paths.params)}
    benchmarks = list(P.benchmark_names(raw, paths.params))
    for bench in benchmarks:
        P.benchmark(raw, bench, paths.params)
    check_benchmark_blocks(Path(paths.root), benchmarks)
    main = P.top_level(raw, "report", paths.params).main_run
    if main not in runs:
        raise P.ParamError(f"{paths.params}: report.main_run '{main}' is not in runs (known: {', '.join(runs)})")
    # dvc.yaml gives the report every benchmark's frames, split and stats; it reads the main run's
    bench = runs[main].benchmark
    data = benchmark_paths(bench, paths.root)
    check_inputs(P.benchmark(raw, bench, paths.params), bench, data.frames, data.split, data.stats, str(paths.params))


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


def read_object(path: Path) -> dict:
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
    data = read_object(path)
    for key in ("context_frames", "horizon", "num_samples", "clips"):
        value = lookup(data, key, path)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise GenvidError(f"{path}: key '{key}' must be a positive integer, got {value!r}")
    return data


def read_scores(path: Path, horizon: int, long_horizon: int | None = None) -> dict:
    """scores.json of genvid.evaluation: every series x metric x rule, per timestep and averaged.
    The predictions must hold every metric and rule; the other series are checked where present.
    With ``long_horizon`` (the benchmark's long-horizon protocol's horizon), its section too."""
    data = read_object(path)
    _check_series(data, path, horizon)
    if not isinstance(data.get("fvd"), dict):
        raise GenvidError(f"{path}: missing key 'fvd'")
    if long_horizon is not None:
        if not isinstance(data.get(LONG_HORIZON), dict):
            raise GenvidError(f"{path}: missing key '{LONG_HORIZON}' (the benchmark has a long-horizon protocol: "
                              "a stale evaluation)")
        _check_series(data, path, long_horizon, f"{LONG_HORIZON}.")
        if not isinstance(data[LONG_HORIZON].get("fvd"), dict):
            raise GenvidError(f"{path}: missing key '{LONG_HORIZON}.fvd'")
    return data


def _check_series(data: dict, path: Path, horizon: int, within: str = "") -> None:
    series = lookup(data, f"{within}series", path)
    if not isinstance(series, dict) or PREDICTIONS not in series:
        raise GenvidError(f"{path}: missing key '{within}series.{PREDICTIONS}'")
    for name, per_metric in series.items():
        if not isinstance(per_metric, dict):
            raise GenvidError(f"{path}: key '{within}series.{name}' must map metrics to their summaries")
        for metric in METRICS:
            if metric not in per_metric:
                if name == PREDICTIONS:
                    raise GenvidError(f"{path}: missing key '{within}series.{name}.{metric}'")
                continue
            for rule in RULES:
                key = f"{within}series.{name}.{metric}.{rule}"
                number(data, f"{key}.average.mean", path)
                curve = lookup(data, f"{key}.per_timestep.mean", path)
                if not isinstance(curve, list) or len(curve) != horizon:
                    raise GenvidError(f"{path}: key '{key}.per_timestep.mean' must be a list of {horizon} values "
                                      f"(the horizon), got {len(curve) if isinstance(curve, list) else curve!r}")


def curve(scores: dict, series: str, metric: str, rule: str, within: str = "") -> Curve | None:
    """A per-timestep curve of scores.json (of its section ``within``, e.g. the long horizon's), or None
    where the series/metric/rule is absent."""
    prefix = f"{within}." if within else ""
    node = lookup(scores, f"{prefix}series.{series}.{metric}.{rule}.per_timestep", "scores.json", required=False)
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
    run: P.Run  # resolved once from params.yaml
    paths: RunPaths
    train_metrics: dict  # train_metrics.json, every field group it has checked (genvid.data.train_metrics)
    metrics: dict  # headline (metrics.json)
    scores: dict  # scores.json
    protocol: dict  # protocol.json
    samples: SamplesInfo
    episode: np.ndarray  # [N] test clip origin, to check that runs share clips
    start: np.ndarray

    @property
    def num_samples(self) -> int:
        return self.samples.samples

    @property
    def is_reference(self) -> bool:
        """A model without weights (copy-last, the context median): it learned nothing."""
        return self.train_metrics.get("parameters") == 0

    @property
    def is_baseline(self) -> bool:
        """The benchmark's baseline line, the one the leaderboard marks (copy-last)."""
        return self.is_reference and self.model == BASELINE_MODEL


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
    long = bench.long_horizon
    if long is not None:  # what evaluate recorded of the long horizon, against params
        where = f"benchmarks.{run.benchmark}.long_horizon"
        for key in ("context_frames", "horizon", "num_samples", "fvd_repeats"):
            have = lookup(protocol, f"{LONG_HORIZON}.{key}", paths.report_dir / "protocol.json")
            if have != getattr(long, key):
                raise GenvidError(f"{paths.report_dir / 'protocol.json'}: {LONG_HORIZON}.{key} {have!r} differs from "
                                  f"params {where}.{key} = {getattr(long, key)} (a stale evaluation)")
    scores = read_scores(paths.report_dir / "scores.json", info.horizon, None if long is None else long.horizon)
    metrics = read_object(paths.report_dir / "metrics.json")
    index = read_index(paths.samples)
    train = TM.check_train_metrics(read_object(paths.report_dir / "train_metrics.json"), paths.report_dir / "train_metrics.json")
    return RunResult(run.name, run.benchmark, run.model, run, paths, train, metrics, scores, protocol, info,
                     index["episode"], index["start"])


def read_rows(path: Path, series: str, rows: np.ndarray) -> np.ndarray:
    """Some rows of one series of a samples file (genvid.data.samples.read_clips, row by row)."""
    return np.concatenate([read_clips(path, series, slice(int(r), int(r) + 1)) for r in rows])

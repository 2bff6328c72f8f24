"""Read and validate every input of the report; any problem is one GenvidError line naming the file.

The report reads the artefacts of every earlier stage, at the paths of genvid.layout, and runs no
model:

    params.yaml                     report.main_run, benchmarks, runs (genvid.params)
    per benchmark b                 data/b/frames.h5, split.json, stats.json (main run's benchmark),
                                    reports/b/leaderboard/rows.json (genvid.leaderboard)
    per run r of b                  reports/b/runs/r/{metrics,scores,protocol,train_metrics}.json,
                                    data/b/samples/r.h5 (genvid.data.samples), curves/<component>/
    the main run                    every curves/<component>/{train,val}.tsv; for a VQ-family run
                                    (genvid.report.vq_inputs) also models/r/latents.h5
    reports/figures/figures.h5      frames only a model can draw (stage figures, genvid.data.figures)

Generic readers live in genvid.report.readers, per-family ones in vq_inputs and seed_inputs; a
run's chapters follow what its train_metrics.json holds (genvid.data.train_metrics), never its
model's name. Required keys are checked up front, so a bad input fails before anything is
rendered or written; optional entries (an extra series a model does not have, FVD skipped) are
skipped by the builders.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from genvid import params as P
from genvid.data.figures import Figures, TemperatureSweep, pick_rows, read_figures
from genvid.data.frames import FramesInfo, read_frames_info
from genvid.data.split import validate_split_file
from genvid.data.stats import load_stats
from genvid.data.train_metrics import lookup, number  # noqa: F401  (re-exported for the builders)
from genvid.errors import GenvidError, ParamError
from genvid.io import load_yaml, read_json
from genvid.data.declared import Declared, read_declared
from genvid.layout import benchmark_paths, declared_path, figures_path
from genvid.leaderboard import HEADLINE_RULE, IMAGE_METRICS, MEASURED, PUBLISHED
from genvid.profiles import REMOVE, merge
from genvid.report.readers import (METRICS, PREDICTIONS, Curve, ReportPaths, RunResult, Stat, average,  # noqa: F401
                                   curve, read_curves, read_object, read_rows, read_run_result, read_scores, stat)
from genvid.report.seed_inputs import (Ablation, NoisyStudy, gradient_energy, is_seed_run,  # noqa: F401
                                       read_ablations, read_studies, read_temperature_run, sharpness)
from genvid.report.vq_inputs import VQRun, read_vq_run


# --------------------------------------------------------------------------- the main run

@dataclass
class MainRun:
    """The run chapters 1-5 describe (any run), with its benchmark's data."""

    run: P.Run
    bench: P.BenchmarkConfig
    frames: FramesInfo
    split: dict
    stats: dict
    mean: np.ndarray
    std: np.ndarray
    train_metrics: dict
    curves: dict[str, dict[str, dict[str, np.ndarray]]]  # component -> train/val -> column -> values
    result: RunResult
    rows: np.ndarray  # the test clips shown
    videos: dict[str, np.ndarray]  # "real" [k, Tc+h, H, W, C]; "predictions", extras [k, S, h, H, W, C]
    baseline: RunResult | None  # the benchmark's run without weights (copy-last), if any
    vq: VQRun | None = None  # the VQ chapters' inputs, for a VQ-family run


def component_curves(folder: Path) -> dict[str, dict[str, dict[str, np.ndarray]]]:
    """Every trained component's curves under ``curves/`` (folder order: sorted names). A run that trains
    nothing (copy-last) has curves with a header and no rows, as stage train writes them: no component
    (issue 47: report.main_run may be any run)."""
    if not folder.is_dir():
        return {}
    return {c.name: read_curves(c) for c in sorted(folder.iterdir()) if c.is_dir() and not _untrained(c)}


def _untrained(component: Path) -> bool:
    """Both curve files hold their header row alone."""
    def rows(path: Path) -> int | None:
        try:
            return len([line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]) - 1
        except OSError:
            return None
    return all(rows(component / f"{split}.tsv") == 0 for split in ("train", "val"))


def read_main_run(params: dict, paths: ReportPaths, results: dict[str, RunResult], max_clips: int,
                  figures: Figures, figures_file: Path) -> MainRun:
    """params ``report.main_run``, any run of any model; its VQ pieces (``MainRun.vq``) only where
    its train_metrics.json has the VQ fields."""
    cfg = P.top_level(params, "report", paths.params)
    if cfg.main_run not in results:
        raise ParamError(f"{paths.params}: report.main_run '{cfg.main_run}' is not in runs "
                         f"(known: {', '.join(results)})")
    result = results[cfg.main_run]
    run, bench = result.run, P.benchmark(params, result.benchmark, paths.params)
    data = benchmark_paths(run.benchmark, paths.root)
    frames = read_frames_info(data.frames)
    split = validate_split_file(read_json(data.split), str(data.split))
    stats = read_object(data.stats)
    mean, std = load_stats(stats, str(data.stats), frames.channels)
    rows = pick_rows(result.samples.clips, max_clips)
    videos = {"real": read_rows(result.samples.path, "real", rows),
              PREDICTIONS: read_rows(result.samples.path, PREDICTIONS, rows)}
    for name in result.samples.extras:
        videos[name] = read_rows(result.samples.path, f"extras/{name}", rows)
    baseline = next((r for r in results.values() if r.benchmark == run.benchmark and r.is_baseline
                     and r.name != run.name), None)
    vq = read_vq_run(result, figures.levels, figures_file)
    if vq is not None:
        check_made_from(figures_file, "level decodings", vq.levels.params, run.model_params, run.model)
    return MainRun(run=run, bench=bench, frames=frames, split=split, stats=stats, mean=mean, std=std,
                   train_metrics=result.train_metrics, curves=component_curves(result.paths.report_dir / "curves"),
                   result=result, rows=rows, videos=videos, baseline=baseline, vq=vq)


def check_made_from(source: Path, what: str, made: dict, params: dict, model: str, prefix: str = "") -> None:
    """A figure made from other model params than params.yaml's is stale: name the first key that differs."""
    for key in sorted(set(made) | set(params)):
        a, b = made.get(key), params.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            check_made_from(source, what, a, b, model, f"{prefix}{key}.")
        elif (list(a) if isinstance(a, tuple) else a) != (list(b) if isinstance(b, tuple) else b):
            raise GenvidError(f"{source}: {what} made with models.{model}.{prefix}{key}={a!r} but params.yaml "
                              f"gives {b!r} (a stale figures file: rerun stage figures)")


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
    long_horizon: dict | None = None  # the long-horizon protocol's settings, where the benchmark has one


def read_leaderboard(folder: Path, benchmark: str, runs: list[str]) -> Leaderboard:
    """Validate rows.json; its measured rows must be exactly ``runs`` (else it is stale). Rows are
    shown in rows.json's order."""
    path = folder / "rows.json"
    data = read_object(path)
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
    long = data.get("long_horizon")
    if long is not None and not isinstance(long, dict):
        raise GenvidError(f"{path}: key 'long_horizon' must be an object")
    return Leaderboard(path, protocol, note, measured, published, long)


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
    train_metrics: dict[str, dict] = field(default_factory=dict)  # run -> train_metrics.json (seed runs)
    sharpness: dict[str, float | None] = field(default_factory=dict)  # run -> SHARPNESS ratio (seed runs)
    ablations: list["Ablation"] = field(default_factory=list)  # params ablations.<run> of this benchmark
    noisy_vq: list["NoisyStudy"] = field(default_factory=list)  # params noisy_vq.<run> of this benchmark
    declared: dict[str, Declared] = field(default_factory=dict)  # model -> its registry declarations


def check_same_clips(runs: list[RunResult]) -> None:
    """Every run of a benchmark samples the same test clips (docs/design.md §7): same count, same origins."""
    ref = runs[0]
    for r in runs[1:]:
        same = (r.samples.clips == ref.samples.clips and np.array_equal(r.episode, ref.episode)
                and np.array_equal(r.start, ref.start))
        if not same:
            raise GenvidError(f"{r.samples.path}: its test clips differ from those of {ref.samples.path} "
                              f"({r.samples.clips} vs {ref.samples.clips} clips, or other episodes/starts); "
                              "every run of a benchmark must be sampled on the same clips")


def read_benchmark(params: dict, name: str, paths: ReportPaths, results: dict[str, RunResult],
                   max_clips: int, declared: dict[str, Declared] | None = None) -> BenchmarkView:
    config = P.benchmark(params, name, paths.params)
    runs = [r for r in results.values() if r.benchmark == name]
    declared = declared or {}
    if not runs:
        return BenchmarkView(name, config, [], None, np.zeros(0, np.int64), None, {}, declared=declared)
    check_same_clips(runs)
    leaderboard = read_leaderboard(benchmark_paths(name, paths.root).leaderboard, name, [r.name for r in runs])
    rows = pick_rows(runs[0].samples.clips, max_clips)
    real = read_rows(runs[0].samples.path, "real", rows)
    first = {r.name: read_rows(r.samples.path, PREDICTIONS, rows)[:, 0] for r in runs}
    seed_runs = [r for r in runs if is_seed_run(r)]
    train = {r.name: r.train_metrics for r in seed_runs}
    sharp = {r.name: sharpness(r.samples) for r in seed_runs}
    ablations = read_ablations(params, paths, name, results)
    studies = read_studies(params, paths, name, results, declared)
    return BenchmarkView(name, config, runs, leaderboard, rows, real, first, train, sharp, ablations, studies,
                         declared)



# --------------------------------------------------------------------------- everything

def read_thesis_setup(params: dict, profiles: Path | None) -> dict:
    """params.yaml with profiles/thesis.yaml merged over it: seed 000's own setup (the deviations
    table's reference column); {} when there is no thesis profile. The profile's ``remove`` list is
    not applied: which runs exist is not part of the setup, and a profiled params.yaml (tiny) may
    already lack them."""
    path = profiles / "thesis.yaml" if profiles is not None else None
    if path is None or not path.is_file():
        return {}
    try:
        overrides = load_yaml(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise GenvidError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    try:
        return merge(params, {k: v for k, v in overrides.items() if k != REMOVE})
    except GenvidError as err:
        raise GenvidError(f"{path}: {err}") from None


@dataclass
class Inputs:
    paths: ReportPaths
    params: dict
    main: MainRun
    benchmarks: list[BenchmarkView]
    thesis: dict  # params with profiles/thesis.yaml merged over it
    temperature: TemperatureSweep | None = None  # report.temperature_run's sweep, if it is a run
    declared: dict[str, Declared] = field(default_factory=dict)  # model -> its registry declarations


def read_inputs(paths: ReportPaths, main_clips: int = 3, benchmark_clips: int = 2) -> Inputs:
    """Every input, validated; nothing is written."""
    params = P.read_params(paths.params)
    P.top_level(params, "report", paths.params)
    results = {name: read_run_result(params, name, paths.root, paths.params)
               for name in P.run_names(params, paths.params)}
    figures_file = figures_path(paths.root)
    figures = read_figures(figures_file)
    main = read_main_run(params, paths, results, main_clips, figures, figures_file)
    declared = read_declared(declared_path(paths.root))
    for r in results.values():
        if r.model not in declared:
            raise GenvidError(f"{declared_path(paths.root)}: no declarations of model '{r.model}' (run "
                              f"{r.name}): a stale file, rerun stage figures")
    benchmarks = [read_benchmark(params, b, paths, results, benchmark_clips, declared)
                  for b in P.benchmark_names(params, paths.params)]
    return Inputs(paths, params, main, benchmarks, read_thesis_setup(params, paths.profiles),
                  read_temperature_run(params, paths, results, figures.temperatures, figures_file), declared)

"""Stage figures' library: draw the report's model-made frames with each run's own family.

The report may run no model (issue 18), so what only a model can draw is drawn here, by the
figures the run's family declares (ModelSpec.figures), and written to genvid.data.figures' file:

    report.main_run          figure "levels" when its family has one (the VQ family's Fig. 6.1)
    report.temperature_run   figure "temperatures" (a model with a sampling temperature); none
                             when the param is unset or names no run (a profile may remove it)

Both read their test clips from the run's samples file, the same rows the report shows.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from genvid import params as P
from genvid.config import clamped
from genvid.context import run_context
from genvid.data.figures import LEVELS, TEMPERATURES, Figures, LevelDecodings, TemperatureSweep, pick_rows
from genvid.data.samples import read_clips, read_samples_info
from genvid.errors import ParamError
from genvid.data.stats import load_stats
from genvid.io import read_json
from genvid.layout import benchmark_paths, run_paths
from genvid.models.registry import get
from genvid.models.store import check_run_record


def _samples(params_path: str | Path, name: str, root: str | Path):
    ctx, _ = run_context(params_path, name, root)
    check_run_record(ctx)  # the run's own model, trained with today's models section
    return ctx, run_paths(ctx.run.name, ctx.run.benchmark, root).samples


def draw_levels(params_path: str | Path, name: str, root: str | Path) -> LevelDecodings | None:
    """The run's level decodings of its first test clip (None: its family has no such figure)."""
    ctx, samples = _samples(params_path, name, root)
    figure = get(ctx.run.model, f"runs.{name}.model").figures.get(LEVELS)
    if figure is None:
        return None
    real = read_clips(samples, "real", slice(0, 1))[0]
    clip_len = ctx.bench.clips.clip_len
    return figure(ctx, real=real[:clip_len] if len(real) >= clip_len else real, clip=0)


def draw_temperatures(params_path: str | Path, name: str, root: str | Path, cfg) -> TemperatureSweep:
    """The run's futures of ``report.temperature_clips`` test clips at every ``report.temperatures``."""
    ctx, samples = _samples(params_path, name, root)
    figure = get(ctx.run.model, f"runs.{name}.model").figures.get(TEMPERATURES)
    if figure is None:
        raise ParamError(f"{params_path}: report.temperature_run '{name}' is a '{ctx.run.model}' run, whose family "
                         "draws no temperature figure (seed 001's rfn does)")
    info = read_samples_info(samples)
    rows = pick_rows(info.clips, clamped(cfg.temperature_clips, info.clips, "report.temperature_clips (test clips)"))
    real = np.concatenate([read_clips(samples, "real", slice(int(r), int(r) + 1)) for r in rows])
    horizon = clamped(cfg.temperature_frames, info.horizon, "report.temperature_frames (predicted frames)") \
        if cfg.temperature_frames else info.horizon
    return figure(ctx, real=real, rows=rows, context_frames=info.context_frames, horizon=horizon,
                  temperatures=tuple(cfg.temperatures), seed=cfg.temperature_seed)


def draw_figures(params_path: str | Path, root: str | Path = ".") -> Figures:
    """Every figure of params ``report``, validated; nothing is written."""
    raw = P.read_params(params_path)
    cfg = P.top_level(raw, "report", params_path)
    names = P.run_names(raw, params_path)
    if cfg.main_run not in names:
        raise ParamError(f"{params_path}: report.main_run '{cfg.main_run}' is not in runs (known: {', '.join(names)})")
    # dvc.yaml gives the stage every benchmark's statistics; the main run's family decodes with its own
    stats = benchmark_paths(P.run(raw, cfg.main_run, params_path).benchmark, root).stats
    load_stats(read_json(stats), str(stats))  # before any model runs
    temperatures = None
    if cfg.temperature_run is not None and cfg.temperature_run in names:
        temperatures = draw_temperatures(params_path, cfg.temperature_run, root, cfg)
    return Figures(draw_levels(params_path, cfg.main_run, root), temperatures)

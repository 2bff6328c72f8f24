"""An Engine from a trained run, loaded as stage sample loads it: the run's params, its model folder
(checked against today's params), the benchmark's protocol test clips and, where stage
counterfactuals made them, the simulator's true futures of some of those clips."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from genvid import params as P
from genvid.context import check_data, run_context
from genvid.data.benchmark import protocol_clips
from genvid.data.counterfactuals import Counterfactuals, read_counterfactuals
from genvid.data.frames import ACTION_NAMES, conditioning
from genvid.data.h5 import read_h5
from genvid.drive.engine import DEFAULT_ACTIONS, Clip, Engine, Truth
from genvid.errors import GenvidError
from genvid.layout import benchmark_paths
from genvid.models.registry import get
from genvid.models.store import check_run_record


def load_engine(params_path: str | Path, run: str, root: str | Path = ".", *, seed: int | None = None,
                frames_per_press: int = 1, max_sessions: int = 16) -> Engine:
    """The page's Engine over run ``run``: its trained model and its benchmark's test clips.
    ``seed``: the presses' generator seed (default: params sample.seed)."""
    ctx, raw = run_context(params_path, run, root)
    spec = get(ctx.run.model, f"runs.{ctx.run.name}.model")
    if not ctx.model_dir.is_dir():
        raise GenvidError(f"{ctx.model_dir}: no model folder for run {run} (train it first: dvc repro "
                          f"train@{run}, or make repro)")
    info = check_data(ctx)
    check_run_record(ctx, frame=(info.height, info.width, info.channels))  # this run's model, today's sizes
    proto = ctx.bench.protocol
    starts, episode, _ = protocol_clips(proto, ctx.frames, ctx.split)
    cf_path = benchmark_paths(ctx.run.benchmark, root).counterfactuals
    cf, no_truth = counterfactuals(cf_path, ctx.run.benchmark, proto.context_frames, starts)
    truths = {} if cf is None else {int(c): Truth(cf.sequences, cf.frames[m]) for m, c in enumerate(cf.index["clip"])}
    c = proto.context_frames
    with read_h5(ctx.frames, "frames file") as f:
        frames = f["frames"]
        name = spec.conditioning or "action"  # a model that reads none still shows the recorded actions
        recorded = conditioning(f, ctx.frames, name) if spec.conditioning is not None or name in f else None
        clips = [Clip(int(a), int(e), frames[int(a):int(a) + c],
                      recorded[int(a):int(a) + c].astype(np.float32) if recorded is not None
                      else np.zeros((c, len(ACTION_NAMES)), np.float32), truths.get(i))
                 for i, (a, e) in enumerate(zip(starts, episode))]
    predictor = spec.predictor(ctx)
    max_frames = proto.horizon
    check = getattr(predictor, "check_protocol", None)
    if check is not None:  # a model that cannot predict this many frames says so now, not at a press
        check(c, max_frames, (info.height, info.width, info.channels), str(ctx.frames))
    if not 1 <= frames_per_press <= max_frames:
        raise GenvidError(f"--frames-per-press must be in [1, {max_frames}] (the protocol's horizon), got {frames_per_press}")
    return Engine(predictor, clips, held_actions(cf, ctx.bench.counterfactuals), spec.conditioning is not None,
                  run=ctx.run.name, seed=P.top_level(raw, "sample", params_path).seed if seed is None else seed,
                  frames_per_press=frames_per_press, max_frames_per_press=max_frames, max_sessions=max_sessions,
                  no_truth=no_truth)


def counterfactuals(path: Path, benchmark: str, context_frames: int,
                    starts: np.ndarray) -> tuple[Counterfactuals | None, str]:
    """The benchmark's counterfactual clips when they fit the protocol's test clips, else (None, why).
    The page still serves without them: only the simulator's side stays empty."""
    if not path.exists():
        return None, f"{path} is missing (run stage counterfactuals@{benchmark})"
    cf = read_counterfactuals(path)
    if not cf.available:
        return None, f"the benchmark has no counterfactual clips: {cf.reason}"
    clips = cf.index["clip"]
    if cf.context_frames != context_frames or clips.max() >= len(starts) or not np.array_equal(
            cf.index["start"], starts[clips]):
        return None, f"{path} was made for other test clips (rerun stage counterfactuals@{benchmark})"
    return cf, ""


def held_actions(cf: Counterfactuals | None, config) -> dict[str, tuple[float, float, float]]:
    """The buttons' actions: the ones the simulator replayed (the counterfactuals file's held rows),
    else the benchmark's counterfactuals section, else DEFAULT_ACTIONS."""
    if cf is not None:
        held = cf.cond[0, :, cf.context_frames - 1]  # [K, A]: row Tc - 1 on is the held action
        # float32 in the file: rounded so that the page shows -0.05, not -0.05000000074505806
        return {name: tuple(round(float(v), 6) for v in held[k]) for k, name in enumerate(cf.sequences)}
    if config is not None and config.actions:
        return {name: tuple(float(v) for v in values) for name, values in config.actions.items()}
    return dict(DEFAULT_ACTIONS)

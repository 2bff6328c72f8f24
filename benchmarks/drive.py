"""Benchmark: the driving page's latency per generated frame (genvid.drive), per driving run.

    python benchmarks/drive.py                                      # every driving run of params.yaml
    python benchmarks/drive.py --runs driving-svg_lp_action --presses 30
    python benchmarks/drive.py --profile tiny --size 32 --presses 2 --warmup 1   # smoke scale

A run whose model folder exists under --root (trained by ``make repro``, with its benchmark's data)
is loaded as the page loads it (genvid.drive.loading: the real test clips); any other is freshly
initialised at params.yaml's sizes (or the profile's) in a temporary folder and driven from
synthetic clips: the time a frame takes does not depend on what the weights or the pixels are.
Each press goes through the page's Engine (the Predictor call, the session's rolling history)
and PNG-encodes its frames as the server does, cycling through the held actions; the median over
--presses after --warmup presses is printed (with the fastest and slowest), never asserted.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from genvid import params as P  # noqa: E402
from genvid.context import RunContext  # noqa: E402
from genvid.data.frames import ACTION_NAMES  # noqa: E402
from genvid.determinism import configure_torch  # noqa: E402
from genvid.drive.app import png_data_url  # noqa: E402
from genvid.drive.engine import Clip, Engine  # noqa: E402
from genvid.drive.loading import held_actions, load_engine  # noqa: E402
from genvid.layout import run_paths  # noqa: E402
from genvid.models.registry import get  # noqa: E402
from genvid.profiles import apply, load_profile  # noqa: E402


def fresh_engine(raw: dict, name: str, size: int, folder: Path, frames_per_press: int) -> Engine:
    """Run ``name``'s model, untrained, at ``size`` x ``size``, over one synthetic clip."""
    run, spec = P.run(raw, name), get(P.run(raw, name).model)
    bench = P.benchmark(raw, run.benchmark)
    stats = folder / "stats.json"
    stats.write_text(json.dumps({"mean": [0.4, 0.4, 0.4], "std": [0.2, 0.2, 0.2], "frames": 1}))
    ctx = RunContext(run, bench, folder / "frames.h5", folder / "split.json", stats, folder / name,
                     folder / "reports", folder / "work")
    torch.manual_seed(0)
    spec.init(ctx, size, size, 3)
    c = bench.protocol.context_frames
    rng = np.random.default_rng(0)
    clip = Clip(0, 0, rng.integers(0, 256, (c, size, size, 3), dtype=np.uint8),
                rng.uniform(-0.05, 0.05, (c, len(ACTION_NAMES))).astype(np.float32))
    return Engine(spec.predictor(ctx), [clip], held_actions(None, bench.counterfactuals), spec.conditioning is not None,
                  run=name, frames_per_press=frames_per_press, max_frames_per_press=bench.protocol.horizon)


def ms_per_frame(engine: Engine, presses: int, warmup: int) -> list[float]:
    """Milliseconds per generated frame of each timed press of one session (PNG encoding included)."""
    session, names, out = engine.start(0).session, list(engine.actions), []
    for i in range(warmup + presses):
        t0 = time.perf_counter()
        press = engine.press(session, names[i % len(names)])
        for g in press.frames:
            png_data_url(g.frame)
        if i >= warmup:
            out.append(1000 * (time.perf_counter() - t0) / len(press.frames))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default=str(ROOT / "params.yaml"))
    ap.add_argument("--profile", default=None, help="a profile of profiles/ (fresh models only)")
    ap.add_argument("--root", default=str(ROOT), help="where trained models and data are looked for")
    ap.add_argument("--benchmark", default="driving")
    ap.add_argument("--runs", default=None, help="comma-separated runs (default: every run of --benchmark)")
    ap.add_argument("--fresh", action="store_true", help="freshly initialised models even where trained ones exist")
    ap.add_argument("--size", type=int, default=None, help="fresh models' frame size (default: the benchmark's)")
    ap.add_argument("--frames-per-press", type=int, default=1)
    ap.add_argument("--presses", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default: the page's, 1)")
    args = ap.parse_args()
    configure_torch()
    torch.set_num_threads(args.threads)
    raw = P.read_params(args.params)
    if args.profile:
        raw = apply(raw, load_profile(args.profile, ROOT / "profiles"))
    names = args.runs.split(",") if args.runs else [r for r in P.run_names(raw)
                                                    if P.run(raw, r).benchmark == args.benchmark]
    print(f"torch threads {torch.get_num_threads()}, {args.frames_per_press} frame(s) per press, "
          f"median of {args.presses} presses after {args.warmup}, sizes: {args.profile or Path(args.params).name}")
    print(f"{'run':28} {'weights':8} {'frames':>7} {'ms/frame':>9} {'fastest':>8} {'slowest':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            trained = not args.fresh and not args.profile and \
                (run_paths(name, P.run(raw, name).benchmark, args.root).model_dir / "run.json").is_file()
            if trained:
                engine = load_engine(args.params, name, args.root, frames_per_press=args.frames_per_press)
            else:
                size = args.size or P.benchmark(raw, P.run(raw, name).benchmark).collect.resolution
                (Path(tmp) / name).mkdir()
                engine = fresh_engine(raw, name, size, Path(tmp) / name, args.frames_per_press)
            times = ms_per_frame(engine, args.presses, args.warmup)
            h, w = engine.clips[0].context.shape[1:3]
            print(f"{name:28} {'trained' if trained else 'fresh':8} {f'{h}x{w}':>7} {statistics.median(times):9.1f} "
                  f"{min(times):8.1f} {max(times):8.1f}", flush=True)


if __name__ == "__main__":
    main()

"""Benchmark: what do futures that learned nothing score on a benchmark's protocol?

    python benchmarks/image_levels.py --benchmark smmnist > benchmarks/results/image-levels-smmnist.txt  # after the DAG

A leaderboard ranks every run against copy-last. On a benchmark whose frames are mostly one flat
background (SM-MNIST's black), a future that predicts no content at all can beat copy-last on PSNR and
SSIM, which then say little about learning. This scores, with the protocol's own code (genvid.evaluation:
the same clips, rules, LPIPS and I3D weights and FVD reference as the evaluate stage), futures that use
nothing a model could learn:

- **copy-last**: the DAG's copy-last samples file as it is; its headline scores must equal the run's
  ``metrics.json`` (the script exits 1 where they do not), which checks that it scores as the evaluate
  stage does;
- **black**: every predicted frame all zeros;
- **context median**: each clip's per-pixel median of its context frames, held (the static background
  where the content moves, and a blur of it where it does not): the registered reference
  ``context_median``'s futures, by its own code. Where the benchmark has a run of it, its ``metrics.json``
  must equal this row too (exit 1 where it does not).

Each level is the copy-last samples file with its predictions replaced (a temporary file). Reads the
DAG's samples, reference features and metric weights of --benchmark; writes nothing else.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from genvid.determinism import pin_environment, threads_from_params  # noqa: E402


def _root_of(argv: list[str]) -> Path:
    """--root's value in ``argv`` (the project whose params pin the threads: the evaluate stage's bytes)."""
    for i, word in enumerate(argv):
        if word == "--root" and i + 1 < len(argv):
            return Path(argv[i + 1])
        if word.startswith("--root="):
            return Path(word.split("=", 1)[1])
    return ROOT


pin_environment(threads_from_params(_root_of(sys.argv[1:]) / "params.yaml"))

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from genvid import evaluation as E  # noqa: E402
from genvid import params as P  # noqa: E402
from genvid.data.samples import read_samples_info  # noqa: E402
from genvid.determinism import configure_torch  # noqa: E402
from genvid.errors import GenvidError  # noqa: E402
from genvid.layout import METRIC_WEIGHTS, benchmark_paths, run_paths  # noqa: E402
from genvid.leaderboard import BASELINE_MODEL  # noqa: E402
from genvid.metrics.weights import load_i3d, load_lpips  # noqa: E402
from genvid.models.context_median.family import NAME as MEDIAN_MODEL, median_frame  # noqa: E402

HEADLINE = ("psnr", "ssim", "lpips", "fvd")


def black(real: np.ndarray, predictions: np.ndarray, context: int) -> np.ndarray:
    """All-zero predictions of ``predictions``' shape [N, S, T, H, W, C]."""
    return np.zeros_like(predictions)


def context_median(real: np.ndarray, predictions: np.ndarray, context: int) -> np.ndarray:
    """Each clip's per-pixel median of its ``context`` frames (real [N, Tc + T, H, W, C]), rounded half to
    even, held at every predicted frame of every sample: the registered reference's futures
    (genvid.models.context_median), computed by its own code."""
    median = median_frame(torch.from_numpy(np.ascontiguousarray(real[:, :context]))).numpy()
    return np.broadcast_to(median[:, None, None], predictions.shape).copy()


LEVELS = {"black": black, "context median": context_median}


def replaced(src: Path, dst: Path, level) -> Path:
    """A copy of samples file ``src`` at ``dst`` whose predictions are ``level``'s."""
    shutil.copyfile(src, dst)
    with h5py.File(dst, "r+") as f:
        f["predictions"][...] = level(f["real"][...], f["predictions"][...], int(f.attrs["context_frames"]))
    return dst


def score(path: Path, ctx) -> dict:
    """The headline metrics of one samples file, scored as the evaluate stage scores it."""
    lpips, features, cfg, reference = ctx
    metrics, _, _, _ = E.evaluate(read_samples_info(path), lpips, features, cfg, 4, False, reference)
    return metrics


def equal(scored: dict, metrics_file: Path) -> bool:
    """Whether ``scored``'s headline metrics equal those of a run's metrics.json, to its 6 decimals."""
    expected = json.loads(metrics_file.read_text())
    return all(round(scored[k], 6) == round(expected[k], 6) for k in HEADLINE if k in expected)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--benchmark", default="smmnist")
    parser.add_argument("--root", default=str(ROOT))
    args = parser.parse_args(argv)
    root = Path(args.root)
    params = str(root / "params.yaml")
    raw = P.read_params(params)
    models = {name: P.run(raw, name, params) for name in (raw.get("runs") or {})}
    runs = [name for name, run in models.items() if run.benchmark == args.benchmark and run.model == BASELINE_MODEL]
    if not runs:
        raise SystemExit(f"error: {params}: no {BASELINE_MODEL} run of benchmark {args.benchmark!r}")
    medians = [name for name, run in models.items() if run.benchmark == args.benchmark and run.model == MEDIAN_MODEL]
    paths = run_paths(runs[0], args.benchmark, str(root))
    committed = paths.report_dir / "metrics.json"
    for need in (paths.samples, committed):
        if not need.is_file():
            raise SystemExit(f"error: {need} is missing: run the DAG first (dvc repro)")
    configure_torch()
    cfg = P.top_level(raw, "evaluate", params)
    device = P.top_level(raw, "device", params).device  # where the evaluate stage runs the metric networks
    i3d = load_i3d(str(root / METRIC_WEIGHTS["i3d"])).to(device)
    ctx = (load_lpips(str(root / METRIC_WEIGHTS["lpips"])).to(device), E.i3d_features(i3d, 4), cfg,
           E.load_reference(benchmark_paths(args.benchmark, str(root)).fvd_reference))

    rows = [("copy-last (the DAG's samples, rescored)", score(paths.samples, ctx))]
    same = equal(rows[0][1], committed)
    with tempfile.TemporaryDirectory() as tmp:
        for name, level in LEVELS.items():
            rows.append((name, score(replaced(paths.samples, Path(tmp) / "samples.h5", level), ctx)))
    median_metrics = run_paths(medians[0], args.benchmark, str(root)).report_dir / "metrics.json" if medians else None
    if median_metrics is not None and not median_metrics.is_file():
        raise SystemExit(f"error: {median_metrics} is missing: run the DAG first (dvc repro)")
    median_same = None if median_metrics is None else equal(dict(rows)["context median"], median_metrics)
    with h5py.File(paths.samples, "r") as f:
        shape = f["predictions"].shape
        context = int(f.attrs["context_frames"])
    print(f"# futures that learned nothing, on {args.benchmark}'s protocol: {shape[0]} test clips, {context} -> "
          f"{shape[2]} frames, scored by genvid.evaluation as the evaluate stage scores (benchmarks/image_levels.py)")
    print(f"# the rescored copy-last equals the DAG's {committed.relative_to(root).as_posix()}: "
          f"{'yes' if same else 'NO'}")
    if median_metrics is not None:
        print(f"# the context median equals the DAG's {median_metrics.relative_to(root).as_posix()}: "
              f"{'yes' if median_same else 'NO'}")
    print(f"{'level':<42}{'PSNR':>8}{'SSIM':>8}{'LPIPS':>8}{'FVD':>9}")
    for name, m in rows:
        print(f"{name:<42}{m['psnr']:>8.2f}{m['ssim']:>8.3f}{m['lpips']:>8.3f}{m.get('fvd', float('nan')):>9.1f}")
    return 0 if same and median_same is not False else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except GenvidError as error:  # a bad params file or samples file: one line, no traceback
        sys.exit(f"error: {error}")

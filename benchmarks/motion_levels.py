"""Benchmark: what does the motion classifier make of real futures degraded the ways a model degrades them?

    python benchmarks/motion_levels.py > benchmarks/results/motion-levels-dynamics.txt   # after the DAG

A run's motion accuracy (genvid.metrics.motion) is the committed classifier's accuracy on its predicted
futures. Beside the references the stage already scores (the real futures, and their redrawings with the
context motion held or extrapolated), this scores the real futures of the protocol's test clips

- **blurred**: every frame convolved with a Gaussian of standard deviation sigma px (separable, the
  frame's edge repeated), what a model trained on squared error does to an object it is unsure of;
- **faded**: the real future blended with the last context frame held, w * truth + (1 - w) * last: the
  object at its true place with contrast w, and a ghost of it where it was, what a model that partly
  copies and partly moves does.

So it says whether the classifier, trained on sharp real futures, reads a blurred or faint motion: if it
does, a model's low motion accuracy is its motion, not its blur. Reads the DAG's frames file, split and
motion classifier of --benchmark (a labelled one); writes nothing.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from genvid.determinism import pin_environment, threads_from_params  # noqa: E402

pin_environment(threads_from_params(ROOT / "params.yaml"))

import numpy as np  # noqa: E402
import torch  # noqa: E402


def gaussian_blur(futures: np.ndarray, sigma: float) -> np.ndarray:
    """uint8 [N, T, H, W, C] -> the same, each frame and channel convolved with a Gaussian (3 sigma radius,
    the edge pixel repeated), rounded back to uint8."""
    radius = max(1, int(np.ceil(3 * sigma)))
    t = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-t * t / (2 * sigma * sigma))
    k = torch.tensor(k / k.sum(), dtype=torch.float32)
    n, steps, h, w, c = futures.shape
    x = torch.as_tensor(np.ascontiguousarray(futures)).float().permute(0, 1, 4, 2, 3).reshape(-1, 1, h, w)
    x = torch.nn.functional.pad(x, (radius,) * 4, mode="replicate")
    x = torch.nn.functional.conv2d(x, k.view(1, 1, 1, -1))
    x = torch.nn.functional.conv2d(x, k.view(1, 1, -1, 1))
    out = x.reshape(n, steps, c, h, w).permute(0, 1, 3, 4, 2)
    return out.round().clamp(0, 255).to(torch.uint8).numpy()


def faded(futures: np.ndarray, last: np.ndarray, weight: float) -> np.ndarray:
    """uint8 [N, T, H, W, C]: weight * the future + (1 - weight) * the last context frame [N, H, W, C] held."""
    mix = weight * futures.astype(np.float64) + (1.0 - weight) * last[:, None].astype(np.float64)
    return np.rint(mix).clip(0, 255).astype(np.uint8)


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise SystemExit(f"motion_levels.py: {text!r} is not a comma-separated list of numbers") from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--benchmark", default="dynamics")
    parser.add_argument("--root", default=str(ROOT))
    parser.add_argument("--sigmas", default="0.5,1,2,3", help="Gaussian blurs, px")
    parser.add_argument("--weights", default="0.1,0.25,0.5,0.75", help="weights of the real future when faded")
    args = parser.parse_args(argv)
    sigmas, weights = _floats(args.sigmas), _floats(args.weights)  # before any file is read
    from genvid import params as P
    from genvid.data.benchmark import LABELLED_SOURCES, protocol_clips
    from genvid.errors import GenvidError
    from genvid.layout import benchmark_paths
    from genvid.metrics import motion as M

    root = Path(args.root)
    try:
        bench = P.benchmark(P.read_params(root / "params.yaml"), args.benchmark, root / "params.yaml")
    except GenvidError as err:
        raise SystemExit(f"motion_levels.py: {err}") from None
    if bench.collect.source not in LABELLED_SOURCES:
        raise SystemExit(f"motion_levels.py: benchmark {args.benchmark!r} has no motion labels")
    paths = benchmark_paths(args.benchmark, root)
    for need in (paths.frames, paths.split, paths.motion_classifier):
        if not Path(need).exists():
            raise SystemExit(f"motion_levels.py: {need} is missing: run `dvc repro motion_classifier@{args.benchmark}`")
    try:
        classifier = M.load(paths.motion_classifier, args.benchmark)
        starts, episode, _ = protocol_clips(bench.protocol, paths.frames, paths.split)
    except GenvidError as err:
        raise SystemExit(f"motion_levels.py: {err}") from None
    if not classifier["available"]:
        raise SystemExit(f"motion_levels.py: {paths.motion_classifier}: no classifier ({classifier['reason']})")
    model, labels = classifier["model"], classifier["test_labels"].numpy()[episode]  # per sequence -> per clip
    c, h = bench.protocol.context_frames, bench.protocol.horizon
    futures = M.test_futures(paths.frames, starts, c, h)
    last = M.test_futures(paths.frames, starts, c - 1, 1)[:, 0]  # each clip's last context frame

    def acc(x: np.ndarray) -> str:
        return f"{M.accuracy(model, x, labels):.3f}"

    rows = [("real futures (the ceiling)", acc(futures)), ("last context frame held (copy-last)", acc(faded(futures, last, 0.0)))]
    refs = classifier.get("references")
    if refs is not None:
        rows += [(f"redrawn, context motion extrapolated: {name}", f"{float((refs[name].numpy() == labels).mean()):.3f}")
                 for name in M.EXTRAPOLATIONS]
    rows += [(f"real futures blurred, sigma {s:g} px", acc(gaussian_blur(futures, s))) for s in sigmas]
    rows += [(f"real futures faded into the last context frame, weight {w:g}", acc(faded(futures, last, w)))
             for w in weights]
    width = max(len(r[0]) for r in rows)
    print(f"# motion accuracy of degraded real futures: {args.benchmark}'s {len(starts)} test clips, "
          f"{c} -> {h} frames, chance {1 / len(classifier['classes']):.3f} (benchmarks/motion_levels.py)")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()

"""Benchmark: how much action sensitivity can a sideways shift of the previous frame give at all?

The steered SVG-LP's ego warp (models.svg_lp_action.ego_warp) moves the previous frame sideways by one
shift per frame. This script asks what the best such shift could do: an oracle that sees the true future.
For every counterfactual clip and held action (data/<benchmark>/counterfactuals.h5, stage counterfactuals), it
starts from the last context frame and, frame after frame, picks from a grid the one horizontal shift of its
own previous output (the model's ``horizontal_shift``, each kernel) that comes closest to the true frame in
squared error, as a rollout does with its own frames. The oracle's futures are scored by the protocol's
action sensitivity (genvid.metrics.control), and by the same against the true futures' squared error.

    python benchmarks/warp_oracle.py                        # driving; writes benchmarks/results/warp-oracle-<machine>.json

It trains nothing: a ceiling of the warp alone (the decoder's share of a frame can add more), not a model.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]  # the scripts are not a package: learning.py lies beside this one
from learning import machine  # noqa: E402  (first: it pins the stages' kernels before torch loads)

import numpy as np  # noqa: E402
import torch  # noqa: E402

from genvid.data.counterfactuals import read_counterfactuals  # noqa: E402
from genvid.layout import benchmark_paths  # noqa: E402
from genvid.metrics.control import sensitivity  # noqa: E402
from genvid.models.svg_lp.model import WARP_KERNELS, horizontal_shift  # noqa: E402

GRID = np.round(np.arange(-8.0, 8.0 + 1e-9, 0.125), 3)  # shifts tried per frame, pixels


def oracle_futures(context_last: np.ndarray, frames: np.ndarray, kernel: str) -> np.ndarray:
    """uint8 futures [M, K, 1, T, H, W, C]: per clip and action, each frame the grid's best shift of the previous one."""
    m_count, k_count, horizon = frames.shape[:3]
    shifts = torch.tensor(GRID, dtype=torch.float32)
    out = np.zeros((m_count, k_count, 1, *frames.shape[2:]), np.uint8)
    for m in range(m_count):
        for k in range(k_count):
            prev = torch.tensor(context_last[m], dtype=torch.float32).permute(2, 0, 1)[None] / 255  # [1, C, H, W]
            for t in range(horizon):
                target = torch.tensor(frames[m, k, t], dtype=torch.float32).permute(2, 0, 1) / 255
                moved = horizontal_shift(prev.expand(len(GRID), -1, -1, -1), shifts, kernel)
                best = int(((moved - target) ** 2).mean(dim=(1, 2, 3)).argmin())
                prev = moved[best:best + 1]
                out[m, k, 0, t] = (prev[0].permute(1, 2, 0).clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--benchmark", default="driving")
    parser.add_argument("--root", default=str(ROOT))
    parser.add_argument("--out", default=None, help="results file (default: benchmarks/results/warp-oracle-<machine>.json)")
    args = parser.parse_args(argv)
    cf = read_counterfactuals(benchmark_paths(args.benchmark, args.root).counterfactuals)
    if not cf.available:
        raise SystemExit(f"error: {args.benchmark} has no counterfactual clips: {cf.reason}")
    torch.set_num_threads(1)
    result = {"benchmark": args.benchmark, "clips": cf.clips, "actions": list(cf.sequences), "grid_px": [
        float(GRID[0]), float(GRID[-1]), float(GRID[1] - GRID[0])], "kernels": {}}
    for kernel in WARP_KERNELS:
        futures = oracle_futures(cf.context[:, -1], cf.frames, kernel)
        mse = float(np.mean((futures[:, :, 0].astype(np.float64) - cf.frames) ** 2))
        result["kernels"][kernel] = {"sensitivity": sensitivity(futures, cf.frames), "mse": mse}
        print(f"warp oracle {args.benchmark} [{kernel}]: sensitivity {result['kernels'][kernel]['sensitivity']:.3f}, "
              f"MSE {mse:.1f} (uint8 levels squared)")
    out = Path(args.out) if args.out else ROOT / "benchmarks" / "results" / f"warp-oracle-{machine()}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"warp oracle -> {out}")


if __name__ == "__main__":
    main()

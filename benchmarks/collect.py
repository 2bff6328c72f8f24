"""Frames per second of the collect sources (one episode each, single process), side by side.

    python benchmarks/collect.py --frames 200 --seeds 0 1 2

Times `generate_episode` end to end (world setup, physics, rendering/resizing) for each source at
64x64 and 256x256 and prints a table. Numbers depend on the machine and its load; compare rows
measured in the same run.
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, as in the collect stage

import numpy as np  # noqa: E402

from genvid.data.sources import SOURCES, generate_episode  # noqa: E402


def measure(source: str, resolution: int, frames: int, seeds: list[int]) -> tuple[float, float, float]:
    """Frames/s over one episode per seed: median and best by wall clock, median by process CPU
    time (the single-core rate an idle machine would show; wall clock suffers on a busy one)."""
    wall, cpu = [], []
    for seed in seeds:
        w0, c0 = time.perf_counter(), time.process_time()
        ep = generate_episode(source, seed, frames, resolution)
        wall.append(len(ep.frames) / (time.perf_counter() - w0))
        cpu.append(len(ep.frames) / (time.process_time() - c0))
    return float(np.median(wall)), float(np.max(wall)), float(np.median(cpu))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=200, help="frames per episode (default 200)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="one episode per seed")
    parser.add_argument("--sources", nargs="+", default=list(SOURCES), choices=SOURCES)
    parser.add_argument("--resolutions", type=int, nargs="+", default=[64, 256])
    args = parser.parse_args()

    print(f"{'source':<12}{'resolution':>12}{'frames/s wall':>16}{'best':>10}{'frames/s cpu':>15}")
    for source in args.sources:
        for res in args.resolutions:
            try:
                median, best, cpu = measure(source, res, args.frames, args.seeds)
            except Exception as err:  # e.g. carracing without Box2D
                print(f"{source:<12}{f'{res}x{res}':>12}{'unavailable: ' + str(err)[:40]:>30}")
                continue
            print(f"{source:<12}{f'{res}x{res}':>12}{median:>16.1f}{best:>10.1f}{cpu:>15.1f}")


if __name__ == "__main__":
    main()

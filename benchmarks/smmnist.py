"""Benchmark: Stochastic Moving MNIST sequences/s generated on the fly, and the test-set writer.

    python benchmarks/smmnist.py [--length 15] [--workers 0,2] [--batch 16] [--batches 20]
                                 [--test-sequences 1000] [--test-length 25]

Rows 1..: training sequences (genvid.data.clips.SMMNISTSequences, pool "train") read through
a DataLoader with each number of workers; rates exclude the first batch (worker start-up).
Last row: write_test_set for the given size (one process), with the file's size. The one-off
cost of loading, checking and resizing the 5,000 digits is printed first. Printed, never
asserted.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from genvid.data import smmnist  # noqa: E402
from genvid.data.clips import SMMNISTSequences  # noqa: E402


def sequences_per_second(length: int, batch: int, workers: int, batches: int) -> float:
    ds = SMMNISTSequences(seed=0, length=length, pool="train", size=batch * (batches + 1))
    loader = DataLoader(ds, batch_size=batch, num_workers=workers, shuffle=False)
    count, start = 0, None
    for i, x in enumerate(loader):
        if i == 0:
            start = time.perf_counter()
            continue
        count += len(x)
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--length", type=int, default=15, help="frames per training sequence (5 -> 10)")
    parser.add_argument("--workers", default="0,2")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--batches", type=int, default=20, help="timed batches per row")
    parser.add_argument("--test-sequences", type=int, default=1000)
    parser.add_argument("--test-length", type=int, default=25, help="frames per test sequence (5 -> 20)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    smmnist.pools()
    smmnist.resized_digits()
    print(f"digits: load, check, split and resize 5,000 once: {time.perf_counter() - start:.2f} s")
    header = f"{'what':>22} {'workers':>7} {'sequences':>9} {'seq/s':>9} {'frames/s':>9}"
    print(header)
    print("-" * len(header))
    for workers in map(int, args.workers.split(",")):
        rate = max(sequences_per_second(args.length, args.batch, workers, args.batches) for _ in range(2))
        print(f"{f'train, T={args.length}':>22} {workers:>7} {args.batch * args.batches:>9} "
              f"{rate:9.1f} {rate * args.length:9.0f}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "test.h5"
        start = time.perf_counter()
        smmnist.write_test_set(path, args.test_sequences, args.test_length, seed=0)
        elapsed = time.perf_counter() - start
        rate = args.test_sequences / elapsed
        print(f"{f'test file, T={args.test_length}':>22} {0:>7} {args.test_sequences:>9} {rate:9.1f} "
              f"{rate * args.test_length:9.0f}   ({elapsed:.2f} s, {path.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()

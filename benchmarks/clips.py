"""Benchmark: clips/s that ClipDataset delivers through the training DataLoader.

    python benchmarks/clips.py [--frames 320] [--resolutions 64,256] [--workers 0,2] [--batch 8]

For each resolution a temporary frames file is written (the procedural simulator via
genvid.data.sources.generate_episode when that module is present, else synthetic frames),
split chronologically and normalised like the pipeline does; the training split's clips
(clip_len 16, stride 1) are then read through genvid.train.sampler.train_loader (the
shuffled order training uses) with each number of workers. Rates exclude the first batch
(worker start-up, first file open). Printed, never asserted.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from genvid.data.clips import ClipDataset  # noqa: E402
from genvid.data.frames import write_frames  # noqa: E402
from genvid.data.split import split_ranges  # noqa: E402
from genvid.data.stats import channel_stats  # noqa: E402
from genvid.io import write_json  # noqa: E402
from genvid.train.sampler import train_loader  # noqa: E402

CLIP_LEN = 16
FRACTIONS = {"train": 0.8, "val": 0.1, "test": 0.1}


def episodes(count: int, length: int, resolution: int) -> tuple[list, str]:
    """Recorded episodes and where they came from."""
    try:
        from genvid.data.sources import generate_episode
    except ImportError:
        generate_episode = None
    if generate_episode is not None:
        return [generate_episode("procedural", 1000 + i, length, resolution, 0.2) for i in range(count)], \
            "procedural simulator"
    rng = np.random.default_rng(0)
    return [SimpleNamespace(frames=rng.integers(0, 256, (length, resolution, resolution, 3), dtype=np.uint8),
                            actions=np.zeros((length, 3), np.float32), speed=np.zeros(length, np.float32))
            for _ in range(count)], "synthetic noise (genvid.data.sources not available)"


def make_dataset(root: Path, resolution: int, num_frames: int) -> tuple[ClipDataset, str]:
    count = 4
    length = num_frames // count
    eps, source = episodes(count, length, resolution)
    frames = root / f"frames_{resolution}.h5"
    write_frames(frames, eps, count * length, resolution, {"source": source, "resolution": resolution})
    episode = np.repeat(np.arange(count, dtype=np.int32), length)
    split = split_ranges(episode, FRACTIONS, CLIP_LEN)
    write_json(root / "split.json", split)
    write_json(root / "stats.json", channel_stats(frames, split["splits"]["train"]["ranges"], 256,
                                                  progress=False))
    return ClipDataset(frames, root / "split.json", root / "stats.json", "train", CLIP_LEN, 1), source


def clips_per_second(dataset: ClipDataset, batch: int, workers: int, max_batches: int) -> float:
    loader = train_loader(dataset, batch, seed=0, epoch=0, offset=0, num_workers=workers)
    count, start = 0, None
    for i, x in enumerate(loader):
        if i == 0:
            start = time.perf_counter()  # after the first batch: workers are up, file is open
            continue
        count += len(x)
        if i >= max_batches:
            break
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=320, help="frames per temporary recording")
    parser.add_argument("--resolutions", default="64,256")
    parser.add_argument("--workers", default="0,2")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--batches", type=int, default=24, help="timed batches per row")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"clip_len {CLIP_LEN}, stride 1, batch {args.batch}, shuffled training order; "
          f"best of 2 passes of up to {args.batches} batches")
    header = f"{'resolution':>10} {'workers':>7} {'clips':>6} {'clips/s':>9} {'MB/s (uint8)':>12}  source"
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory() as tmp:
        for res in map(int, args.resolutions.split(",")):
            dataset, source = make_dataset(Path(tmp), res, args.frames)
            for workers in map(int, args.workers.split(",")):
                rate = max(clips_per_second(dataset, args.batch, workers, args.batches) for _ in range(2))
                mb = rate * CLIP_LEN * res * res * 3 / 1e6
                print(f"{res:>10} {workers:>7} {len(dataset):>6} {rate:9.1f} {mb:12.1f}  {source}", flush=True)


if __name__ == "__main__":
    main()

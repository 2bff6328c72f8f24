"""Per-channel normalisation statistics over the training split (seed 000 eq. 4.1).

Pixels are first scaled to [0, 1]; then p_norm[c] = (p[c] - mean[c]) / std[c]. The statistics
are accumulated in float64 over chunks of frames, so the thesis-size dataset never has to fit
in memory. Sums of uint8 values are exact in float64 up to ~10^11 frames at 256x256.
There are as many channels as the frames file has: 3 (RGB) or 1 (grey, SM-MNIST).
"""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
from tqdm import tqdm

from genvid.data.frames import CHANNEL_COUNTS, conditioning
from genvid.data.h5 import read_h5
from genvid.data.split import validate_split_file
from genvid.io import read_json
from genvid.errors import GenvidError


def channel_stats(frames_path: str | Path, ranges: list[list[int]], chunk_frames: int,
                  progress: bool = True) -> dict:
    """Mean and (population) std per channel (C = the frames' last axis) of pixels/255 over
    ``ranges``; lists of C values."""
    num_frames = sum(b - a for a, b in ranges)
    with h5py.File(frames_path, "r") as f, tqdm(total=num_frames, desc="normalize", unit="frame",
                                                 disable=not progress, mininterval=2) as bar:
        frames = f["frames"]
        channels = frames.shape[-1]
        if channels not in CHANNEL_COUNTS:
            raise GenvidError(f"{frames_path}: 'frames' has shape {frames.shape}, "
                              f"expected [N,H,W,C] with C in {CHANNEL_COUNTS}")
        total = np.zeros(channels, dtype=np.float64)
        total_sq = np.zeros(channels, dtype=np.float64)
        count = 0
        for a, b in ranges:
            for start in range(a, b, chunk_frames):
                chunk = frames[start:min(start + chunk_frames, b)].astype(np.float64)
                total += chunk.sum(axis=(0, 1, 2))
                total_sq += np.square(chunk).sum(axis=(0, 1, 2))
                count += chunk.shape[0] * chunk.shape[1] * chunk.shape[2]
                bar.update(chunk.shape[0])
    mean = total / count
    var = np.maximum(total_sq / count - mean**2, 0.0)
    return {
        "mean": (mean / 255.0).tolist(),
        "std": (np.sqrt(var) / 255.0).tolist(),
        "pixels_per_channel": int(count),
        "scale": "pixel/255",
    }


def load_stats(data: object, source: str, channels: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Validate a statistics JSON; return (mean, std) float32 arrays of C channels, C in
    {1, 3} and equal to ``channels`` when given (the frames file's)."""
    if not isinstance(data, dict):
        raise GenvidError(f"{source}: not a normalisation statistics file")
    expected = CHANNEL_COUNTS if channels is None else (channels,)
    arrays = []
    for key in ("mean", "std"):
        value = data.get(key)
        if not isinstance(value, list) or len(value) not in expected:
            got = len(value) if isinstance(value, list) else value
            wanted = " or ".join(map(str, expected))
            raise GenvidError(f"{source}: '{key}' must list {wanted} channel values, got {got}")
        try:
            array = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise GenvidError(f"{source}: '{key}' must list numbers, got {value}") from None
        expected = (len(array),)  # 'std' must have as many channels as 'mean'
        if not np.all(np.isfinite(array)):
            raise GenvidError(f"{source}: '{key}' contains a non-finite value")
        arrays.append(array.astype(np.float32))
    if np.any(arrays[1] <= 0):
        raise GenvidError(f"{source}: 'std' must be positive in every channel, got {data['std']}")
    return arrays[0], arrays[1]


def conditioning_stats(frames_path: str | Path, split_path: str | Path, name: str) -> tuple[list[float], list[float]]:
    """Mean and (population) std per column of the per-frame conditioning ``name`` (e.g. the actions)
    over the training split, float64 then rounded to float32: what a conditioned model standardises its
    inputs with, as frames are (a column constant over the split gets std 1)."""
    ranges = validate_split_file(read_json(split_path), str(split_path))["splits"]["train"]["ranges"]
    with read_h5(frames_path, "frames file") as f:
        ds = conditioning(f, frames_path, name)
        rows = np.concatenate([ds[a:b] for a, b in ranges]).astype(np.float64)
    if len(rows) == 0:
        raise GenvidError(f"{split_path}: the train split holds no frames to take '{name}' statistics from")
    std = rows.std(axis=0)
    return ([float(np.float32(v)) for v in rows.mean(axis=0)],
            [float(np.float32(v)) if v > 1e-8 else 1.0 for v in std])

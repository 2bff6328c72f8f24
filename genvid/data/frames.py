"""The recorded-video HDF5 file (SPEC §3): write it atomically, open it with validation.

Layout: ``frames`` uint8 [N,H,W,3] (chunked one frame per chunk), ``episode`` int32 [N],
``step`` int32 [N], ``action`` float32 [N,3] (steer, throttle, brake), ``speed`` float32 [N],
and attributes (source, resolution, interval, seed, simulator version). Every dataset is
created with ``track_times=False`` so the bytes depend only on the content.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

import h5py
import numpy as np

from genvid.data.h5 import plain_attrs, read_h5
from genvid.errors import GenvidError
from genvid.io import atomic_path

ACTION_NAMES = ("steer", "throttle", "brake")


def write_frames(path: str | Path, episodes: Iterable, total_frames: int, resolution: int,
                 attrs: Mapping[str, object]) -> None:
    """Stream ``episodes`` (objects with frames/actions/speed) into ``path``; atomic."""
    with atomic_path(path, suffix=".h5") as tmp, h5py.File(tmp, "w", track_order=False) as f:
        shape = (total_frames, resolution, resolution, 3)
        frames = f.create_dataset("frames", shape=shape, dtype=np.uint8,
                                  chunks=(1, resolution, resolution, 3), track_times=False)
        columns = {
            "episode": f.create_dataset("episode", (total_frames,), np.int32, track_times=False),
            "step": f.create_dataset("step", (total_frames,), np.int32, track_times=False),
            "action": f.create_dataset("action", (total_frames, len(ACTION_NAMES)), np.float32,
                                       track_times=False),
            "speed": f.create_dataset("speed", (total_frames,), np.float32, track_times=False),
        }
        start = 0
        for index, episode in enumerate(episodes):
            n = len(episode.frames)
            end = start + n
            if end > total_frames:
                raise GenvidError(f"{path}: sources produced more than the {total_frames} frames planned")
            frames[start:end] = episode.frames
            columns["episode"][start:end] = index
            columns["step"][start:end] = np.arange(n, dtype=np.int32)
            columns["action"][start:end] = episode.actions
            columns["speed"][start:end] = episode.speed
            start = end
        if start != total_frames:
            raise GenvidError(f"{path}: sources produced {start} frames, expected {total_frames}")
        for key, value in sorted(attrs.items()):
            f.attrs[key] = value
        f.attrs["action_names"] = ",".join(ACTION_NAMES)


@dataclass(frozen=True)
class FramesInfo:
    path: Path
    num_frames: int
    height: int
    width: int
    episode: np.ndarray  # int32 [N]
    attrs: dict


def read_frames_info(path: str | Path) -> FramesInfo:
    """Open and validate a frames file; any problem is one line naming the file."""
    path = Path(path)
    with read_h5(path, "HDF5 frames file") as f:
        if "frames" not in f:
            raise GenvidError(f"{path}: no 'frames' dataset (expected uint8 [N,H,W,3])")
        frames = f["frames"]
        if frames.dtype != np.uint8:
            raise GenvidError(f"{path}: 'frames' has dtype {frames.dtype}, expected uint8")
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise GenvidError(f"{path}: 'frames' has shape {frames.shape}, expected [N,H,W,3]")
        n = frames.shape[0]
        if n == 0:
            raise GenvidError(f"{path}: 'frames' is empty")
        if "episode" not in f or f["episode"].shape != (n,):
            raise GenvidError(f"{path}: 'episode' missing or not of length {n} like 'frames'")
        episode = f["episode"][:]
        if np.any(np.diff(episode) < 0):
            raise GenvidError(f"{path}: 'episode' ids are not in recording order")
        frames[n - 1]  # reading the last chunk detects a truncated file
        attrs = plain_attrs(f)
        return FramesInfo(path, n, frames.shape[1], frames.shape[2], episode, attrs)


def episode_runs(episode: np.ndarray) -> list[tuple[int, int]]:
    """Contiguous [start, end) frame ranges of each episode, in recording order."""
    change = np.flatnonzero(np.diff(episode)) + 1
    bounds = np.concatenate([[0], change, [len(episode)]])
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]

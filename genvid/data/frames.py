"""The recorded-video HDF5 file (docs/design.md §3): write it atomically, open it with validation.

Layout: ``frames`` uint8 [N,H,W,C] with C = 3 (RGB: the driving sources) or C = 1 (grey:
SM-MNIST, whose test set ``genvid.data.smmnist.write_test_set`` writes in this layout),
``episode`` int [N]; optional ``step`` int [N] (frame index within the episode), ``action``
float32 [N,A] (the driving sources: steer, throttle, brake) and ``speed`` float32 [N]; and
attributes (source, resolution, interval, seed, simulator version). ``write_frames`` creates
every dataset with ``track_times=False`` so the bytes depend only on the content.
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
# Per-frame conditioning a model may read (genvid.models.family.ModelSpec.conditioning): the
# frames-file dataset [N, A] and its column names. Row t of ``action`` is the mean action over
# the interval after frame t (genvid.data.simulator), the one that leads to frame t + 1.
CONDITIONING = {"action": ACTION_NAMES}
# Grey or RGB: the metrics repeat one channel to RGB for LPIPS and FVD (genvid/evaluation.py),
# and no source records anything else (no alpha, no depth).
CHANNEL_COUNTS = (1, 3)


def write_frames(path: str | Path, episodes: Iterable, total_frames: int, resolution: int,
                 attrs: Mapping[str, object], channels: int = 3, actions: bool = True) -> None:
    """Stream ``episodes`` (objects with frames uint8 [n,H,W,C], and with ``actions``: actions, speed) into
    ``path``; atomic. Without ``actions`` (a user's own video: genvid.data.video_dir) the file has no
    ``action`` nor ``speed`` dataset."""
    if channels not in CHANNEL_COUNTS:
        raise GenvidError(f"{path}: channels={channels!r} must be one of {CHANNEL_COUNTS}")
    with atomic_path(path, suffix=".h5") as tmp, h5py.File(tmp, "w", track_order=False) as f:
        shape = (total_frames, resolution, resolution, channels)
        frames = f.create_dataset("frames", shape=shape, dtype=np.uint8,
                                  chunks=(1, resolution, resolution, channels), track_times=False)
        columns = {
            "episode": f.create_dataset("episode", (total_frames,), np.int32, track_times=False),
            "step": f.create_dataset("step", (total_frames,), np.int32, track_times=False),
        }
        if actions:
            columns["action"] = f.create_dataset("action", (total_frames, len(ACTION_NAMES)), np.float32,
                                                 track_times=False)
            columns["speed"] = f.create_dataset("speed", (total_frames,), np.float32, track_times=False)
        start = 0
        for index, episode in enumerate(episodes):
            n = len(episode.frames)
            end = start + n
            if end > total_frames:
                raise GenvidError(f"{path}: sources produced more than the {total_frames} frames planned")
            # numpy would broadcast one channel into three silently: check the shape first
            if np.shape(episode.frames)[1:] != shape[1:]:
                raise GenvidError(f"{path}: episode {index} has frames of shape "
                                  f"{np.shape(episode.frames)}, expected [n,{resolution},{resolution},{channels}]")
            frames[start:end] = episode.frames
            columns["episode"][start:end] = index
            columns["step"][start:end] = np.arange(n, dtype=np.int32)
            if actions:
                columns["action"][start:end] = episode.actions
                columns["speed"][start:end] = episode.speed
            start = end
        if start != total_frames:
            raise GenvidError(f"{path}: sources produced {start} frames, expected {total_frames}")
        for key, value in sorted(attrs.items()):
            f.attrs[key] = value
        if actions:
            f.attrs["action_names"] = ",".join(ACTION_NAMES)


@dataclass(frozen=True)
class FramesInfo:
    path: Path
    num_frames: int
    height: int
    width: int
    channels: int        # 1 (grey) or 3 (RGB)
    episode: np.ndarray  # int [N]
    attrs: dict


def read_frames_info(path: str | Path) -> FramesInfo:
    """Open and validate a frames file; any problem is one line naming the file."""
    path = Path(path)
    with read_h5(path, "HDF5 frames file") as f:
        if "frames" not in f:
            raise GenvidError(f"{path}: no 'frames' dataset (expected uint8 [N,H,W,C], C in {CHANNEL_COUNTS})")
        frames = f["frames"]
        if frames.dtype != np.uint8:
            raise GenvidError(f"{path}: 'frames' has dtype {frames.dtype}, expected uint8")
        if frames.ndim != 4 or frames.shape[-1] not in CHANNEL_COUNTS:
            raise GenvidError(f"{path}: 'frames' has shape {frames.shape}, "
                              f"expected [N,H,W,C] with C in {CHANNEL_COUNTS}")
        n = frames.shape[0]
        if n == 0:
            raise GenvidError(f"{path}: 'frames' is empty")
        episode = _column(f, path, "episode", n, required=True)
        if np.any(np.diff(episode) < 0):
            raise GenvidError(f"{path}: 'episode' ids are not in recording order")
        step = _column(f, path, "step", n, required=False)
        if step is not None:
            # A clip is consecutive rows of one episode (genvid.data.split): the rows must be
            # consecutive frames in time, so within an episode the step grows by exactly 1.
            same = np.diff(episode) == 0
            jumps = np.flatnonzero(same & (np.diff(step) != 1))
            if jumps.size:
                i = int(jumps[0])
                raise GenvidError(f"{path}: 'step' goes from {step[i]} to {step[i + 1]} inside episode "
                                  f"{episode[i]} (rows {i}, {i + 1}); frames of an episode must be consecutive")
        for name, ndim in (("action", 2), ("speed", 1)):
            if name in f and (f[name].ndim != ndim or f[name].shape[0] != n):
                raise GenvidError(f"{path}: '{name}' has shape {f[name].shape}, expected "
                                  f"{'[N,A]' if ndim == 2 else '[N]'} with N={n} like 'frames'")
        frames[n - 1]  # reading the last chunk detects a truncated file
        attrs = plain_attrs(f)
        return FramesInfo(path, n, frames.shape[1], frames.shape[2], frames.shape[3], episode, attrs)


def _column(f: h5py.File, path: Path, name: str, n: int, required: bool) -> np.ndarray | None:
    """A per-frame integer column [N] (``episode`` or ``step``), or None if optional and absent."""
    if name not in f:
        if required:
            raise GenvidError(f"{path}: '{name}' missing (expected integers [N] with N={n} like 'frames')")
        return None
    ds = f[name]
    if not isinstance(ds, h5py.Dataset) or ds.shape != (n,) or ds.dtype.kind not in "iu":
        got = f"{ds.dtype} {ds.shape}" if isinstance(ds, h5py.Dataset) else "a group"
        raise GenvidError(f"{path}: '{name}' is {got}, expected integers [N] with N={n} like 'frames'")
    return ds[:]


def episode_runs(episode: np.ndarray) -> list[tuple[int, int]]:
    """Contiguous [start, end) frame ranges of each episode, in recording order."""
    change = np.flatnonzero(np.diff(episode)) + 1
    bounds = np.concatenate([[0], change, [len(episode)]])
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


def conditioning(f: h5py.File, path: str | Path, name: str) -> h5py.Dataset:
    """The per-frame conditioning dataset ``name`` (float [N, A]) of an open frames file, checked."""
    if name not in CONDITIONING:
        raise GenvidError(f"per-frame conditioning '{name}' is not one genvid records (known: {', '.join(CONDITIONING)})")
    ds = f.get(name)
    n = f["frames"].shape[0] if isinstance(f.get("frames"), h5py.Dataset) else None
    if not isinstance(ds, h5py.Dataset):
        raise GenvidError(f"{path}: the model reads per-frame '{name}', which this frames file does not record "
                          "(a benchmark without actions?)")
    if ds.ndim != 2 or ds.shape != (n, len(CONDITIONING[name])) or ds.dtype.kind != "f":
        raise GenvidError(f"{path}: '{name}' is {ds.dtype} {list(ds.shape)}, expected float "
                          f"[{n}, {len(CONDITIONING[name])}] ({', '.join(CONDITIONING[name])})")
    return ds

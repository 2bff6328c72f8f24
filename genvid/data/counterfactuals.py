"""Counterfactual test clips (issue 24): the simulator's own answer to "what if I had steered
otherwise?". This module is the one writer and reader of ``data/<benchmark>/counterfactuals.h5``.

For a few of the protocol's test clips, the procedural simulator is rebuilt from the clip's
episode seed and run, without rendering, to the state in which it rendered the clip's last context
frame (the rendered frame is checked against the recorded one, byte for byte). From that one state
the horizon is replayed K times, each under one held action sequence of
``benchmarks.<b>.counterfactuals.actions`` (e.g. steer left, straight, right, brake). Everything
else (traffic, the autopilot's random draws, the look) is the recorded episode's, so the K futures
differ only by the action. Row t of an action sequence is the action after frame t, as in the
frames file: the context's rows are the recorded ones up to frame Tc - 2, and from row Tc - 1 (the
action that leads from the last context frame to the first predicted one) the held action.

Layout (``track_times=False``, sorted attributes; written atomically):

    context  uint8 [M, Tc, H, W, C]            the clips' context frames (as recorded)
    frames   uint8 [M, K, horizon, H, W, C]    the true counterfactual futures
    cond     float32 [M, K, Tc + horizon, A]   the per-frame actions a conditioned model is given
    pose     float32 [M, K, horizon + 1, 3]    (lateral offset m, heading error rad, speed m/s) at the
                                               last context frame, then after each predicted frame
    clip, start, episode, cluster  int64 [M]   protocol test clip index, its first frame, episode,
                                               bootstrap cluster (genvid.data.benchmark.protocol_clips)
    attrs: available (bool), reason (why not, when not), sequences (names, comma-separated),
           context_frames, horizon, num_samples (futures a model draws per clip and action),
           action_columns, pose_columns, source, seed

A benchmark without a simulator to replay (SM-MNIST, CarRacing) gets a file with M = 0 and the
reason, so every run's stages read one contract (dvc.yaml expands them over all benchmarks).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import h5py
import numpy as np

from genvid.config import clamped, rule
from genvid.data.frames import ACTION_NAMES
from genvid.data.h5 import plain_attrs, read_h5
from genvid.data.simulator import DrivingSimulator
from genvid.data.sources import episode_duration, episode_seed
from genvid.errors import GenvidError
from genvid.io import atomic_path

POSE_COLUMNS = ("lateral", "heading", "speed")
INDEX_COLUMNS = ("clip", "start", "episode", "cluster")
REPLAYABLE_SOURCES = ("procedural",)


@dataclass(frozen=True)
class CounterfactualConfig:
    """``benchmarks.<b>.counterfactuals``: which test clips, and which held actions."""

    clips: int = field(metadata=rule(min=0))  # protocol test clips, evenly spaced over the test set (0: all)
    num_samples: int = field(default=1, metadata=rule(min=1))  # futures a model draws per clip and action
    # {name: [steer, throttle, brake]}, each held over the whole horizon
    actions: dict[str, tuple[float, float, float]] = field(default_factory=dict)

    def validate(self) -> str | None:
        if len(self.actions) < 2:
            return f"actions must name 2 or more held action sequences, got {len(self.actions)}"
        for name, (steer, throttle, brake) in self.actions.items():
            if not (-1 <= steer <= 1 and 0 <= throttle <= 1 and 0 <= brake <= 1):
                return f"actions.{name}: steer must be in [-1, 1], throttle and brake in [0, 1], got " \
                       f"{[steer, throttle, brake]}"
            if "," in name:
                return f"actions: a name may not contain a comma, got {name!r}"
        return None


@dataclass(frozen=True)
class Counterfactuals:
    """A read counterfactuals file (every array in memory: M x K clips are few)."""

    available: bool
    reason: str
    sequences: tuple[str, ...]
    context_frames: int
    horizon: int
    num_samples: int  # futures each model is asked for per clip and action (stage sample)
    context: np.ndarray  # uint8 [M, Tc, H, W, C]
    frames: np.ndarray  # uint8 [M, K, horizon, H, W, C]
    cond: np.ndarray  # float32 [M, K, Tc + horizon, A]
    pose: np.ndarray  # float32 [M, K, horizon + 1, 3]
    index: dict[str, np.ndarray]  # INDEX_COLUMNS -> int64 [M]

    @property
    def clips(self) -> int:
        return int(self.frames.shape[0])


def evenly_spaced(n: int, k: int) -> np.ndarray:
    """``k`` indices of range(n) spread evenly (all of them when k >= n): int64, increasing."""
    if k >= n:
        return np.arange(n, dtype=np.int64)
    return np.unique(np.round(np.linspace(0, n - 1, k)).astype(np.int64))


def replay(seed: int, frames_per_episode: int, resolution: int, interval: float, step: int,
           actions: Iterable[tuple[float, float, float]], horizon: int,
           recorded_frame: np.ndarray | None = None, steer_noise: float = 0.0) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each held action: (frames uint8 [horizon, R, R, 3], pose float32 [horizon + 1, 3]) of the
    episode of ``seed`` replayed from the state in which frame ``step`` was rendered. With
    ``recorded_frame`` (that frame as recorded), the restored state's frame must equal it."""
    sim = DrivingSimulator(seed, resolution, interval, duration=episode_duration(frames_per_episode, interval),
                           steer_noise=steer_noise)
    sim.skip(step)
    rendered = sim.render()  # also advances frame_index past frame ``step``, as record does
    if recorded_frame is not None and not np.array_equal(rendered, recorded_frame):
        raise GenvidError(f"counterfactuals: the simulator rebuilt from episode seed {seed} does not render the "
                          f"recorded frame {step} (frames collected by another simulator version?)")
    out = []
    for action in actions:
        world = copy.deepcopy(sim)
        poses, frames = [world.pose()], []
        for _ in range(horizon):
            world.advance(world.interval, tuple(float(a) for a in action))
            frames.append(world.render())
            poses.append(world.pose())
        out.append((np.stack(frames), np.asarray(poses, dtype=np.float32)))
    return out


def unavailable_reason(source: str) -> str | None:
    if source in REPLAYABLE_SOURCES:
        return None
    return f"source '{source}' has no simulator state genvid can restore and replay"


def write_counterfactuals(path: str | Path, cfg: CounterfactualConfig | None, collect, frames_path: str | Path,
                          starts: np.ndarray, episode: np.ndarray, cluster: np.ndarray, context_frames: int,
                          horizon: int, reason: str | None = None, progress=lambda it: it) -> Counterfactuals:
    """Build and write the counterfactuals of the protocol test clips at ``starts`` (or, with
    ``reason`` or no ``cfg``, the empty file saying why there are none)."""
    if reason is None and cfg is None:
        reason = "the benchmark sets no counterfactuals section"
    names = tuple(cfg.actions) if cfg is not None else ()
    held = [tuple(cfg.actions[n]) for n in names] if cfg is not None else []
    rows = (evenly_spaced(len(starts), clamped(cfg.clips, len(starts), "counterfactuals.clips (test clips)")
                          if cfg.clips else len(starts)) if reason is None else np.zeros(0, np.int64))
    with read_h5(frames_path, "frames file") as f:
        shape = f["frames"].shape
        m, k, t = len(rows), len(names), context_frames + horizon
        frames = np.zeros((m, k, horizon, *shape[1:]), np.uint8)
        context = np.zeros((m, context_frames, *shape[1:]), np.uint8)
        cond = np.zeros((m, k, t, len(ACTION_NAMES)), np.float32)
        pose = np.zeros((m, k, horizon + 1, len(POSE_COLUMNS)), np.float32)
        episodes = f["episode"][:] if m else np.zeros(0, np.int64)
        for i in progress(range(m)):
            start, ep = int(starts[rows[i]]), int(episode[rows[i]])
            first = int(np.searchsorted(episodes, ep))  # episodes are stored whole and in order
            last = start + context_frames - 1
            recorded = f["action"][start:start + t]
            context[i] = f["frames"][start:start + context_frames]
            for j, ((future, path_pose), action) in enumerate(zip(
                    replay(episode_seed(collect.seed, ep), collect.frames_per_episode, collect.resolution,
                           collect.interval, last - first, held, horizon, f["frames"][last],
                           collect.steer_noise), held)):
                frames[i, j], pose[i, j] = future, path_pose
                cond[i, j, :context_frames - 1] = recorded[:context_frames - 1]
                cond[i, j, context_frames - 1:] = np.asarray(action, np.float32)
    index = {"clip": rows, "start": starts[rows], "episode": episode[rows], "cluster": cluster[rows]}
    result = Counterfactuals(reason is None, reason or "", names, context_frames, horizon,
                             cfg.num_samples if cfg is not None else 1, context, frames, cond, pose,
                             {c: np.asarray(v, np.int64) for c, v in index.items()})
    save_counterfactuals(path, result, collect)
    return result


def save_counterfactuals(path: str | Path, cf: Counterfactuals, collect) -> None:
    """Write ``cf`` (atomically; ``collect``: the benchmark's collect section, for its source and seed)."""
    with atomic_path(path, suffix=".h5") as tmp, h5py.File(tmp, "w") as f:
        for name, data in (("context", cf.context), ("frames", cf.frames), ("cond", cf.cond), ("pose", cf.pose)):
            f.create_dataset(name, data=data, track_times=False)
        for name in INDEX_COLUMNS:
            f.create_dataset(name, data=cf.index[name], track_times=False)
        attrs = {"available": cf.available, "reason": cf.reason, "sequences": ",".join(cf.sequences),
                 "context_frames": cf.context_frames, "horizon": cf.horizon, "num_samples": cf.num_samples,
                 "action_columns": ",".join(ACTION_NAMES), "pose_columns": ",".join(POSE_COLUMNS),
                 "source": str(collect.source), **({"seed": int(collect.seed)} if hasattr(collect, "seed") else {})}
        for key, value in sorted(attrs.items()):
            f.attrs[key] = value


def read_counterfactuals(path: str | Path) -> Counterfactuals:
    """The file, checked against the layout above; one GenvidError line naming the problem."""
    path = Path(path)
    with read_h5(path, "counterfactuals file") as f:
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in plain_attrs(f).items()}
        for key in ("available", "reason", "sequences", "context_frames", "horizon", "num_samples"):
            if key not in attrs:
                raise GenvidError(f"{path}: attribute '{key}' missing (not a counterfactuals file)")
        sequences = tuple(s for s in str(attrs["sequences"]).split(",") if s)
        c, h = int(attrs["context_frames"]), int(attrs["horizon"])
        arrays = {}
        for name in ("context", "frames", "cond", "pose", *INDEX_COLUMNS):
            if not isinstance(f.get(name), h5py.Dataset):
                raise GenvidError(f"{path}: dataset '{name}' missing")
            arrays[name] = f[name][()]
    m = arrays["frames"].shape[0] if arrays["frames"].ndim == 6 else -1
    expected = {"context": (m, c), "frames": (m, len(sequences), h), "cond": (m, len(sequences), c + h, len(ACTION_NAMES)),
                "pose": (m, len(sequences), h + 1, len(POSE_COLUMNS)), **{n: (m,) for n in INDEX_COLUMNS}}
    for name, shape in expected.items():
        if m < 0 or tuple(arrays[name].shape[:len(shape)]) != shape or arrays[name].ndim != (
                {"frames": 6, "context": 5}.get(name, len(shape))):
            raise GenvidError(f"{path}: '{name}' has shape {list(arrays[name].shape)}, expected {list(shape)}"
                              f"{' + [H, W, C]' if name in ('frames', 'context') else ''}")
    if bool(attrs["available"]) != (m > 0):
        raise GenvidError(f"{path}: available={bool(attrs['available'])} but it holds {m} clips")
    return Counterfactuals(bool(attrs["available"]), str(attrs["reason"]), sequences, c, h, int(attrs["num_samples"]),
                           arrays["context"], arrays["frames"], arrays["cond"].astype(np.float32), arrays["pose"].astype(np.float32),
                           {n: arrays[n].astype(np.int64) for n in INDEX_COLUMNS})

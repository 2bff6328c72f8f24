"""Video sources for the `collect` stage: one call returns one deterministic driving episode.

- `procedural` (default): genvid's own first-person driving simulator (`simulator.py`).
- `carracing`: Gymnasium CarRacing-v3 driven by a scripted autopilot (`carracing.py`);
  gymnasium and Box2D are imported only when this source is used.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genvid.data.carracing import AUTOPILOT_VERSION, drive
from genvid.data.simulator import VERSION as PROCEDURAL_VERSION
from genvid.data.simulator import DrivingSimulator
from genvid.errors import GenvidError


@dataclass(frozen=True)
class Episode:
    frames: np.ndarray   # uint8 [T, H, W, 3]
    actions: np.ndarray  # float32 [T, 3]: steer in [-1, 1] (negative = left), throttle, brake in [0, 1]
    speed: np.ndarray    # float32 [T], metres per second


SOURCES: tuple[str, ...] = ("procedural", "carracing")


def _carracing_version() -> str:
    """gymnasium's version (read from package metadata, no import) and our autopilot's."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        gym = version("gymnasium")
    except PackageNotFoundError:  # the source cannot run anyway; still name it
        gym = "missing"
    return f"gymnasium-{gym}-CarRacing-v3-{AUTOPILOT_VERSION}"


SOURCE_VERSIONS: dict[str, str] = {
    "procedural": PROCEDURAL_VERSION,
    "carracing": _carracing_version(),
}


def episode_seed(seed: int, index: int) -> int:
    """Independent per-episode seed derived from (collect.seed, episode index)."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def episode_duration(num_frames: int, interval: float) -> float:
    """Simulated seconds a procedural episode's track is built for (frames plus a margin): part of
    the world's identity, so a replay must build the same."""
    return num_frames * interval + 10.0


def generate_episode(source: str, seed: int, num_frames: int, resolution: int,
                     interval: float = 0.2, steer_noise: float = 0.0) -> Episode:
    """Drive one episode of `source` from `seed` and record `num_frames` frames every `interval` s.

    The same arguments give byte-identical frames, actions and speeds, in any process."""
    if source not in SOURCES:
        raise GenvidError(f"collect.source must be one of {', '.join(SOURCES)}, got {source!r}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise GenvidError(f"collect: episode seed must be a non-negative integer, got {seed!r}")
    if num_frames < 1:
        raise GenvidError(f"collect.frames_per_episode must be >= 1, got {num_frames}")
    if resolution < 16 or resolution % 16:
        raise GenvidError(f"collect.resolution must be a positive multiple of 16, got {resolution}")
    if not interval > 0:
        raise GenvidError(f"collect.interval must be > 0 seconds, got {interval}")
    if source == "procedural":
        sim = DrivingSimulator(int(seed), resolution, interval, duration=episode_duration(num_frames, interval),
                               steer_noise=steer_noise)
        rec = sim.record(num_frames)
    else:
        rec = drive(int(seed), num_frames, resolution, interval)
    return Episode(frames=rec["frames"], actions=rec["actions"], speed=rec["speed"])

"""The `carracing` source: Gymnasium CarRacing-v3 (Box2D) driven by a scripted autopilot.

CarRacing is the World Models benchmark: a top-down 96x96 view of a car on a random closed track,
simulated at 50 steps/s. The autopilot follows the track's centreline waypoints with pure-pursuit
steering and a speed controller that slows down before sharp turns; its cruise speed and a slow
weave across the track vary per episode. Frames are the environment's observations, recorded
every round(interval / 0.02) steps after the opening zoom-in animation and resized
deterministically. gymnasium/Box2D are imported lazily, only when this source is used.
"""
from __future__ import annotations

import math

import numpy as np

from genvid.errors import GenvidError

AUTOPILOT_VERSION = "autopilot-1"  # bump when the driving (hence the data) changes
DT = 0.02            # CarRacing steps at 50 FPS
WARMUP_STEPS = 60    # the first second zooms in on the car; start recording after it ...
EXTRA_WARMUP = 500   # ... and after up to 10 s more driving (per seed), since every track starts
#                      alike (CarRacing places its first checkpoint at a fixed spot)
HALF_WIDTH = 40 / 6  # CarRacing TRACK_WIDTH (half-width of the road, Box2D units ~ metres)


def _make_env():
    try:
        import gymnasium as gym
        env = gym.make("CarRacing-v3", render_mode="rgb_array", continuous=True)
    except Exception as err:  # ImportError, or Box2D/pygame missing inside gymnasium
        raise GenvidError(f"collect.source 'carracing' needs gymnasium[box2d]: {err}") from None
    return env.unwrapped   # step the raw env: no 1000-step time limit, no checker wrappers


class Autopilot:
    """Pure pursuit on the track waypoints plus a curvature-aware speed controller."""

    def __init__(self, track: list, rng: np.random.Generator):
        pts = np.array([(x, y) for _, _, x, y in track], dtype=np.float64)
        self.pts = pts
        seg = np.roll(pts, -1, 0) - pts
        self.heading = np.arctan2(seg[:, 1], seg[:, 0])
        self.cruise = float(rng.uniform(32, 48))           # top speed on straights (units/s)
        self.weave_amp = float(rng.uniform(0.0, 0.35)) * HALF_WIDTH
        self.weave_freq = float(rng.uniform(0.05, 0.15))   # cycles per second
        self.weave_phase = float(rng.uniform(0, 2 * math.pi))
        self.t = 0.0

    def nearest(self, pos: np.ndarray) -> tuple[int, float]:
        d = np.hypot(*(self.pts - pos).T)
        i = int(np.argmin(d))
        return i, float(d[i])

    def act(self, pos: np.ndarray, angle: float, vel: np.ndarray) -> np.ndarray:
        n = len(self.pts)
        speed = float(np.hypot(*vel))
        i, _ = self.nearest(pos)
        ahead = max(3, int((6 + 0.45 * speed) / 3.5))      # waypoints are ~3.5 units apart
        j = (i + ahead) % n
        normal = np.array([-math.sin(self.heading[j]), math.cos(self.heading[j])])  # left of the track
        offset = self.weave_amp * math.sin(2 * math.pi * self.weave_freq * self.t + self.weave_phase)
        target = self.pts[j] + offset * normal
        forward = np.array([-math.sin(angle), math.cos(angle)])  # the car's nose is its local +y
        to = target - pos
        alpha = math.atan2(forward[0] * to[1] - forward[1] * to[0], forward @ to)  # + = target on the left
        steer = float(np.clip(-2.2 * alpha, -1, 1))              # CarRacing: steer -1 = full left
        # slow down for the sharpest heading change over the next ~3 s of track
        span = (i + np.arange(max(8, int(speed * 3 / 3.5)))) % n
        turn = np.abs(np.angle(np.exp(1j * (self.heading[span] - self.heading[i]))))
        limit = self.cruise - 26 * min(float(turn.max()), 1.2)
        err = max(limit, 14.0) - speed
        throttle = float(np.clip(0.08 * err, 0, 0.6))
        brake = float(np.clip(-0.03 * err, 0, 0.5))
        self.t += DT
        return np.array([steer, throttle, brake], dtype=np.float64)


def _resize(frame: np.ndarray, resolution: int) -> np.ndarray:
    if frame.shape[0] == resolution and frame.shape[1] == resolution:
        return frame
    from PIL import Image
    return np.asarray(Image.fromarray(frame).resize((resolution, resolution), Image.Resampling.BILINEAR))


def drive(seed: int, num_frames: int, resolution: int, interval: float = 0.2) -> dict[str, np.ndarray]:
    """One CarRacing episode: frames uint8 [T, R, R, 3], mean action over each interval [T, 3],
    speed [T] (Box2D units/s, about metres), plus per-frame tiles visited and distance to the
    track centreline (for tests). Restarts deterministically if the car ever leaves the map."""
    env = _make_env()
    every = max(1, round(interval / DT))
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))
    log = {k: [] for k in ("frames", "actions", "speed", "tiles", "off_centre")}
    restarts = 0
    try:
        while len(log["frames"]) < num_frames:
            # a fresh track after leaving the map, still determined by the episode seed
            env_seed = np.random.SeedSequence([seed, 2, restarts]).generate_state(1)[0] if restarts else seed
            env.reset(seed=int(env_seed))
            pilot = Autopilot(env.track, rng)
            obs, alive = None, True
            warmup = WARMUP_STEPS + int(rng.integers(EXTRA_WARMUP))
            for step in range(warmup):
                obs, alive = _step(env, pilot, render=step == warmup - 1)
            while alive and len(log["frames"]) < num_frames:
                car = env.car.hull
                log["frames"].append(_resize(obs, resolution))
                log["speed"].append(float(np.hypot(*car.linearVelocity)))
                log["tiles"].append(env.tile_visited_count)
                log["off_centre"].append(pilot.nearest(np.array(car.position))[1])
                total = np.zeros(3)
                for k in range(every):
                    obs, alive = _step(env, pilot, render=k == every - 1, actions=total)
                    if not alive:
                        break
                log["actions"].append(total / every)
            if not alive:  # left the playfield: drop the unfinished frame, start a new track
                for key in ("frames", "speed", "tiles", "off_centre"):
                    del log[key][len(log["actions"]):]
                restarts += 1
    finally:
        env.close()
    out = {k: np.asarray(v) for k, v in log.items()}
    out["frames"] = np.stack(log["frames"]).astype(np.uint8)
    out["actions"] = np.stack(log["actions"]).astype(np.float32)
    out["speed"] = out["speed"].astype(np.float32)
    return out


def _step(env, pilot: Autopilot, render: bool, actions: np.ndarray | None = None):
    """One env step under the autopilot; skips drawing the observation unless `render`."""
    car = env.car.hull
    action = pilot.act(np.array(car.position), float(car.angle), np.array(car.linearVelocity))
    if actions is not None:
        actions += action
    if not render:  # drawing has no effect on the physics; skip it on unrecorded steps
        env._render = lambda mode: None
    try:
        obs, _, terminated, _, info = env.step(action)
    finally:
        env.__dict__.pop("_render", None)
    # finishing a lap also terminates; the car keeps driving. Only leaving the map ends the run.
    left_map = terminated and not info.get("lap_finished", False)
    return obs, not left_map

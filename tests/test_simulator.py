"""The procedural driving simulator: shapes, determinism, motion, autopilot behaviour, errors."""
import hashlib
import subprocess
import sys

import numpy as np
import pytest
import torch

from genvid.data.simulator import LANE_W, DrivingSimulator
from genvid.data.sources import SOURCE_VERSIONS, SOURCES, Episode, generate_episode
from genvid.errors import GenvidError

torch.set_num_threads(1)


def digest(ep: Episode) -> str:
    h = hashlib.sha256()
    for a in (ep.frames, ep.actions, ep.speed):
        h.update(a.tobytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def episode():
    return generate_episode("procedural", 7, 24, 64)


@pytest.mark.parametrize("res", [16, 48, 64, 80, 256])
def test_shapes_and_dtypes(res):
    ep = generate_episode("procedural", 3, 2, res)
    assert ep.frames.shape == (2, res, res, 3) and ep.frames.dtype == np.uint8
    assert ep.actions.shape == (2, 3) and ep.actions.dtype == np.float32
    assert ep.speed.shape == (2,) and ep.speed.dtype == np.float32
    assert ep.frames.std() > 10  # a picture, not a blank


def test_same_seed_same_bytes_across_processes_without_gymnasium(episode):
    code = ("from genvid.data.sources import generate_episode; import hashlib, sys; "
            "ep = generate_episode('procedural', 7, 24, 64); h = hashlib.sha256(); "
            "[h.update(a.tobytes()) for a in (ep.frames, ep.actions, ep.speed)]; print(h.hexdigest()); "
            "print(any(m in sys.modules for m in ('gymnasium', 'Box2D', 'pygame')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == [digest(episode), "False"]  # procedural never imports gymnasium
    assert digest(generate_episode("procedural", 7, 24, 64)) == digest(episode)


def test_different_seeds_differ(episode):
    other = generate_episode("procedural", 8, 24, 64)
    assert not np.array_equal(other.frames, episode.frames)
    assert not np.array_equal(other.speed, episode.speed)


def test_motion_is_coherent_not_noise(episode):
    f = episode.frames.astype(np.float32)
    step = np.abs(np.diff(f, axis=0)).mean()
    across = np.mean([np.abs(f - generate_episode("procedural", s, 24, 64).frames).mean() for s in (8, 9)])
    assert step > 1.0            # the scene visibly advances every 0.2 s
    assert step < 0.5 * across   # ... but consecutive frames are far closer than other episodes
    # each frame is best matched by its neighbour, not by a frame far away in the episode
    near = np.abs(f[1:] - f[:-1]).mean((1, 2, 3))
    far = np.abs(f[12:] - f[:-12]).mean((1, 2, 3))
    assert near.mean() < far.mean()


def test_actions_and_speed_in_range(episode):
    steer, throttle, brake = episode.actions.T
    assert np.all(np.abs(steer) <= 1) and np.all((throttle >= 0) & (throttle <= 1))
    assert np.all((brake >= 0) & (brake <= 1))
    assert np.all(episode.speed > 0) and np.all(episode.speed < 40)


@pytest.mark.parametrize("seed", [11, 23, 42])
def test_autopilot_stays_on_its_side_of_the_road_and_changes_lanes(seed):
    sim = DrivingSimulator(seed, interval=0.2, duration=310, render=False)
    log = sim.record(1500)  # 300 s of driving, physics only
    left, right = sim.road_edges
    assert left < 0 < right
    half_car = 0.9
    # never crosses the centre line into oncoming traffic, never leaves the paved road
    assert log["lateral"].min() - half_car > 0 and log["lateral"].max() + half_car < right
    assert np.abs(log["psi"]).max() < 0.3
    # lane changes happen and move the car across lane boundaries
    assert sim.lane_changes >= 3
    assert len(np.unique(np.floor(log["lateral"] / LANE_W))) >= 2
    # speed changes (curves, traffic, cruise changes) and the recorded speed matches the motion
    assert log["speed"].max() - log["speed"].min() > 3
    xy = sim.track.world(log["s"], log["lateral"])[:, :2]
    moved = np.hypot(*np.diff(xy, axis=0).T) / 0.2
    mean_speed = 0.5 * (log["speed"][1:] + log["speed"][:-1])
    assert np.abs(moved / mean_speed - 1).max() < 0.03
    # no collisions with the vehicle ahead
    assert log["gap"].min() > 0
    # steering follows the road: turning right where the road curves right, on average
    kappa = sim.track.kappa[log["s"].astype(int)]
    assert np.corrcoef(kappa, log["actions"][:, 0])[0, 1] > 0.5


def test_world_has_curves_hills_scenery_and_traffic():
    sim = DrivingSimulator(5, interval=0.2, duration=200, render=False)
    tr = sim.track
    assert np.abs(tr.kappa).max() > 1 / 1000 and np.ptp(tr.h) > 1.0
    assert len(sim.scenery.billboards.s) > 50
    trf = sim.traffic
    assert (trf.dir > 0).any() and (trf.dir < 0).any()  # traffic ahead of us and oncoming
    nearest = []
    for _ in range(300):
        sim.advance(0.2)
        ahead = (trf.dir > 0) & (trf.s > sim.ego.s)
        nearest.append((trf.s[ahead] - sim.ego.s).min() if ahead.any() else np.inf)
        assert np.all(trf.v >= 0)
    assert min(nearest) < 60  # the ego catches up with traffic ahead


def test_episodes_vary_in_look():
    looks = {(s.look.time, s.look.weather, s.look.terrain) for s in
             (DrivingSimulator(i, 16, duration=5, render=False) for i in range(12))}
    assert len(looks) >= 5
    means = [generate_episode("procedural", i, 1, 32).frames.mean((0, 1, 2)) for i in range(6)]
    assert np.std(means, axis=0).max() > 10


def test_interval_sets_the_simulated_time_between_frames():
    a = DrivingSimulator(2, interval=0.1, duration=20, render=False).record(20)
    b = DrivingSimulator(2, interval=0.2, duration=20, render=False).record(10)
    assert np.allclose(a["s"][::2], b["s"], atol=1e-6)


def test_errors_name_the_key():
    assert SOURCES == ("procedural", "carracing") and set(SOURCE_VERSIONS) == set(SOURCES)
    with pytest.raises(GenvidError, match=r"collect.source must be one of procedural, carracing, got 'foo'"):
        generate_episode("foo", 0, 4, 64)
    with pytest.raises(GenvidError, match="collect.resolution"):
        generate_episode("procedural", 0, 4, 50)
    with pytest.raises(GenvidError, match="seed"):
        generate_episode("procedural", -1, 4, 64)

"""Counterfactual test clips (genvid/data/counterfactuals.py, stage counterfactuals): the simulator
restored to a recorded state renders the recorded frame, the replay is deterministic, and the K
futures differ by the held action only."""
from __future__ import annotations

from types import SimpleNamespace

import h5py
import numpy as np
import pytest

from genvid import params as P
from genvid.data.counterfactuals import CounterfactualConfig, read_counterfactuals, replay, write_counterfactuals
from genvid.data.frames import write_frames
from genvid.data.simulator import DrivingSimulator
from genvid.data.sources import episode_duration, episode_seed, generate_episode
from genvid.errors import GenvidError, ParamError
from genvid.config import parse_config

RES, FRAMES, SEED = 32, 30, 5
COLLECT = SimpleNamespace(source="procedural", seed=SEED, frames_per_episode=FRAMES, resolution=RES, interval=0.2,
                          steer_noise=0.0)
ACTIONS = {"left": (-0.2, 0.1, 0.0), "straight": (0.0, 0.1, 0.0), "right": (0.2, 0.1, 0.0), "brake": (0.0, 0.0, 1.0)}


def test_a_restored_simulator_renders_the_recorded_frame_and_obeys_a_held_action():
    seed = episode_seed(SEED, 0)
    recorded = DrivingSimulator(seed, RES, 0.2, duration=episode_duration(FRAMES, 0.2)).record(12)
    sim = DrivingSimulator(seed, RES, 0.2, duration=episode_duration(FRAMES, 0.2))
    sim.skip(9)
    assert np.array_equal(sim.render(), recorded["frames"][9])
    assert sim.pose() == pytest.approx((recorded["lateral"][9], recorded["psi"][9], recorded["speed"][9]), abs=1e-6)
    applied = sim.advance(0.2, (0.3, 0.0, 0.5))
    assert applied == pytest.approx(np.array([0.3, 0.0, 0.5], np.float32))  # held for every physics step
    assert not np.allclose(applied, recorded["actions"][9])


def test_an_exploring_autopilot_is_replayed_exactly_and_steers_more():
    """collect.steer_noise (issue 48): the noise has its own stream, drawn in a replay too, so a restored
    simulator renders the recorded frame; the recorded steering varies more, and the world is the same."""
    seed = episode_seed(SEED, 1)
    duration = episode_duration(FRAMES, 0.2)
    plain = DrivingSimulator(seed, RES, 0.2, duration=duration).record(FRAMES)
    noisy = DrivingSimulator(seed, RES, 0.2, duration=duration, steer_noise=0.05).record(FRAMES)
    assert np.array_equal(noisy["frames"][0], plain["frames"][0])  # the same world and start
    assert noisy["actions"][:, 0].std() > 1.5 * plain["actions"][:, 0].std()
    again = DrivingSimulator(seed, RES, 0.2, duration=duration, steer_noise=0.05).record(FRAMES)
    assert np.array_equal(again["frames"], noisy["frames"]) and np.array_equal(again["actions"], noisy["actions"])
    sim = DrivingSimulator(seed, RES, 0.2, duration=duration, steer_noise=0.05)
    sim.skip(17)
    assert np.array_equal(sim.render(), noisy["frames"][17])
    with pytest.raises(GenvidError, match="does not render the recorded frame"):  # replayed without the noise
        replay(seed, FRAMES, RES, 0.2, 17, [(0.0, 0.1, 0.0)], 2, noisy["frames"][17])
    assert len(replay(seed, FRAMES, RES, 0.2, 17, [(0.0, 0.1, 0.0)], 2, noisy["frames"][17], steer_noise=0.05)) == 1


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    path = tmp_path_factory.mktemp("cf") / "frames.h5"
    episodes = [generate_episode("procedural", episode_seed(SEED, i), FRAMES, RES) for i in range(2)]
    write_frames(path, iter(episodes), 2 * FRAMES, RES, {"source": "procedural"})
    return path


def build(frames, out, clips=2):
    cfg = CounterfactualConfig(clips=clips, actions=ACTIONS)
    starts, episode, cluster = np.array([3, 35, 44]), np.array([0, 1, 1]), np.array([0, 1, 1])
    return write_counterfactuals(out, cfg, COLLECT, frames, starts, episode, cluster, 4, 5)


def test_counterfactuals_are_deterministic_and_differ_by_the_action_only(frames, tmp_path):
    cf = build(frames, tmp_path / "a.h5")
    build(frames, tmp_path / "b.h5")
    assert (tmp_path / "a.h5").read_bytes() == (tmp_path / "b.h5").read_bytes()
    back = read_counterfactuals(tmp_path / "a.h5")
    assert back.sequences == tuple(ACTIONS) and back.available and back.clips == 2
    assert np.array_equal(back.frames, cf.frames) and back.frames.shape == (2, 4, 5, RES, RES, 3)
    assert list(back.index["clip"]) == [0, 2] and list(back.index["start"]) == [3, 44]  # evenly spaced
    with h5py.File(frames) as f:
        for i, start in enumerate(back.index["start"]):
            assert np.array_equal(back.context[i], f["frames"][start:start + 4])
            recorded = f["action"][start:start + 9]
            for k, action in enumerate(ACTIONS.values()):
                assert np.array_equal(back.cond[i, k, :3], recorded[:3])  # rows before the last context frame
                assert np.allclose(back.cond[i, k, 3:], action)  # from the action after it on: held
    heading = back.pose[:, :, -1, 1]
    assert np.all(heading[:, 0] < heading[:, 1]) and np.all(heading[:, 1] < heading[:, 2])  # left, straight, right
    speed = back.pose[:, :, -1, 2]
    assert np.all(speed[:, 3] < speed[:, 1])  # braking slows the car
    assert np.array_equal(back.pose[:, :, 0], np.repeat(back.pose[:, :1, 0], 4, axis=1))  # one start state
    assert not np.array_equal(back.frames[:, 0], back.frames[:, 2])


def test_frames_of_another_world_are_refused(frames, tmp_path):
    other = tmp_path / "other.h5"
    with h5py.File(frames) as f, h5py.File(other, "w") as g:
        for key in f:
            g[key] = f[key][:]
        g["frames"][6] = 255 - f["frames"][6]  # clip 0 starts at 3: its last context frame
    with pytest.raises(GenvidError, match="does not render the recorded frame 6"):
        build(other, tmp_path / "x.h5")
    assert not (tmp_path / "x.h5").exists()


def test_a_benchmark_without_a_simulator_gets_an_empty_file_saying_why(frames, tmp_path):
    cf = write_counterfactuals(tmp_path / "none.h5", None, COLLECT, frames, np.array([3]), np.array([0]),
                               np.array([0]), 4, 5, reason="source 'smmnist' has no simulator state")
    back = read_counterfactuals(tmp_path / "none.h5")
    assert (back.available, back.clips, back.reason) == (False, 0, cf.reason)


def test_a_broken_file_is_named_in_one_line(frames, tmp_path):
    build(frames, tmp_path / "a.h5")
    with h5py.File(tmp_path / "a.h5", "r+") as f:
        del f["pose"]
    with pytest.raises(GenvidError, match=r"a\.h5: dataset 'pose' missing"):
        read_counterfactuals(tmp_path / "a.h5")


def test_params_name_the_bad_key():
    with pytest.raises(ParamError, match=r"counterfactuals\.actions\.left: steer must be in \[-1, 1\]"):
        parse_config(CounterfactualConfig, {"clips": 1, "actions": {"left": [-2, 0, 0], "right": [1, 0, 0]}},
                     "benchmarks.driving.counterfactuals")
    with pytest.raises(ParamError, match="2 or more"):
        parse_config(CounterfactualConfig, {"clips": 1, "actions": {"left": [-1, 0, 0]}}, "b.counterfactuals")
    raw = P.read_params("params.yaml")
    raw["benchmarks"]["smmnist"]["counterfactuals"] = raw["benchmarks"]["driving"]["counterfactuals"]
    with pytest.raises(ParamError, match="benchmarks.smmnist.counterfactuals: source 'smmnist' has no simulator"):
        P.benchmark(raw, "smmnist")

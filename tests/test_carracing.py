"""CarRacing-v3 source: shapes, determinism, and an autopilot that actually drives the track."""
import numpy as np
import pytest
import torch

pytest.importorskip("gymnasium")
pytest.importorskip("Box2D")

from genvid.data.carracing import HALF_WIDTH, drive  # noqa: E402
from genvid.data.sources import SOURCE_VERSIONS, generate_episode  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def run():
    return drive(3, 40, 96)


def test_shapes_dtypes_and_resize():
    ep = generate_episode("carracing", 3, 6, 64)
    assert ep.frames.shape == (6, 64, 64, 3) and ep.frames.dtype == np.uint8
    assert ep.actions.shape == (6, 3) and ep.actions.dtype == np.float32
    assert ep.speed.shape == (6,) and ep.speed.dtype == np.float32
    assert SOURCE_VERSIONS["carracing"].startswith("gymnasium-")


def test_deterministic_from_seed(run):
    again = drive(3, 40, 96)
    for key in ("frames", "actions", "speed"):
        np.testing.assert_array_equal(again[key], run[key])
    other = drive(4, 5, 96)
    assert not np.array_equal(other["frames"], run["frames"][:5])


def test_autopilot_drives_along_the_track(run):
    steer, throttle, brake = run["actions"].T
    assert np.all(np.abs(steer) <= 1) and np.all((throttle >= 0) & (throttle <= 1))
    assert np.all((brake >= 0) & (brake <= 1))
    assert np.all(run["off_centre"] < HALF_WIDTH)      # the car's centre never leaves the road
    assert run["tiles"][-1] - run["tiles"][0] >= 30    # ... and it makes progress: 8 s of driving
    assert np.all(np.diff(run["tiles"]) >= 0)
    assert run["speed"][5:].min() > 5
    # the road under the car is grey (R == G == B) in the frames, grass is green
    patch = run["frames"][:, 58:64, 44:52].astype(int)   # just ahead of the car, image centre-bottom
    grey = (np.abs(patch[..., 0] - patch[..., 1]) < 12) & (np.abs(patch[..., 1] - patch[..., 2]) < 12)
    assert grey.mean() > 0.8
    # no opening zoom animation: the car is drawn at the same size in the first and later frames
    red = lambda f: ((f[..., 0] > 150) & (f[..., 1] < 80)).sum()  # noqa: E731
    assert abs(red(run["frames"][0]) - red(run["frames"][-1])) <= 0.3 * red(run["frames"][-1])

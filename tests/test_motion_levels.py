"""benchmarks/motion_levels.py's degradations of real futures (its scores need the DAG's Dynamics files)."""
import numpy as np
import pytest

from conftest import load_benchmark

levels = load_benchmark("motion_levels")


def _clip(seed=0, n=2, t=3, size=12, c=3):
    return np.random.default_rng(seed).integers(0, 256, size=(n, t, size, size, c), dtype=np.uint8)


def test_blur_keeps_a_flat_frame_and_spreads_a_point_as_a_normalised_gaussian():
    flat = np.full((1, 2, 9, 9, 3), 77, np.uint8)
    assert np.array_equal(levels.gaussian_blur(flat, 1.0), flat)  # edges repeated: nothing darkens at the border
    point = np.zeros((1, 1, 15, 15, 1), np.uint8)
    point[0, 0, 7, 7, 0] = 255
    out = levels.gaussian_blur(point, 1.0)[0, 0, :, :, 0].astype(np.float64)
    g = np.exp(-np.arange(-3, 4) ** 2 / 2.0)
    g /= g.sum()
    expected = 255 * np.outer(g, g)  # by hand: the separable kernel, 3 sigma radius
    assert np.abs(out[4:11, 4:11] - np.rint(expected)).max() <= 1
    assert out[7, 7] == out.max() and out[7, 6] == out[7, 8] == out[6, 7] == out[8, 7]
    assert out.sum() == pytest.approx(255, abs=8)  # the mass stays (up to rounding)


def test_blur_acts_per_frame_and_channel():
    clip = _clip()
    out = levels.gaussian_blur(clip, 2.0)
    alone = levels.gaussian_blur(clip[1:2, 2:3, :, :, 1:2], 2.0)
    assert out.shape == clip.shape and out.dtype == np.uint8
    assert np.array_equal(out[1:2, 2:3, :, :, 1:2], alone)


def test_fading_runs_from_the_last_frame_held_to_the_real_future():
    clip, last = _clip(1), _clip(2)[:, 0]
    assert np.array_equal(levels.faded(clip, last, 1.0), clip)
    assert np.array_equal(levels.faded(clip, last, 0.0), np.repeat(last[:, None], clip.shape[1], axis=1))
    half = levels.faded(clip, last, 0.5).astype(np.int64)
    assert np.abs(2 * half - clip.astype(np.int64) - last[:, None].astype(np.int64)).max() <= 1


def test_a_list_that_is_not_numbers_is_one_line():
    with pytest.raises(SystemExit, match="'1,x' is not a comma-separated list of numbers"):
        levels.main(["--sigmas", "1,x"])

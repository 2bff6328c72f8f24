"""Controllability metrics (genvid/metrics/control.py) against hand computations."""
from __future__ import annotations

import numpy as np
import pytest

from genvid.metrics.control import horizontal_shift, pair_distances, path_shift, sensitivity, turns_right_way
from genvid.metrics.stats import ratio_bootstrap


def texture(seed: int = 0, size: int = 32) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (size, size, 3), dtype=np.uint8)


@pytest.mark.parametrize("dx", [-5, -1, 0, 2, 7])
def test_a_known_horizontal_shift_is_found(dx):
    a = texture()
    assert horizontal_shift(a, np.roll(a, dx, axis=1)) == dx
    assert horizontal_shift(a, np.roll(a, (3, dx), axis=(0, 1))) == dx  # vertical motion does not leak in


def test_path_shift_sums_the_steps_and_flat_frames_give_zero():
    a = texture(1)
    future = np.stack([np.roll(a, 2 * (t + 1), axis=1) for t in range(4)])
    assert path_shift(a, future) == 8
    flat = np.full((32, 32, 3), 90, np.uint8)
    assert horizontal_shift(flat, flat) == 0


def test_identical_predictions_have_sensitivity_zero_and_the_truth_one():
    rng = np.random.default_rng(2)
    true = rng.integers(0, 256, (3, 4, 2, 8, 8, 3)).astype(np.uint8)  # [M, K, horizon, H, W, C]
    same = np.repeat(true[:, :1, None], 4, axis=1)  # every action: the first action's future
    assert sensitivity(same, true) == 0.0
    assert sensitivity(true[:, :, None], true) == pytest.approx(1.0)
    assert sensitivity(np.repeat(true[:, :, None], 3, axis=2), true) == pytest.approx(1.0)  # samples averaged


def test_pair_distances_by_hand():
    futures = np.zeros((3, 1, 2, 2, 1))
    futures[1] += 1.0
    futures[2] += 3.0
    assert pair_distances(futures) == pytest.approx([1.0, 3.0, 2.0])  # (0,1), (0,2), (1,2)


def test_turning_the_right_way():
    # steering left turns the heading left (psi down), so the image moves right (positive shift)
    assert turns_right_way(shift_left=6, shift_right=-4, heading_left=-0.2, heading_right=0.2)
    assert not turns_right_way(shift_left=-6, shift_right=4, heading_left=-0.2, heading_right=0.2)
    assert not turns_right_way(shift_left=3, shift_right=3, heading_left=-0.2, heading_right=0.2)  # no motion
    assert not turns_right_way(shift_left=3, shift_right=0, heading_left=0.1, heading_right=0.1)  # no turn


def test_the_ratio_bootstrap_of_a_constant_ratio_is_that_ratio():
    num, den = np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 4.0, 6.0, 8.0])
    assert ratio_bootstrap(num, den, np.array([0, 0, 1, 2]), 200, 0) == pytest.approx((0.5, 0.5))
    lo, hi = ratio_bootstrap(np.array([0.0, 1.0, 0.0, 1.0]), np.ones(4), np.arange(4), 500, 0)
    assert 0.0 <= lo < 0.5 < hi <= 1.0
    with pytest.raises(ValueError, match="2 clusters"):
        ratio_bootstrap(num, den, np.zeros(4))

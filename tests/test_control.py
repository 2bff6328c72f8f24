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


def _smooth_field(seed: int, size: int = 64, bandwidth: float = 0.08) -> np.ndarray:
    """The spectrum of a periodic, band-limited random image: it can be shifted by any fraction of a pixel."""
    rng = np.random.default_rng(seed)
    k = np.fft.fftfreq(size)
    return np.fft.fft2(rng.normal(size=(size, size))) * np.exp(-(k[:, None] ** 2 + k[None, :] ** 2) / (2 * bandwidth ** 2))


def _frame(spectrum: np.ndarray, dx: float, blur: float = 0.0) -> np.ndarray:
    """The image moved ``dx`` pixels right (Fourier shift theorem), optionally Gaussian-blurred
    (sd ``blur`` pixels), as uint8 RGB on the scale of the unshifted image."""
    k = np.fft.fftfreq(spectrum.shape[1])
    ky = np.fft.fftfreq(spectrum.shape[0])[:, None]
    gain = np.exp(-2 * (np.pi * blur) ** 2 * (k[None, :] ** 2 + ky ** 2))
    image = np.fft.ifft2(spectrum * np.exp(-2j * np.pi * k[None, :] * dx) * gain).real
    base = np.fft.ifft2(spectrum).real
    scaled = (image - base.min()) / (base.max() - base.min()) * 200 + 28
    return np.repeat(np.clip(scaled, 0, 255).round().astype(np.uint8)[..., None], 3, axis=-1)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("dx", [0.3, 0.5, 2.0, -0.3, -1.7])
def test_a_sub_pixel_shift_is_found_sharp_and_blurred(seed, dx):
    spectrum = _smooth_field(seed)
    a = _frame(spectrum, 0.0)
    assert horizontal_shift(a, _frame(spectrum, dx)) == pytest.approx(dx, abs=0.1)
    assert horizontal_shift(a, _frame(spectrum, dx, blur=1.5)) == pytest.approx(dx, abs=0.15)  # a model's blur


def test_a_whole_pixel_measure_misses_what_the_sub_pixel_one_sees():
    # The old measure's failure (issue 48): four frames each moved 0.4 px is 1.6 px in all, which
    # whole-pixel peaks sum to 0 (each rounds to no motion); the refined peaks see it.
    spectrum = _smooth_field(3)
    future = np.stack([_frame(spectrum, 0.4 * (t + 1)) for t in range(4)])
    assert path_shift(_frame(spectrum, 0.0), future) == pytest.approx(1.6, abs=0.2)


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
    assert turns_right_way(shift_left=0.05, shift_right=0.0, heading_left=-0.2, heading_right=0.2)  # 1/20 px is motion
    assert not turns_right_way(shift_left=0.02, shift_right=0.0, heading_left=-0.2, heading_right=0.2)  # below it, none


def test_the_ratio_bootstrap_of_a_constant_ratio_is_that_ratio():
    num, den = np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 4.0, 6.0, 8.0])
    assert ratio_bootstrap(num, den, np.array([0, 0, 1, 2]), 200, 0) == pytest.approx((0.5, 0.5))
    lo, hi = ratio_bootstrap(np.array([0.0, 1.0, 0.0, 1.0]), np.ones(4), np.arange(4), 500, 0)
    assert 0.0 <= lo < 0.5 < hi <= 1.0
    with pytest.raises(ValueError, match="2 clusters"):
        ratio_bootstrap(num, den, np.zeros(4))

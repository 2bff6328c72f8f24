"""Controllability of a learned simulator (issue 24): does the predicted future follow the action?

Measured on counterfactual clips (genvid.data.counterfactuals): one context, K held action
sequences, the simulator's true future under each, and a model's prediction under each.

- **Action sensitivity**: the mean RMS pixel distance between the futures predicted under two
  different actions (over clips, samples and the K (K - 1) / 2 pairs) divided by the same mean for
  the true futures. 0: the prediction ignores the action (copy-last, any unconditioned model, by
  common random numbers: each action's prediction of a clip is drawn from the same generator
  state); 1: it varies as much as the world does; it says nothing of whether the variation is right.
- **Direction**: the horizontal image motion over the horizon, summed from the phase correlation
  of consecutive frames (last context frame, then each predicted one), to a twentieth of a pixel:
  the correlation peak is refined on a 20x finer grid by evaluating the inverse transform there
  (an upsampled DFT around the whole-pixel peak), because a model's blurred futures move by less
  than a pixel a frame, which a whole-pixel peak reports as no motion at all (issue 48). Steering
  left turns the camera left, so the scene moves right in the image (a positive shift); per clip,
  the prediction turns the right way when shift(leftmost steer) - shift(rightmost steer) has the
  sign opposite to the simulator's heading change psi(leftmost) - psi(rightmost) at the end of the
  horizon. A clip with no difference in shift (under 1/20 pixel) counts as wrong: not moving is
  not turning. The same cue on the true counterfactual frames says how far the cue itself can be
  trusted.
"""
from __future__ import annotations

import numpy as np


def _grey(frame: np.ndarray) -> np.ndarray:
    """uint8 or float [H, W, C] -> float64 [H, W] (the channel mean)."""
    return np.asarray(frame, dtype=np.float64).mean(axis=-1)


UPSAMPLE = 20  # the shift's resolution: 1/UPSAMPLE pixel
_FLOOR = 0.01  # the cross-power magnitude, relative to its largest, below which a frequency is not whitened
_REFINE = 1.5  # pixels either side of the whole-pixel peak searched on the finer grid


def _signed_frequencies(n: int) -> np.ndarray:
    return np.fft.fftfreq(n) * n  # 0, 1, ..., -1 (integers, as float64)


def horizontal_shift(a: np.ndarray, b: np.ndarray) -> float:
    """Pixels the content of frame ``a`` [H, W, C] moved to the right in frame ``b`` (negative: left),
    to 1/UPSAMPLE of a pixel, by (regularised) phase correlation of the mean-removed, Hann-windowed
    grey frames.

    The whole-pixel peak of the correlation surface is refined by evaluating the surface's inverse
    DFT on a grid UPSAMPLE times finer within ``_REFINE`` pixels of it (the peak of a band-limited
    surface lies between samples when the motion does). Ties and flat frames give 0; shifts wrap at
    half the width."""
    x, y = _grey(a), _grey(b)
    h, w = x.shape
    window = np.outer(np.hanning(h), np.hanning(w))
    fa, fb = np.fft.fft2((x - x.mean()) * window), np.fft.fft2((y - y.mean()) * window)
    cross = fb * np.conj(fa)
    magnitude = np.abs(cross)
    if not magnitude.max() > 1e-9:
        return 0.0
    # Phase correlation, regularised: whitening every frequency to unit magnitude turns the quantisation
    # noise of weak (blurred-away) frequencies into as loud a vote as the image's own structure, which
    # moved a blurred frame's peak by up to 0.8 px in tests; below 1 % of the strongest they count less.
    spectrum = cross / (magnitude + _FLOOR * magnitude.max())
    surface = np.fft.ifft2(spectrum).real
    py, px = np.unravel_index(int(np.argmax(surface)), surface.shape)
    py = py - h if py > h // 2 else py
    px = px - w if px > w // 2 else px
    offsets = np.arange(-_REFINE * UPSAMPLE, _REFINE * UPSAMPLE + 1) / UPSAMPLE
    ky, kx = _signed_frequencies(h), _signed_frequencies(w)
    rows = np.exp(2j * np.pi * np.outer(py + offsets, ky) / h)  # [n, H]: the surface at rows py + offsets
    cols = np.exp(2j * np.pi * np.outer(kx, px + offsets) / w)  # [W, n]
    fine = (rows @ spectrum @ cols).real
    _, j = np.unravel_index(int(np.argmax(fine)), fine.shape)
    return float(round(float(px + offsets[j]) * UPSAMPLE) / UPSAMPLE)


def path_shift(last_context: np.ndarray, future: np.ndarray) -> float:
    """The horizontal shifts summed along [last context frame, future frames ...] ([T, H, W, C])."""
    frames = [last_context, *future]
    return float(sum(horizontal_shift(frames[t], frames[t + 1]) for t in range(len(frames) - 1)))


def pair_distances(futures: np.ndarray) -> np.ndarray:
    """futures [K, horizon, H, W, C] (uint8 or in [0, 1] scaled alike) -> the RMS distance of each
    pair (a < b) of the K futures, over every frame and pixel: float64 [K (K - 1) / 2]."""
    x = np.asarray(futures, dtype=np.float64)
    k = x.shape[0]
    return np.array([np.sqrt(np.mean((x[a] - x[b]) ** 2)) for a in range(k) for b in range(a + 1, k)])


def sensitivity(predicted: np.ndarray, true: np.ndarray) -> float:
    """Action sensitivity of predictions [M, K, S, horizon, H, W, C] against the true futures
    [M, K, horizon, H, W, C] (same pixel scale): mean pair distance of the predictions (over clips,
    samples, pairs) over that of the true futures. NaN where the true futures never differ."""
    pred = np.mean([pair_distances(predicted[i, :, s]) for i in range(predicted.shape[0])
                    for s in range(predicted.shape[2])])
    real = np.mean([pair_distances(true[i]) for i in range(true.shape[0])])
    return float(pred / real) if real > 0 else float("nan")


def turns_right_way(shift_left: float, shift_right: float, heading_left: float, heading_right: float) -> bool:
    """One clip's direction check (module docstring): the image moves opposite to the heading change."""
    gap, turn = shift_left - shift_right, heading_left - heading_right
    moved = abs(gap) >= 0.5 / UPSAMPLE  # shifts are multiples of 1/UPSAMPLE: below half of one is no motion
    return bool(moved and turn != 0 and np.sign(gap) == -np.sign(turn))

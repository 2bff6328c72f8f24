"""Controllability of a learned simulator (issue 24): does the predicted future follow the action?

Measured on counterfactual clips (genvid.data.counterfactuals): one context, K held action
sequences, the simulator's true future under each, and a model's prediction under each.

- **Action sensitivity**: the mean RMS pixel distance between the futures predicted under two
  different actions (over clips, samples and the K (K - 1) / 2 pairs) divided by the same mean for
  the true futures. 0: the prediction ignores the action (copy-last, any unconditioned model, by
  common random numbers: each action's prediction of a clip is drawn from the same generator
  state); 1: it varies as much as the world does; it says nothing of whether the variation is right.
- **Direction**: the horizontal image motion over the horizon, summed from the phase correlation
  of consecutive frames (last context frame, then each predicted one). Steering left turns the
  camera left, so the scene moves right in the image (a positive shift); per clip, the prediction
  turns the right way when shift(leftmost steer) - shift(rightmost steer) has the sign opposite to
  the simulator's heading change psi(leftmost) - psi(rightmost) at the end of the horizon. A clip
  with no difference in shift counts as wrong: not moving is not turning. The same cue on the true
  counterfactual frames says how far the cue itself can be trusted.
"""
from __future__ import annotations

import numpy as np


def _grey(frame: np.ndarray) -> np.ndarray:
    """uint8 or float [H, W, C] -> float64 [H, W] (the channel mean)."""
    return np.asarray(frame, dtype=np.float64).mean(axis=-1)


def horizontal_shift(a: np.ndarray, b: np.ndarray) -> int:
    """Whole pixels the content of frame ``a`` [H, W, C] moved to the right in frame ``b`` (negative:
    left), by phase correlation of the mean-removed, Hann-windowed grey frames. Ties and flat
    frames give 0; shifts wrap at half the width."""
    x, y = _grey(a), _grey(b)
    window = np.outer(np.hanning(x.shape[0]), np.hanning(x.shape[1]))
    fa, fb = np.fft.fft2((x - x.mean()) * window), np.fft.fft2((y - y.mean()) * window)
    cross = fb * np.conj(fa)
    magnitude = np.abs(cross)
    if not magnitude.max() > 1e-9:
        return 0
    surface = np.fft.ifft2(cross / np.maximum(magnitude, 1e-12)).real
    _, dx = np.unravel_index(int(np.argmax(surface)), surface.shape)
    return int(dx - x.shape[1]) if dx > x.shape[1] // 2 else int(dx)


def path_shift(last_context: np.ndarray, future: np.ndarray) -> int:
    """The horizontal shifts summed along [last context frame, future frames ...] ([T, H, W, C])."""
    frames = [last_context, *future]
    return sum(horizontal_shift(frames[t], frames[t + 1]) for t in range(len(frames) - 1))


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
    return gap != 0 and turn != 0 and np.sign(gap) == -np.sign(turn)

"""Animated GIFs of test clips for the HTML report (PIL; no timestamps, same frames -> same bytes).

Frames may be grey (C = 1, SM-MNIST) or RGB (C = 3); grey is repeated to RGB before anything is
drawn, so the coloured context/prediction bar and a shared palette work for both.
"""
from __future__ import annotations

import io
from typing import Sequence

import numpy as np
from PIL import Image

CONTEXT_BAR = (160, 160, 160)
PREDICTED_BAR = (192, 0, 0)


def to_rgb(frames: np.ndarray) -> np.ndarray:
    """uint8 [..., H, W, C] with C in (1, 3) -> [..., H, W, 3] (grey repeated to RGB)."""
    if frames.shape[-1] == 3:
        return frames
    if frames.shape[-1] != 1:
        raise ValueError(f"frames must have 1 or 3 channels, got shape {frames.shape}")
    return np.repeat(frames, 3, axis=-1)


def side_by_side(videos: Sequence[np.ndarray], context: int, scale: int = 1, gap: int = 4,
                 bar: int = 3) -> np.ndarray:
    """Videos [T,H,W,C] (C = 1 or 3) next to each other -> RGB [T, H*scale + gap + bar, ...] uint8.

    A bar under the panels is grey while the frame is context and red once it is a prediction.
    """
    videos = [to_rgb(v) for v in videos]
    t, h, w, _ = videos[0].shape
    hs, ws = h * scale, w * scale
    out = np.full((t, hs + gap + bar, len(videos) * (ws + gap) - gap, 3), 255, dtype=np.uint8)
    for i, video in enumerate(videos):
        big = video.repeat(scale, axis=1).repeat(scale, axis=2)
        out[:, :hs, i * (ws + gap):i * (ws + gap) + ws] = big
    for k in range(t):
        out[k, hs + gap:, :] = CONTEXT_BAR if k < context else PREDICTED_BAR
    return out


def animated_gif(frames: np.ndarray, duration_ms: int, hold_last_ms: int = 800) -> bytes:
    """uint8 [T,H,W,C] -> looping GIF bytes with one shared palette (median cut, no dithering)."""
    frames = to_rgb(frames)
    t, h, w, _ = frames.shape
    sheet = Image.fromarray(frames.reshape(t * h, w, 3))
    palette = sheet.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    images = [Image.fromarray(f).quantize(palette=palette, dither=Image.Dither.NONE) for f in frames]
    durations = [duration_ms] * (t - 1) + [duration_ms + hold_last_ms]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=durations,
                   loop=0, optimize=False, disposal=1)
    return buffer.getvalue()

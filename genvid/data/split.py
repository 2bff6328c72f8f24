"""Chronological train/val/test split (seed 000 §4.1.2) as frame ranges; clip windows inside them.

The first ``train`` fraction of the recording (in recording order) is training data, the next
``val`` fraction validation, the rest test. A split boundary may fall inside an episode: the
episode's frames before it go to one split and those after it to the next. Clips never cross
an episode or split boundary, because every clip lies inside one range; a piece of an episode
too short to hold one clip is dropped (and counted in the split file).
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from genvid.data.frames import episode_runs
from genvid.errors import GenvidError

SPLITS = ("train", "val", "test")


def split_ranges(episode: np.ndarray, fractions: Mapping[str, float], clip_len: int,
                 source: str = "frames file") -> dict:
    """Return the split assignment: per split, the [start, end) frame ranges that hold clips."""
    runs = episode_runs(episode)
    for index, (start, end) in enumerate(runs):
        if end - start < clip_len:
            raise GenvidError(f"{source}: episode {index} has {end - start} frames, "
                              f"fewer than clips.clip_len={clip_len}")
    n = len(episode)
    cut1 = int(round(n * fractions["train"]))
    cut2 = int(round(n * (fractions["train"] + fractions["val"])))
    bounds = {"train": (0, cut1), "val": (cut1, cut2), "test": (cut2, n)}
    result: dict = {"num_frames": n, "clip_len": clip_len, "splits": {}}
    for name in SPLITS:
        lo, hi = bounds[name]
        ranges, dropped = [], 0
        for start, end in runs:
            a, b = max(start, lo), min(end, hi)
            if b - a >= clip_len:
                ranges.append([a, b])
            elif b > a:
                dropped += b - a
        if not ranges:
            raise GenvidError(f"{source}: split '{name}' ({hi - lo} frames) holds no clip of "
                              f"{clip_len} frames; collect more frames or change split fractions")
        result["splits"][name] = {
            "ranges": ranges,
            "frames": int(sum(b - a for a, b in ranges)),
            "dropped_frames": dropped,
        }
    return result


def clip_starts(ranges: list[list[int]], clip_len: int, stride: int) -> np.ndarray:
    """Start frame of every clip: windows of ``clip_len`` at ``stride`` inside each range."""
    starts = [np.arange(a, b - clip_len + 1, stride, dtype=np.int64) for a, b in ranges]
    return np.concatenate(starts) if starts else np.zeros(0, dtype=np.int64)


def validate_split_file(data: object, source: str, num_frames: int | None = None) -> dict:
    """Check a split JSON read back from disk has the shape ``split_ranges`` writes: every range a
    pair of frame indices [start, end) with start < end, and the ranges of train, val and test, in
    that order, chronological and disjoint (a test frame in the training ranges would leak). With
    ``num_frames`` (the frames file's length), no range may run past its end."""
    if not isinstance(data, dict) or not isinstance(data.get("splits"), dict):
        raise GenvidError(f"{source}: not a split file (missing 'splits')")
    previous = None  # (split, range) ending last so far
    for name in SPLITS:
        entry = data["splits"].get(name)
        if not isinstance(entry, dict) or not isinstance(entry.get("ranges"), list):
            raise GenvidError(f"{source}: split '{name}' missing or has no 'ranges'")
        for r in entry["ranges"]:
            if not (isinstance(r, list) and len(r) == 2 and all(isinstance(v, int) and not isinstance(v, bool)
                                                                 for v in r) and 0 <= r[0] < r[1]):
                raise GenvidError(f"{source}: split '{name}' has range {r!r}; each must be [start, end) frame "
                                  "indices with 0 <= start < end")
            if num_frames is not None and r[1] > num_frames:
                raise GenvidError(f"{source}: split '{name}' range {r} runs past the end of the frames file "
                                  f"({num_frames} frames); rerun the split stage")
            if previous is not None and r[0] < previous[1][1]:
                raise GenvidError(f"{source}: split '{name}' range {r} overlaps or precedes '{previous[0]}' range "
                                  f"{previous[1]}; the splits must be chronological and disjoint")
            previous = (name, r)
    return data

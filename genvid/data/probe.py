"""What a linear probe on frozen codes predicts (the noisy-VQ study; seed 002 §4.4 classifies
latents): per benchmark, a fit set and a held-out set of normalised clips with class targets.

- **SM-MNIST: digit identity.** A clip's targets are its two digits' labels (multi-hot over 10
  classes): a prediction is right when either digit has the predicted label. The fit set is the
  first ``fit_clips`` training sequences; the held-out set is ``held_out_clips`` sequences of the
  *test digit pool* (digits no model trains on), generated from the benchmark's seed. The
  benchmark's own 16-sequence test set would give accuracies in steps of 6 %.
- **Dynamics-like: motion class** (genvid.data.dynamics), one of 10, the same way from its
  training and test streams.
- **Recorded driving: speed.** A clip's class is its mean speed (frames.h5 ``speed``) in three
  classes cut at the tertiles of the fit clips' mean speeds. The fit set is the training split's
  clips, the held-out set the validation and test splits' clips, all at stride ``clip_len // 2``
  and evenly thinned to the counts.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch.utils.data import ConcatDataset, Dataset, Subset

from genvid.config import clamped
from genvid.data.benchmark import is_generated
from genvid.data.clips import GeneratedClips, clip_set
from genvid.data.h5 import read_h5
from genvid.data.stats import load_stats
from genvid.errors import GenvidError
from genvid.io import read_json

DIGIT_CLASSES = 10
SPEED_CLASSES = 3


@dataclass
class ProbeSet:
    clips: Dataset  # normalised clips [C, T, H, W]
    targets: np.ndarray  # float32 [n, classes]: 1 at every class that is a right answer for the clip
    clusters: np.ndarray | None = None  # int [n]: clips that are not independent share one (an episode)

    def cluster_ids(self) -> np.ndarray:
        """Each clip's cluster for a bootstrap: given, else one per clip (independent sequences)."""
        return np.arange(len(self.targets)) if self.clusters is None else np.asarray(self.clusters, np.int64)


@dataclass
class ProbeData:
    fit: ProbeSet
    held_out: ProbeSet
    task: str  # what is predicted, one line (the report's)


def evenly(n: int, count: int) -> list[int]:
    """At most ``count`` of the indices 0..n-1, evenly spaced (the first and last included)."""
    if n <= count:
        return list(range(n))
    return np.linspace(0, n - 1, count).round().astype(int).tolist()


def _digits(clips: GeneratedClips) -> np.ndarray:
    targets = np.zeros((len(clips), DIGIT_CLASSES), dtype=np.float32)
    for i in range(len(clips)):
        targets[i, clips.sequence(i).labels] = 1.0
    return targets


def _smmnist(bench, stats_path: Path, clip_len: int, fit_clips: int, held_out_clips: int) -> ProbeData:
    stats = load_stats(read_json(stats_path), str(stats_path))
    fit = GeneratedClips(bench.collect, 0, clamped(fit_clips, bench.collect.train_sequences,
                                                   "noisy_vq.fit_clips (training sequences)"), clip_len, stats)
    held_out = GeneratedClips(bench.collect, 0, held_out_clips, clip_len, stats, pool="test")
    task = (f"digit identity ({DIGIT_CLASSES} classes; right if either digit of the clip has the label); "
            f"held out: {held_out_clips} sequences of the test digit pool") if bench.collect.source == "smmnist" else (
        f"motion class ({DIGIT_CLASSES} classes, genvid.data.dynamics); held out: {held_out_clips} sequences of the "
        "test stream")
    return ProbeData(ProbeSet(fit, _digits(fit)), ProbeSet(held_out, _digits(held_out)), task)


def _mean_speeds(frames: Path, starts: np.ndarray, clip_len: int) -> np.ndarray:
    with read_h5(frames, "HDF5 frames file") as f:
        if "speed" not in f:
            raise GenvidError(f"{frames}: no 'speed' dataset (the speed probe needs the simulator's speed)")
        speed = np.asarray(f["speed"][:], dtype=np.float64)
    return np.array([speed[s:s + clip_len].mean() for s in starts])


def _episodes(frames: Path, starts: np.ndarray) -> np.ndarray:
    """The episode of each clip's first frame: overlapping clips of one episode are one cluster."""
    with read_h5(frames, "HDF5 frames file") as f:
        episode = np.asarray(f["episode"][:], dtype=np.int64)
    return episode[np.asarray(starts, np.int64)]


def _recorded(bench, frames: Path, split_path: Path, stats_path: Path, clip_len: int, fit_clips: int,
              held_out_clips: int) -> ProbeData:
    stride = max(1, clip_len // 2)

    def pick(split: str, count: int):
        clips = clip_set(bench, frames, split_path, stats_path, split, clip_len, stride)
        keep = evenly(len(clips), count)
        return Subset(clips, keep), clips.starts[keep]

    fit, fit_starts = pick("train", fit_clips)
    (val, val_starts), (test, test_starts) = pick("val", held_out_clips), pick("test", held_out_clips)
    fit_speed = _mean_speeds(frames, fit_starts, clip_len)
    cuts = np.quantile(fit_speed, [1 / 3, 2 / 3])

    def classes(speed: np.ndarray) -> np.ndarray:
        return np.eye(SPEED_CLASSES, dtype=np.float32)[np.searchsorted(cuts, speed, side="right")]

    held_starts = np.concatenate([val_starts, test_starts])
    held_speed = _mean_speeds(frames, held_starts, clip_len)
    return ProbeData(ProbeSet(fit, classes(fit_speed)),
                     ProbeSet(ConcatDataset([val, test]), classes(held_speed), _episodes(frames, held_starts)),
                     f"mean speed over the clip ({SPEED_CLASSES} classes cut at the training clips' tertiles, "
                     f"{cuts[0]:.3g} and {cuts[1]:.3g}); held out: the validation and test clips")


def probe_data(bench, frames: Path, split_path: Path, stats_path: Path, clip_len: int, fit_clips: int,
               held_out_clips: int) -> ProbeData:
    """The probe's fit and held-out sets of a benchmark (see the module docstring)."""
    if is_generated(bench.collect):
        return _smmnist(bench, stats_path, clip_len, fit_clips, held_out_clips)
    return _recorded(bench, frames, split_path, stats_path, clip_len, fit_clips, held_out_clips)

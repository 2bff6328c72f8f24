"""What a benchmark's clips are, whatever its source (docs/design.md §3); the data stages read it, so it
imports no torch (the datasets over these clips are genvid.data.clips).

- Recorded video (``procedural``, ``carracing``, a user's own ``video_dir``): one frames file, a chronological split
  (seed 000 §4.1.2), clips cut on the fly from it.
- Stochastic Moving MNIST (``smmnist``): the test set is fixed in the frames file by the
  collect stage (SRVP's style, genvid.data.smmnist.write_test_set), so the split puts every
  frame in test; training and validation sequences are generated from (seed, index), with
  disjoint index ranges of the training digit pool (validation: the indices after the
  training ones), so a sequence never depends on the worker count or the batch size.
- Dynamics-like (``dynamics``, genvid.data.dynamics): generated the same way, from its own
  "train" and "test" streams, with a motion class per sequence (``labels`` in the frames file).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from genvid.config import clamped, rule
from genvid.data.frames import FramesInfo, episode_runs, read_frames_info
from genvid.data.split import clip_starts, validate_split_file
from genvid.data.stats import load_stats
from genvid.data.video_dir import VIDEO_SOURCE
from genvid.errors import GenvidError
from genvid.io import read_json

GENERATED_SOURCES = ("smmnist", "dynamics")
GENERATED_CHANNELS = {"smmnist": 1, "dynamics": 3}
LABELLED_SOURCES = ("dynamics",)  # a motion class per sequence: the motion classifier's (genvid.metrics.motion)
# What stage collect records in a frames file's 'source' attribute (genvid.data.sources.SOURCES too)
COLLECTED_SOURCES = ("procedural", "carracing", *GENERATED_SOURCES, VIDEO_SOURCE)


@dataclass(frozen=True)
class SMMNISTCollectConfig:
    """``benchmarks.<b>.collect`` for source smmnist (SVG's construction, genvid.data.smmnist)."""

    source: str = field(metadata=rule(choices=GENERATED_SOURCES))
    seed: int = field(metadata=rule(min=0))
    test_sequences: int = field(metadata=rule(min=1))  # fixed test set (SRVP: 5,000)
    sequence_length: int = field(metadata=rule(min=2))  # test sequences: context + horizon (25)
    train_sequences: int = field(metadata=rule(min=1))  # generated training sequences per epoch
    val_sequences: int = field(metadata=rule(min=1))
    stats_sequences: int = field(metadata=rule(min=1))  # training sequences the statistics use

    def validate(self) -> str | None:
        if self.source == "dynamics":  # the same keys; its sequences have a length limit and 10 classes
            from genvid.data.dynamics import CLASSES, MAX_LENGTH
            if self.sequence_length > MAX_LENGTH:
                return f"sequence_length must be <= {MAX_LENGTH} for source dynamics, got {self.sequence_length}"
            if self.test_sequences % len(CLASSES):
                return (f"test_sequences must be a multiple of the {len(CLASSES)} motion classes (a balanced test "
                        f"set), got {self.test_sequences}")
        return None


def is_generated(collect: Any) -> bool:
    return getattr(collect, "source", None) in GENERATED_SOURCES


def generator(source: str):
    """The module that generates a generated source's sequences: ``generate_sequence(seed, index, length,
    pool)`` (pool "train" or "test"), ``write_test_set(path, n, length, seed)``, ``check_stream``."""
    from genvid.data import dynamics, smmnist  # here: the stages that read a recording need neither

    return {"smmnist": smmnist, "dynamics": dynamics}[source]


def sequence_frames(sequence: Any) -> np.ndarray:
    """A generated sequence's frames as uint8 [T, H, W, C] (SM-MNIST's have no channel axis)."""
    frames = sequence.frames
    return frames[..., None] if frames.ndim == 3 else frames


def generated_split(episode: np.ndarray) -> dict:
    """The split file of a generated benchmark: every recorded sequence is a test sequence."""
    ranges = [[int(a), int(b)] for a, b in episode_runs(episode)]
    return {"splits": {"train": {"ranges": [], "frames": 0}, "val": {"ranges": [], "frames": 0},
                       "test": {"ranges": ranges, "frames": int(sum(b - a for a, b in ranges))}},
            "generated": "training and validation sequences are generated from (seed, index)"}


def generated_stats(cfg: SMMNISTCollectConfig) -> dict:
    """Per-channel mean and population std of pixels/255 over the first ``stats_sequences`` training
    sequences."""
    generate = generator(cfg.source).generate_sequence
    channels = GENERATED_CHANNELS[cfg.source]
    total, total_sq, count = np.zeros(channels), np.zeros(channels), 0
    for index in range(cfg.stats_sequences):
        frames = sequence_frames(generate(cfg.seed, index, cfg.sequence_length, "train")).astype(np.float64)
        frames = frames.reshape(-1, channels)
        total += frames.sum(axis=0)
        total_sq += np.square(frames).sum(axis=0)
        count += frames.shape[0]
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean ** 2, 0.0))
    return {"mean": [float(m) / 255.0 for m in mean], "std": [float(s) / 255.0 for s in std],
            "pixels_per_channel": int(count), "scale": "pixel/255"}


def protocol_clips(proto, frames: Path, split_path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(start, episode, cluster) of the test clips of ``proto`` (a ProtocolConfig); clusters are blocks of
    ``block_clips`` consecutive clips of one episode (genvid.metrics.stats)."""
    split = validate_split_file(read_json(split_path), str(split_path))
    starts = clip_starts(split["splits"]["test"]["ranges"], proto.clip_len, proto.test_stride)
    if proto.max_clips:
        starts = starts[:clamped(proto.max_clips, len(starts), "protocol.max_clips (test clips)")]
    if len(starts) == 0:
        raise GenvidError(f"{split_path}: the test split holds no clip of {proto.clip_len} frames "
                          f"(context {proto.context_frames} + horizon {proto.horizon})")
    info = read_frames_info(frames)
    if int(starts[-1]) + proto.clip_len > info.num_frames:
        raise GenvidError(f"{split_path}: test clip at frame {int(starts[-1])} runs past the end of "
                          f"{frames} ({info.num_frames} frames); rerun the split stage")
    episode = info.episode[starts].astype(np.int64)
    rank = np.zeros(len(starts), dtype=np.int64)
    for i in range(1, len(starts)):
        rank[i] = rank[i - 1] + 1 if episode[i] == episode[i - 1] else 0
    _, cluster = np.unique(np.stack([episode, rank // proto.block_clips], 1), axis=0, return_inverse=True)
    return np.asarray(starts, dtype=np.int64), episode, cluster.reshape(-1).astype(np.int64)


def check_frames(bench, name: str, frames: Path, params: str = "params.yaml") -> FramesInfo:
    """The frames file, read and checked against ``benchmarks.<name>.collect``: a file stage collect
    recorded must come from the same source, seed and resolution (not another benchmark's, not a
    stale recording)."""
    info = read_frames_info(frames)
    if info.attrs.get("source") not in COLLECTED_SOURCES:  # not recorded by stage collect (a user's own video)
        return info
    for key in ("source", "seed", "resolution"):
        want, got = getattr(bench.collect, key, None), info.attrs.get(key)
        if want is not None and got is not None and got != want:
            raise GenvidError(f"{frames}: recorded with {key} {got!r}, but {params} gives benchmarks.{name}.collect."
                              f"{key} {want!r} (frames of another benchmark? rerun collect@{name})")
    return info


def check_inputs(bench, name: str, frames: Path, split_path: Path, stats_path: Path | None = None,
                 params: str = "params.yaml") -> tuple[FramesInfo, dict]:
    """Every benchmark file a stage reads, checked against each other and ``benchmarks.<name>`` before
    any work: frames recorded with these collect params, a split of these frames (the stage ``split``
    wrote it for them), statistics of their channels. Each problem is one GenvidError line naming the
    file; a stage that would otherwise fail late, or silently score the wrong frames, calls this first."""
    info = check_frames(bench, name, frames, params)
    collect = bench.collect
    split = validate_split_file(read_json(split_path), str(split_path), info.num_frames)
    kind = "generated" if is_generated(collect) else "recorded"
    if ("generated" in split) != (kind == "generated"):
        raise GenvidError(f"{split_path}: not the split of a {kind} benchmark like {name} "
                          f"(a split of another benchmark? rerun split@{name})")
    test_frames = sum(b - a for a, b in split["splits"]["test"]["ranges"])
    if split.get("num_frames", info.num_frames) != info.num_frames or (kind == "generated" and test_frames != info.num_frames):
        raise GenvidError(f"{split_path}: made for {split.get('num_frames', test_frames)} frames, but {frames} "
                          f"holds {info.num_frames} (a split of another frames file? rerun split@{name})")
    if kind == "recorded" and not split["splits"]["train"]["ranges"]:
        raise GenvidError(f"{split_path}: the train split holds no frames")
    if stats_path is not None:
        load_stats(read_json(stats_path), str(stats_path), info.channels)
    return info, split

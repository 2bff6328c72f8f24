"""The torch datasets of a benchmark's clips: sliding windows read lazily from the frames file
(seed 000 §4.1.3), or generated (SM-MNIST, Dynamics-like) sequences from (seed, index) (genvid.data.benchmark says
which a split has; ``clip_set`` picks).

Clip ``i`` of a split is frames ``start[i] .. start[i] + clip_len - 1`` of the frames file
(uint8 [N,H,W,C], C = 3 or 1). Two views of the same clips:

- ``ClipDataset``: normalised on the fly with the training-split statistics (seed 000
  eq. 4.1) and returned as float32 [C, T, H, W] (channels first, the layout of Conv3d: the
  VQ-VAE family);
- ``UnitClipDataset``: pixels/255 in [0, 1] as float32 [T, C, H, W], the layout of the pixel
  models' ``model.loss(frames, step)`` (genvid/models/predictor.py), which own their scaling.

With ``cond`` (a per-frame conditioning dataset, genvid.data.frames.CONDITIONING), an item is
``(clip, cond)``, cond float32 [T, A] the rows of the clip's frames: what a conditioned model's
``loss(frames, step, cond)`` reads. Each DataLoader worker opens its own HDF5 handle on first use.
"""
from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from genvid.data.benchmark import GENERATED_CHANNELS, SMMNISTCollectConfig, generator, is_generated, sequence_frames
from genvid.data.frames import CHANNEL_COUNTS, conditioning
from genvid.data.h5 import read_h5
from genvid.data.smmnist import Sequence, check_stream, generate_sequence, pools
from genvid.data.split import SPLITS, clip_starts, validate_split_file
from genvid.data.stats import load_stats
from genvid.errors import GenvidError
from genvid.io import read_json


class _Clips(Dataset):
    """The clip windows of one split and a per-process handle on the frames; items are the
    subclasses' business."""

    def __init__(self, frames_path: str | Path, split_path: str | Path, split: str, clip_len: int,
                 stride: int, cond: str | None = None):
        self.frames_path, self.cond = str(frames_path), cond
        split_data = validate_split_file(read_json(split_path), str(split_path))
        if split not in SPLITS:
            raise GenvidError(f"{split_path}: no split {split!r} (one of {SPLITS})")
        with read_h5(frames_path, "HDF5 frames file") as f:
            shape = f["frames"].shape if isinstance(f.get("frames"), h5py.Dataset) else None
            if cond is not None and shape is not None:
                conditioning(f, frames_path, cond)  # present and [N, A], or one line saying why not
        if shape is None or len(shape) != 4 or shape[-1] not in CHANNEL_COUNTS:
            raise GenvidError(f"{frames_path}: 'frames' has shape {shape}, "
                              f"expected [N,H,W,C] with C in {CHANNEL_COUNTS}")
        self.channels = int(shape[-1])
        ranges = split_data["splits"][split]["ranges"]
        end = max((b for _, b in ranges), default=0)
        if end > shape[0]:
            raise GenvidError(f"{split_path}: split '{split}' reaches frame {end}, but {frames_path} "
                              f"holds {shape[0]} frames (a split of another frames file?)")
        self.clip_len = clip_len
        self.starts = clip_starts(ranges, clip_len, stride)
        if len(self.starts) == 0:  # e.g. a model window longer than the recorded test sequences
            longest = max((b - a for a, b in ranges), default=0)
            raise GenvidError(f"{split_path}: split '{split}' holds no clip of {clip_len} frames "
                              f"(its longest range has {longest})")
        self._file: h5py.File | None = None
        self._pid: int | None = None

    def __len__(self) -> int:
        return len(self.starts)

    def _frames(self) -> h5py.Dataset:
        if self._file is None or self._pid != os.getpid():  # one handle per worker process
            self._file = h5py.File(self.frames_path, "r")
            self._pid = os.getpid()
        return self._file["frames"]

    def raw(self, index: int) -> np.ndarray:
        """The clip's uint8 frames [T, H, W, C]."""
        start = int(self.starts[index])
        return self._frames()[start:start + self.clip_len]

    def _item(self, index: int, clip: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        if self.cond is None:
            return clip
        start = int(self.starts[index])
        rows = self._frames().file[self.cond][start:start + self.clip_len]
        return clip, torch.from_numpy(np.asarray(rows, dtype=np.float32))

    def __getstate__(self) -> dict:  # h5py handles do not pickle; workers reopen
        state = dict(self.__dict__)
        state["_file"] = None
        state["_pid"] = None
        return state


class ClipDataset(_Clips):
    """Normalised clips, float32 [C, T, H, W] (eq. 4.1 with the statistics at ``stats_path``)."""

    def __init__(self, frames_path: str | Path, split_path: str | Path, stats_path: str | Path,
                 split: str, clip_len: int, stride: int, cond: str | None = None):
        super().__init__(frames_path, split_path, split, clip_len, stride, cond)
        self.mean, self.std = load_stats(read_json(stats_path), str(stats_path))
        if len(self.mean) != self.channels:
            raise GenvidError(f"{stats_path}: statistics of {len(self.mean)} channels, but "
                              f"{frames_path} has {self.channels}")

    def __getitem__(self, index: int) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        return self._item(index, normalize(self.raw(index), self.mean, self.std))


class UnitClipDataset(_Clips):
    """Clips as pixels/255, float32 [T, C, H, W] in [0, 1] (no statistics)."""

    def __getitem__(self, index: int) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        return self._item(index, unit_frames(self.raw(index)))


def normalize(frames: np.ndarray, mean: np.ndarray, std: np.ndarray) -> torch.Tensor:
    """uint8 [T,H,W,C] → float32 [C,T,H,W], (pixel/255 - mean) / std per channel (eq. 4.1)."""
    if frames.shape[-1] != len(mean) or len(std) != len(mean):
        raise GenvidError(f"normalize: frames of shape {tuple(frames.shape)} with statistics of "
                          f"{len(mean)} (mean) and {len(std)} (std) channels")
    x = torch.from_numpy(np.ascontiguousarray(frames)).float().div_(255.0)
    x = (x - torch.from_numpy(mean)) / torch.from_numpy(std)
    return x.permute(3, 0, 1, 2).contiguous()


def denormalize(x: torch.Tensor, mean: np.ndarray, std: np.ndarray) -> torch.Tensor:
    """[..., C, T, H, W] normalised → pixels in [0, 1] (clamped), same layout."""
    channels = len(mean)
    if x.ndim < 4 or x.shape[-4] != channels or len(std) != channels:
        raise GenvidError(f"denormalize: tensor of shape {tuple(x.shape)} (expected [..., C, T, H, W]) "
                          f"with statistics of {channels} (mean) and {len(std)} (std) channels")
    shape = (channels, 1, 1, 1)
    m = torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(shape)
    s = torch.as_tensor(std, dtype=x.dtype, device=x.device).view(shape)
    return (x * s + m).clamp_(0.0, 1.0)


def unit_frames(frames: np.ndarray) -> torch.Tensor:
    """uint8 [T,H,W,C] → float32 [T,C,H,W], pixel/255 (the pixel models' input)."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
    return x.float().div_(255.0).contiguous()


KEEP_BYTES = 1 << 30  # GeneratedClips(keep=True) keeps at most this many bytes of frames (2,000 Dynamics sequences: 0.4 GB)


class GeneratedClips(Dataset):
    """Generated sequences ``first .. first + size - 1`` of a digit pool or stream (the training one
    unless told; SM-MNIST or Dynamics-like, by ``cfg.source``), ``clip_len`` frames each: normalised
    [C, T, H, W] (with ``stats``) or [0, 1] pixels [T, C, H, W]. ``keep``: each sequence's frames stay in memory
    after its first draw, up to KEEP_BYTES in all (a Dynamics sequence takes milliseconds to draw: a component
    that sees every one many times would spend more time drawing than training); the same bytes either way."""

    def __init__(self, cfg: SMMNISTCollectConfig, first: int, size: int, clip_len: int,
                 stats: tuple[np.ndarray, np.ndarray] | None, pool: str = "train", keep: bool = False):
        if cfg.source == "smmnist":
            pools()  # a missing digits package fails here, not in a worker
        else:
            generator(cfg.source).check_stream(cfg.seed, clip_len, pool)  # a bad length fails here
        self.cfg, self.first, self.size, self.clip_len, self.stats = cfg, first, size, clip_len, stats
        self.pool = pool
        self.channels = GENERATED_CHANNELS[cfg.source]
        self.mean, self.std = stats if stats is not None else (None, None)
        self.starts = np.arange(first, first + size, dtype=np.int64)  # sequence indices (latent files' "start")
        self.kept: dict[int, np.ndarray] | None = {} if keep else None
        self.kept_bytes = 0

    def __len__(self) -> int:
        return self.size

    def sequence(self, index: int) -> Sequence:
        """Sequence ``first + index`` of the pool: frames, trajectories, labels (digits or motion class)."""
        if not 0 <= index < self.size:
            raise IndexError(f"sequence {index} out of range [0, {self.size})")
        generate = generate_sequence if self.cfg.source == "smmnist" else generator(self.cfg.source).generate_sequence
        return generate(self.cfg.seed, self.first + int(index), self.clip_len, self.pool)

    def raw(self, index: int) -> np.ndarray:
        """uint8 [T, H, W, C] of sequence ``first + index``."""
        if self.kept is not None and index in self.kept:
            return self.kept[index]
        frames = sequence_frames(self.sequence(index))
        if self.kept is not None and self.kept_bytes + frames.nbytes <= KEEP_BYTES:
            self.kept[index] = frames
            self.kept_bytes += frames.nbytes
        return frames

    def __getitem__(self, index: int) -> torch.Tensor:
        frames = self.raw(index)
        return unit_frames(frames) if self.stats is None else normalize(frames, *self.stats)


def clip_set(bench, frames: Path, split_path: Path, stats_path: Path | None, split: str, clip_len: int,
             stride: int, cond: str | None = None, keep: bool = False) -> Dataset:
    """The ``split`` clips of a benchmark: normalised [C, T, H, W] with ``stats_path``, else
    pixels in [0, 1] [T, C, H, W]; with ``cond``, (clip, per-frame conditioning [T, A]) pairs. ``keep``: generated
    sequences stay in memory once drawn (GeneratedClips; a recorded benchmark's clips are read from its file)."""
    collect = bench.collect
    if is_generated(collect) and split in ("train", "val"):
        if cond is not None:
            raise GenvidError(f"{frames}: the model reads per-frame '{cond}', which generated "
                              f"{collect.source} sequences do not have")
        stats = None if stats_path is None else load_stats(read_json(stats_path), str(stats_path))
        first, size = (0, collect.train_sequences) if split == "train" else (collect.train_sequences,
                                                                              collect.val_sequences)
        return GeneratedClips(collect, first, size, clip_len, stats, keep=keep)
    if stats_path is None:
        return UnitClipDataset(frames, split_path, split, clip_len, stride, cond)
    return ClipDataset(frames, split_path, stats_path, split, clip_len, stride, cond)


class SMMNISTSequences(Dataset):
    """Training (or test-pool) sequences generated on the fly: item i is sequence i of the
    (seed, pool) stream as a uint8 tensor [T, 1, 64, 64] (frames, channel, height, width;
    pixels 0..255), the layout of ``model.loss`` once divided by 255. ``size`` is the number
    of indices an epoch visits; the same index always gives the same bytes."""

    def __init__(self, seed: int, length: int, pool: str = "train", size: int = 10_000):
        check_stream(seed, length, pool)
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise GenvidError(f"smmnist size={size!r} must be a positive integer")
        self.seed, self.length, self.pool, self.size = int(seed), int(length), pool, int(size)
        pools()  # load and check the digits now: a missing package fails here, not in a worker

    def __len__(self) -> int:
        return self.size

    def sequence(self, index: int) -> Sequence:
        if not 0 <= index < self.size:
            raise IndexError(f"sequence {index} out of range [0, {self.size})")
        return generate_sequence(self.seed, int(index), self.length, self.pool)

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.from_numpy(self.sequence(index).frames[:, None].copy())

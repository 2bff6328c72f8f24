"""Sliding-window video clips read lazily from the frames file (seed 000 §4.1.3).

Clip ``i`` of a split is frames ``start[i] .. start[i] + clip_len - 1``, normalised on the fly
with the training-split statistics and returned as float32 [3, T, H, W] (channels first, the
layout of Conv3d). Each DataLoader worker opens its own HDF5 handle on first use.
"""
from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from genvid.data.split import clip_starts, validate_split_file
from genvid.data.stats import load_stats
from genvid.io import read_json


class ClipDataset(Dataset):
    def __init__(self, frames_path: str | Path, split_path: str | Path, stats_path: str | Path,
                 split: str, clip_len: int, stride: int):
        self.frames_path = str(frames_path)
        split_data = validate_split_file(read_json(split_path), str(split_path))
        self.mean, self.std = load_stats(read_json(stats_path), str(stats_path))
        self.clip_len = clip_len
        self.starts = clip_starts(split_data["splits"][split]["ranges"], clip_len, stride)
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
        """The clip's uint8 frames [T, H, W, 3]."""
        start = int(self.starts[index])
        return self._frames()[start:start + self.clip_len]

    def __getitem__(self, index: int) -> torch.Tensor:
        return normalize(self.raw(index), self.mean, self.std)

    def __getstate__(self) -> dict:  # h5py handles do not pickle; workers reopen
        state = dict(self.__dict__)
        state["_file"] = None
        state["_pid"] = None
        return state


def normalize(frames: np.ndarray, mean: np.ndarray, std: np.ndarray) -> torch.Tensor:
    """uint8 [T,H,W,3] → float32 [3,T,H,W], (pixel/255 - mean) / std per channel (eq. 4.1)."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).float().div_(255.0)
    x = (x - torch.from_numpy(mean)) / torch.from_numpy(std)
    return x.permute(3, 0, 1, 2).contiguous()


def denormalize(x: torch.Tensor, mean: np.ndarray, std: np.ndarray) -> torch.Tensor:
    """[..., 3, T, H, W] normalised → pixels in [0, 1] (clamped), same layout."""
    shape = (3, 1, 1, 1)
    m = torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(shape)
    s = torch.as_tensor(std, dtype=x.dtype, device=x.device).view(shape)
    return (x * s + m).clamp_(0.0, 1.0)

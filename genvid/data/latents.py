"""The latent-code dataset (seed 000 §4.1.4): int16 code indices per clip, never one-hot.

Layout: one group per split with ``top`` int16 [N,Tt,Ht,Wt], ``bottom`` int16 [N,Tb,Hb,Wb] and
``start`` int64 [N] (the clip's first frame index in the frames file); file attributes
``codebook_size``, ``clip_len`` and per-split ``stride``.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import h5py
import numpy as np

if TYPE_CHECKING:
    import torch

from genvid.data.frames import conditioning
from genvid.data.h5 import plain_attrs, read_h5
from genvid.data.split import SPLITS
from genvid.errors import GenvidError
from genvid.io import atomic_path

LEVELS = ("top", "bottom")


def write_latents(path: str | Path, splits: dict[str, Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]]],
                  counts: dict[str, int], shapes: dict[str, tuple[int, ...]], attrs: dict) -> None:
    """Stream batches of (start, top, bottom) per split into ``path``; atomic."""
    with atomic_path(path, suffix=".h5") as tmp, h5py.File(tmp, "w") as f:
        for name, batches in splits.items():
            n = counts[name]
            group = f.create_group(name, track_order=False)
            data = {level: group.create_dataset(level, (n, *shapes[level]), np.int16, track_times=False,
                                                chunks=(1, *shapes[level]))
                    for level in LEVELS}
            data["start"] = group.create_dataset("start", (n,), np.int64, track_times=False)
            row = 0
            for start, top, bottom in batches:
                k = len(start)
                data["start"][row:row + k] = start
                data["top"][row:row + k] = top
                data["bottom"][row:row + k] = bottom
                row += k
            if row != n:
                raise GenvidError(f"{path}: split '{name}' got {row} clips, expected {n}")
        for key, value in sorted(attrs.items()):
            f.attrs[key] = value


def read_latent_info(path: str | Path) -> dict:
    """Validate a latent file; return its attributes and per-level code grid shapes."""
    path = Path(path)
    with read_h5(path, "latent file") as f:
        if "codebook_size" not in f.attrs:
            raise GenvidError(f"{path}: missing attribute 'codebook_size'")
        shapes = None
        for name in SPLITS:
            if name not in f:
                raise GenvidError(f"{path}: no '{name}' group")
            group = f[name]
            for key in (*LEVELS, "start"):
                if key not in group:
                    raise GenvidError(f"{path}: '{name}/{key}' missing")
            n = group["start"].shape[0]
            these = {}
            for level in LEVELS:
                ds = group[level]
                if ds.ndim != 4 or ds.shape[0] != n:
                    raise GenvidError(f"{path}: '{name}/{level}' has shape {ds.shape}, "
                                      f"expected [{n},T,H,W]")
                if not np.issubdtype(ds.dtype, np.integer):
                    raise GenvidError(f"{path}: '{name}/{level}' has dtype {ds.dtype}, expected int16")
                these[level] = tuple(ds.shape[1:])
            if shapes is not None and these != shapes:
                raise GenvidError(f"{path}: '{name}' code shapes {these} differ from {shapes}")
            shapes = these
        attrs = plain_attrs(f)
    return {"attrs": attrs, "shapes": shapes, "codebook_size": int(attrs["codebook_size"])}


class LatentDataset:
    """(top, bottom) long code grids of one split, loaded into memory (they are small). A map-style
    dataset (a DataLoader needs only ``__len__`` and ``__getitem__``); it loads torch itself, so
    readers of the file's info (the report) never do."""

    def __init__(self, path: str | Path, split: str):
        import torch

        info = read_latent_info(path)
        with h5py.File(path, "r") as f:
            self.top = torch.from_numpy(f[split]["top"][:].astype(np.int64))
            self.bottom = torch.from_numpy(f[split]["bottom"][:].astype(np.int64))
            self.start = f[split]["start"][:]
        self.info, self.codebook_size = info, info["codebook_size"]
        for level, codes in (("top", self.top), ("bottom", self.bottom)):
            if len(codes) and (codes.min() < 0 or codes.max() >= self.codebook_size):
                bad = codes.min() if codes.min() < 0 else codes.max()
                raise GenvidError(f"{path}: '{split}/{level}' holds index {int(bad)} outside "
                                  f"[0, {self.codebook_size})")

    def __len__(self) -> int:
        return len(self.start)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.top[index], self.bottom[index]


class ConditionedLatents(LatentDataset):
    """(top, bottom, per-frame conditioning) of one split: each clip's codes with the rows of
    ``name`` (e.g. the actions, float32 [clip_len, A]) of the frames it was encoded from, read from
    the frames file by the clip's ``start``. Benchmarks whose training clips are generated (SM-MNIST)
    record no actions, and say so in one line."""

    def __init__(self, path: str | Path, split: str, frames_path: str | Path, name: str):
        import torch

        super().__init__(path, split)
        clip_len = int(self.info["attrs"]["clip_len"])
        with read_h5(frames_path, "frames file") as f:
            rows = conditioning(f, frames_path, name)
            n = rows.shape[0]
            if len(self.start) and (self.start.min() < 0 or self.start.max() + clip_len > n):
                raise GenvidError(f"{path}: split '{split}' has clips past frame {n} of {frames_path} "
                                  "(latents of another benchmark?)")
            table = rows[:]
        self.cond = torch.from_numpy(np.stack([table[a:a + clip_len] for a in self.start]).astype(np.float32)
                                     if len(self.start) else np.zeros((0, clip_len, table.shape[1]), np.float32))

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.top[index], self.bottom[index], self.cond[index]

"""Causal 3D convolutions over a code grid: the taps of the PixelSNAIL priors' three stacks
(genvid.models.vq.pixelsnail3d: frame, rows and row; why three, and why they leave no blind spot, is
told there) and the convolution that reads its input at those taps only."""
from __future__ import annotations

import math
from typing import Iterable

import torch
import torch.nn.functional as F
from torch import nn

Shape3 = tuple[int, int, int]
Offset = tuple[int, int, int]  # (dt, dh, dw) from an output position to an input it reads


def frame_taps(k: int, stem: bool) -> list[Offset]:
    """Frame stack: the stem reads the k-1 previous frames (k x k window); a layer reads f at
    the k x k window of frame t and at (t-1, h, w)."""
    r = k // 2
    square = [(dh, dw) for dh in range(-r, r + 1) for dw in range(-r, r + 1)]
    if stem:
        return [(dt, dh, dw) for dt in range(-(k - 1), 0) for dh, dw in square]
    return [(-1, 0, 0)] + [(0, dh, dw) for dh, dw in square]


def rows_taps(k: int, stem: bool) -> list[Offset]:
    """Rows stack: the r rows above (stem) or rows h-r..h (layer), columns w-r..w+r."""
    r = k // 2
    return [(0, dh, dw) for dh in range(-r, 0 if stem else 1) for dw in range(-r, r + 1)]


def row_taps(k: int, stem: bool) -> list[Offset]:
    """Row stack: columns w-r..w-1 (stem) or w-r..w (layer) of row h."""
    r = k // 2
    return [(0, 0, dw) for dw in range(-r, 0 if stem else 1)]


def tap_runs(flat: list[int], size: int) -> list[tuple[int, int, int, int]]:
    """Sorted distinct positions ``flat`` of taps in a box of ``size`` cells, as runs of consecutive
    taps: (first tap, end tap, zeros before the run, zeros after it), the zeros after only past the
    last run; the runs' cells and zeros, in order, fill the box."""
    starts = [i for i in range(len(flat)) if i == 0 or flat[i] != flat[i - 1] + 1]
    ends = starts[1:] + [len(flat)]
    return [(i, j, flat[i] - (flat[i - 1] + 1 if i else 0), size - flat[-1] - 1 if j == len(flat) else 0)
            for i, j in zip(starts, ends)]


class CausalConv3d(nn.Module):
    """Conv whose output at (t, h, w) reads its input at (t+dt, h+dh, w+dw) for the offsets in
    `taps` only. Only those taps are parameters (honest parameter counts); `kernel()` scatters
    them into the dense bounding box (which always holds the centre, so padding is >= 0) with
    zeros elsewhere. The box ends at the current frame: dt <= 0."""

    def __init__(self, cin: int, cout: int, taps: Iterable[Offset]):
        super().__init__()
        taps = sorted(set(taps))
        if not taps or max(dt for dt, _, _ in taps) > 0:
            raise ValueError("a causal conv needs taps, none of them in a later frame")
        lo = [min(0, *(o[a] for o in taps)) for a in range(3)]
        hi = [max(0, *(o[a] for o in taps)) for a in range(3)]
        self.cin, self.cout, self.offsets = cin, cout, taps
        self.box: Shape3 = tuple(h - l + 1 for l, h in zip(lo, hi))
        self.lo, self.hi = tuple(lo), tuple(hi)
        flat = [((dt - lo[0]) * self.box[1] + dh - lo[1]) * self.box[2] + dw - lo[2] for dt, dh, dw in taps]
        self.register_buffer("taps", torch.tensor(flat, dtype=torch.long), persistent=False)
        self.runs = tap_runs(flat, math.prod(self.box))
        self.weight = nn.Parameter(torch.empty(cout, cin, len(taps)))
        self.bias = nn.Parameter(torch.empty(cout))
        bound = 1.0 / math.sqrt(cin * len(taps))  # PyTorch's default conv init
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def kernel(self) -> torch.Tensor:
        """The taps in their dense box, zeros elsewhere: the same values built two ways. Eager, one
        scatter by index (two ops, one in the backward); compiled (params device.compile), each run
        of consecutive taps zero-padded and the runs concatenated, static pads that Inductor fuses
        into its kernels where it leaves a scatter as an op of its own (benchmarks/prior_ops.py)."""
        if self.weight.shape[2] == math.prod(self.box):  # the taps fill their box (sorted: in its order)
            return self.weight.view(self.cout, self.cin, *self.box)
        if not torch.compiler.is_compiling():
            dense = self.weight.new_zeros(self.cout, self.cin, math.prod(self.box)).index_copy(2, self.taps, self.weight)
            return dense.view(self.cout, self.cin, *self.box)
        pieces = [self.weight[:, :, i:j] if before == after == 0 else F.pad(self.weight[:, :, i:j], (before, after))
                  for i, j, before, after in self.runs]
        dense = pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=2)
        return dense.view(self.cout, self.cin, *self.box)

    def padding(self) -> tuple[int, ...]:
        """F.pad order: (w_left, w_right, h_top, h_bottom, t_front, t_back)."""
        (t0, h0, w0), (_, h1, w1) = self.lo, self.hi
        return (-w0, w1, -h0, h1, -t0, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv3d(F.pad(x, self.padding()), self.kernel(), self.bias)

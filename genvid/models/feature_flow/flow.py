"""Seed 003's feature flow operator F (§6.3.2, Eq 6.3, Fig 6.7): fixels move outward along a
per-fixel softmax over a κ×κ patch of displacements.

    h̃_t[i, j] = Σ_{k=-ξ..ξ} Σ_{l=-ξ..ξ} W[i-k, j-l, (k+ξ)κ + l+ξ] · E_{t-1}[i-k, j-l],   ξ = ⌊κ/2⌋

W = softmax over its κ² channels at each *source* fixel (Fig 6.7: "how the fixel at the center of
each arrow can flow out"), the same W for every feature channel. The thesis prints the sums over
"(-ξ, ξ)"; they must include ±ξ, or a κ = 3 patch would have one displacement, not nine.

Border (not stated in the thesis; genvid's choice): a displacement that would carry a fixel off
the grid is masked out of that fixel's softmax, so every fixel's mass stays on the grid and F
conserves the sum of every channel exactly. Zero padding would instead let mass leak away at the
edges, which a recurrent rollout compounds frame after frame.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from genvid.errors import GenvidError


def offset_index(k: int, l: int, kappa: int) -> int:
    """The flow channel of displacement (k, l) (rows, columns): (k + ξ)κ + l + ξ."""
    xi = kappa // 2
    if not (-xi <= k <= xi and -xi <= l <= xi):
        raise GenvidError(f"displacement ({k}, {l}) is outside a {kappa}x{kappa} patch")
    return (k + xi) * kappa + l + xi


def check_kappa(kappa: int) -> None:
    if kappa < 3 or kappa % 2 != 1:
        raise GenvidError(f"kappa must be odd and >= 3 (kappa = 2n + 1, n >= 1), got {kappa}")


def on_grid(kappa: int, height: int, width: int, device: torch.device | None = None) -> Tensor:
    """bool [κ², H, W]: whether displacement channel c of source fixel (i, j) lands on the grid."""
    check_kappa(kappa)
    xi = kappa // 2
    d = torch.arange(-xi, xi + 1, device=device)
    rows = torch.arange(height, device=device)[None, :] + d[:, None]  # [κ, H]: i + k
    cols = torch.arange(width, device=device)[None, :] + d[:, None]  # [κ, W]: j + l
    row_ok = (rows >= 0) & (rows < height)
    col_ok = (cols >= 0) & (cols < width)
    return (row_ok[:, None, :, None] & col_ok[None, :, None, :]).reshape(kappa * kappa, height, width)


def flow_weights(logits: Tensor, kappa: int) -> Tensor:
    """[B, κ², H, W] logits -> each source fixel's distribution over its on-grid displacements."""
    if logits.ndim != 4 or logits.shape[1] != kappa * kappa:
        raise GenvidError(f"flow logits must be [B, {kappa * kappa}, H, W], got {list(logits.shape)}")
    valid = on_grid(kappa, logits.shape[2], logits.shape[3], logits.device)
    return logits.masked_fill(~valid, float("-inf")).softmax(dim=1)


def feature_flow(fixels: Tensor, weights: Tensor, kappa: int) -> Tensor:
    """Eq 6.3: move ``fixels`` [B, C, H, W] by ``weights`` [B, κ², H, W] (per source fixel).

    Each source fixel's κ×κ patch of outgoing mass (weights ⊗ fixel) is summed into the grid
    around it: exactly what ``F.fold`` does with κ×κ blocks centred on every fixel (padding ξ),
    whose block element (a, b) lands at (i - ξ + a, j - ξ + b), i.e. displacement (a - ξ, b - ξ)
    = channel aκ + b, Eq 6.3's index. Off-grid block elements are dropped by fold; the masked
    softmax (``flow_weights``) gives them no mass."""
    b, c, h, w = fixels.shape
    if weights.shape != (b, kappa * kappa, h, w):
        raise GenvidError(f"flow weights must be [{b}, {kappa * kappa}, {h}, {w}], got {list(weights.shape)}")
    patches = weights[:, None] * fixels[:, :, None]  # [B, C, κ², H, W]: what each fixel sends where
    return F.fold(patches.reshape(b, c * kappa * kappa, h * w), (h, w), kappa, padding=kappa // 2)


def move_pixels(frame: Tensor, weights: Tensor, kappa: int, scale: int) -> Tensor:
    """``frame`` [B, C, H, W] moved by F with ``weights`` [B, κ², H/scale, W/scale]: each fixel's cell of
    scale × scale pixels is one fixel of C·scale² channels (pixel_unshuffle), so a cell moves whole, by
    whole cells, its mass shared between the displacements as the softmax says (feature flow's
    ``move_copy``)."""
    cells = F.pixel_unshuffle(frame, scale)
    if cells.shape[2:] != weights.shape[2:]:
        raise GenvidError(f"a frame of {list(frame.shape[2:])} in cells of {scale} is not the flow's grid "
                          f"{list(weights.shape[2:])}")
    return F.pixel_shuffle(feature_flow(cells, weights, kappa), scale)


def warp_pixels(frame: Tensor, displacement: Tensor) -> Tensor:
    """``frame`` [B, C, H, W] read at p + d(p), bilinearly, for ``displacement`` d [B, 2, H, W] in pixels
    (channel 0 along the columns, 1 along the rows): a backward warp, each output pixel taking its value from
    where d says it comes from (feature flow's ``pixel_warp``). Reads past the frame's edge take the border
    pixel. Gathers and sums only (no ``grid_sample``), so the gradient is a fixed-order sum on every device."""
    b, c, h, w = frame.shape
    if displacement.shape != (b, 2, h, w):
        raise GenvidError(f"a displacement field for frames {list(frame.shape)} must be [{b}, 2, {h}, {w}], "
                          f"got {list(displacement.shape)}")
    cols = torch.arange(w, dtype=frame.dtype, device=frame.device).view(1, 1, w)
    rows = torch.arange(h, dtype=frame.dtype, device=frame.device).view(1, h, 1)
    x = (cols + displacement[:, 0]).clamp(0, w - 1)
    y = (rows + displacement[:, 1]).clamp(0, h - 1)
    x0, y0 = x.detach().floor().clamp(max=w - 2), y.detach().floor().clamp(max=h - 2)  # x0 + 1 stays on the frame
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]  # in [0, 1]: the weight of the right and the lower neighbour
    top = (y0 * w + x0).long().flatten(1)[:, None].expand(b, c, h * w)
    flat = frame.flatten(2)

    def at(index: Tensor) -> Tensor:
        return flat.gather(2, index).view(b, c, h, w)

    upper = at(top) * (1 - fx) + at(top + 1) * fx
    lower = at(top + w) * (1 - fx) + at(top + w + 1) * fx
    return upper * (1 - fy) + lower * fy

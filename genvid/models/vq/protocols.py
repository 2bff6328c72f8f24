"""The two halves of a VQ family, as the predictor uses them: a tokenizer (clips <-> code grids)
and a prior per code level. Seed 000's are the 3D VQ-VAE (vqvae3d) and 3D PixelSNAIL
(priors.PixelSNAILPrior); a prior that samples code grids some other way (seed 002's GAN) is one
more CodePrior, over the same tokenizer.
"""
from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor


class Tokenizer(Protocol):
    """Normalised clips [B, C, T, H, W] to (top, bottom) code indices and back."""

    def encode(self, clips: Tensor) -> tuple[Tensor, Tensor]: ...

    def encode_context(self, context: Tensor, clip_len: int) -> tuple[Tensor, Tensor]:
        """Codes of a ``clip_len`` window from its context frames only (no later frame)."""
        ...

    def decode_codes(self, top: Tensor, bottom: Tensor) -> Tensor: ...

    def code_shapes(self, clip_len: int, height: int, width: int) -> tuple[tuple[int, ...], tuple[int, ...]]: ...


class CodePrior(Protocol):
    """A distribution over one level's code grid, optionally given another level's codes."""

    shape: tuple[int, ...]  # the code grid (T', H', W') it models
    num_codes: int  # K

    def sample(self, codes: Tensor, start: int, generator: torch.Generator, temperature: float,
               top_k: int | None, cond: Tensor | None = None, actions: Tensor | None = None) -> Tensor:
        """``codes`` with every raster position from ``start`` on drawn from the prior (positions
        before ``start`` are given), noise from ``generator`` only; ``actions``: the window's per-frame
        actions, for a prior that reads them (one that reads none refuses them)."""
        ...

"""Future-frame generation with the VQ-VAE + priors (seed 000 §4.3.3, Figs. 6.3-6.7).

Given a test clip's true codes, the codes covering the first ``context_frames`` frames are
kept and the rest are generated position by position: top codes first, then bottom codes
conditioned on the (generated) top. Besides the full pipeline, the thesis's diagnostic
variants are produced: generated top + true bottom, and true top + generated bottom.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from genvid.errors import GenvidError
from genvid.models.pixelsnail3d import PixelSNAIL3d
from genvid.models.sampling import sample_fast
from genvid.models.vqvae3d import VQVAE3D

VARIANTS = ("full", "top_only", "bottom_only")


@dataclass(frozen=True)
class SampleSettings:
    context_frames: int
    temperature: float
    top_k: int  # 0 = off


def context_start(clip_len: int, context_frames: int, grid: tuple[int, int, int], level: str) -> int:
    """First generated raster position of a code grid whose time axis covers ``clip_len`` frames."""
    if not 0 < context_frames < clip_len:
        raise GenvidError(f"sample.context_frames must be in [1, {clip_len - 1}] for clips of "
                          f"{clip_len} frames, got {context_frames}")
    frames_per_step = clip_len // grid[0]
    if context_frames % frames_per_step:
        raise GenvidError(f"sample.context_frames={context_frames} is not a whole number of {level} code "
                          f"time steps ({frames_per_step} frames each)")
    return context_frames // frames_per_step * grid[1] * grid[2]


@torch.no_grad()
def generate(vqvae: VQVAE3D, top_prior: PixelSNAIL3d, bottom_prior: PixelSNAIL3d, top: torch.Tensor,
             bottom: torch.Tensor, clip_len: int, settings: SampleSettings,
             generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Decoded videos (normalised, [B,3,T,H,W]) for ``recon`` and each variant; B = rows of codes."""
    top_start = context_start(clip_len, settings.context_frames, tuple(top.shape[1:]), "top")
    bottom_start = context_start(clip_len, settings.context_frames, tuple(bottom.shape[1:]), "bottom")
    top_k = settings.top_k or None

    def draw(prior, codes, start, cond=None):
        return sample_fast(prior, codes, start, generator, settings.temperature, top_k, cond)

    gen_top = draw(top_prior, top, top_start)
    gen_bottom = draw(bottom_prior, bottom, bottom_start, cond=gen_top)
    gen_bottom_true_top = draw(bottom_prior, bottom, bottom_start, cond=top)
    return {
        "recon": vqvae.decode_codes(top, bottom),
        "full": vqvae.decode_codes(gen_top, gen_bottom),
        "top_only": vqvae.decode_codes(gen_top, bottom),
        "bottom_only": vqvae.decode_codes(top, gen_bottom_true_top),
    }

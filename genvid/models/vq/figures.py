"""The VQ family's figure for the report: a clip decoded from each code level alone (seed 000 Fig. 6.1).

Drawn by stage figures (genvid.data.figures' "levels" group), so the report itself loads no model.
"""
from __future__ import annotations

import numpy as np
import torch

from genvid.context import RunContext
from genvid.data.clips import denormalize, normalize
from genvid.data.figures import DECODINGS, LevelDecodings
from genvid.data.latents import read_latent_info
from genvid.data.stats import load_stats
from genvid.io import read_json
from genvid.models.store import load_model


def to_uint8(video: torch.Tensor) -> np.ndarray:
    """[C,T,H,W] in [0,1] -> uint8 [T,H,W,C]."""
    return (video.permute(1, 2, 3, 0) * 255).round().clamp(0, 255).to(torch.uint8).numpy()


@torch.no_grad()
def level_decodings(ctx: RunContext, real: np.ndarray, clip: int) -> LevelDecodings:
    """``real`` (uint8 [T, H, W, C], the samples file's test clip ``clip``, T the VQ-VAE's clip
    length) decoded from the top codes alone (bottom code vectors set to zero), the bottom codes
    alone, and both; with the model's config and parameter counts for the report's tables. The caller
    (genvid.models.figures) has checked the model folder against the run's params (its run record)."""
    model, _ = load_model(ctx.model_dir / "vqvae.pt", "vqvae3d", run=ctx)
    model.eval()
    stats = read_json(ctx.stats)
    mean, std = load_stats(stats, str(ctx.stats), real.shape[-1])
    top, bottom = model.encode(normalize(real, mean, std)[None])
    decode = lambda zero: to_uint8(denormalize(model.decode_codes(top, bottom, zero_level=zero)[0], mean, std))
    frames = dict(zip(DECODINGS, (decode("bottom"), decode("top"), decode(None))))
    parameters = {"trainable": sum(p.numel() for p in model.parameters()),
                  "codebooks": sum(b.numel() for n, b in model.named_buffers() if n.endswith("embed"))}
    codebook_size = int(read_latent_info(ctx.model_dir / "latents.h5")["codebook_size"])
    return LevelDecodings(ctx.run.name, clip, {**frames, "real": np.asarray(real, np.uint8)}, ctx.run.model_params,
                          model.cfg.to_dict(), parameters, codebook_size)

"""Seed 000 §6.5's end-to-end training, genvid's reading: the decoder fine-tuned on the priors' codes.

Seed 000 §6.5: "The three different models are dependent on each other, but they are trained
independently. The models may work more coherently if trained in an end-to-end fashion." How is
left open. genvid's reading, an optional last component of the VQ family (``models.<vq>.finetune``,
off in every profile): once the priors are trained, the VQ-VAE's decoder (``upsample_top`` and
``decoder``) trains on the codes the priors put where a prediction window generates codes, to
give back the real clip:

    true codes    (top, bottom) = encoder(x)                                     frozen
    prior codes   top'_i    ~ p_top(· | top_<i)                 raster positions i past the window's
                  bottom'_i ~ p_bottom(· | bottom_<i, top')     context; one forward pass per level
    loss          MSE(decode(top', bottom'), x) + w · MSE(decode(top, bottom), x)

The draws are teacher-forced, not free-running: a free-running future is another future, and
asking the decoder to turn it into this clip's frames would teach it to ignore its codes; a draw
given the true codes before it is the one-step error the priors make, which the decoder can learn
to absorb. They use the generation settings (``sampling.temperature``, ``top_k``), and the bottom
level is drawn given the drawn top codes, as in generation. The window's context is its first
clip_len // 2 frames, as in every rolling window after the first (genvid.models.vq.family.VQPredictor).
The encoder, codebooks and priors do not change, so the latent file and the priors stay valid.
The second term (w = ``true_codes_weight``) keeps the reconstruction of true codes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from genvid.config import parse_config, rule
from genvid.data.train_metrics import FINETUNE_SCORES as SCORES
from genvid.data.train_metrics import VQ_FINETUNE as COMPONENT
from genvid.models.vq.pixelsnail3d import PixelSNAIL3d
from genvid.models.vq.sampling import draw_codes, window_start
from genvid.models.vq.vqvae3d import VQVAE3D


@dataclass(frozen=True)
class FinetuneConfig:
    """``models.<vq model>.finetune``."""

    enabled: bool = False
    true_codes_weight: float = field(default=1.0, metadata=rule(min=0.0))  # w above

    @classmethod
    def from_dict(cls, d: dict[str, Any], section: str, source: str | None = None) -> "FinetuneConfig":
        return parse_config(cls, d, section, source)


def window_starts(top: PixelSNAIL3d, bottom: PixelSNAIL3d, clip_len: int) -> tuple[int, int]:
    """First raster position (top, bottom) that a window with a clip_len // 2 frame context generates."""
    return (window_start(top.config.shape, clip_len, clip_len // 2),
            window_start(bottom.config.shape, clip_len, clip_len // 2))


def teacher_forced_draw(prior: PixelSNAIL3d, codes: Tensor, start: int, temperature: float, top_k: int | None,
                        cond: Tensor | None = None, actions: Tensor | None = None,
                        generator: torch.Generator | None = None) -> Tensor:
    """``codes`` with every raster position from ``start`` on drawn from p(c_i | the true c_<i) (one
    pass of ``prior``, which sees the true codes before each position), by the samplers' inverse-CDF
    draw; uniforms from ``generator``, else the global RNG (training)."""
    b, k = codes.shape[0], prior.config.num_codes
    logits = prior(codes, cond, actions).flatten(2)[:, :, start:]  # [B, K, N - start]
    rows = logits.transpose(1, 2).reshape(-1, k)
    device = codes.device if generator is None else generator.device
    u = 1.0 - torch.rand(rows.shape[0], generator=generator, dtype=torch.float64, device=device)
    out = codes.clone()
    out.view(b, -1)[:, start:] = draw_codes(rows, u.to(rows.device), temperature, top_k).view(b, -1)
    return out


class DecoderFinetune(nn.Module):
    """The VQ-VAE with only its decoder trainable, and the frozen priors that draw its codes."""

    def __init__(self, vqvae: VQVAE3D, top: PixelSNAIL3d, bottom: PixelSNAIL3d, clip_len: int,
                 temperature: float, top_k: int | None, true_codes_weight: float):
        super().__init__()
        self.vqvae, self.prior_top, self.prior_bottom = vqvae, top, bottom
        self.temperature, self.top_k, self.weight = temperature, top_k, true_codes_weight
        self.starts = window_starts(top, bottom, clip_len)
        self.requires_grad_(False)
        for p in self.decoder_parameters():
            p.requires_grad_(True)

    def decoder_parameters(self) -> list[nn.Parameter]:
        return [*self.vqvae.upsample_top.parameters(), *self.vqvae.decoder.parameters()]

    def train(self, mode: bool = True) -> "DecoderFinetune":
        # Always eval: the quantisers' EMA must not move (the priors model these codebooks), and
        # the priors draw as at generation (no dropout). The decoder has no mode-dependent layer.
        super().train(mode)
        for frozen in (self.vqvae, self.prior_top, self.prior_bottom):
            frozen.eval()
        return self

    @torch.no_grad()
    def codes(self, x: Tensor, actions: Tensor | None = None, generator: torch.Generator | None = None
              ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """The clip's true (top, bottom) codes and the priors' teacher-forced draws (top', bottom')."""
        top, bottom = self.vqvae.encode(x)
        t_start, b_start = self.starts
        top_d = teacher_forced_draw(self.prior_top, top, t_start, self.temperature, self.top_k, None, actions,
                                    generator)
        bottom_d = teacher_forced_draw(self.prior_bottom, bottom, b_start, self.temperature, self.top_k, top_d,
                                       actions, generator)
        return top, bottom, top_d, bottom_d

    def loss(self, x: Tensor, actions: Tensor | None = None, generator: torch.Generator | None = None
             ) -> tuple[Tensor, dict[str, float]]:
        """The loss above on normalised clips [B, C, T, H, W] (``actions`` [B, T, A] for priors that read them)."""
        top, bottom, top_d, bottom_d = self.codes(x, actions, generator)
        mse_prior = F.mse_loss(self.vqvae.decode_codes(top_d, bottom_d).float(), x)
        mse_true = F.mse_loss(self.vqvae.decode_codes(top, bottom).float(), x)
        t_start, b_start = self.starts
        changed = {f"changed_{level}": float((drawn != true).flatten(1)[:, start:].float().mean())
                   for level, drawn, true, start in (("top", top_d, top, t_start), ("bottom", bottom_d, bottom, b_start))}
        scalars = {"mse_prior_codes": float(mse_prior.detach()), "mse_true_codes": float(mse_true.detach()), **changed}
        return mse_prior + self.weight * mse_true, scalars


def clips_and_actions(batch: Any) -> tuple[Tensor, Tensor | None]:
    """A batch of clips, or of (clips, per-frame actions), as (clips, float actions or None)."""
    return (batch[0], batch[1].float()) if isinstance(batch, (list, tuple)) else (batch, None)


def objective(model: DecoderFinetune, batch: Any, step: int = 0) -> tuple[Tensor, dict[str, float]]:
    """The training loop's objective."""
    return model.loss(*clips_and_actions(batch))


@torch.no_grad()
def evaluate(model: DecoderFinetune, dataset, seed: int, batch_size: int = 8, desc: str = "decoder") -> dict[str, float]:
    """Per-clip means of SCORES over ``dataset``, the draws from a generator seeded with ``seed``:
    the same draws before and after fine-tuning (the encoder and priors do not change)."""
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    totals, count = dict.fromkeys(SCORES, 0.0), 0
    model.eval()
    for batch in tqdm(DataLoader(dataset, batch_size=batch_size), desc=desc, mininterval=5):
        x, actions = clips_and_actions(batch)
        _, scalars = model.loss(x.to(device), None if actions is None else actions.to(device), generator)
        for name in SCORES:
            totals[name] += scalars[name] * len(x)
        count += len(x)
    return {name: total / count for name, total in totals.items()}

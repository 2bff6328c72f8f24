"""Seed 002's GAN prior as a registered family: the 3D VQ-VAE tokenizer of seed 000 (its noisy
quantisation as an option, seed 002 §3.1) and one progressively grown WGAN-GP per code tier
(genvid.models.gan_prior.model) in place of the PixelSNAIL priors.

Training (one ``train`` stage, three components in order, each resumable): the VQ-VAE exactly as
the vq family trains it (``vq.family.fit_vqvae``: with the same params and seed, the same weights
as the vq run's), the code indices of every clip, the top GAN, then the bottom GAN conditioned on
the true top codes. Each GAN is one module with two optimisers, "g" and "d"
(``train.gan_prior.<tier>.optimizers``): the loop steps the generator, then the critic, on the
losses of one forward pass (``GANPrior.losses``), stops with one line and the last good checkpoint
kept on a non-finite loss or a critic loss past ``optimizers.d.loss_bound``, and resumes both
networks and both optimisers exactly.

Prediction is the vq family's (``VQPredictor``): context codes from the context frames alone,
then each tier drawn in one pass (``GANCodePrior``), decoded, in rolling windows.
"""
from __future__ import annotations

from typing import Any

import torch

from genvid.context import RunContext
from genvid.data.declared import GAN_PRIOR
from genvid.data.latents import LatentDataset, read_latent_info
from genvid.data.split import SPLITS
from genvid.data.stats import load_stats
from genvid.errors import GenvidError, ParamError
from genvid.device import place
from genvid.io import fingerprint, read_json
from genvid.metrics.codebook import code_histogram, usage_stats
from genvid.models.family import Component, Fit, ModelSpec
from genvid.models.gan_prior.model import GANPrior, GANPriorConfig
from genvid.models.store import load_model, register_kind, run_stamp, save_model, trained_stamp
from genvid.models.vq.family import (EXTRAS, VQPredictor, evaluate_vqvae, extract_latents, fit_vqvae,
                                     window_length)
from genvid.models.vq.priors import split_batch
from genvid.models.vq.vqvae3d import VQVAE3D, VQVAEConfig

TIERS = ("top", "bottom")
COMPONENTS = ("vqvae", "gan_top", "gan_bottom")
KINDS = {tier: f"gan_prior_{tier}" for tier in TIERS}


def _build(config: dict) -> GANPrior:
    return GANPrior(GANPriorConfig.from_dict(config))


for _kind in KINDS.values():
    register_kind(_kind, _build)


class GANCodePrior:
    """A trained tier as a CodePrior (genvid.models.vq.protocols): every code step from ``start``
    on drawn in one generator pass. ``temperature`` scales the noise z (1: the training
    distribution); there is no top-k of a GAN."""

    def __init__(self, net: GANPrior, device: torch.device | str = "cpu"):
        self.net = net.to(device).eval()
        self.shape, self.num_codes = tuple(net.cfg.shape), net.cfg.num_codes

    def sample(self, codes: torch.Tensor, start: int, generator: torch.Generator, temperature: float,
               top_k: int | None, cond: torch.Tensor | None = None,
               actions: torch.Tensor | None = None) -> torch.Tensor:
        if actions is not None:
            raise GenvidError("the GAN prior reads no actions")
        if top_k is not None:
            raise GenvidError("the GAN prior has no top-k sampling (set sampling.top_k to 0)")
        step = self.shape[1] * self.shape[2]
        if start % step:
            raise GenvidError(f"the GAN prior generates whole code steps; raster position {start} is inside one")
        return self.net.sample(codes, start // step, generator, temperature, cond)


def gan_config(section: dict, tier: str, info: dict, name: str) -> GANPriorConfig:
    """The tier's config: params section ``name`` plus the code grid and K from the latent file."""
    for key in ("num_codes", "shape", "cond_shape", "attention"):
        if key in section:
            raise ParamError(f"{name}.{key} is set from the latent file and the tier; remove it")
    shapes = info["shapes"]
    values = dict(section, num_codes=info["codebook_size"], shape=tuple(shapes[tier]),
                  # seed 002 §3.2, Table 6.3: one attention layer per tier, G and D, at "the layer corresponding to
                  # 32x32 latents" (the top tier's grid): the top tier's finest scale, the bottom's second finest
                  attention=tuple(shapes["top"][1:]),
                  cond_shape=tuple(shapes["top"]) if tier == "bottom" else None)
    return GANPriorConfig.from_dict(values, section=name)


def gan_objective(tier: str):
    """The loop's objective for one tier: the model's own WGAN-GP losses."""

    def objective(model: GANPrior, batch, step: int = 0):
        codes, top = split_batch(batch, tier)
        return model.losses(codes, top, step)

    return objective


@torch.no_grad()
def generated_usage(net: GANPrior, data: LatentDataset, tier: str, rows: int, seed: int) -> dict[str, float]:
    """Code use of the tier's generated future codes on ``rows`` test clips (half their code steps
    given), beside the real codes' (mode collapse shows as few codes used)."""
    device = next(net.parameters()).device
    count = min(rows, len(data))
    top, bottom = data.top[:count].to(device), data.bottom[:count].to(device)
    codes, cond = (top, None) if tier == "top" else (bottom, top)
    given = net.cfg.shape[0] // 2
    fake = net.sample(codes, given, torch.Generator().manual_seed(seed), 1.0, cond)
    k = net.cfg.num_codes
    generated = usage_stats(code_histogram(fake[:, given:].cpu(), k))
    real = usage_stats(code_histogram(codes[:, given:].cpu(), k))
    return {**{f"generated_{key}": value for key, value in generated.items()},
            **{f"real_{key}": value for key, value in real.items()}, "clips": count}


def train(ctx: RunContext, fit: Fit) -> dict[str, Any]:
    """The tokenizer, its codes, then each tier's GAN, with the training loop ``fit``."""
    clips = ctx.bench.clips
    metrics: dict[str, Any] = {}
    vqvae = fit_vqvae(ctx, fit)
    stamp = trained_stamp(ctx)
    save_model(ctx.model_dir / "vqvae.pt", "vqvae3d", vqvae.cfg.to_dict(), vqvae, stamp)
    metrics["vqvae"] = evaluate_vqvae(vqvae, ctx, window_length(ctx), clips.eval_stride)
    latents = ctx.model_dir / "latents.h5"
    extract_latents(vqvae, ctx, latents)
    vqvae.cpu()
    info = read_latent_info(latents)
    data = {split: LatentDataset(latents, split) for split in SPLITS}
    for tier in TIERS:
        name = f"gan_{tier}"
        cfg = gan_config(ctx.run.model_params[name], tier, info, f"models.{ctx.run.model}.{name}")
        key = fingerprint({"model": cfg_dict(cfg)}, [latents])
        component = Component(name, lambda: GANPrior(cfg), gan_objective(tier), data["train"], data["val"], key,
                              ctx.run.train_params.get(name), f"train.{ctx.run.model}.{name}",
                              optimizers=GANPrior.optimizers, desc=f"{ctx.run.name} {name}")
        fitted = fit(component)
        net = fitted.model
        save_model(ctx.model_dir / f"{name}.pt", KINDS[tier], cfg_dict(cfg), net, stamp)
        metrics[name] = {
            "parameters": {"generator": _count(net.generator), "critic": _count(net.critic)},
            "val": fitted.val,  # the last validation row: the critic's Wasserstein estimate, its penalty
            "test_usage": generated_usage(net, data["test"], tier, rows=64, seed=0),
        }
        net.cpu()
    metrics["parameters"] = (_count(vqvae) + metrics["gan_top"]["parameters"]["generator"]
                             + metrics["gan_bottom"]["parameters"]["generator"])  # what predicts
    return metrics


def cfg_dict(cfg: GANPriorConfig) -> dict:
    return {key: list(value) if isinstance(value, tuple) else value for key, value in vars(cfg).items()}


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def init_untrained(ctx: RunContext, height: int, width: int, channels: int = 3) -> None:
    """Randomly initialised components in ``ctx.model_dir`` (contract tests: leak, determinism)."""
    vq_cfg = VQVAEConfig.from_dict(ctx.run.model_params["vqvae"], f"models.{ctx.run.model}.vqvae")
    vqvae = VQVAE3D(vq_cfg)
    top, bottom = vqvae.code_shapes(window_length(ctx), height, width)
    info = {"shapes": {"top": top, "bottom": bottom}, "codebook_size": vq_cfg.codebook_size}
    stamp = run_stamp(ctx, (height, width, channels))
    save_model(ctx.model_dir / "vqvae.pt", "vqvae3d", vq_cfg.to_dict(), vqvae, stamp)
    for tier in TIERS:
        cfg = gan_config(ctx.run.model_params[f"gan_{tier}"], tier, info, f"gan_{tier}")
        save_model(ctx.model_dir / f"gan_{tier}.pt", KINDS[tier], cfg_dict(cfg), GANPrior(cfg), stamp)


def predictor(ctx: RunContext) -> VQPredictor:
    """The trained family of ``ctx``'s run, checked against its params."""
    vqvae, _ = load_model(ctx.model_dir / "vqvae.pt", "vqvae3d", run=ctx)
    top, _ = load_model(ctx.model_dir / "gan_top.pt", KINDS["top"], run=ctx)
    bottom, _ = load_model(ctx.model_dir / "gan_bottom.pt", KINDS["bottom"], run=ctx)
    k = vqvae.cfg.codebook_size
    if top.cfg.num_codes != k or bottom.cfg.num_codes != k:
        raise GenvidError(f"{ctx.model_dir}: the GAN priors model K={top.cfg.num_codes}/{bottom.cfg.num_codes} "
                          f"codes but the VQ-VAE has K={k}")
    if tuple(bottom.cfg.cond_shape or ()) != tuple(top.cfg.shape):
        raise GenvidError(f"{ctx.model_dir}: the bottom GAN was built for top codes on grid "
                          f"{list(bottom.cfg.cond_shape or [])}, the top GAN models {list(top.cfg.shape)}")
    mean, std = load_stats(read_json(ctx.stats), str(ctx.stats))
    s = ctx.run.model_params["sampling"]
    vqvae, top, bottom = (place(net, ctx.device, ctx.channels_last) for net in (vqvae, top, bottom))
    return VQPredictor(vqvae, GANCodePrior(top, ctx.device), GANCodePrior(bottom, ctx.device), mean, std,
                       window_length(ctx), float(s["temperature"]), 0, int(s["batch_size"]), ctx.device)


SPEC = ModelSpec("gan_prior", train, predictor, EXTRAS, init=init_untrained, components=COMPONENTS,
                 code_prior=GAN_PRIOR)

"""Training of a pixel model (genvid.models.predictor): ``model.loss(frames, step)`` on clips in [0, 1]."""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from genvid.data.benchmark import clip_set
from genvid.determinism import seed_everything
from genvid.io import fingerprint
from genvid.metrics.likelihood import bits_per_dim, iwae_bits_per_dim
from genvid.models.store import save_model
from genvid.train.config import TrainConfig
from genvid.train.curves import write_curves_tsv
from genvid.train.loop import fit


def train_pixel_model(ctx, build: Callable[[], nn.Module], config: dict) -> dict[str, Any]:
    """Train on the run's training clips, validate on its validation clips, save ``model.pt``."""
    clips = ctx.bench.clips
    cfg = TrainConfig.from_dict(ctx.run.train_params, f"train.{ctx.run.model}", ctx.params_path)

    def dataset(split: str, stride: int):
        return clip_set(ctx.bench, ctx.frames, ctx.split, None, split, clips.clip_len, stride)

    train_set, val_set = dataset("train", clips.train_stride), dataset("val", clips.eval_stride)
    seed_everything(cfg.seed)  # before construction: reproducible initial weights
    model = build()
    key = fingerprint({"model": config, "clips": vars(clips), "collect": vars(ctx.bench.collect)},
                      [ctx.frames, ctx.split])
    result = fit(model, lambda m, frames, step: m.loss(frames, step), train_set, val_set, cfg,
                 ctx.workdir / "model", key, desc=f"{ctx.run.name}", device=ctx.device,
                 precision=ctx.precision)
    # The test passes run on the run's device; save_model copies the weights to the CPU.
    model.to(ctx.device).eval()
    save_model(ctx.model_dir / "model.pt", ctx.run.model, config, model)
    folder = ctx.report_dir / "curves" / "model"
    write_curves_tsv(result.curves, folder / "train.tsv", folder / "val.tsv")
    metrics = {"parameters": sum(p.numel() for p in model.parameters()), "val": result.val}
    if hasattr(model, "log_weights"):  # a pixel likelihood: bits per dimension on test clips
        metrics.update(test_bits_per_dim(ctx, model))
    if hasattr(model, "kl_per_channel"):  # a hierarchy of latents: seed 004 Table 4.2 and Fig. 4.4
        metrics.update(test_elbo(ctx, model, result.curves))
    model.cpu()
    return metrics


def _device(model: nn.Module) -> torch.device:
    """The device of the model's parameters (the CPU for a model without any)."""
    return next((p.device for p in model.parameters()), torch.device("cpu"))


def _likelihood_clips(ctx) -> tuple[Any, torch.Tensor]:
    """(likelihood params, the first ``likelihood.clips`` test clips of the training length)."""
    from genvid import params as P

    cfg = P.top_level(P.read_params(ctx.params_path), "likelihood", ctx.params_path)
    clips = ctx.bench.clips
    test = clip_set(ctx.bench, ctx.frames, ctx.split, None, "test", clips.clip_len, ctx.bench.protocol.test_stride)
    return cfg, torch.stack([test[i] for i in range(min(cfg.clips, len(test)))])


@torch.no_grad()
def test_bits_per_dim(ctx, model: nn.Module) -> dict[str, Any]:
    """Seed 001 Table 9.5's metric: the importance-weighted upper bound on bits per dimension
    (K = ``likelihood.iwae_samples``), and the ELBO's (the mean of the same K log weights: by
    Jensen never below the bound, whatever the draws), over the first
    ``likelihood.clips`` test clips of the training length; the model's ``log_weights`` states
    its dequantisation convention (none for a discrete likelihood, §8.3's for a flow). Runs on the
    model's device; the noise comes from a CPU generator (the models draw on the generator's
    device), so the draws are the same on every device."""
    cfg, frames = _likelihood_clips(ctx)
    n, clips = len(frames), ctx.bench.clips
    generator = torch.Generator().manual_seed(cfg.seed)
    model.eval()
    device = _device(model)
    iwae, elbo = [], []
    for first in range(0, n, cfg.batch_size):
        batch = frames[first:first + cfg.batch_size].to(device)
        dims = model.scored_dims(batch.shape)
        log_weights = model.log_weights(batch, cfg.iwae_samples, generator).cpu()
        iwae.append(iwae_bits_per_dim(log_weights, dims))
        elbo.append(bits_per_dim(-log_weights.double().mean(dim=1), dims))  # the same draws: never below the bound
    return {"bits_per_dim": float(torch.cat(iwae).mean()), "bits_per_dim_elbo": float(torch.cat(elbo).mean()),
            "bits_per_dim_protocol": {"iwae_samples": cfg.iwae_samples, "clips": n, "frames": clips.clip_len,
                                      "bound": "upper bound on bits per dimension of the 8-bit frames after the first"}}


@torch.no_grad()
def test_elbo(ctx, model: nn.Module, curves: list[dict[str, Any]]) -> dict[str, Any]:
    """Seed 004 Table 4.2's numbers: the negative ELBO (nats per sequence, one posterior sample)
    on the likelihood test clips, split into reconstruction and per-level KL, the training set's
    (the last logged window), and Fig. 4.4's mean KL per latent channel and active channels."""
    from genvid.models.hvrnn import ACTIVE_KL

    cfg, frames = _likelihood_clips(ctx)
    generator = torch.Generator().manual_seed(cfg.seed)
    model.eval()
    device = _device(model)
    terms: dict[str, list[torch.Tensor]] = {}
    per_channel: list[list[torch.Tensor]] = []
    for first in range(0, len(frames), cfg.batch_size):
        batch = frames[first:first + cfg.batch_size].to(device)
        for name, value in model.elbo_terms(batch, generator).items():
            terms.setdefault(name, []).append(value.cpu())
        per_channel.append([kl.cpu() * len(batch) for kl in model.kl_per_channel(batch, generator)])
    mean = {name: float(torch.cat(v).mean()) for name, v in terms.items()}
    channels = [(sum(level) / len(frames)).tolist() for level in zip(*per_channel)]
    train = [row for row in curves if row.get("split") == "train" and "elbo" in row]
    return {"test_elbo": {"neg_elbo": -mean["elbo"], "recon": -mean["recon"], "kl": mean["kl"],
                          "kl_levels": {k[3:]: v for k, v in mean.items() if k.startswith("kl_")},
                          "clips": len(frames), "unit": "nats per sequence (the predicted frames)"},
            "train_neg_elbo": -train[-1]["elbo"] if train else None,
            "kl_per_channel": channels, "latent_resolutions": list(model.levels),
            "active_channels": [sum(v > ACTIVE_KL for v in level) for level in channels]}

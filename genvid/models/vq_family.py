"""Seed 000's model as one registered family: 3D VQ-VAE + top and bottom 3D PixelSNAIL priors.

Training (one ``train`` stage, three components in order, each resumable from its own
checkpoint folder): the VQ-VAE on normalised clips (seed 000 §5.2), the code indices of every
clip (§4.1.4), the top prior, then the bottom prior conditioned on the true top codes (§5.3).

Prediction (SPEC §3, §5): the context codes come from the context frames alone
(``VQVAE3D.encode_context``: a causal-in-time encoder, or the thesis's encoder with the
unknown future replaced by the last context frame), the priors generate the rest, the
decoder turns the codes into frames. The diagnostics of seed 000 Figs. 6.3-6.7 (generated
top + true bottom, true top + generated bottom) and the reconstruction of the true codes
need the whole clip: they are extra series labelled as seeing the future, never predictions.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from genvid.data.clips import ClipDataset, denormalize, normalize
from genvid.data.latents import LatentDataset, read_latent_info, write_latents
from genvid.data.samples import Extra
from genvid.data.split import SPLITS
from genvid.data.stats import load_stats
from genvid.determinism import seed_everything
from genvid.errors import GenvidError
from genvid.io import fingerprint, read_json
from genvid.metrics.codebook import code_histogram, usage_stats
from genvid.metrics.image import psnr, ssim
from genvid.models.pixelsnail3d import PixelSNAIL3d, count_parameters
from genvid.models.predictor import check_context, check_prediction
from genvid.models.sampling import sample_fast
from genvid.models.store import load_model, save_model
from genvid.models.vqvae3d import VQVAE3D, VQVAEConfig
from genvid.priors import LEVELS, evaluate_prior, prior_config, prior_objective, unigram_bits
from genvid.train import TrainConfig, fit, write_curves_tsv

COMPONENTS = ("vqvae", "prior_top", "prior_bottom")
EXTRAS = {
    # samples 0: as many as the predictions
    "top_only": Extra(0, "generated top codes + true bottom codes (seed 000 Fig. 6.5; sees the future)", True),
    "bottom_only": Extra(0, "true top codes + generated bottom codes (seed 000 Fig. 6.6; sees the future)", True),
    "recon": Extra(1, "VQ-VAE reconstruction of the true codes (upper bound; sees the whole clip)", True),
}


# ----------------------------------------------------------------------------- training

def train(ctx) -> dict[str, Any]:
    """Train every component of ``ctx.run`` (genvid.models.registry.RunContext); return metrics."""
    model_params, train_params = ctx.run.model_params, ctx.run.train_params
    clips = ctx.bench.clips
    vq_cfg = VQVAEConfig.from_dict(model_params["vqvae"], f"models.{ctx.run.model}.vqvae")
    cfgs = {c: TrainConfig.from_dict(train_params.get(c), f"train.{ctx.run.model}.{c}", ctx.params_path)
            for c in COMPONENTS}
    metrics: dict[str, Any] = {}

    def dataset(split: str, stride: int) -> ClipDataset:
        return ClipDataset(ctx.frames, ctx.split, ctx.stats, split, clips.clip_len, stride)

    train_set, val_set = dataset("train", clips.train_stride), dataset("val", clips.eval_stride)
    seed_everything(cfgs["vqvae"].seed)  # before construction: the initial weights and codebooks
    vqvae = VQVAE3D(vq_cfg)
    vqvae.code_shapes(clips.clip_len, *train_set.raw(0).shape[1:3])  # fail early on a bad size
    key = fingerprint({"vqvae": vq_cfg.to_dict(), "clips": vars(clips)}, [ctx.frames, ctx.split, ctx.stats])
    result = fit(vqvae, lambda m, x, step: m.loss(x), train_set, val_set, cfgs["vqvae"],
                 ctx.workdir / "vqvae", key, desc=f"{ctx.run.name} vqvae", device=ctx.device,
                 precision=ctx.precision)
    vqvae.cpu().eval()
    save_model(ctx.model_dir / "vqvae.pt", "vqvae3d", vq_cfg.to_dict(), vqvae)
    write_curves_tsv(result.curves, *_curve_paths(ctx, "vqvae"))
    metrics["vqvae"] = evaluate_vqvae(vqvae, ctx, clips.clip_len, clips.eval_stride)

    latents = ctx.model_dir / "latents.h5"
    extract_latents(vqvae, ctx, latents)
    info = read_latent_info(latents)
    data = {split: LatentDataset(latents, split) for split in SPLITS}
    for level in LEVELS:
        name = f"prior_{level}"
        section = f"models.{ctx.run.model}.{name}"
        cfg = prior_config(model_params[name], level, info, section)
        seed_everything(cfgs[name].seed)
        prior = PixelSNAIL3d(cfg)
        key = fingerprint({"model": dict(vars(cfg))}, [latents])
        result = fit(prior, prior_objective(level), data["train"], data["val"], cfgs[name],
                     ctx.workdir / name, key, desc=f"{ctx.run.name} {name}", device=ctx.device,
                     precision=ctx.precision)
        prior.cpu().eval()
        save_model(ctx.model_dir / f"{name}.pt", f"pixelsnail3d_{level}", dict(vars(cfg)), prior)
        write_curves_tsv(result.curves, *_curve_paths(ctx, name))
        scores = {split: evaluate_prior(prior, data[split], level, 16, f"{name} {split}") for split in SPLITS}
        scores["baselines"] = {
            "uniform_bits": math.log2(info["codebook_size"]),
            "unigram_bits": unigram_bits(getattr(data["train"], level), getattr(data["test"], level),
                                         info["codebook_size"]),
        }
        scores["parameters"] = count_parameters(cfg)
        metrics[name] = scores
    metrics["parameters"] = (sum(p.numel() for p in vqvae.parameters())
                             + metrics["prior_top"]["parameters"] + metrics["prior_bottom"]["parameters"])
    return metrics


def init_untrained(ctx, height: int, width: int) -> None:
    """Randomly initialised components in ``ctx.model_dir`` (contract tests: leak, determinism)."""
    vq_cfg = VQVAEConfig.from_dict(ctx.run.model_params["vqvae"], f"models.{ctx.run.model}.vqvae")
    clip_len = ctx.bench.clips.clip_len
    vqvae = VQVAE3D(vq_cfg)
    top, bottom = vqvae.code_shapes(clip_len, height, width)
    info = {"shapes": {"top": top, "bottom": bottom}, "codebook_size": vq_cfg.codebook_size}
    save_model(ctx.model_dir / "vqvae.pt", "vqvae3d", vq_cfg.to_dict(), vqvae)
    for level in LEVELS:
        cfg = prior_config(ctx.run.model_params[f"prior_{level}"], level, info, f"prior_{level}")
        save_model(ctx.model_dir / f"prior_{level}.pt", f"pixelsnail3d_{level}", dict(vars(cfg)), PixelSNAIL3d(cfg))


def _curve_paths(ctx, component: str) -> tuple[Path, Path]:
    folder = ctx.report_dir / "curves" / component
    return folder / "train.tsv", folder / "val.tsv"


@torch.no_grad()
def evaluate_vqvae(model: VQVAE3D, ctx, clip_len: int, stride: int, batch_size: int = 8) -> dict[str, Any]:
    """Reconstruction MSE (normalised, Table 6.1) and PSNR/SSIM (pixels) per split; codebook use."""
    out: dict[str, Any] = {}
    k = model.cfg.codebook_size
    for split in SPLITS:
        # Every split at the evaluation stride: train clips at stride 1 overlap 15/16 and would
        # only repeat the same frames (seed 000 §4.1.3 uses stride 8 for evaluation).
        dataset = ClipDataset(ctx.frames, ctx.split, ctx.stats, split, clip_len, stride)
        sums = {"mse_normalized": 0.0, "psnr": 0.0, "ssim": 0.0}
        hist = {"top": torch.zeros(k, dtype=torch.int64), "bottom": torch.zeros(k, dtype=torch.int64)}
        for x in tqdm(DataLoader(dataset, batch_size=batch_size), desc=f"eval vqvae {split}", mininterval=5):
            o = model(x)
            sums["mse_normalized"] += float(((o.recon - x) ** 2).mean(dim=(1, 2, 3, 4)).sum())
            pred = denormalize(o.recon, dataset.mean, dataset.std).transpose(1, 2)
            real = denormalize(x, dataset.mean, dataset.std).transpose(1, 2)
            sums["psnr"] += float(psnr(pred, real).mean(dim=1).sum())
            sums["ssim"] += float(ssim(pred, real).mean(dim=1).sum())
            hist["top"] += code_histogram(o.top_indices, k)
            hist["bottom"] += code_histogram(o.bottom_indices, k)
        result = {name: value / len(dataset) for name, value in sums.items()}
        result["clips"] = len(dataset)
        for level, counts in hist.items():
            result.update({f"{level}_{key}": value for key, value in usage_stats(counts).items()})
        out[split] = result
    h, w = dataset.raw(0).shape[1:3]
    out["bits_reduction"] = model.bits_reduction(clip_len, h, w)
    top, bottom = model.code_shapes(clip_len, h, w)
    out["code_shapes"] = {"top": list(top), "bottom": list(bottom)}
    return out


@torch.no_grad()
def extract_latents(model: VQVAE3D, ctx, path: Path, batch_size: int = 16) -> None:
    """int16 code indices of every clip of every split (seed 000 §4.1.4)."""
    clips = ctx.bench.clips
    strides = {s: clips.train_stride if s == "train" else clips.eval_stride for s in SPLITS}
    datasets = {s: ClipDataset(ctx.frames, ctx.split, ctx.stats, s, clips.clip_len, strides[s]) for s in SPLITS}

    def batches(dataset: ClipDataset, desc: str):
        for i, x in enumerate(tqdm(DataLoader(dataset, batch_size=batch_size), desc=desc, mininterval=5)):
            top, bottom = model.encode(x)
            starts = dataset.starts[i * batch_size:i * batch_size + len(x)]
            yield starts, top.numpy().astype(np.int16), bottom.numpy().astype(np.int16)

    h, w = datasets["train"].raw(0).shape[1:3]
    top_shape, bottom_shape = model.code_shapes(clips.clip_len, h, w)
    attrs = {"codebook_size": model.cfg.codebook_size, "clip_len": clips.clip_len,
             **{f"stride_{s}": strides[s] for s in SPLITS}}
    write_latents(path, {s: batches(d, f"latents {s}") for s, d in datasets.items()},
                  {s: len(d) for s, d in datasets.items()}, {"top": top_shape, "bottom": bottom_shape}, attrs)


# ----------------------------------------------------------------------------- prediction

class VQPredictor:
    """Context frames -> context codes -> priors -> decoder (seed 000 §4.3.3)."""

    def __init__(self, vqvae: VQVAE3D, top: PixelSNAIL3d, bottom: PixelSNAIL3d, mean: np.ndarray,
                 std: np.ndarray, clip_len: int, temperature: float, top_k: int, batch_rows: int,
                 device: str = "cpu"):
        self.vqvae, self.top, self.bottom = vqvae.eval(), top.eval(), bottom.eval()
        self.mean, self.std, self.clip_len = mean, std, clip_len
        self.temperature, self.top_k, self.batch_rows = temperature, top_k or None, batch_rows
        self.device = torch.device(device)

    def _codes_start(self, grid: torch.Size, context: int) -> int:
        """First generated raster position: code steps that lie wholly inside the context are kept."""
        frames_per_step = self.clip_len // grid[0]
        return context // frames_per_step * grid[1] * grid[2]

    def check_protocol(self, context_frames: int, horizon: int, frame: tuple[int, int, int] | None = None,
                       source: str = "frames") -> None:
        """One GenvidError line unless this model can honour the protocol on these frames."""
        if context_frames + horizon > self.clip_len:
            raise GenvidError(f"the VQ predictor models {self.clip_len}-frame clips; context {context_frames} + "
                              f"horizon {horizon} does not fit")
        frames_per_top_step = self.clip_len // self.top.config.shape[0]
        if context_frames % frames_per_top_step:
            raise GenvidError(f"context_frames={context_frames} is not a whole number of top code steps "
                              f"({frames_per_top_step} frames each)")
        if frame is not None:
            h, w, c = frame
            if c != self.vqvae.cfg.in_channels:
                raise GenvidError(f"{source}: frames have {c} channels, the VQ-VAE was trained on "
                                  f"{self.vqvae.cfg.in_channels}")
            top, bottom = self.vqvae.code_shapes(self.clip_len, h, w)
            if tuple(self.top.config.shape) != top or tuple(self.bottom.config.shape) != bottom:
                raise GenvidError(f"{source}: {h}x{w} frames give code grids {list(top)} / {list(bottom)}, but the "
                                  f"priors model {list(self.top.config.shape)} / {list(self.bottom.config.shape)}")

    def _normalise(self, frames: torch.Tensor) -> torch.Tensor:
        return torch.stack([normalize(clip.numpy(), self.mean, self.std) for clip in frames])

    def _pixels(self, video: torch.Tensor, first: int, count: int) -> torch.Tensor:
        """Normalised [B, C, T, H, W] -> uint8 [B, count, H, W, C] of frames first..first+count-1."""
        pixels = denormalize(video[:, :, first:first + count], self.mean, self.std).permute(0, 2, 3, 4, 1)
        return (pixels * 255.0).round_().to(torch.uint8).cpu()

    def _generate(self, context: torch.Tensor, num_samples: int, generator: torch.Generator):
        """Context codes from the context frames alone, then the priors: (top, bottom) rows
        [B*S, ...] of generated codes (seed 000 §4.3.3)."""
        check_context(context, self.vqvae.cfg.in_channels)
        c = context.shape[1]
        top, bottom = self.vqvae.encode_context(self._normalise(context), self.clip_len)
        top, bottom = top.repeat_interleave(num_samples, 0), bottom.repeat_interleave(num_samples, 0)
        gen_top = self._sample(self.top, top, self._codes_start(top.shape[1:], c), generator)
        gen_bottom = self._sample(self.bottom, bottom, self._codes_start(bottom.shape[1:], c), generator, gen_top)
        return gen_top, gen_bottom

    def _futures(self, video: torch.Tensor, batch: int, context_frames: int, horizon: int) -> torch.Tensor:
        frames = self._pixels(video, context_frames, horizon)
        return frames.view(batch, -1, *frames.shape[1:])

    @torch.no_grad()
    def predict(self, context: torch.Tensor, horizon: int, num_samples: int,
                generator: torch.Generator) -> torch.Tensor:
        self.check_protocol(context.shape[1], horizon, tuple(context.shape[2:]))
        gen_top, gen_bottom = self._generate(context, num_samples, generator)
        futures = self._futures(self.vqvae.decode_codes(gen_top, gen_bottom), context.shape[0], context.shape[1],
                                horizon)
        return check_prediction(futures, context, horizon, num_samples)

    def _sample(self, prior, codes, start, generator, cond=None):
        return sample_fast(prior, codes, start, generator, self.temperature, self.top_k, cond)

    @torch.no_grad()
    def predict_with_diagnostics(self, clips: torch.Tensor, context_frames: int, horizon: int, num_samples: int,
                                 generator: torch.Generator) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``predict`` on the context of ``clips`` (the same bytes: the futures see only the
        context), plus the EXTRAS series, which see the whole real clip: generated top + true
        bottom, true top + bottom generated on it, and the reconstruction of the true codes."""
        c = context_frames
        context = clips[:, :c]
        self.check_protocol(c, horizon, tuple(clips.shape[2:]))
        gen_top, gen_bottom = self._generate(context, num_samples, generator)
        futures = check_prediction(self._futures(self.vqvae.decode_codes(gen_top, gen_bottom), clips.shape[0], c,
                                                 horizon), context, horizon, num_samples)
        top, bottom = self.vqvae.encode(self._normalise(clips[:, :self.clip_len]))
        rows_top, rows_bottom = top.repeat_interleave(num_samples, 0), bottom.repeat_interleave(num_samples, 0)
        true_top_bottom = self._sample(self.bottom, rows_bottom, self._codes_start(bottom.shape[1:], c), generator,
                                       rows_top)
        series = {"top_only": self.vqvae.decode_codes(gen_top, rows_bottom),
                  "bottom_only": self.vqvae.decode_codes(rows_top, true_top_bottom),
                  "recon": self.vqvae.decode_codes(top, bottom)}
        return futures, {name: self._futures(video, clips.shape[0], c, horizon) for name, video in series.items()}


def predictor(ctx) -> VQPredictor:
    """The trained family of ``ctx``'s run, checked against its params."""
    vqvae, _ = load_model(ctx.model_dir / "vqvae.pt", "vqvae3d")
    top, _ = load_model(ctx.model_dir / "prior_top.pt", "pixelsnail3d_top")
    bottom, _ = load_model(ctx.model_dir / "prior_bottom.pt", "pixelsnail3d_bottom")
    bottom.config.check_condition(top.config)  # the bottom prior was built for this top prior's grid and K
    if top.config.num_codes != vqvae.cfg.codebook_size or bottom.config.num_codes != vqvae.cfg.codebook_size:
        raise GenvidError(f"{ctx.model_dir}: priors model K={top.config.num_codes}/{bottom.config.num_codes} "
                          f"codes but the VQ-VAE has K={vqvae.cfg.codebook_size}")
    mean, std = load_stats(read_json(ctx.stats), str(ctx.stats))
    s = ctx.run.model_params["sampling"]
    return VQPredictor(vqvae, top, bottom, mean, std, ctx.bench.clips.clip_len, float(s["temperature"]),
                       int(s["top_k"]), int(s["batch_size"]), ctx.device)

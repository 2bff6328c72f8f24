"""Seed 000's model as one registered family: 3D VQ-VAE + top and bottom 3D PixelSNAIL priors.

Training (one ``train`` stage, three components in order, each resumable from its own
checkpoint folder): the VQ-VAE on normalised clips (seed 000 §5.2), the code indices of every
clip (§4.1.4), the top prior, then the bottom prior conditioned on the true top codes (§5.3).
Optionally a fourth (``models.<vq>.finetune.enabled``, off by default): the decoder fine-tuned
on the priors' codes, genvid's reading of §6.5's end-to-end training (genvid.models.vq.finetune).

Prediction (docs/design.md §3, §5): the context codes come from the context frames alone
(``VQVAE3D.encode_context``: a causal-in-time encoder, or the thesis's encoder with the
unknown future replaced by the last context frame), the priors generate the rest, the
decoder turns the codes into frames. The diagnostics of seed 000 Figs. 6.3-6.7 (generated
top + true bottom, true top + generated bottom) and the reconstruction of the true codes
need the whole clip: they are extra series labelled as seeing the future, never predictions.

Steered by actions (``vq_action``, issue 24; genvid's, not seed 000's): the same tokenizer and
priors, each prior also reading the per-frame actions of its window (``ActionConditioning`` in
pixelsnail3d: code step s reads a_{t-1} of its frames t, standardised with the training split's
statistics). The VQ-VAE never reads actions, so at the same params and seed its tokenizer is the
vq run's, bit for bit, and the two runs differ only by what the priors are told.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset
from tqdm import tqdm

from genvid.config import parse_config, rule
from genvid.context import RunContext
from genvid.data.clips import clip_set
from genvid.data.clips import denormalize, normalize
from genvid.data.declared import PIXELSNAIL_PRIOR
from genvid.data.latents import ConditionedLatents, LatentDataset, read_latent_info, write_latents
from genvid.data.figures import LEVELS as LEVEL_FIGURE
from genvid.data.samples import Extra
from genvid.data.split import SPLITS
from genvid.data.frames import CONDITIONING
from genvid.data.stats import conditioning_stats, load_stats
from genvid.data.train_metrics import FINETUNE_SPLITS, VQ_COMPONENTS, VQVAE_SPLIT_KEYS
from genvid.errors import GenvidError, ParamError
from genvid.device import place
from genvid.io import fingerprint, read_json
from genvid.metrics.codebook import code_histogram, usage_stats
from genvid.metrics.image import psnr, ssim
from genvid.models.family import Component, Fit, ModelSpec
from genvid.models.predictor import check_cond, check_context, check_prediction
from genvid.models.store import load_model, run_stamp, save_model, trained_stamp
from genvid.models.vq import declared
from genvid.models.vq import finetune as FT
from genvid.models.vq.pixelsnail3d import PixelSNAIL3d, count_parameters
from genvid.models.vq.priors import (LEVELS, PixelSNAILPrior, evaluate_prior, prior_config, prior_objective,
                                     unigram_bits)
from genvid.models.vq.figures import level_decodings
from genvid.models.vq.protocols import CodePrior
from genvid.models.vq.sampling import window_start
from genvid.models.vq.vqvae3d import VQVAE3D, VQVAEConfig

COMPONENTS = (*VQ_COMPONENTS, FT.COMPONENT)  # VQ_COMPONENTS (genvid.data.train_metrics), then the optional decoder fine-tune
# The training split's reconstruction only shows over-fitting beside val/test; SM-MNIST's 1,600
# generated training sequences took longer to score than the VQ-VAE took to train (96 since the GAN prior
# joined the default profile's 30-minute budget).
TRAIN_EVAL_CLIPS = 96
EXTRAS = {
    # samples 0: as many as the predictions
    "top_only": Extra(0, "generated top codes + true bottom codes (seed 000 Fig. 6.5; sees the future)", True),
    "bottom_only": Extra(0, "true top codes + generated bottom codes (seed 000 Fig. 6.6; sees the future)", True),
    "recon": Extra(1, "VQ-VAE reconstruction of the true codes (upper bound; sees the whole clip)", True),
}


# ----------------------------------------------------------------------------- training

def _component(ctx: RunContext, name: str, build, objective, train_set, val_set, key: str) -> Component:
    return Component(name, build, objective, train_set, val_set, key, ctx.run.train_params.get(name),
                     f"train.{ctx.run.model}.{name}", desc=f"{ctx.run.name} {name}")


def fit_vqvae(ctx: RunContext, fit: Fit) -> VQVAE3D:
    """The tokenizer of ``ctx.run``, trained on the benchmark's clips (seed 000 §5.2) with ``fit``:
    on the run's device, in eval mode (no index noise, no codebook update)."""
    clips, window = ctx.bench.clips, window_length(ctx)
    vq_cfg = VQVAEConfig.from_dict(ctx.run.model_params["vqvae"], f"models.{ctx.run.model}.vqvae", ctx.params_path)

    def dataset(split: str, stride: int):
        return clip_set(ctx.bench, ctx.frames, ctx.split, ctx.stats, split, window, stride)

    def build_vqvae() -> VQVAE3D:
        vqvae = VQVAE3D(vq_cfg)
        vqvae.code_shapes(window, *train_set.raw(0).shape[1:3])  # fail early on a bad size
        return vqvae

    train_set, val_set = dataset("train", clips.train_stride), dataset("val", clips.eval_stride)
    key = fingerprint({"vqvae": vq_cfg.to_dict(), "clips": vars(clips), "window": window,
                       "collect": vars(ctx.bench.collect)}, [ctx.frames, ctx.split, ctx.stats])
    return fit(_component(ctx, "vqvae", build_vqvae, lambda m, x, step: m.loss(x), train_set, val_set, key)).model


def train(ctx: RunContext, fit: Fit, conditioning: str | None = None) -> dict[str, Any]:
    """Fit every component of ``ctx.run`` in order with the training loop ``fit``; return metrics.
    ``conditioning`` (e.g. "action"): the priors also read those per-frame inputs (vq_action)."""
    model_params, clips, window = ctx.run.model_params, ctx.bench.clips, window_length(ctx)
    stats = None if conditioning is None else conditioning_stats(ctx.frames, ctx.split, conditioning)
    metrics: dict[str, Any] = {}
    vqvae = fit_vqvae(ctx, fit)
    stamp = trained_stamp(ctx)
    save_model(ctx.model_dir / "vqvae.pt", "vqvae3d", vqvae.cfg.to_dict(), vqvae, stamp)  # weights to the CPU
    metrics["vqvae"] = evaluate_vqvae(vqvae, ctx, window, clips.eval_stride)

    latents = ctx.model_dir / "latents.h5"
    extract_latents(vqvae, ctx, latents)
    vqvae.cpu()  # its device memory is the priors' from here on
    info = read_latent_info(latents)
    data = {split: LatentDataset(latents, split) if conditioning is None else
            ConditionedLatents(latents, split, ctx.frames, conditioning) for split in SPLITS}
    # Scores per split: the training clips (stride 1, each overlapping the next by all but a frame)
    # at the evaluation stride, as the VQ-VAE's; every one would cost as much as training the prior.
    scored = {**data, "train": Subset(data["train"], range(0, len(data["train"]), clips.eval_stride))}
    priors: dict[str, PixelSNAIL3d] = {}
    for level in LEVELS:
        name = f"prior_{level}"
        cfg = prior_config(model_params[name], level, info, f"models.{ctx.run.model}.{name}", stats)
        key = fingerprint({"model": dict(vars(cfg))}, [latents])
        prior = fit(_component(ctx, name, lambda: PixelSNAIL3d(cfg), prior_objective(level), data["train"],
                               data["val"], key)).model
        save_model(ctx.model_dir / f"{name}.pt", f"pixelsnail3d_{level}", dict(vars(cfg)), prior, stamp)
        scores = {split: evaluate_prior(prior, scored[split], level, 16, f"{name} {split}") for split in SPLITS}
        scores["baselines"] = {
            "uniform_bits": math.log2(info["codebook_size"]),
            "unigram_bits": unigram_bits(getattr(data["train"], level), getattr(data["test"], level),
                                         info["codebook_size"]),
        }
        scores["parameters"] = count_parameters(cfg)
        metrics[name] = scores
        priors[level] = prior.cpu()
    finetune = FT.FinetuneConfig.from_dict(model_params.get("finetune", {}), f"models.{ctx.run.model}.finetune",
                                           str(ctx.params_path))
    if finetune.enabled:
        metrics[FT.COMPONENT] = fit_decoder(ctx, fit, vqvae, priors, finetune, conditioning)
    metrics["parameters"] = (sum(p.numel() for p in vqvae.parameters())
                             + metrics["prior_top"]["parameters"] + metrics["prior_bottom"]["parameters"])
    return metrics


def fit_decoder(ctx: RunContext, fit: Fit, vqvae: VQVAE3D, priors: dict[str, PixelSNAIL3d],
                cfg: "FT.FinetuneConfig", conditioning: str | None) -> dict[str, Any]:
    """The decoder fine-tuned on the priors' codes (genvid.models.vq.finetune); ``vqvae.pt`` is
    rewritten with it. Returns its scores on val and test before and after, on the same draws."""
    clips, window = ctx.bench.clips, window_length(ctx)
    temperature, top_k = sampling_settings(ctx, vqvae.cfg.codebook_size)

    def dataset(split: str, stride: int):
        return clip_set(ctx.bench, ctx.frames, ctx.split, ctx.stats, split, window, stride, conditioning)

    def build() -> FT.DecoderFinetune:
        return FT.DecoderFinetune(copy.deepcopy(vqvae), priors["top"], priors["bottom"], window, temperature,
                                  top_k or None, cfg.true_codes_weight)

    train_set, val_set = dataset("train", clips.train_stride), dataset("val", clips.eval_stride)
    scored = {split: dataset(split, clips.eval_stride) for split in FINETUNE_SPLITS}
    seed = int(ctx.run.train_params[FT.COMPONENT].get("seed", 0))
    before = build().to(ctx.device)
    scores = {split: {"before": FT.evaluate(before, data, seed, desc=f"decoder {split} before")}
              for split, data in scored.items()}
    del before
    key = fingerprint({"finetune": vars(cfg), "sampling": [temperature, top_k], "clips": vars(clips), "window": window},
                      [ctx.model_dir / "vqvae.pt", ctx.model_dir / "prior_top.pt", ctx.model_dir / "prior_bottom.pt",
                       ctx.frames, ctx.split, ctx.stats])
    component = _component(ctx, FT.COMPONENT, build, FT.objective, train_set, val_set, key)
    tuned = fit(component).model  # the loop's one optimiser takes the trainable parameters: the decoder's
    for split, data in scored.items():
        scores[split]["after"] = FT.evaluate(tuned, data, seed, desc=f"decoder {split} after")
    save_model(ctx.model_dir / "vqvae.pt", "vqvae3d", tuned.vqvae.cfg.to_dict(), tuned.vqvae, trained_stamp(ctx))
    tuned.cpu()
    scores["true_codes_weight"] = cfg.true_codes_weight
    return scores


@dataclass(frozen=True)
class SamplingConfig:
    """``models.<vq>.sampling``: how the priors draw codes."""

    temperature: float = field(metadata=rule(min=0.0, exclusive_min=True))
    top_k: int = field(metadata=rule(min=0))  # 0 = the full distribution; at most the codebook size (checked there)
    batch_size: int = field(metadata=rule(min=1))  # rows (clips x samples) generated together


def sampling_config(values: Any, section: str, source: str | None) -> SamplingConfig:
    return parse_config(SamplingConfig, values, section, source)


def sampling_settings(ctx, k: int) -> tuple[float, int]:
    """``models.<vq>.sampling``'s (temperature, top_k; 0 = off), top_k checked against the codebook size ``k``."""
    s = sampling_config(ctx.run.model_params["sampling"], f"models.{ctx.run.model}.sampling", ctx.params_path)
    if s.top_k > k:
        raise ParamError(f"{ctx.params_path}: models.{ctx.run.model}.sampling.top_k must be 0 (off) or in [1, {k}] "
                         f"(the codebook size K), got {s.top_k!r}")
    return s.temperature, s.top_k


MAX_WINDOW = 1024  # frames a window may hold (the priors attend over all of its codes at once)


def window_length(ctx) -> int:
    """Frames the VQ-VAE and priors model at once (``models.<vq>.clip_len``; a multiple of 4):
    longer protocols are predicted in rolling windows (VQPredictor)."""
    window = ctx.run.model_params.get("clip_len")
    if isinstance(window, bool) or not isinstance(window, int) or not 4 <= window <= MAX_WINDOW or window % 4:
        raise ParamError(f"{ctx.params_path}: models.{ctx.run.model}.clip_len must be a multiple of 4 in [4, "
                         f"{MAX_WINDOW}] (the VQ-VAE's time strides), got {window!r}")
    return window


def init_untrained(ctx, height: int, width: int, channels: int = 3, conditioning: str | None = None) -> None:
    """Randomly initialised components in ``ctx.model_dir`` (contract tests: leak, determinism);
    a conditioned family's priors read its inputs unstandardised (mean 0, std 1)."""
    vq_cfg = VQVAEConfig.from_dict(ctx.run.model_params["vqvae"], f"models.{ctx.run.model}.vqvae")
    clip_len = window_length(ctx)
    vqvae = VQVAE3D(vq_cfg)
    top, bottom = vqvae.code_shapes(clip_len, height, width)
    info = {"shapes": {"top": top, "bottom": bottom}, "codebook_size": vq_cfg.codebook_size,
            "attrs": {"clip_len": clip_len}}
    columns = None if conditioning is None else len(CONDITIONING[conditioning])
    stats = None if columns is None else ([0.0] * columns, [1.0] * columns)
    stamp = run_stamp(ctx, (height, width, channels))
    save_model(ctx.model_dir / "vqvae.pt", "vqvae3d", vq_cfg.to_dict(), vqvae, stamp)
    for level in LEVELS:
        cfg = prior_config(ctx.run.model_params[f"prior_{level}"], level, info, f"prior_{level}", stats)
        save_model(ctx.model_dir / f"prior_{level}.pt", f"pixelsnail3d_{level}", dict(vars(cfg)), PixelSNAIL3d(cfg), stamp)


def evenly_spaced(dataset, count: int):
    """At most ``count`` clips of ``dataset``, evenly spaced over it (the first and last included)."""
    if len(dataset) <= count:
        return dataset
    return Subset(dataset, np.linspace(0, len(dataset) - 1, count).round().astype(int).tolist())


def full_batches(loader, batch_size: int):
    """``(batch, n)`` for each batch of ``loader``, a short last batch padded with zero clips to
    ``batch_size``: its first ``n`` rows are the real ones. A network's bits depend on the batch's shape,
    and a Zen 4 computed the VQ-VAE on the validation split's short last batch otherwise than the Zen 3 that
    wrote the lock while agreeing on every full batch (docs/reproducibility.md): every forward here sees one
    shape."""
    for x in loader:
        n = len(x)
        yield (x if n == batch_size else torch.cat([x, x.new_zeros(batch_size - n, *x.shape[1:])])), n


@torch.no_grad()
def evaluate_vqvae(model: VQVAE3D, ctx, clip_len: int, stride: int, batch_size: int = 8) -> dict[str, Any]:
    """Reconstruction MSE (normalised, Table 6.1) and PSNR/SSIM (pixels) per split; codebook use.
    Every forward takes ``batch_size`` clips (full_batches); the scores count the real ones only."""
    out: dict[str, Any] = {}
    k, device = model.cfg.codebook_size, next(model.parameters()).device
    for split in SPLITS:
        # Every split at the evaluation stride: train clips at stride 1 overlap 15/16 and would
        # only repeat the same frames (seed 000 §4.1.3 uses stride 8 for evaluation).
        dataset = clip_set(ctx.bench, ctx.frames, ctx.split, ctx.stats, split, clip_len, stride)
        scored = evenly_spaced(dataset, TRAIN_EVAL_CLIPS) if split == "train" else dataset
        sums = dict.fromkeys(VQVAE_SPLIT_KEYS, 0.0)  # mse_normalized, psnr, ssim
        hist = {"top": torch.zeros(k, dtype=torch.int64), "bottom": torch.zeros(k, dtype=torch.int64)}
        loader = tqdm(DataLoader(scored, batch_size=batch_size), desc=f"eval vqvae {split}", mininterval=5)
        for x, n in full_batches(loader, batch_size):
            o = model(x.to(device))
            x, recon = x[:n].to(device), o.recon[:n]
            sums["mse_normalized"] += float(((recon - x) ** 2).mean(dim=(1, 2, 3, 4)).sum())
            pred = denormalize(recon, dataset.mean, dataset.std).transpose(1, 2)
            real = denormalize(x, dataset.mean, dataset.std).transpose(1, 2)
            sums["psnr"] += float(psnr(pred, real).mean(dim=1).sum())
            sums["ssim"] += float(ssim(pred, real).mean(dim=1).sum())
            hist["top"] += code_histogram(o.top_indices[:n], k)
            hist["bottom"] += code_histogram(o.bottom_indices[:n], k)
        result = {name: value / len(scored) for name, value in sums.items()}
        result["clips"] = len(scored)
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
    clips, window = ctx.bench.clips, window_length(ctx)
    strides = {s: clips.train_stride if s == "train" else clips.eval_stride for s in SPLITS}
    datasets = {s: clip_set(ctx.bench, ctx.frames, ctx.split, ctx.stats, s, window, strides[s]) for s in SPLITS}

    device = next(model.parameters()).device

    def batches(dataset, desc: str):
        for i, x in enumerate(tqdm(DataLoader(dataset, batch_size=batch_size), desc=desc, mininterval=5)):
            top, bottom = model.encode(x.to(device))
            starts = dataset.starts[i * batch_size:i * batch_size + len(x)]
            yield starts, top.cpu().numpy().astype(np.int16), bottom.cpu().numpy().astype(np.int16)

    h, w = datasets["train"].raw(0).shape[1:3]
    top_shape, bottom_shape = model.code_shapes(window, h, w)
    attrs = {"codebook_size": model.cfg.codebook_size, "clip_len": window,
             **{f"stride_{s}": strides[s] for s in SPLITS}}
    write_latents(path, {s: batches(d, f"latents {s}") for s, d in datasets.items()},
                  {s: len(d) for s, d in datasets.items()}, {"top": top_shape, "bottom": bottom_shape}, attrs)


# ----------------------------------------------------------------------------- prediction

class VQPredictor:
    """Context frames -> context codes -> priors -> decoder (seed 000 §4.3.3), in rolling windows.

    One window is ``clip_len`` frames (the length the VQ-VAE and priors model). Its context is
    the last min(available, clip_len // 2) frames known so far (real context first, generated
    frames after); the code steps that lie wholly inside it are kept (``encode_context``: frames
    only, never later ones), the rest is generated and decoded, and the frames after the window's
    context are appended. A protocol whose context is not a whole number of code steps (SM-MNIST:
    5 frames, 4 per top step) keeps the whole steps and regenerates the rest of the context
    window, whose pixels are then discarded; a horizon past one window (SM-MNIST: 20) takes more
    windows, each encoding the previous one's generated frames. With context + horizon <= clip_len
    and a context of whole steps (driving: 8 -> 8), this is exactly the single-window sampler.
    """

    def __init__(self, vqvae: VQVAE3D, top: CodePrior, bottom: CodePrior, mean: np.ndarray,
                 std: np.ndarray, clip_len: int, temperature: float, top_k: int, batch_rows: int,
                 device: str = "cpu", conditioned: bool = False):
        self.device, self.conditioned = torch.device(device), conditioned
        self.vqvae, self.top, self.bottom = vqvae.to(self.device).eval(), top, bottom
        self.mean, self.std, self.clip_len = mean, std, clip_len
        self.temperature, self.top_k, self.batch_rows = temperature, top_k or None, batch_rows

    def _codes_start(self, grid: torch.Size, context: int) -> int:
        return window_start(tuple(grid), self.clip_len, context)

    def check_protocol(self, context_frames: int, horizon: int, frame: tuple[int, int, int] | None = None,
                       source: str = "frames") -> None:
        """One GenvidError line unless this model can run on these frames."""
        if frame is None:
            return
        h, w, c = frame
        if c != self.vqvae.cfg.in_channels:
            raise GenvidError(f"{source}: frames have {c} channels, the VQ-VAE was trained on "
                              f"{self.vqvae.cfg.in_channels}")
        top, bottom = self.vqvae.code_shapes(self.clip_len, h, w)
        if self.top.shape != top or self.bottom.shape != bottom:
            raise GenvidError(f"{source}: {h}x{w} frames give code grids {list(top)} / {list(bottom)}, but the "
                              f"priors model {list(self.top.shape)} / {list(self.bottom.shape)}")

    def single_window(self, context_frames: int, horizon: int) -> bool:
        """Whether the protocol fits one window with a context of whole code steps (the
        diagnostics of seed 000 are defined only then)."""
        steps = self.clip_len // self.top.shape[0]
        return context_frames + horizon <= self.clip_len and context_frames % steps == 0 \
            and context_frames <= self.clip_len // 2

    def _normalise(self, frames: torch.Tensor) -> torch.Tensor:
        return torch.stack([normalize(clip.cpu().numpy(), self.mean, self.std) for clip in frames]).to(self.device)

    def _pixels(self, video: torch.Tensor, first: int, count: int) -> torch.Tensor:
        """Normalised [B, C, T, H, W] -> uint8 [B, count, H, W, C] of frames first..first+count-1."""
        pixels = denormalize(video[:, :, first:first + count], self.mean, self.std).permute(0, 2, 3, 4, 1)
        return (pixels * 255.0).round_().to(torch.uint8).cpu()

    def _sample(self, prior: CodePrior, codes, start, generator, cond=None, actions=None):
        return prior.sample(codes, start, generator, self.temperature, self.top_k, cond, actions)

    def _window(self, context: torch.Tensor, generator: torch.Generator, actions: torch.Tensor | None = None):
        """One window from ``context`` rows uint8 [R, Tw, H, W, C] (and, conditioned, the window's
        per-frame actions [R, clip_len, A]): generated (top, bottom) codes."""
        c = context.shape[1]
        top, bottom = self.vqvae.encode_context(self._normalise(context), self.clip_len)
        gen_top = self._sample(self.top, top, self._codes_start(top.shape[1:], c), generator, None, actions)
        gen_bottom = self._sample(self.bottom, bottom, self._codes_start(bottom.shape[1:], c), generator, gen_top,
                                  actions)
        return gen_top, gen_bottom

    def _window_actions(self, rows: torch.Tensor | None, first: int) -> torch.Tensor | None:
        """The actions of window frames first .. first + clip_len - 1 from the rows [R, Tc + horizon, A];
        a window past the last row (its frames after the horizon are discarded) repeats that row."""
        if rows is None:
            return None
        window = rows[:, first:first + self.clip_len]
        missing = self.clip_len - window.shape[1]
        if missing:
            window = torch.cat([window, window[:, -1:].expand(-1, missing, -1)], dim=1)
        return window.float().to(self.device)

    def _roll(self, context: torch.Tensor, horizon: int, num_samples: int, generator: torch.Generator,
              cond: torch.Tensor | None = None):
        """uint8 futures [B*S, horizon, ...] and the first window's generated codes."""
        sequence = context.repeat_interleave(num_samples, 0)
        rows = None if cond is None else cond.repeat_interleave(num_samples, 0)
        target, first_codes = context.shape[1] + horizon, None
        while sequence.shape[1] < target:
            window_context = sequence[:, -min(sequence.shape[1], self.clip_len // 2):]
            first = sequence.shape[1] - window_context.shape[1]
            codes = self._window(window_context, generator, self._window_actions(rows, first))
            first_codes = first_codes or codes
            new = self._pixels(self.vqvae.decode_codes(*codes), window_context.shape[1],
                               self.clip_len - window_context.shape[1])
            sequence = torch.cat([sequence, new[:, :target - sequence.shape[1]]], dim=1)
        return sequence[:, context.shape[1]:], first_codes

    @torch.no_grad()
    def predict(self, context: torch.Tensor, horizon: int, num_samples: int,
                generator: torch.Generator, cond: torch.Tensor | None = None) -> torch.Tensor:
        check_context(context, self.vqvae.cfg.in_channels)
        check_cond(cond, context, horizon, conditioned=self.conditioned)
        self.check_protocol(context.shape[1], horizon, tuple(context.shape[2:]))
        futures, _ = self._roll(context, horizon, num_samples, generator, cond)
        return check_prediction(futures.view(context.shape[0], num_samples, *futures.shape[1:]), context,
                                horizon, num_samples)

    @torch.no_grad()
    def predict_with_diagnostics(self, clips: torch.Tensor, context_frames: int, horizon: int, num_samples: int,
                                 generator: torch.Generator, cond: torch.Tensor | None = None,
                                 ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``predict`` on the context of ``clips`` (the same bytes: the futures see only the
        context), plus the EXTRAS series, which see the whole real clip: generated top + true
        bottom, true top + bottom generated on it, and the reconstruction of the true codes
        (single-window protocols only; see ``single_window``)."""
        c, b = context_frames, clips.shape[0]
        context = clips[:, :c]
        check_cond(cond, context, horizon, conditioned=self.conditioned)
        if not self.single_window(c, horizon):
            return self.predict(context, horizon, num_samples, generator, cond), {}
        check_context(context, self.vqvae.cfg.in_channels)
        self.check_protocol(c, horizon, tuple(clips.shape[2:]))
        flat, (gen_top, gen_bottom) = self._roll(context, horizon, num_samples, generator, cond)
        futures = check_prediction(flat.view(b, num_samples, *flat.shape[1:]), context, horizon, num_samples)
        top, bottom = self.vqvae.encode(self._normalise(clips[:, :self.clip_len]))
        rows_top, rows_bottom = top.repeat_interleave(num_samples, 0), bottom.repeat_interleave(num_samples, 0)
        actions = self._window_actions(None if cond is None else cond.repeat_interleave(num_samples, 0), 0)
        true_top_bottom = self._sample(self.bottom, rows_bottom, self._codes_start(bottom.shape[1:], c), generator,
                                       rows_top, actions)
        series = {"top_only": self.vqvae.decode_codes(gen_top, rows_bottom),
                  "bottom_only": self.vqvae.decode_codes(rows_top, true_top_bottom),
                  "recon": self.vqvae.decode_codes(top, bottom)}
        out = {}
        for name, video in series.items():
            frames = self._pixels(video, c, horizon)
            out[name] = frames.view(b, -1, *frames.shape[1:])
        return futures, out


def predictor(ctx, conditioning: str | None = None) -> VQPredictor:
    """The trained family of ``ctx``'s run, checked against its params."""
    vqvae, _ = load_model(ctx.model_dir / "vqvae.pt", "vqvae3d", run=ctx)
    top, _ = load_model(ctx.model_dir / "prior_top.pt", "pixelsnail3d_top", run=ctx)
    bottom, _ = load_model(ctx.model_dir / "prior_bottom.pt", "pixelsnail3d_bottom", run=ctx)
    bottom.config.check_condition(top.config)  # the bottom prior was built for this top prior's grid and K
    columns = 0 if conditioning is None else len(CONDITIONING[conditioning])
    for name, prior in (("prior_top", top), ("prior_bottom", bottom)):
        if prior.config.actions != columns:
            raise GenvidError(f"{ctx.model_dir / (name + '.pt')}: a prior reading {prior.config.actions} action "
                              f"columns, but model {ctx.run.model} reads {columns} (a model folder of another run?)")
    if top.config.num_codes != vqvae.cfg.codebook_size or bottom.config.num_codes != vqvae.cfg.codebook_size:
        raise GenvidError(f"{ctx.model_dir}: priors model K={top.config.num_codes}/{bottom.config.num_codes} "
                          f"codes but the VQ-VAE has K={vqvae.cfg.codebook_size}")
    mean, std = load_stats(read_json(ctx.stats), str(ctx.stats))
    temperature, top_k = sampling_settings(ctx, vqvae.cfg.codebook_size)
    vqvae, top, bottom = (place(net, ctx.device, ctx.channels_last) for net in (vqvae, top, bottom))
    return VQPredictor(vqvae, PixelSNAILPrior(top, ctx.device), PixelSNAILPrior(bottom, ctx.device), mean, std,
                       window_length(ctx), temperature, top_k, int(ctx.run.model_params["sampling"]["batch_size"]),
                       ctx.device, conditioned=conditioning is not None)


SPEC = ModelSpec("vq", train, predictor, EXTRAS, init=lambda ctx, height, width, channels=3: init_untrained(ctx, height, width, channels),
                 components=COMPONENTS, figures={LEVEL_FIGURE: level_decodings}, code_prior=PIXELSNAIL_PRIOR)
ACTION_SPEC = ModelSpec("vq_action", partial(train, conditioning="action"), partial(predictor, conditioning="action"),
                        EXTRAS, init=lambda ctx, height, width, channels=3: init_untrained(ctx, height, width, channels, "action"),
                        components=COMPONENTS, conditioning="action", choices=(declared.ACTIONS,))

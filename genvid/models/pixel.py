"""Pixel models as registered families: ``model.loss(frames, step)`` and ``model.generate(...)`` on
clips in [0, 1] (genvid.models.predictor) need only a config and a model class; ``pixel_spec``
adds their one component, their likelihood scores and their loading.

The post-training scores follow what the model can do, not its name: a model with
``log_weights`` gets seed 001 Table 9.5's bits per dimension, one with ``kl_per_channel`` (a
hierarchy of latents) seed 004 Table 4.2's test ELBO and Fig. 4.4's KL per channel.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from genvid import params as P
from genvid.config import parse_config, to_dict
from genvid.context import RunContext
from genvid.data.clips import clip_set
from genvid.data.figures import TEMPERATURES, TemperatureSweep
from genvid.data.frames import read_frames_info
from genvid.data.stats import conditioning_stats
from genvid.data.train_metrics import ACTIVE_KL
from genvid.errors import ParamError
from genvid.device import place
from genvid.io import fingerprint
from genvid.metrics.likelihood import bits_per_dim, iwae_bits_per_dim
from genvid.models.family import Component, Fit, ModelSpec
from genvid.models.predictor import PixelPredictor, Predictor
from genvid.models.store import load_model, register_kind, run_stamp, save_model, trained_stamp

DATA_FIELDS = {"channels", "resolution", "context_frames"}  # config fields the benchmark sets
COND_STATS = ("cond_mean", "cond_std")  # a conditioned config's training-split statistics (set by train)
COMPONENT = "model"  # a pixel model's one component: checkpoints/<run>/model, curves/model
SAMPLING = "sampling"  # models.<name>.sampling: a family's prediction-time options (pixel_spec's ``sampling``)


@dataclass(frozen=True)
class Before:
    """Components a pixel family trains before its model (pixel_spec's ``before``): their names, and
    ``fit(ctx, fit, cfg)``, which trains those the run's config needs and returns what readies each newly built
    model with them, and their training metrics ({component: ...}, one entry per component it trained). The
    model's train params are then ``train.<model>.model``, theirs ``train.<model>.<name>``."""

    components: tuple[str, ...]
    fit: Callable[[RunContext, Fit, Any], tuple[Callable[[nn.Module], nn.Module], dict[str, Any]]]


def pixel_spec(name: str, config: type, model: Callable[..., nn.Module], conditioning: str | None = None,
               sampling: type | None = None, before: Before | None = None, **declared: Any) -> ModelSpec:
    """The family of ``model(config)``, an nn.Module with ``loss(frames, step)`` and
    ``generate(context, horizon, num_samples, generator)`` on [0, 1] pixels (with
    ``conditioning``, e.g. "action": ``loss(frames, step, cond)`` and ``generate(..., cond)``).
    Config fields named in DATA_FIELDS come from the run's benchmark, not from params. ``sampling``: the
    dataclass of the model's prediction-time options, ``models.<name>.sampling`` (read when predicting, not
    part of what trains: a change reruns sampling, not training; its ``against(cfg)`` names a problem with them for
    the model of ``cfg``), which the predictor hands to the model's
    ``configure_sampling``. ``before``: components trained first (Before). ``declared``: the spec's report
    declarations (label, citation, choices)."""

    def classes() -> tuple[type, Callable[..., nn.Module]]:
        return config, model

    def build_from(stored: dict) -> nn.Module:
        cls, make = classes()
        return make(parse_config(cls, stored, f"models.{name}", None))

    register_kind(name, build_from)

    def config_for(section: dict, channels: int, resolution: int, context_frames: int, source: str | None):
        cls, _ = classes()
        data = {"channels": channels, "resolution": resolution, "context_frames": context_frames}
        fields = {f.name for f in dataclasses.fields(cls)}
        for key in (DATA_FIELDS | set(COND_STATS)) & fields & set(section):
            raise ParamError(f"{source}: models.{name}.{key} is set from the benchmark; remove it")
        values = {**{k: v for k, v in section.items() if k != SAMPLING or sampling is None},
                  **{k: v for k, v in data.items() if k in fields}}
        cfg = parse_config(cls, values, f"models.{name}", source)
        sampling_config(section, cfg, source)  # checked with the model's own, before anything trains
        return cfg

    def sampling_config(section: dict, cfg: Any, source: str | None) -> Any:
        if sampling is None:
            return None
        parsed = parse_config(sampling, section.get(SAMPLING) or {}, f"models.{name}.{SAMPLING}", source)
        problem = parsed.against(cfg) if hasattr(parsed, "against") else None
        if problem:
            raise ParamError(f"{source + ': ' if source else ''}models.{name}.{SAMPLING}: {problem}")
        return parsed

    def run_config(ctx: RunContext, channels: int, resolution: int):
        return config_for(ctx.run.model_params, channels, resolution, ctx.bench.protocol.context_frames,
                          ctx.params_path)

    def network(section: dict, channels: int, resolution: int, context_frames: int) -> nn.Module:
        return classes()[1](config_for(section, channels, resolution, context_frames, None))

    def train(ctx: RunContext, fit: Fit) -> dict[str, Any]:
        info = read_frames_info(ctx.frames)
        cfg = run_config(ctx, info.channels, info.height)
        if conditioning is not None and set(COND_STATS) <= {f.name for f in dataclasses.fields(cfg)}:
            mean, std = conditioning_stats(ctx.frames, ctx.split, conditioning)  # inputs standardised as frames are
            cfg = dataclasses.replace(cfg, cond_mean=tuple(mean), cond_std=tuple(std))
        if before is None:
            return train_pixel_model(ctx, fit, lambda: classes()[1](cfg), to_dict(cfg), conditioning)
        ready, trained = before.fit(ctx, fit, cfg)
        earlier = {c: ctx.run.train_params.get(c) for c in before.components}
        metrics = train_pixel_model(ctx, fit, lambda: ready(classes()[1](cfg)), to_dict(cfg), conditioning, earlier)
        return {**metrics, **trained, "components": [*trained, COMPONENT]}  # what trained, in order

    def init(ctx: RunContext, height: int, width: int, channels: int = 3) -> None:
        cfg = run_config(ctx, channels, height)
        save_model(ctx.model_dir / "model.pt", name, to_dict(cfg), classes()[1](cfg), run_stamp(ctx, (height, width, channels)))

    def predictor(ctx: RunContext) -> Predictor:
        loaded, _ = load_model(ctx.model_dir / "model.pt", name, run=ctx)
        if sampling is not None:
            loaded.configure_sampling(sampling_config(ctx.run.model_params, loaded.cfg, ctx.params_path))
        return PixelPredictor(place(loaded, ctx.device, ctx.channels_last), ctx.device, conditioned=conditioning is not None)

    components = (COMPONENT,) if before is None else (*before.components, COMPONENT)
    return ModelSpec(name, train, predictor, init=init, components=components, network=network,
                     figures={TEMPERATURES: temperature_sweep}, conditioning=conditioning,
                     modules=tuple(sorted({config.__module__, model.__module__})), **declared)


def pixel_clips(ctx: RunContext, split: str, conditioning: str | None = None, keep: bool = False):
    """The run's training (or validation) clips of its training length, pixels in [0, 1] (``keep``: clip_set's)."""
    clips = ctx.bench.clips
    stride = clips.train_stride if split == "train" else clips.eval_stride
    return clip_set(ctx.bench, ctx.frames, ctx.split, None, split, training_clip_len(ctx), stride, conditioning, keep)


def train_pixel_model(ctx: RunContext, fit: Fit, build: Callable[[], nn.Module], config: dict,
                      conditioning: str | None = None, earlier: dict | None = None) -> dict[str, Any]:
    """Train on the run's training clips, validate on its validation clips, save ``model.pt``. ``earlier``: the
    train params of the components trained before it ({name: block}; its own block is then
    ``train.<model>.model``), which its fingerprint covers."""
    clips = ctx.bench.clips
    clip_len = training_clip_len(ctx)

    def objective(m: nn.Module, batch: Any, step: int):
        if conditioning is None:
            return m.loss(batch, step)
        frames, cond = batch
        return m.loss(frames, step, cond)

    identity = {"model": config, "clips": {**vars(clips), "clip_len": clip_len}, "collect": vars(ctx.bench.collect)}
    key = fingerprint({**identity, "earlier_train": earlier} if earlier else identity, [ctx.frames, ctx.split])
    params, section = ctx.run.train_params, f"train.{ctx.run.model}"
    if earlier is not None:
        params, section = params.get(COMPONENT), f"{section}.{COMPONENT}"
    # a model with several optimisers (a GAN's "g" and "d") names their parameters itself
    def groups(m: nn.Module) -> dict[str, list[nn.Parameter]] | None:
        return m.optimizer_groups() if hasattr(m, "optimizer_groups") else None

    fitted = fit(Component(COMPONENT, build, objective, pixel_clips(ctx, "train", conditioning),
                           pixel_clips(ctx, "val", conditioning), key, params, section, optimizers=groups,
                           desc=ctx.run.name))
    model = fitted.model
    save_model(ctx.model_dir / "model.pt", ctx.run.model, config, model, trained_stamp(ctx))  # weights to the CPU
    metrics = {"parameters": sum(p.numel() for p in model.parameters()), "val": fitted.val}
    # (a conditioned model's likelihood needs its inputs too: not scored here yet)
    if hasattr(model, "log_weights") and conditioning is None:  # bits per dimension on test clips
        metrics.update(test_bits_per_dim(ctx, model))
    if hasattr(model, "kl_per_channel") and conditioning is None:  # seed 004 Table 4.2 and Fig. 4.4
        metrics.update(test_elbo(ctx, model, fitted.curves))
    model.cpu()
    return metrics


def _device(model: nn.Module) -> torch.device:
    """The device of the model's parameters (the CPU for a model without any)."""
    return next((p.device for p in model.parameters()), torch.device("cpu"))


def training_clip_len(ctx: RunContext) -> int:
    """Frames per training clip: ``train.<model>.clip_len`` where set (``train.<model>.model.clip_len`` in a family
    with components trained before its model: every component's), else the benchmark's."""
    block, section = ctx.run.train_params, f"train.{ctx.run.model}"
    if isinstance(block.get(COMPONENT), dict):
        block, section = block[COMPONENT], f"{section}.{COMPONENT}"
    own = block.get("clip_len")
    if own is None:
        return ctx.bench.clips.clip_len
    if isinstance(own, bool) or not isinstance(own, int) or own < 2:  # before the loop's own check: clips come first
        raise ParamError(f"{ctx.params_path}: {section}.clip_len must be >= 2, got {own!r}")
    return own


def _likelihood_clips(ctx: RunContext) -> tuple[Any, torch.Tensor]:
    """(likelihood params, the first ``likelihood.clips`` test clips of the training length)."""
    cfg = P.top_level(P.read_params(ctx.params_path), "likelihood", ctx.params_path)
    test = clip_set(ctx.bench, ctx.frames, ctx.split, None, "test", training_clip_len(ctx),
                    ctx.bench.protocol.test_stride)
    return cfg, torch.stack([test[i] for i in range(min(cfg.clips, len(test)))])


@torch.no_grad()
def test_bits_per_dim(ctx: RunContext, model: nn.Module) -> dict[str, Any]:
    """Seed 001 Table 9.5's metric: the importance-weighted upper bound on bits per dimension
    (K = ``likelihood.iwae_samples``), and the ELBO's (the mean of the same K log weights: by
    Jensen never below the bound, whatever the draws), over the first
    ``likelihood.clips`` test clips of the training length; the model's ``log_weights`` states
    its dequantisation convention (none for a discrete likelihood, §8.3's for a flow). Runs on the
    model's device; the noise comes from a CPU generator (the models draw on the generator's
    device), so the draws are the same on every device."""
    cfg, frames = _likelihood_clips(ctx)
    n = len(frames)
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
            "bits_per_dim_protocol": {"iwae_samples": cfg.iwae_samples, "clips": n, "frames": frames.shape[1],
                                      "bound": "upper bound on bits per dimension of the 8-bit frames after the first"}}


@torch.no_grad()
def test_elbo(ctx: RunContext, model: nn.Module, curves: list[dict[str, Any]]) -> dict[str, Any]:
    """Seed 004 Table 4.2's numbers: the negative ELBO (nats per sequence, one posterior sample)
    on the likelihood test clips, split into reconstruction and per-level KL, the training set's
    (the last logged window), and Fig. 4.4's mean KL per latent channel and active channels."""
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
                          "clips": len(frames), "unit": model.elbo_unit},
            "train_neg_elbo": -train[-1]["elbo"] if train else None,
            "kl_per_channel": channels, "latent_resolutions": list(model.levels),
            "active_channels": [sum(v > ACTIVE_KL for v in level) for level in channels]}


@torch.no_grad()
def temperature_sweep(ctx: RunContext, real: np.ndarray, rows: np.ndarray, context_frames: int, horizon: int,
                      temperatures: tuple[float, ...], seed: int) -> TemperatureSweep:
    """One future of each clip of ``real`` (uint8 [k, T, H, W, C]) from its first ``context_frames``
    frames at every temperature, on the CPU, from a generator seeded with ``seed`` each time (so
    only the temperature differs). Only a model whose config has a ``temperature`` can; the caller
    (genvid.models.figures) has checked the model folder against the run's params (its run record)."""
    name = ctx.run.name
    model, _ = load_model(ctx.model_dir / "model.pt", ctx.run.model, run=ctx)
    cfg = getattr(model, "cfg", None)
    if not (dataclasses.is_dataclass(cfg) and "temperature" in {f.name for f in dataclasses.fields(cfg)}):
        raise ParamError(f"report.temperature_run '{name}' is a '{ctx.run.model}' run, whose model has no "
                         "sampling temperature (seed 001's rfn has one)")
    context = torch.from_numpy(np.ascontiguousarray(real[:, :context_frames]))
    futures = []
    try:
        for temp in temperatures:
            model.cfg = dataclasses.replace(cfg, temperature=float(temp))
            generator = torch.Generator().manual_seed(seed)
            futures.append(PixelPredictor(model).predict(context, horizon, 1, generator)[:, 0].numpy())
    finally:
        model.cfg = cfg
    return TemperatureSweep(name, ctx.run.model, np.asarray(rows, np.int64), tuple(float(t) for t in temperatures),
                            int(seed), int(context_frames), np.asarray(real, np.uint8), np.stack(futures),
                            ctx.run.model_params)

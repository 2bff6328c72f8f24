"""Seed 004 Ch. 6's cascaded video GAN as a registered family: one component per level, trained
greedily (§6.2: "in sequence and not end-to-end") by the one training loop.

Level l's component is its generator and discriminators (genvid.models.cvg.model.CVGLevel) with two
optimisers, "g" and "d" (``train.cvg.level<l>.optimizers``; two discriminator steps per generator
step is ``g.every: 2``). An upsampling level trains on the previous levels' samples for each batch's
context, drawn by the frozen, already trained levels (no gradient reaches them). Each level is
resumable on its own (``checkpoints/<run>/level<l>``), and the loop stops on a non-finite loss or one
past ``loss_bound`` with the last good checkpoint kept.

A level's fingerprint covers its config, every earlier level's train params and the data, so an
ablation's variant that changes only the upsampling level loads the run's own trained first level
(``RunContext.reuse_dir``) instead of training it again: greedy training makes that the same weights.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from genvid.config import parse_config, to_dict
from genvid.context import RunContext
from genvid.data.clips import clip_set
from genvid.data.frames import read_frames_info
from genvid.errors import GenvidError, ParamError
from genvid.device import place
from genvid.io import fingerprint
from genvid.models.cvg.declared import ABLATION_TABLE, CHOICES
from genvid.models.cvg.model import MAX_LEVELS, Cascade, CVGConfig, CVGLevel, area_down
from genvid.models.family import Component, Fit, ModelSpec
from genvid.models.predictor import PixelPredictor, to_unit
from genvid.models.store import load_model, register_kind, run_stamp, save_model

COMPONENTS = tuple(f"level{level}" for level in range(1, MAX_LEVELS + 1))
KIND = "cvg_level"
DATA_FIELDS = ("channels", "resolution", "context_frames")
UPSAMPLING_FIELDS = ("temporal", "matching", "window")  # read by levels 2 … L only


def _build(stored: dict) -> CVGLevel:
    values = {k: v for k, v in stored.items() if k not in ("level", "fingerprint")}
    return CVGLevel(parse_config(CVGConfig, values, "models.cvg", None), int(stored["level"]))


register_kind(KIND, _build)


def run_config(ctx: RunContext, channels: int, resolution: int) -> CVGConfig:
    section = ctx.run.model_params
    for key in DATA_FIELDS:
        if key in section:
            raise ParamError(f"{ctx.params_path}: models.{ctx.run.model}.{key} is set from the benchmark; remove it")
    values = {**section, "channels": channels, "resolution": resolution,
              "context_frames": ctx.bench.protocol.context_frames}
    return parse_config(CVGConfig, values, f"models.{ctx.run.model}", ctx.params_path)


def level_path(model_dir: Path, level: int) -> Path:
    return model_dir / f"level{level}.pt"


def _stored(cfg: CVGConfig, level: int, key: str) -> dict:
    return {**to_dict(cfg), "level": level, "fingerprint": key}


class _Objective:
    """The loop's objective for one level: clips in [0, 1] -> [-1, 1]; an upsampling level's coarse
    input sampled by the frozen earlier levels from the global RNG (seeded and resumed by the loop)."""

    def __init__(self, cfg: CVGConfig, earlier: Cascade | None):
        self.cfg, self.earlier = cfg, earlier

    def __call__(self, model: CVGLevel, batch: torch.Tensor, step: int):
        x = batch * 2 - 1
        if self.earlier is None:
            return model.loss(x)
        c, f = self.cfg.context_frames, self.cfg.factor(model.level - 1)
        horizon = (x.shape[1] - c) // f * f  # whole coarse frames inside the clip
        with torch.no_grad():
            coarse = self.earlier.sample(x[:, :c], horizon, lambda shape: torch.randn(shape, device=x.device))[-1]
        return model.loss(x, coarse)


def train(ctx: RunContext, fit: Fit) -> dict[str, Any]:
    """Level 1, then each upsampling level on the trained levels' samples."""
    info = read_frames_info(ctx.frames)
    cfg = run_config(ctx, info.channels, info.height)
    clips = ctx.bench.clips

    def dataset(split: str, stride: int):
        return clip_set(ctx.bench, ctx.frames, ctx.split, None, split, clips.clip_len, stride)

    data = {"collect": vars(ctx.bench.collect), "clips": vars(clips)}
    generators: list[nn.Module] = []
    metrics: dict[str, Any] = {}
    for level in range(1, cfg.levels + 1):
        name = f"level{level}"
        earlier = {f"level{k}": ctx.run.train_params.get(f"level{k}") for k in range(1, level)}
        model = {k: v for k, v in to_dict(cfg).items() if level > 1 or k not in UPSAMPLING_FIELDS}
        key = fingerprint({"model": model, "level": level, "earlier_train": earlier, "data": data,
                           "train": ctx.run.train_params.get(name)}, [ctx.frames, ctx.split])
        net = _reused(ctx, level, key)
        if net is None:
            objective = _Objective(cfg, Cascade(generators) if generators else None)
            component = Component(name, lambda lv=level: CVGLevel(cfg, lv), objective,
                                  dataset("train", clips.train_stride), dataset("val", clips.eval_stride), key,
                                  ctx.run.train_params.get(name), f"train.{ctx.run.model}.{name}",
                                  optimizers=CVGLevel.optimizer_groups, desc=f"{ctx.run.name} {name}")
            fitted = fit(component)
            net, metrics[name] = fitted.model, {"val": fitted.val}
        else:
            net = net.to(ctx.device).eval()
            metrics[name] = {"reused": str(level_path(ctx.reuse_dir, level))}
        save_model(level_path(ctx.model_dir, level), KIND, _stored(cfg, level, key), net,
                   run_stamp(ctx, (info.height, info.width, info.channels)))
        metrics[name]["parameters"] = {"generator": _count(net.generator), "discriminators": _count(net) - _count(net.generator)}
        generators.append(net.generator)
    metrics["parameters"] = sum(metrics[f"level{k}"]["parameters"]["generator"] for k in range(1, cfg.levels + 1))
    return metrics


def _reused(ctx: RunContext, level: int, key: str) -> CVGLevel | None:
    """The level trained for ``ctx.reuse_dir``'s run with the same fingerprint, if there is one."""
    if ctx.reuse_dir is None or not level_path(ctx.reuse_dir, level).exists():
        return None
    net, stored = load_model(level_path(ctx.reuse_dir, level), KIND)
    return net if stored.get("fingerprint") == key else None


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def init_untrained(ctx: RunContext, height: int, width: int, channels: int = 3) -> None:
    """Randomly initialised levels in ``ctx.model_dir`` (the contract tests: leak, determinism)."""
    cfg = run_config(ctx, channels, height)
    for level in range(1, cfg.levels + 1):
        save_model(level_path(ctx.model_dir, level), KIND, _stored(cfg, level, ""), CVGLevel(cfg, level),
                   run_stamp(ctx, (height, width, channels)))


def load_cascade(model_dir: Path, device: str = "cpu", run: RunContext | None = None) -> Cascade:
    """The trained levels of ``model_dir`` as one Cascade, checked to be levels of one model (and, given
    the ``run`` loading them, that run's: genvid.models.store.check_stamp)."""
    first, stored = load_model(level_path(model_dir, 1), KIND, run=run)
    levels = [first]
    for level in range(2, first.cfg.levels + 1):
        net, _ = load_model(level_path(model_dir, level), KIND, run=run)
        if net.cfg != first.cfg or net.level != level:
            raise GenvidError(f"{level_path(model_dir, level)}: not level {level} of the model of "
                              f"{level_path(model_dir, 1)} (rerun its train stage)")
        levels.append(net)
    return Cascade([net.generator for net in levels]).to(device).eval()


def predictor(ctx: RunContext) -> PixelPredictor:
    return PixelPredictor(place(load_cascade(ctx.model_dir, ctx.device, ctx), ctx.device, ctx.channels_last), ctx.device)


@torch.no_grad()
def grounding_psnr(cascade: Cascade, context: torch.Tensor, horizon: int, generator: torch.Generator) -> list[float]:
    """Per upsampling level l, the PSNR (dB, pixels in [0, 1]) between level l's output downsampled to
    level l-1's grid (every other frame, half the resolution) and level l-1's output (§6.3: how well
    a level stays grounded in its input), over context [B, c, C, H, W] in [0, 1], one sample each."""
    outs = cascade.generate(context, horizon, 1, generator, levels=True)
    psnr = []
    for fine, coarse in zip(outs[1:], outs[:-1]):
        down = area_down(fine[:, :, 1::2], 2)  # fine frames 2j' sit on coarse frame j'
        n = min(down.shape[2], coarse.shape[2])
        mse = ((down[:, :, :n] - coarse[:, :, :n]) ** 2).mean()
        psnr.append(float(10 * torch.log10(1 / mse.clamp_min(1e-10))))
    return psnr


def diagnostics(predictor: PixelPredictor, context: torch.Tensor, horizon: int,
                generator: torch.Generator) -> dict[str, Any]:
    """An ablation's measures of a trained cascade: the grounding PSNR of each upsampling level."""
    cascade = predictor.model
    unit = to_unit(context).to(predictor.device)
    return {"grounding_psnr": grounding_psnr(cascade, unit, horizon, generator)}


SPEC = ModelSpec("cvg", train, predictor, init=init_untrained, components=COMPONENTS, diagnostics=diagnostics,
                 label="CVG", citation="seed 004 Ch. 6", choices=CHOICES,
                 ablation_table=ABLATION_TABLE)

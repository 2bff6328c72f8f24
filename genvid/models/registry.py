"""The model registry (SPEC §3): a name in ``params.yaml: runs.<run>.model`` maps to a ModelSpec.

A spec says how to train the model on a run's data (every component, resumable) and how to
load it back as a Predictor. Pixel models (they own ``loss`` and ``generate``, see
genvid.models.predictor) need only their config class and a build function: ``pixel_spec``
adds the shared training and loading around them.

    ModelSpec(name, train, predictor, extras)
      train(ctx) -> training metrics (JSON-able); writes ctx.model_dir, ctx.report_dir/curves
      predictor(ctx) -> Predictor (loaded from ctx.model_dir)
      extras: named diagnostic series the predictor's ``diagnostics`` adds to the samples file
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from torch import nn

from genvid.config import parse_config, to_dict
from genvid.data.samples import Extra
from genvid.errors import ParamError
from genvid.models.predictor import CopyLast, PixelPredictor, Predictor
from genvid.models.store import load_model, register_kind, save_model
from genvid.params import BenchmarkConfig, Run


@dataclass(frozen=True)
class RunContext:
    """Everything a run's train and sample stages need, resolved from params.yaml."""

    run: Run
    bench: BenchmarkConfig
    frames: Path
    split: Path
    stats: Path
    model_dir: Path  # models/<run>/
    report_dir: Path  # reports/<benchmark>/runs/<run>/
    workdir: Path  # checkpoints/<run>/ (resumable state, git-ignored)
    device: str = "cpu"
    precision: str = "fp32"
    params_path: str = "params.yaml"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    train: Callable[[RunContext], dict[str, Any]]
    predictor: Callable[[RunContext], Predictor]
    extras: dict[str, Extra] = field(default_factory=dict)


MODELS: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    MODELS[spec.name] = spec
    return spec


def get(name: str, where: str = "runs") -> ModelSpec:
    if name not in MODELS:
        raise ParamError(f"params.yaml: {where}: model '{name}' is not registered (known: {', '.join(sorted(MODELS))})")
    return MODELS[name]


# ----------------------------------------------------------------------------- pixel models

def pixel_spec(name: str, module: str, config: str, build: str) -> ModelSpec:
    """Register a model of ``module`` whose ``build(cfg, channels)`` returns an nn.Module with
    ``loss(frames, step)`` and ``generate(context, horizon, num_samples, generator)``."""

    def factory() -> tuple[type, Callable[..., nn.Module]]:
        mod = importlib.import_module(module)
        return getattr(mod, config), getattr(mod, build)

    def build_from(stored: dict) -> nn.Module:
        cls, make = factory()
        return make(parse_config(cls, stored["model"], f"models.{name}", None), stored["channels"])

    register_kind(name, build_from)

    def train(ctx: RunContext) -> dict[str, Any]:
        from genvid.train.pixels import train_pixel_model

        cls, make = factory()
        cfg = parse_config(cls, ctx.run.model_params, f"models.{name}", ctx.params_path)
        return train_pixel_model(ctx, lambda channels: make(cfg, channels),
                                 lambda channels: {"model": to_dict(cfg), "channels": channels})

    def predictor(ctx: RunContext) -> Predictor:
        model, _ = load_model(ctx.model_dir / "model.pt", name)
        return PixelPredictor(model.to(ctx.device), ctx.device)

    return register(ModelSpec(name, train, predictor))


# ----------------------------------------------------------------------------- the registry

def _vq_train(ctx: RunContext) -> dict[str, Any]:
    from genvid.models import vq_family
    return vq_family.train(ctx)


def _vq_predictor(ctx: RunContext) -> Predictor:
    from genvid.models import vq_family
    return vq_family.predictor(ctx)


def _copy_last_train(ctx: RunContext) -> dict[str, Any]:
    if ctx.run.model_params:
        raise ParamError(f"{ctx.params_path}: models.copy_last takes no parameters")
    return {"parameters": 0}


def _vq_extras() -> dict[str, Extra]:
    from genvid.models.vq_family import EXTRAS
    return EXTRAS


register(ModelSpec("copy_last", _copy_last_train, lambda ctx: CopyLast()))
register(ModelSpec("vq", _vq_train, _vq_predictor, _vq_extras()))

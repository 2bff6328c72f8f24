"""The model registry (SPEC §3): a name in ``params.yaml: runs.<run>.model`` maps to a ModelSpec.

A spec says how to train the model on a run's data (every component, resumable) and how to
load it back as a Predictor. Pixel models (they own ``loss`` and ``generate``, see
genvid.models.predictor) need only their config and model classes: ``pixel_spec`` adds the
shared training, likelihood scoring and loading around them.

    ModelSpec(name, train, predictor, extras)
      train(ctx) -> training metrics (JSON-able); writes ctx.model_dir, ctx.report_dir/curves
      predictor(ctx) -> Predictor (loaded from ctx.model_dir)
      init(ctx, height, width, channels): untrained weights in ctx.model_dir (the registry's contract tests)
      extras: named series that ``predict_with_diagnostics`` adds to the samples file (they may see
              the future: each says so, and they are never scored as predictions)
"""
from __future__ import annotations

import dataclasses
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
    # writes randomly initialised weights to ctx.model_dir (contract tests), frames H x W
    init: Callable[..., None] = lambda ctx, height, width, channels=3: None


MODELS: dict[str, ModelSpec] = {}


def run_context(params_path: str | Path, run_name: str, root: str | Path = ".") -> tuple[RunContext, dict]:
    """The RunContext of a run (validated params, artefact paths under ``root``) and the raw params."""
    from genvid import params as P
    from genvid.layout import benchmark_paths, run_paths

    raw = P.read_params(params_path)
    run = P.run(raw, run_name, params_path)
    bench = P.benchmark(raw, run.benchmark, params_path)
    device = P.top_level(raw, "device", params_path)
    data, paths = benchmark_paths(run.benchmark, root), run_paths(run.name, run.benchmark, root)
    return RunContext(run, bench, data.frames, data.split, data.stats, paths.model_dir, paths.report_dir,
                      paths.workdir, device.device, device.precision, str(params_path)), raw


def register(spec: ModelSpec) -> ModelSpec:
    MODELS[spec.name] = spec
    return spec


def get(name: str, where: str = "runs") -> ModelSpec:
    if name not in MODELS:
        raise ParamError(f"params.yaml: {where}: model '{name}' is not registered (known: {', '.join(sorted(MODELS))})")
    return MODELS[name]


# ----------------------------------------------------------------------------- pixel models

def pixel_spec(name: str, module: str, config: str, model: str) -> ModelSpec:
    """Register ``module.model(cfg)``, an nn.Module with ``loss(frames, step)`` and
    ``generate(context, horizon, num_samples, generator)`` on [0, 1] pixels. Config fields named
    in DATA_FIELDS come from the run's benchmark, not from params."""

    def classes() -> tuple[type, Callable[..., nn.Module]]:
        mod = importlib.import_module(module)
        return getattr(mod, config), getattr(mod, model)

    def build_from(stored: dict) -> nn.Module:
        cls, make = classes()
        return make(parse_config(cls, stored, f"models.{name}", None))

    register_kind(name, build_from)

    def run_config(ctx: RunContext, channels: int, resolution: int):
        cls, _ = classes()
        data = {"channels": channels, "resolution": resolution, "context_frames": ctx.bench.protocol.context_frames}
        fields = {f.name for f in dataclasses.fields(cls)}
        for key in DATA_FIELDS & fields & set(ctx.run.model_params):
            raise ParamError(f"{ctx.params_path}: models.{name}.{key} is set from the benchmark; remove it")
        values = {**ctx.run.model_params, **{k: v for k, v in data.items() if k in fields}}
        return parse_config(cls, values, f"models.{name}", ctx.params_path)

    def train(ctx: RunContext) -> dict[str, Any]:
        from genvid.data.frames import read_frames_info
        from genvid.train.pixels import train_pixel_model

        info = read_frames_info(ctx.frames)
        cfg = run_config(ctx, info.channels, info.height)
        return train_pixel_model(ctx, lambda: classes()[1](cfg), to_dict(cfg))

    def init(ctx: RunContext, height: int, width: int, channels: int = 3) -> None:
        cfg = run_config(ctx, channels, height)
        save_model(ctx.model_dir / "model.pt", name, to_dict(cfg), classes()[1](cfg))

    def predictor(ctx: RunContext) -> Predictor:
        loaded, _ = load_model(ctx.model_dir / "model.pt", name)
        return PixelPredictor(loaded.to(ctx.device), ctx.device)

    return register(ModelSpec(name, train, predictor, init=init))


DATA_FIELDS = {"channels", "resolution", "context_frames"}


# ----------------------------------------------------------------------------- the registry

def _copy_last_train(ctx: RunContext) -> dict[str, Any]:
    if ctx.run.model_params:
        raise ParamError(f"{ctx.params_path}: models.copy_last takes no parameters")
    return {"parameters": 0}


def _vq_train(ctx: RunContext) -> dict[str, Any]:
    from genvid.models import vq_family
    return vq_family.train(ctx)


def _vq_predictor(ctx: RunContext) -> Predictor:
    from genvid.models import vq_family
    return vq_family.predictor(ctx)


def _vq_init(ctx: RunContext, height: int, width: int, channels: int = 3) -> None:
    from genvid.models import vq_family
    vq_family.init_untrained(ctx, height, width)


def _vq_extras() -> dict[str, Extra]:
    from genvid.models.vq_family import EXTRAS
    return EXTRAS


register(ModelSpec("copy_last", _copy_last_train, lambda ctx: CopyLast()))
register(ModelSpec("vq", _vq_train, _vq_predictor, _vq_extras(), init=_vq_init))  # seed 000
pixel_spec("vrnn", "genvid.models.vrnn", "VRNNConfig", "VRNN")  # seed 001 §3.4, §8.1
pixel_spec("srnn", "genvid.models.vrnn", "SRNNConfig", "VRNN")  # seed 001 §3.5, §8.1
pixel_spec("rfn", "genvid.models.rfn", "RFNConfig", "RFN")  # seed 001 Ch. 5, §8.2-8.4
pixel_spec("svg_lp", "genvid.models.svg_lp", "SVGLPConfig", "SVGLP")  # Denton & Fergus 2018
pixel_spec("hvrnn", "genvid.models.hvrnn", "HVRNNConfig", "HVRNN")  # seed 004 §4.4

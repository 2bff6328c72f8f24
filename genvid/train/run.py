"""A run's training: the registered family's recipe (genvid.models.family) with the one loop.

``train_run(ctx, spec)`` checks the train params of every component the family declares, then
calls ``spec.train(ctx, fit)``; the family calls ``fit(component)`` for each network it trains.
"""
from __future__ import annotations

import hashlib
from functools import partial
from typing import Any, Callable

from torch import nn

from genvid.context import RunContext
from genvid.determinism import seed_everything
from genvid.models.family import Component, Fitted, ModelSpec, train_sections
from genvid.train.config import TrainConfig
from genvid.train.curves import write_curves_tsv
from genvid.train.loop import fit


# (component name, step, the network in training) after each checkpoint: benchmarks/learning.py copies the
# weights there to score them later; it must leave the network and every RNG as it found them
OnCheckpoint = Callable[[str, int, nn.Module], None]


def checkpoint_identity(fingerprint: str, code: str) -> str:
    """A component's checkpoint identity: its config + data ``fingerprint``, and the ``code`` digest where the
    stage has one (genvid.context.RunContext.code), so that no stage resumes a checkpoint of other code."""
    return hashlib.sha256(f"{fingerprint}:{code}".encode()).hexdigest() if code else fingerprint


def fit_component(ctx: RunContext, component: Component, on_checkpoint: OnCheckpoint | None = None) -> Fitted:
    """Seed with the component's train seed, build it (reproducible initial weights), train it
    resumably in ``ctx.workdir/<component>``, write its curves; the network comes back on the
    run's device in eval mode (the family's evaluation passes run there)."""
    cfg = TrainConfig.from_dict(component.train_params, component.section, ctx.params_path)
    seed_everything(cfg.seed)
    model = component.build()
    groups = component.optimizers(model) if component.optimizers is not None else None
    result = fit(model, component.objective, component.train_set, component.val_set, cfg,
                 ctx.workdir / component.name, checkpoint_identity(component.fingerprint, ctx.code),
                 desc=component.desc or component.name,
                 device=ctx.device, precision=ctx.precision, channels_last=ctx.channels_last,
                 compile=ctx.compile, optimizers=groups,
                 on_checkpoint=None if on_checkpoint is None else lambda step: on_checkpoint(component.name, step, model))
    model.to(ctx.device).eval()
    folder = ctx.report_dir / "curves" / component.name
    write_curves_tsv(result.curves, folder / "train.tsv", folder / "val.tsv")
    return Fitted(model, result.curves, result.val)


def train_run(ctx: RunContext, spec: ModelSpec, on_checkpoint: OnCheckpoint | None = None) -> dict[str, Any]:
    """Train every component of ``ctx.run``'s family; its training metrics."""
    for section, values in train_sections(spec, ctx.run).values():  # fail before the first component trains
        TrainConfig.from_dict(values, section, ctx.params_path)
    return spec.train(ctx, partial(fit_component, ctx, on_checkpoint=on_checkpoint))

"""Seed 003 §6.3's feature flow GAN as registered families: the model on frames alone, and steered by the
recorded actions (``feature_flow_action``, issue 48), each trained and sampled as a pixel model
(genvid.models.pixel).

Two components: ``warp``, genvid's context warp (genvid.models.feature_flow.warp), trained first and alone on the
squared error of the horizon's warped frames where ``models.<model>.context_warp`` is on (``train.<model>.warp``;
nothing trains otherwise), then ``model``, the GAN, with that warp loaded and frozen (``train.<model>.model``)."""
from __future__ import annotations

from typing import Any, Callable

from torch import nn

from genvid.context import RunContext
from genvid.io import fingerprint
from genvid.models.family import Component, Fit
from genvid.models.feature_flow import declared, model
from genvid.models.feature_flow.warp import ContextWarp
from genvid.models.pixel import Before, pixel_clips, pixel_spec, training_clip_len

WARP = "warp"


def fit_warp(ctx: RunContext, fit: Fit, cfg: model.FeatureFlowConfig) -> tuple[Callable[[nn.Module], nn.Module],
                                                                                dict[str, Any]]:
    """Train the run's context warp (if its config has one); what loads it, frozen, into a new FeatureFlow, and its
    training metrics."""
    if not cfg.context_warp:
        return (lambda net: net), {}

    def build() -> ContextWarp:
        return model.context_warp(cfg)

    sizes = {k: getattr(cfg, k) for k in model.WARP_SIZES}
    key = fingerprint({"warp": sizes, "clips": {**vars(ctx.bench.clips), "clip_len": training_clip_len(ctx)},
                       "collect": vars(ctx.bench.collect)}, [ctx.frames, ctx.split])
    # it sees each training sequence many times, and drawing a generated one costs about what a step does: kept
    fitted = fit(Component(WARP, build, lambda net, clips, step: net.loss(clips), pixel_clips(ctx, "train", keep=True),
                           pixel_clips(ctx, "val"), key, ctx.run.train_params.get(WARP),
                           f"train.{ctx.run.model}.{WARP}", desc=f"{ctx.run.name} {WARP}"))
    state = {k: v.detach().cpu() for k, v in fitted.model.state_dict().items()}

    def ready(net: Any) -> nn.Module:
        net.warp.load_state_dict(state)
        net.warp.requires_grad_(False)
        return net

    return ready, {WARP: {"val": fitted.val, "parameters": sum(p.numel() for p in fitted.model.parameters())}}


BEFORE = Before((WARP,), fit_warp)
CHOICES = (declared.BORDER, declared.SIZES, declared.LOSSES, declared.OPEN_L2, declared.FRAME_DIFFERENCE,
           declared.MOVE_COPY, declared.FLOW_SKIP, declared.PIXEL_WARP, declared.OBJECT_WEIGHT,
           declared.CONTEXT_WARP, declared.PICK, declared.MATTE_WEIGHT, declared.MATTE, declared.DISCRIMINATOR_KERNELS, declared.DISCRIMINATOR)
SPEC = pixel_spec("feature_flow", model.FeatureFlowConfig, model.FeatureFlow, label="feature flow GAN",
                  citation="seed 003 §6.3", choices=CHOICES, ablation_table=declared.ABLATION_TABLE, before=BEFORE,
                  sampling=model.FeatureFlowSampling)
ACTION_SPEC = pixel_spec("feature_flow_action", model.FeatureFlowActionConfig, model.FeatureFlow,
                         conditioning="action", choices=(*CHOICES, declared.ACTIONS),
                         ablation_table=declared.ABLATION_TABLE, before=BEFORE, sampling=model.FeatureFlowSampling)

"""The context median as a registered family: a reference that learns nothing, beside copy-last.

Each clip's future is the per-pixel median of its context frames, held at every predicted frame: where
the content moves it is the static background, where nothing moves a blur of the context. On a benchmark
whose background dominates the frames, it passes copy-last's PSNR and SSIM without learning anything
(docs/learning.md, "Copy-last is a low bar"), so a leaderboard shows it beside copy-last, and a learned
run's margin over it, not only over copy-last, is what it learned. Nothing to train (``parameters: 0``:
the report counts it as a reference, not a learned run); every sample is the same; actions are ignored.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from genvid.context import RunContext
from genvid.errors import ParamError
from genvid.models.context_median.declared import MEDIAN
from genvid.models.family import Fit, ModelSpec
from genvid.models.predictor import check_cond, check_context

NAME = "context_median"


def median_frame(context: Tensor) -> Tensor:
    """uint8 [B, Tc, H, W, C] -> uint8 [B, H, W, C]: the per-pixel median over time, the mean of the two middle
    values for an even Tc, rounded half to even (as numpy's median then rint: torch.median would take the
    lower of the two)."""
    ordered = context.to(torch.int16).sort(dim=1).values
    t = ordered.shape[1]
    middle = ordered[:, (t - 1) // 2] + ordered[:, t // 2]  # twice the median, exact in integers
    return torch.round(middle.to(torch.float64) / 2).to(torch.uint8)


class ContextMedian:
    """The context's per-pixel median, held over the horizon (deterministic: every sample is the same)."""

    def predict(self, context: Tensor, horizon: int, num_samples: int,
                generator: torch.Generator, cond: Tensor | None = None) -> Tensor:
        check_context(context)
        check_cond(cond, context, horizon, conditioned=False)
        held = median_frame(context)[:, None, None]
        return held.expand(-1, num_samples, horizon, -1, -1, -1).contiguous()


def train(ctx: RunContext, fit: Fit) -> dict[str, Any]:
    if ctx.run.model_params:
        raise ParamError(f"{ctx.params_path}: models.{NAME} takes no parameters")
    return {"parameters": 0}


def predictor(ctx: RunContext) -> ContextMedian:
    return ContextMedian()


SPEC = ModelSpec(NAME, train, predictor, label="context median",
                 citation="genvid's reference: the context's per-pixel median, held", choices=(MEDIAN,))

"""Copy-last as a registered family: nothing to train, and its futures the last context frame, repeated
(genvid.models.predictor.CopyLast). Its ``parameters: 0`` marks it as a run that learned nothing."""
from __future__ import annotations

from typing import Any

from genvid.context import RunContext
from genvid.errors import ParamError
from genvid.models.family import Fit, ModelSpec
from genvid.models.predictor import CopyLast


def train(ctx: RunContext, fit: Fit) -> dict[str, Any]:
    if ctx.run.model_params:
        raise ParamError(f"{ctx.params_path}: models.copy_last takes no parameters")
    return {"parameters": 0}


def predictor(ctx: RunContext) -> CopyLast:
    return CopyLast()


SPEC = ModelSpec("copy_last", train, predictor)

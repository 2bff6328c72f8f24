"""The model registry (docs/design.md §3): the one table of genvid's models.

A name in ``params.yaml: runs.<run>.model`` maps to a ModelSpec (genvid.models.family): how to
train the family on a run's data and how to load it back as a Predictor. Adding a family is a
folder under genvid/models, one line here, its params and its tests (docs/development.md);
``benchmarks/models.py`` and the contract tests read this table.
"""
from __future__ import annotations

from typing import Any

from genvid.context import RunContext
from genvid.errors import ParamError
from genvid.models.family import Fit, ModelSpec
from genvid.models.pixel import pixel_spec
from genvid.models.predictor import CopyLast
from genvid.models.cvg import family as cvg
from genvid.models.gan_prior import family as gan_prior
from genvid.models.vq import family as vq

MODELS: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    MODELS[spec.name] = spec
    return spec


def get(name: str, where: str = "runs") -> ModelSpec:
    if name not in MODELS:
        raise ParamError(f"params.yaml: {where}: model '{name}' is not registered (known: {', '.join(sorted(MODELS))})")
    return MODELS[name]


def _copy_last_train(ctx: RunContext, fit: Fit) -> dict[str, Any]:
    if ctx.run.model_params:
        raise ParamError(f"{ctx.params_path}: models.copy_last takes no parameters")
    return {"parameters": 0}


register(ModelSpec("copy_last", _copy_last_train, lambda ctx: CopyLast()))
register(vq.SPEC)  # seed 000
register(vq.ACTION_SPEC)  # seed 000's priors steered by the actions (issue 24)
register(gan_prior.SPEC)  # seed 002 §3.2
register(pixel_spec("vrnn", "genvid.models.recurrent.vrnn", "VRNNConfig", "VRNN"))  # seed 001 §3.4, §8.1
register(pixel_spec("srnn", "genvid.models.recurrent.vrnn", "SRNNConfig", "VRNN"))  # seed 001 §3.5, §8.1
register(pixel_spec("rfn", "genvid.models.recurrent.rfn", "RFNConfig", "RFN"))  # seed 001 Ch. 5, §8.2-8.4
register(pixel_spec("svg_lp", "genvid.models.svg_lp.model", "SVGLPConfig", "SVGLP"))  # Denton & Fergus 2018
register(pixel_spec("svg_lp_action", "genvid.models.svg_lp.model", "SVGLPActionConfig", "SVGLP",  # issue 24
                    conditioning="action"))
register(pixel_spec("hvrnn", "genvid.models.hvrnn.model", "HVRNNConfig", "HVRNN"))  # seed 004 §4.4
register(pixel_spec("feature_flow", "genvid.models.feature_flow.model", "FeatureFlowConfig",  # seed 003 §6.3
                    "FeatureFlow"))
register(pixel_spec("feature_flow_action", "genvid.models.feature_flow.model",  # issue 48: steered by the actions
                    "FeatureFlowActionConfig", "FeatureFlow", conditioning="action"))
register(cvg.SPEC)  # seed 004 Ch. 6: the cascaded video GAN

"""The model registry (docs/design.md §3): the one table of genvid's models.

A name in ``params.yaml: runs.<run>.model`` maps to a ModelSpec (genvid.models.family): how to
train the family on a run's data and how to load it back as a Predictor. Adding a family is a
folder under genvid/models, one line here, its params and its tests (docs/development.md);
``benchmarks/models.py`` and the contract tests read this table.
"""
from __future__ import annotations

from typing import Any

from genvid.context import RunContext
from genvid.data.declared import Claim
from genvid.errors import ParamError
from genvid.models.family import FVD_REPEATS, Fit, ModelSpec
from genvid.models.pixel import pixel_spec
from genvid.models.predictor import CopyLast
from genvid.models.cvg import family as cvg
from genvid.models.gan_prior import family as gan_prior
from genvid.models.vq import family as vq
from genvid.models.feature_flow import declared as feature_flow
from genvid.models.feature_flow import model as flow_model
from genvid.models.hvrnn import declared as hvrnn
from genvid.models.hvrnn import model as hvrnn_model
from genvid.models.recurrent import rfn, vrnn
from genvid.models.recurrent import declared as recurrent
from genvid.models.svg_lp import declared as svg_lp
from genvid.models.svg_lp import model as svg_lp_model

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
register(pixel_spec("vrnn", vrnn.VRNNConfig, vrnn.VRNN,  # seed 001 §3.4, §8.1
                    label="VRNN", citation="seed 001 §3.4, §8.1",
                    choices=(recurrent.SCHEDULE, recurrent.TRAINING_CLIPS, recurrent.FED_BACK, FVD_REPEATS)))
register(pixel_spec("srnn", vrnn.SRNNConfig, vrnn.VRNN,  # seed 001 §3.5, §8.1
                    label="SRNN", citation="seed 001 §3.5, §8.1",
                    choices=(recurrent.SCHEDULE, recurrent.TRAINING_CLIPS, recurrent.FED_BACK, FVD_REPEATS)))
register(pixel_spec("rfn", rfn.RFNConfig, rfn.RFN,  # seed 001 Ch. 5, §8.2-8.4
                    label="RFN", citation="seed 001 Ch. 5, §8.2–8.4",
                    choices=(recurrent.SCHEDULE, recurrent.TRAINING_CLIPS, FVD_REPEATS),
                    claims=(Claim("bits_per_dim", ("srnn", "vrnn")), Claim("sharpness", ("srnn", "vrnn")))))
register(pixel_spec("svg_lp", svg_lp_model.SVGLPConfig, svg_lp_model.SVGLP,  # Denton & Fergus 2018
                    label="SVG-LP", citation="Denton &amp; Fergus (2018), seed 004's baseline",
                    choices=(svg_lp.BATCH_NORM, FVD_REPEATS)))
register(pixel_spec("svg_lp_action", svg_lp_model.SVGLPActionConfig, svg_lp_model.SVGLP,  # issue 24
                    conditioning="action", sampling=svg_lp_model.SVGLPSampling,
                    choices=(svg_lp.ACTIONS, svg_lp.EGO_WARP, svg_lp.PICK, svg_lp.BATCH_NORM, FVD_REPEATS)))
register(pixel_spec("hvrnn", hvrnn_model.HVRNNConfig, hvrnn_model.HVRNN,  # seed 004 §4.4
                    citation="seed 004 §4.4", choices=(hvrnn.LIKELIHOOD, hvrnn.PARAMETERS, FVD_REPEATS),
                    claims=(Claim("fvd_ssim_lpips", ("svg_lp",)),)))
FLOW_CHOICES = (feature_flow.BORDER, feature_flow.SIZES, feature_flow.LOSSES, feature_flow.OPEN_L2,
                feature_flow.FRAME_DIFFERENCE, feature_flow.MOVE_COPY, feature_flow.FLOW_SKIP, feature_flow.PIXEL_WARP,
                feature_flow.OBJECT_WEIGHT,
                feature_flow.DISCRIMINATOR_KERNELS, feature_flow.DISCRIMINATOR)
register(pixel_spec("feature_flow", flow_model.FeatureFlowConfig, flow_model.FeatureFlow,  # seed 003 §6.3
                    label="feature flow GAN", citation="seed 003 §6.3", choices=FLOW_CHOICES,
                    ablation_table=feature_flow.ABLATION_TABLE))
register(pixel_spec("feature_flow_action", flow_model.FeatureFlowActionConfig,  # issue 48: steered
                    flow_model.FeatureFlow, conditioning="action",
                    choices=(*FLOW_CHOICES, feature_flow.ACTIONS), ablation_table=feature_flow.ABLATION_TABLE))
register(cvg.SPEC)  # seed 004 Ch. 6: the cascaded video GAN

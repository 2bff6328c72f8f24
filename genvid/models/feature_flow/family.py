"""Seed 003 §6.3's feature flow GAN as registered families: the model on frames alone, and steered by the
recorded actions (``feature_flow_action``, issue 48), each trained and sampled as a pixel model
(genvid.models.pixel)."""
from __future__ import annotations

from genvid.models.feature_flow import declared, model
from genvid.models.pixel import pixel_spec

CHOICES = (declared.BORDER, declared.SIZES, declared.LOSSES, declared.OPEN_L2, declared.FRAME_DIFFERENCE,
           declared.MOVE_COPY, declared.FLOW_SKIP, declared.PIXEL_WARP, declared.OBJECT_WEIGHT,
           declared.DISCRIMINATOR_KERNELS, declared.DISCRIMINATOR)
SPEC = pixel_spec("feature_flow", model.FeatureFlowConfig, model.FeatureFlow, label="feature flow GAN",
                  citation="seed 003 §6.3", choices=CHOICES, ablation_table=declared.ABLATION_TABLE)
ACTION_SPEC = pixel_spec("feature_flow_action", model.FeatureFlowActionConfig, model.FeatureFlow,
                         conditioning="action", choices=(*CHOICES, declared.ACTIONS),
                         ablation_table=declared.ABLATION_TABLE)

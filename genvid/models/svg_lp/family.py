"""SVG-LP (Denton & Fergus 2018, seed 004's baseline) as registered families: the model on frames alone, and
steered by the recorded actions (``svg_lp_action``, issue 24), each trained and sampled as a pixel model
(genvid.models.pixel)."""
from __future__ import annotations

from genvid.models.family import FVD_REPEATS
from genvid.models.pixel import pixel_spec
from genvid.models.svg_lp import declared, model

SPEC = pixel_spec("svg_lp", model.SVGLPConfig, model.SVGLP, label="SVG-LP",
                  citation="Denton &amp; Fergus (2018), seed 004's baseline", choices=(declared.BATCH_NORM, FVD_REPEATS))
ACTION_SPEC = pixel_spec("svg_lp_action", model.SVGLPActionConfig, model.SVGLP, conditioning="action",
                         sampling=model.SVGLPSampling,
                         choices=(declared.ACTIONS, declared.EGO_WARP, declared.PICK, declared.BATCH_NORM, FVD_REPEATS))

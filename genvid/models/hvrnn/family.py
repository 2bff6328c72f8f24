"""Seed 004 §4.4's hierarchical VRNN as a registered family, trained and sampled as a pixel model
(genvid.models.pixel)."""
from __future__ import annotations

from genvid.data.declared import Claim
from genvid.models.family import FVD_REPEATS
from genvid.models.hvrnn import declared, model
from genvid.models.pixel import pixel_spec

SPEC = pixel_spec("hvrnn", model.HVRNNConfig, model.HVRNN, citation="seed 004 §4.4",
                  choices=(declared.LIKELIHOOD, declared.PARAMETERS, FVD_REPEATS),
                  claims=(Claim("fvd_ssim_lpips", ("svg_lp",)),))

"""Seed 001's recurrent models as registered families: the VRNN and the SRNN (§3.4, §3.5, §8.1; one network,
the SRNN's switches on) and the Recurrent Flow Network (Ch. 5, §8.2-8.4), each trained and sampled as a
pixel model (genvid.models.pixel)."""
from __future__ import annotations

from genvid.data.declared import Claim
from genvid.models.family import FVD_REPEATS
from genvid.models.pixel import pixel_spec
from genvid.models.recurrent import declared, rfn, vrnn

VRNN = pixel_spec("vrnn", vrnn.VRNNConfig, vrnn.VRNN, label="VRNN", citation="seed 001 §3.4, §8.1",
                  choices=(declared.SCHEDULE, declared.TRAINING_CLIPS, declared.FED_BACK, FVD_REPEATS))
SRNN = pixel_spec("srnn", vrnn.SRNNConfig, vrnn.VRNN, label="SRNN", citation="seed 001 §3.5, §8.1",
                  choices=(declared.SCHEDULE, declared.TRAINING_CLIPS, declared.FED_BACK, FVD_REPEATS))
RFN = pixel_spec("rfn", rfn.RFNConfig, rfn.RFN, label="RFN", citation="seed 001 Ch. 5, §8.2–8.4",
                 choices=(declared.SCHEDULE, declared.TRAINING_CLIPS, FVD_REPEATS),
                 claims=(Claim("bits_per_dim", ("srnn", "vrnn")), Claim("sharpness", ("srnn", "vrnn"))))

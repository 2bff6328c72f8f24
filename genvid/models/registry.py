"""The model registry (docs/design.md §3): the one table of genvid's models.

A name in ``params.yaml: runs.<run>.model`` maps to a ModelSpec (genvid.models.family): how to
train the family on a run's data and how to load it back as a Predictor. Adding a family is a
folder under genvid/models (its ``family.py`` builds the spec), one line here, its params and its
tests (docs/development.md); ``benchmarks/models.py`` and the contract tests read this table.

This module names the families and nothing else: it imports every one, so it is no model's code
(genvid.codegraph), and registering a family reruns no other family's runs. tests/test_registry.py
holds it to imports and ``register(<family module>.<SPEC>)`` lines.
"""
from __future__ import annotations

from genvid.errors import ParamError
from genvid.models.context_median import family as context_median
from genvid.models.copy_last import family as copy_last
from genvid.models.cvg import family as cvg
from genvid.models.family import ModelSpec
from genvid.models.feature_flow import family as feature_flow
from genvid.models.gan_prior import family as gan_prior
from genvid.models.hvrnn import family as hvrnn
from genvid.models.recurrent import family as recurrent
from genvid.models.svg_lp import family as svg_lp
from genvid.models.vq import family as vq

MODELS: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    MODELS[spec.name] = spec
    return spec


def get(name: str, where: str = "runs") -> ModelSpec:
    if name not in MODELS:
        raise ParamError(f"params.yaml: {where}: model '{name}' is not registered (known: {', '.join(sorted(MODELS))})")
    return MODELS[name]


register(copy_last.SPEC)  # the baseline every leaderboard ranks against
register(vq.SPEC)  # seed 000
register(vq.ACTION_SPEC)  # seed 000's priors steered by the actions (issue 24)
register(gan_prior.SPEC)  # seed 002 §3.2
register(recurrent.VRNN)  # seed 001 §3.4, §8.1
register(recurrent.SRNN)  # seed 001 §3.5, §8.1
register(recurrent.RFN)  # seed 001 Ch. 5, §8.2-8.4
register(svg_lp.SPEC)  # Denton & Fergus 2018
register(svg_lp.ACTION_SPEC)  # issue 24
register(hvrnn.SPEC)  # seed 004 §4.4
register(feature_flow.SPEC)  # seed 003 §6.3
register(feature_flow.ACTION_SPEC)  # issue 48: steered
register(cvg.SPEC)  # seed 004 Ch. 6: the cascaded video GAN
register(context_median.SPEC)  # a reference that learns nothing: the context's per-pixel median, held

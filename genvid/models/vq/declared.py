"""Seed 000's priors steered by actions: genvid's addition (the report's design-choice table; seed 000's own
deviations are computed from params against profiles/thesis.yaml, genvid.report.tables.deviations).
"""
from genvid.data.declared import Choice

ACTIONS = Choice(
    "Action conditioning (<code>vq_action</code>, issue 24)",
    "each prior (top and bottom) reads, per code step, a<sub>t−1</sub> of its frames t, standardised with the "
    "training split's statistics (the window's first frame: the mean), through a two-layer MLP added to the row "
    "stack at the stem and at every SNAIL block; the VQ-VAE reads none",
    "no source: seed 000's priors model the codes alone (its title asks for a simulator one can drive)",
    "genvid's design: the tokenizer is the <code>vq</code> run's, bit for bit, so the two runs differ only by "
    "what the priors are told; the paper profile runs it on driving")

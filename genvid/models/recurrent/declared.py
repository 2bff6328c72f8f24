"""Seed 001's VRNN, SRNN and RFN: where genvid departs from the thesis or fills in what it leaves unstated
(the report's design-choice table; genvid.models.family.Choice).
"""
from genvid.data.declared import Choice

SCHEDULE = Choice(
    "Learning-rate schedule (<code>train.&lt;m&gt;.schedule</code>)",
    "default profile: constant (64 or 48 steps); paper profile: linear decay over the last 150,000 steps, to 0",
    "{001:Tables A.2 and A.3}: “Linear decay scheduler, final 150000 steps”",
    "the end value is not stated: genvid decays to 0 (<code>min_lr_ratio</code>)")

TRAINING_CLIPS = Choice(
    "Training clips (<code>train.&lt;m&gt;.clip_len</code>)",
    "default profile: the benchmark's 15 frames; paper profile: 10",
    "{001:Table 9.5}: “trained on 10 frames and conditioned on 1”",
    "the default profile keeps one clip length for every model of a benchmark")

FED_BACK = Choice(
    "Frame fed back while predicting (<code>models.&lt;m&gt;.sample_pixels</code>)",
    "default profile: the mean of the discretised logistic mixture; paper profile: a sample of it",
    "{001:App. A.11} shows sampled, pixelated predictions",
    "a briefly trained model diverges on pixel noise it never saw as input; the likelihood is the same either "
    "way")

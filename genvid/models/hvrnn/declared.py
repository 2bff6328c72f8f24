"""Seed 004's hierarchical VRNN: what §4 leaves unstated, as genvid reads it (the report's design-choice table;
genvid.models.family.Choice).
"""
from genvid.data.declared import Choice

LIKELIHOOD = Choice(
    "Likelihood (<code>models.hvrnn.likelihood</code>)",
    "<code>squared_error</code>: log p(x | o) = −(x − sigmoid(o))² per sub-pixel, a Gaussian with σ² = ½ "
    "without its normalising constant (<code>gaussian</code> with a set σ and <code>bernoulli</code> remain "
    "options)",
    "not stated; {004:Tables 4.1 and 4.2} report negative ELBOs of 883–3,826 per BAIR test sequence (122,880 "
    "predicted sub-pixels)",
    "decided from those magnitudes: a normalised Gaussian would add N·(log σ + ½ log 2π) (−170,022 at σ = 0.1) "
    "to every row, so the reported ELBO has no constant; and since −ELBO ≥ Σ(x − μ)²/(2σ²), σ = 0.1 would put "
    "{004:Table 4.1}'s 1×1-bottleneck decoder at PSNR ≥ 32 dB, σ² = ½ at ≥ 15 dB. σ weighs the KL against the "
    "reconstruction, so the ablation's KL and active channels depend on this reading")

PARAMETERS = Choice(
    "Parameters at the widths of the paper profile (seed 004's Tables 4.4–4.7)",
    "fewer parameters at every level count (the paper profile's runs record theirs in train_metrics.json)",
    "{004:Table 4.2}: 166.6 M (1 level), 220.6 M (1-8), 230.7 M (1-8-32), 224.2 M (naive)",
    "kept: no reading of Tables 4.4–4.7 gives the published counts, which contradict the tables and each other. "
    "{004:Table 4.2}'s “1” (166.55 M) and {004:Table 4.1}'s 6-ConvLSTM model (93.81 M) are described alike. "
    "Adding the 32×32 level adds 10.14 M, yet {004:Table 4.6} gives it a 512-wide 3×3 ConvLSTM in the prior and "
    "one in the posterior, 18.88 M each (16×16: +14.45 M). {004:Table 4.1}'s 1 → 3 ConvLSTMs adds 24.42 M where "
    "two 512-wide ConvLSTMs replacing two 3×3 convolutions add at least 33.03 M. genvid's 1×1 stages use 1×1 "
    "kernels (a 3×3 kernel on a 1×1 map reads zero padding at 8 of its 9 taps: the same function, 21.0 M more "
    "parameters at the paper widths: 196 M for 1-8-32)")

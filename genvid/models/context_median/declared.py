"""The context median: what it computes where no source defines it (the report's design-choice table)."""
from genvid.data.declared import Choice

MEDIAN = Choice(
    "The context median's futures (<code>context_median</code>, issue 48)",
    "each clip's per-pixel median of its context frames, held at every predicted frame and in every sample; "
    "with an even number of context frames, the mean of the two middle values, rounded half to even",
    "no source: the theses rank against copy-last alone",
    "genvid's design: a future that learns nothing but the static background; where the background fills the "
    "frames it passes copy-last's PSNR and SSIM (docs/learning.md), so a learned run's margin over it, not only "
    "over copy-last, is what it learned")

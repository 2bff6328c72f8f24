"""SVG-LP (Denton & Fergus 2018), the baseline of seed 004 Table 4.3 (model)."""

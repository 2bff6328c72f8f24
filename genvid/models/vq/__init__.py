"""Seed 000's family: a 3D hierarchical VQ-VAE tokenizer (vqvae3d) and 3D PixelSNAIL code priors
(pixelsnail3d, priors, sampling), trained and predicted as one registered model (family)."""

"""Seed 002's GAN prior over VQ codes, beside seed 000's PixelSNAIL over the same tokenizer."""

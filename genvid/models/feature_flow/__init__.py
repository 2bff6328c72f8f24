"""Seed 003's feature flow next-frame GAN (§6.3): the operator (flow.py) and the model (model.py)."""

"""Seed 001's recurrent latent-variable models: VRNN and SRNN (vrnn, with the discretised
logistic mixture of dmol) and the Recurrent Flow Network (rfn, with the conditional Glow of flows)."""

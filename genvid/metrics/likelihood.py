"""Bits per pixel from importance weights (seed 001 §3.2.5 eq. 3.19, §3.7 eq. 3.35, Table 9.5).

A model with a pixel likelihood exposes ``log_weights(frames, k) -> [B, K]``: K importance weights
log p(x, z_k) - log q(z_k | x), z_k ~ q(z | x), in nats per sequence (VRNN, SRNN, RFN). Then

    L_K = log (1/K) Σ_k exp(log w_k)  ≤ log p(x),      L_1 ≤ E[L_K] ≤ E[L_{K+1}]   (Burda et al., Thm 1)

and −L_K / (D ln 2) is an upper bound on the bits per dimension, D the sub-pixels the likelihood
covers. The thesis reports it with K = 20 (Table 9.5). Whether a dequantisation constant belongs in
log w is the model's business (a discrete likelihood needs none; a flow on uniformly dequantised data
includes −D log 256 when its data are scaled to [0, 1), §8.3): these functions only average.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from genvid.errors import GenvidError


def iwae_bound(log_weights: Tensor) -> Tensor:
    """L_K = log-mean-exp over the last axis: [B, K] -> [B] nats per sequence (a lower bound on log p)."""
    if log_weights.ndim != 2 or log_weights.shape[1] < 1:
        raise GenvidError(f"log_weights must be [B, K] with K >= 1, got {list(log_weights.shape)}")
    lw = log_weights.double()
    if not torch.isfinite(lw).all():
        raise GenvidError("log_weights contain a non-finite value")
    return torch.logsumexp(lw, dim=1) - math.log(lw.shape[1])


def bits_per_dim(nll_nats: Tensor | float, dims: int) -> Tensor:
    """A negative log-likelihood in nats per sequence -> bits per dimension (eq. 3.35)."""
    if dims < 1:
        raise GenvidError(f"dims must be >= 1, got {dims}")
    return torch.as_tensor(nll_nats, dtype=torch.float64) / (dims * math.log(2.0))


def iwae_bits_per_dim(log_weights: Tensor, dims: int) -> Tensor:
    """Upper bound on bits per dimension per sequence, −L_K / (D ln 2): [B]."""
    return bits_per_dim(-iwae_bound(log_weights), dims)

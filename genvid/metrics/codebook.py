"""Codebook statistics: fraction of codes used and perplexity of their usage."""
from __future__ import annotations

import math

import torch


def code_histogram(codes: torch.Tensor, num_codes: int) -> torch.Tensor:
    """Counts of each code index (int64 [K]); deterministic (no scatter)."""
    return torch.bincount(codes.reshape(-1).cpu(), minlength=num_codes)[:num_codes].to(torch.int64)


def usage_stats(counts: torch.Tensor) -> dict[str, float]:
    """``usage``: fraction of the K codes used at least once; ``perplexity``: exp(entropy) of use."""
    total = int(counts.sum())
    p = counts.double() / max(total, 1)
    nz = p[p > 0]
    entropy = float(-(nz * nz.log()).sum())
    return {"usage": float((counts > 0).double().mean()), "perplexity": math.exp(entropy),
            "codes_used": int((counts > 0).sum())}

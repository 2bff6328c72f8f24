"""Importance-weighted bound and bits per dimension (seed 001 §3.2.5, §3.7, Table 9.5)."""
from __future__ import annotations

import math

import pytest
import torch

from genvid.errors import GenvidError
from genvid.metrics.likelihood import bits_per_dim, iwae_bits_per_dim, iwae_bound
from tests.test_vrnn import make, squares


def test_log_mean_exp_by_hand():
    lw = torch.tensor([[0.0, math.log(3.0)], [-1000.0, -1001.0]], dtype=torch.float64)
    got = iwae_bound(lw)
    assert got.dtype == torch.float64
    assert got[0].item() == pytest.approx(math.log(2.0), abs=1e-12)
    # far below exp's range: must not underflow to -inf
    assert got[1].item() == pytest.approx(-1000.0 + math.log((1.0 + math.exp(-1.0)) / 2.0), abs=1e-9)
    big = iwae_bound(torch.tensor([[900.0, 900.0, 900.0]]))
    assert big.item() == pytest.approx(900.0, abs=1e-9)


def test_single_sample_is_the_weight_and_bound_dominates_the_mean():
    lw = torch.randn(6, 20, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 5.0
    torch.testing.assert_close(iwae_bound(lw[:, :1]), lw[:, 0])
    assert (iwae_bound(lw) >= lw.mean(1)).all()


def test_bits_per_dim():
    dims = 3 * 64 * 64
    assert bits_per_dim(3.0 * dims * math.log(2.0), dims).item() == pytest.approx(3.0)
    lw = torch.full((2, 4), -2.5 * dims * math.log(2.0), dtype=torch.float64)
    torch.testing.assert_close(iwae_bits_per_dim(lw, dims), torch.full((2,), 2.5, dtype=torch.float64))


def test_bad_input_raises():
    with pytest.raises(GenvidError, match=r"\[B, K\]"):
        iwae_bound(torch.zeros(5))
    with pytest.raises(GenvidError, match="non-finite"):
        iwae_bound(torch.tensor([[0.0, float("nan")]]))
    with pytest.raises(GenvidError, match="dims must be >= 1"):
        bits_per_dim(1.0, 0)


def test_iwae_is_above_the_elbo_and_tightens_with_k_on_a_trained_model():
    m = make("srnn")
    x = squares(16, 4)
    opt = torch.optim.Adam(m.parameters(), 3e-3)
    torch.manual_seed(0)
    for step in range(30):
        loss, _ = m.loss(x[:8], step)
        opt.zero_grad()
        loss.backward()
        opt.step()
    m.eval()  # batch norm on running statistics: each sequence's weights are its own
    lw = m.log_weights(x, 20, torch.Generator().manual_seed(1)).double()
    assert lw.shape == (16, 20) and torch.isfinite(lw).all()

    draws = torch.stack([m.elbo(x, torch.Generator().manual_seed(100 + i)) for i in range(10)]).double()
    elbo = draws.mean(0)  # analytic-KL ELBO, 10 draws
    # log w averages to the ELBO: the log densities of p(z) and q(z) agree with the analytic KL
    se = math.sqrt(lw.var(1).mean().item() / (16 * 20) + draws.var(0).mean().item() / (16 * 10))
    assert abs(lw.mean().item() - elbo.mean().item()) < 4 * se

    l1 = lw.mean(1)  # E over the 20 single-sample bounds L_1
    l5 = torch.stack([iwae_bound(g) for g in lw.split(5, dim=1)]).mean(0)  # 4 disjoint L_5
    l20 = iwae_bound(lw)
    assert (l1 <= l5 + 1e-9).all() and (l5 <= l20 + 1e-9).all()
    assert l20.mean() - l1.mean() > 0.2  # strictly tighter, in nats per sequence
    assert l20.mean() > elbo.mean() + 4 * se  # IWAE bound above the ELBO (so -L_20 <= -ELBO)
    bpd = iwae_bits_per_dim(lw, m.scored_dims(x.shape))
    assert (bpd > 0).all() and (bpd < 8).all()  # a proper bound on a discrete likelihood, better than uniform

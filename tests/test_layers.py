"""Shared model helpers (genvid/models/layers.py): hand computations, and bitwise equality with the
per-family copies they replaced (issue 18), kept below verbatim as ``_old_*``."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from conftest import gen
from genvid.errors import GenvidError
from genvid.models.layers import (beta_warmup, gaussian_kl, gaussian_kl_logvar, norm_layer, normal_drawer,
                                  rand_on, randn_on, upsample_nearest)

DTYPES = [torch.float32, torch.float64]


# -- the replaced copies, verbatim ------------------------------------------------------------------

def _old_gaussian_kl(mu_q, s_q, mu_p, s_p):  # vrnn.py and hvrnn/model.py
    return torch.log(s_p / s_q) + (s_q ** 2 + (mu_q - mu_p) ** 2) / (2.0 * s_p ** 2) - 0.5


def _old_gaussian_kl_logvar(mu_q, logvar_q, mu_p, logvar_p):  # svg_lp/model.py
    return 0.5 * (logvar_p - logvar_q) + (logvar_q.exp() + (mu_q - mu_p) ** 2) / (2.0 * logvar_p.exp()) - 0.5


def _old_beta_at(step, warmup_steps):  # hvrnn/model.py
    if warmup_steps <= 0 or step >= warmup_steps:
        return 1.0
    return step / warmup_steps


def _old_upsample2(x):  # vrnn.py and rfn.py
    b, c, h, w = x.shape
    return x[:, :, :, None, :, None].expand(b, c, h, 2, w, 2).reshape(b, c, 2 * h, 2 * w)


def _bits(t: torch.Tensor) -> bytes:
    return t.detach().contiguous().numpy().tobytes()


def _gaussians(dtype: torch.dtype, seed: int = 0, n: int = 4096) -> list[torch.Tensor]:
    g = gen(seed)
    mu_q, mu_p = (3 * torch.randn(n, generator=g, dtype=dtype) for _ in range(2))
    s_q, s_p = (torch.exp(2 * torch.randn(n, generator=g, dtype=dtype)) for _ in range(2))
    return [mu_q, s_q, mu_p, s_p]


# -- KL ---------------------------------------------------------------------------------------------

def test_gaussian_kl_by_hand():
    # KL(N(1, 2²) || N(0, 1)) = log(1/2) + (4 + 1) / 2 - 1/2 = 2 - log 2
    kl = gaussian_kl(torch.tensor(1.0, dtype=torch.float64), torch.tensor(2.0, dtype=torch.float64),
                     torch.tensor(0.0, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64))
    assert kl.item() == pytest.approx(2.0 - math.log(2.0), rel=1e-15)
    same = torch.tensor([0.3, -1.0])
    assert torch.equal(gaussian_kl(same, same.exp(), same, same.exp()), torch.zeros(2))


def test_gaussian_kl_logvar_by_hand():
    # σ_q² = e, σ_p² = 1, μ_q - μ_p = 2: 0.5 · (0 - 1) + (e + 4) / 2 - 0.5 = e / 2 + 1
    kl = gaussian_kl_logvar(*(torch.tensor(v, dtype=torch.float64) for v in (2.0, 1.0, 0.0, 0.0)))
    assert kl.item() == pytest.approx(math.e / 2 + 1, rel=1e-15)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gaussian_kls_are_bitwise_the_replaced_copies(dtype):
    mu_q, s_q, mu_p, s_p = _gaussians(dtype)
    assert _bits(gaussian_kl(mu_q, s_q, mu_p, s_p)) == _bits(_old_gaussian_kl(mu_q, s_q, mu_p, s_p))
    lv_q, lv_p = 2 * torch.log(s_q), 2 * torch.log(s_p)
    assert _bits(gaussian_kl_logvar(mu_q, lv_q, mu_p, lv_p)) == _bits(_old_gaussian_kl_logvar(mu_q, lv_q, mu_p, lv_p))
    # the two are the same divergence up to rounding
    torch.testing.assert_close(gaussian_kl_logvar(mu_q, lv_q, mu_p, lv_p), gaussian_kl(mu_q, s_q, mu_p, s_p),
                               rtol=1e-4 if dtype == torch.float32 else 1e-10, atol=1e-4)


# -- β warm-up --------------------------------------------------------------------------------------

def test_beta_warmup_by_hand():
    assert beta_warmup(0, 4) == 1e-6 and beta_warmup(2, 4) == 1e-6 + (1 - 1e-6) * 0.5
    assert beta_warmup(4, 4) == beta_warmup(9, 4) == beta_warmup(3, 0) == 1.0
    assert [beta_warmup(s, 4, start=0.0) for s in range(6)] == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    with pytest.raises(GenvidError, match="step must be >= 0"):
        beta_warmup(-1, 4)


@pytest.mark.parametrize("warmup", [0, 1, 3, 7, 10, 1000, 30_000, 123_457])
def test_beta_warmup_from_zero_is_bitwise_hvrnns_old_schedule(warmup):
    for step in range(warmup + 3):
        assert beta_warmup(step, warmup, start=0.0).hex() == _old_beta_at(step, warmup).hex()


# -- layers -----------------------------------------------------------------------------------------

def test_upsample_nearest_by_hand():
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 1, 2, 2)
    expected = torch.tensor([[1.0, 1.0, 2.0, 2.0], [1.0, 1.0, 2.0, 2.0],
                             [3.0, 3.0, 4.0, 4.0], [3.0, 3.0, 4.0, 4.0]]).view(1, 1, 4, 4)
    assert torch.equal(upsample_nearest(x, 2), expected)
    assert upsample_nearest(x, 1) is x
    assert upsample_nearest(x, 3).shape == (1, 1, 6, 6) and upsample_nearest(x, 3)[0, 0, 5, 3].item() == 4.0


def test_upsample_nearest_is_the_replaced_copy_and_interpolate_forward_and_backward():
    x = torch.randn(2, 3, 4, 5, generator=gen(1), requires_grad=True)
    assert torch.equal(upsample_nearest(x, 2), _old_upsample2(x))
    assert torch.equal(upsample_nearest(x, 4), torch.nn.functional.interpolate(x, scale_factor=4, mode="nearest"))
    up = torch.randn(2, 3, 8, 10, generator=gen(2))
    (a,) = torch.autograd.grad((upsample_nearest(x, 2) * up).sum(), x)
    (b,) = torch.autograd.grad((_old_upsample2(x) * up).sum(), x)
    assert torch.equal(a, b)


def test_norm_layer_by_kind():
    assert isinstance(norm_layer("batch", 6), nn.BatchNorm2d) and norm_layer("batch", 6).num_features == 6
    group = norm_layer("group", 12)
    assert isinstance(group, nn.GroupNorm) and (group.num_groups, group.num_channels) == (4, 12)
    assert norm_layer("group", 16).num_groups == 8 and norm_layer("group", 5).num_groups == 1
    assert isinstance(norm_layer("none", 6), nn.Identity)


# -- noise ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [None, torch.float64])
def test_noise_helpers_draw_todays_numbers(dtype):
    shape = (3, 2, 4, 4)
    want = torch.randn(shape, generator=gen(5))
    want = want if dtype is None else want.to(dtype)
    got = randn_on(gen(5), shape, torch.device("cpu"), dtype)
    assert got.dtype == (dtype or torch.float32) and _bits(got) == _bits(want)
    assert _bits(rand_on(gen(5), shape, torch.device("cpu"))) == _bits(torch.rand(shape, generator=gen(5)))
    # successive draws continue the generator's stream, as the inline calls did
    g, h = gen(6), gen(6)
    pair = [randn_on(g, (5,), torch.device("cpu")), rand_on(g, (5,), torch.device("cpu"))]
    assert torch.equal(pair[0], torch.randn(5, generator=h)) and torch.equal(pair[1], torch.rand(5, generator=h))


def test_normal_drawer_uses_the_generator_or_else_the_global_rng():
    draw = normal_drawer(gen(3), torch.device("cpu"))
    assert torch.equal(draw((2, 3)), torch.randn(2, 3, generator=gen(3)))
    torch.manual_seed(4)
    a = normal_drawer(None, torch.device("cpu"))((2, 3))
    torch.manual_seed(4)
    assert torch.equal(a, torch.randn(2, 3))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_noise_drawn_on_the_cpu_generator_is_moved_to_the_model_device():
    got = randn_on(gen(7), (4, 4), torch.device("cuda"))
    assert got.device.type == "cuda" and torch.equal(got.cpu(), torch.randn(4, 4, generator=gen(7)))

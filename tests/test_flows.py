"""Flow layers of the conditional Glow (genvid/models/recurrent/flows.py): exact inverses, log-determinants
against the autograd Jacobian, ActNorm's data-dependent init, the zero-init identity."""
from __future__ import annotations

import io
import math

import pytest
import torch

from genvid.errors import GenvidError
from genvid.models.recurrent.flows import (ActNorm, ConditionalCoupling, ConditionalGlow, ConditionalSplit,
                                 InvConv1x1, squeeze, standard_normal_log_prob, unsqueeze)


def jacobian_logdet(fn, x: torch.Tensor) -> torch.Tensor:
    """log|det ∂fn(x)/∂x| of one sample by autograd (fn maps [1, ...] to a flat vector)."""
    jac = torch.autograd.functional.jacobian(lambda v: fn(v.view_as(x)), x.flatten())
    assert jac.shape[0] == jac.shape[1] == x.numel()
    sign, logabs = torch.linalg.slogdet(jac)
    assert sign != 0
    return logabs


def perturb(module: torch.nn.Module, scale: float = 0.3, seed: int = 1) -> None:
    """Give every parameter (the zero-initialised last convs included) random non-zero values."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_actnorm_data_dependent_init_gives_zero_mean_unit_variance():
    x = 3.0 * torch.randn(16, 5, 6, 6) + torch.arange(5.0).view(1, 5, 1, 1)
    layer = ActNorm(5)
    assert not bool(layer.initialized)
    y, logdet = layer(x)
    assert bool(layer.initialized)
    assert torch.allclose(y.mean(dim=(0, 2, 3)), torch.zeros(5), atol=1e-5)
    assert torch.allclose(y.var(dim=(0, 2, 3), unbiased=False), torch.ones(5), atol=1e-4)
    # the second batch is not re-normalised: the parameters stay those of the first batch
    y2, _ = layer(x + 10.0)
    assert torch.allclose(y2, y + 10.0 * torch.exp(layer.log_scale), atol=1e-4)
    # logdet = H·W·Σ log s = −H·W·Σ log(std + 1e-6)
    expected = -36 * torch.log(x.std(dim=(0, 2, 3), unbiased=False) + 1e-6).sum()
    assert torch.allclose(logdet, expected.expand(16), rtol=1e-5)


def test_actnorm_init_flag_survives_save_and_load():
    layer = ActNorm(3)
    layer(torch.randn(4, 3, 2, 2) * 5)
    buf = io.BytesIO()
    torch.save(layer.state_dict(), buf)
    buf.seek(0)
    loaded = ActNorm(3)
    loaded.load_state_dict(torch.load(buf))
    assert bool(loaded.initialized)
    x = torch.randn(2, 3, 2, 2)
    assert torch.equal(loaded(x)[0], layer(x)[0])  # no re-initialisation on the new batch


def test_actnorm_inverse_and_logdet():
    layer = ActNorm(4).double()
    layer(torch.randn(8, 4, 2, 2, dtype=torch.float64) * 2 + 1)  # init on a batch
    x = torch.randn(1, 4, 2, 2, dtype=torch.float64)
    y, logdet = layer(x)
    assert (layer.inverse(y) - x).abs().max() < 1e-5
    assert torch.allclose(logdet[0], jacobian_logdet(lambda v: layer(v)[0].flatten(), x), atol=1e-8)


def test_invconv_lu_factors_inverse_and_logdet():
    layer = InvConv1x1(4).double()
    perturb(layer, 0.2)
    w = layer.weight()
    lower, upper = layer._factors()
    assert torch.equal(torch.triu(lower, 1), torch.zeros(4, 4, dtype=torch.float64))
    assert torch.equal(lower.diagonal(), torch.ones(4, dtype=torch.float64))
    assert torch.equal(torch.tril(upper, -1), torch.zeros(4, 4, dtype=torch.float64))
    assert torch.allclose(torch.linalg.slogdet(w)[1], layer.log_s.sum())
    assert torch.allclose(layer.inverse_weight() @ w, torch.eye(4, dtype=torch.float64), atol=1e-10)
    x = torch.randn(1, 4, 2, 2, dtype=torch.float64)
    y, logdet = layer(x)
    assert torch.allclose(logdet[0], 4 * layer.log_s.sum())  # H·W·Σ log|s|
    assert torch.allclose(logdet[0], jacobian_logdet(lambda v: layer(v)[0].flatten(), x), atol=1e-8)
    assert (layer.inverse(y) - x).abs().max() < 1e-5


def test_invconv_starts_as_a_rotation_and_inverts_in_float32():
    layer = InvConv1x1(12)
    w = layer.weight()
    assert torch.allclose(w @ w.T, torch.eye(12), atol=1e-5)
    x = torch.randn(3, 12, 8, 8)
    assert (layer.inverse(layer(x)[0]) - x).abs().max() < 1e-5


def test_coupling_is_the_identity_at_init():
    layer = ConditionalCoupling(4, 3, 16)
    x, cond = torch.randn(2, 4, 4, 4), torch.randn(2, 3, 4, 4)
    y, logdet = layer(x, cond)
    assert torch.equal(y, x)
    assert torch.equal(logdet, torch.zeros(2))


def test_coupling_with_a_nonzero_conditioner_inverts_and_its_logdet_is_the_jacobian():
    layer = ConditionalCoupling(4, 3, 8).double()
    cond = torch.randn(1, 3, 2, 2, dtype=torch.float64)
    layer(torch.randn(6, 4, 2, 2, dtype=torch.float64), cond.expand(6, -1, -1, -1))  # ActNorm init
    perturb(layer)
    x = torch.randn(1, 4, 2, 2, dtype=torch.float64)
    y, logdet = layer(x, cond)
    assert not torch.allclose(y, x)  # the perturbation made it non-trivial
    assert torch.equal(y[:, :2], x[:, :2])  # the first half passes through
    assert (layer.inverse(y, cond) - x).abs().max() < 1e-5
    assert torch.allclose(logdet[0], jacobian_logdet(lambda v: layer(v, cond)[0].flatten(), x), atol=1e-8)
    # the scale is the affine tanh clamp: |log α| <= |s_scale| + |s_shift|
    _, log_a = layer._shift_log_scale(x[:, :2], cond)
    assert (log_a.abs() <= layer.s_scale.abs() + layer.s_shift.abs() + 1e-12).all()


def test_squeeze_is_a_2x2_space_to_depth_permutation():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    s = squeeze(x)
    assert s.shape == (1, 4, 2, 2)
    # channel k = 2·dy + dx holds pixel (2i + dy, 2j + dx)
    assert s[0, :, 0, 0].tolist() == [0.0, 1.0, 4.0, 5.0]
    assert s[0, :, 1, 1].tolist() == [10.0, 11.0, 14.0, 15.0]
    y = torch.randn(2, 3, 8, 6)
    assert torch.equal(unsqueeze(squeeze(y)), y)
    xd = torch.randn(1, 4, 2, 2, dtype=torch.float64)
    assert abs(jacobian_logdet(lambda v: squeeze(v).flatten(), xd).item()) < 1e-12
    with pytest.raises(GenvidError, match="even"):
        squeeze(torch.randn(1, 1, 3, 4))


def test_split_inverts_and_its_logdet_is_the_jacobian():
    layer = ConditionalSplit(4, 2, 8).double()
    cond = torch.randn(1, 2, 2, 2, dtype=torch.float64)
    layer(torch.randn(6, 4, 2, 2, dtype=torch.float64), cond.expand(6, -1, -1, -1))
    perturb(layer)
    x = torch.randn(1, 4, 2, 2, dtype=torch.float64)
    xa, eps, logdet = layer(x, cond)
    assert torch.equal(xa, x[:, :2])
    assert (layer.inverse(xa, eps, cond) - x).abs().max() < 1e-5

    def as_vector(v):
        a, e, _ = layer(v, cond)
        return torch.cat([a.flatten(), e.flatten()])
    assert torch.allclose(logdet[0], jacobian_logdet(as_vector, x), atol=1e-8)
    # log N(x_b; μ, σ²) = log N(ε; 0, 1) + logdet: the conditional split prior's density
    mean, std = layer.prior.mean_std(torch.cat([xa, cond], 1))
    direct = torch.distributions.Normal(mean, std).log_prob(x[:, 2:]).sum()
    assert torch.allclose(standard_normal_log_prob(eps)[0] + logdet[0], direct)


def test_split_prior_starts_as_standard_normal_with_softplus_scale():
    layer = ConditionalSplit(8, 3, 16)
    x, cond = torch.randn(2, 8, 4, 4), torch.randn(2, 3, 4, 4)
    xa, eps, logdet = layer(x, cond)
    assert torch.allclose(eps, x[:, 4:], atol=1e-5)  # μ = 0, σ = softplus(log(e − 1)) = 1
    assert torch.allclose(logdet, torch.zeros(2), atol=1e-4)


def make_glow(dtype=torch.float64, levels=2, steps=2) -> tuple[ConditionalGlow, list[torch.Tensor]]:
    glow = ConditionalGlow(1, levels=levels, steps=steps, hidden=8, cond_channels=[3, 5], top_hidden=6)
    glow = glow.to(dtype)
    # data-dependent init on a batch whose conditions vary (a constant input channel would give an
    # ActNorm scale of 1/1e-6 and a badly conditioned float32 test)
    batch = torch.rand(8, 1, 4, 4, dtype=dtype) - 0.5
    glow.log_prob(batch, [torch.randn(8, 3, 2, 2, dtype=dtype), torch.randn(8, 5, 1, 1, dtype=dtype)])
    conds = [torch.randn(1, 3, 2, 2, dtype=dtype), torch.randn(1, 5, 1, 1, dtype=dtype)]
    perturb(glow, 0.1)
    return glow, conds


def test_glow_inverts_and_its_logdet_is_the_jacobian():
    glow, conds = make_glow()
    x = torch.rand(1, 1, 4, 4, dtype=torch.float64) - 0.5
    eps, logdet = glow(x, conds)
    assert [tuple(e.shape) for e in eps] == [(1, 2, 2, 2), (1, 8, 1, 1)]
    assert sum(e.numel() for e in eps) == x.numel()
    assert (glow.inverse(eps, conds) - x).abs().max() < 1e-5
    jac = jacobian_logdet(lambda v: torch.cat([e.flatten() for e in glow(v, conds)[0]]), x)
    assert torch.allclose(logdet[0], jac, atol=1e-8)
    # log p(x | c) = Σ log N(ε) + logdet
    expected = sum(-0.5 * (e ** 2).sum() - 0.5 * e.numel() * math.log(2 * math.pi) for e in eps) + logdet[0]
    assert torch.allclose(glow.log_prob(x, conds)[0], expected)


def test_glow_log_prob_unchanged_by_inverse_then_forward():
    glow, conds = make_glow(torch.float32)
    conds = [c.expand(4, -1, -1, -1) for c in conds]
    x = torch.rand(4, 1, 4, 4) - 0.5
    before = glow.log_prob(x, conds)
    eps, _ = glow(x, conds)
    x2 = glow.inverse(eps, conds)
    assert (x2 - x).abs().max() < 1e-5
    assert torch.allclose(glow.log_prob(x2, conds), before, atol=1e-4)


def test_glow_depends_on_the_condition():
    glow, conds = make_glow()
    x = torch.rand(1, 1, 4, 4, dtype=torch.float64) - 0.5
    other = [c + 1.0 for c in conds]
    assert not torch.allclose(glow.log_prob(x, conds), glow.log_prob(x, other))


def test_glow_sample_temperature_and_determinism():
    glow, conds = make_glow(torch.float32)
    g = lambda s: torch.Generator().manual_seed(s)  # noqa: E731
    a, b, c = glow.sample(conds, 0.6, g(0)), glow.sample(conds, 0.6, g(0)), glow.sample(conds, 0.6, g(1))
    assert a.shape == (1, 1, 4, 4)
    assert torch.equal(a, b) and not torch.equal(a, c)
    # T = 0: every ε is 0, the path through the priors' means, whatever the generator
    zero = glow.sample(conds, 0.0, g(0))
    assert torch.equal(zero, glow.sample(conds, 0.0, g(7)))
    assert torch.allclose(zero, glow.inverse([torch.zeros(s) for s in glow.eps_shapes(conds)], conds))
    # T scales ε: the sample at T is inverse(T·ε) for the ε the generator draws at T = 1
    gen = g(3)
    eps = [torch.randn(s, generator=gen) for s in glow.eps_shapes(conds)]
    assert torch.allclose(glow.sample(conds, 0.5, g(3)), glow.inverse([0.5 * e for e in eps], conds))


def test_glow_rejects_bad_shapes():
    glow, conds = make_glow(torch.float32)
    with pytest.raises(GenvidError, match="multiples of 2"):
        glow.log_prob(torch.zeros(1, 1, 6, 6), conds)
    with pytest.raises(GenvidError, match="condition of level 2"):
        glow.log_prob(torch.zeros(1, 1, 4, 4), [conds[0], torch.zeros(1, 5, 2, 2)])
    with pytest.raises(GenvidError, match="one per level"):
        glow.log_prob(torch.zeros(1, 1, 4, 4), conds[:1])

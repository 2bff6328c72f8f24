"""Discretised logistic mixture and discretised Gaussian (seed 001 §3.7 eq. 3.39, §8.1)."""
from __future__ import annotations

import math

import pytest
import torch

from genvid.errors import GenvidError
from genvid.models.recurrent.dmol import DiscretizedGaussian, DiscretizedLogisticMixture, make_likelihood

ALL_VALUES = torch.arange(256, dtype=torch.float32).view(256, 1, 1, 1) / 255.0  # [256, C=1, 1, 1]


def _mixture_params(logits, means, log_scales) -> torch.Tensor:
    """One pixel, one channel: [1, 3K, 1, 1] in the (3, K, C) layout."""
    return torch.tensor([*logits, *means, *log_scales], dtype=torch.float32).view(1, -1, 1, 1)


def _sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


SETTINGS = [  # (logits, means, log_scales): random, sharp, wide, piled on either edge, far outside
    ([0.3, -1.2, 2.0], [-0.4, 0.1, 0.8], [-3.0, -2.0, -4.0]),
    ([0.0, 0.0, 0.0], [-1.0, 0.0, 1.0], [-7.0, -7.0, -7.0]),
    ([5.0, -5.0, 0.0], [0.0, 0.5, -0.5], [3.0, 7.0, 1.0]),
    ([1.0, 2.0, 3.0], [-1.0, -0.999, -1.004], [-6.5, -5.0, -9.0]),
    ([-2.0, 4.0, 0.5], [1.0, 0.998, 1.01], [-8.0, -6.0, -3.0]),
    ([0.0, 1.0, -1.0], [-40.0, 35.0, 0.0], [-20.0, 0.5, 12.0]),
]


@pytest.mark.parametrize("logits,means,log_scales", SETTINGS)
def test_mixture_sums_to_one_over_256_values(logits, means, log_scales):
    d = DiscretizedLogisticMixture(1, 3)
    params = _mixture_params(logits, means, log_scales).expand(256, -1, -1, -1)
    log_p = d.log_prob(params, ALL_VALUES)
    assert log_p.shape == (256, 1, 1, 1)
    assert torch.isfinite(log_p).all()
    assert abs(log_p.exp().sum().item() - 1.0) < 1e-5


def test_mixture_sums_to_one_for_random_multichannel_params():
    gen = torch.Generator().manual_seed(0)
    d = DiscretizedLogisticMixture(3, 5)
    params = torch.randn(1, 45, 4, 4, generator=gen) * 3.0
    x = ALL_VALUES.view(256, 1, 1, 1).expand(256, 3, 4, 4)
    mass = d.log_prob(params.expand(256, -1, -1, -1), x).exp().sum(0)
    torch.testing.assert_close(mass, torch.ones(3, 4, 4), atol=1e-5, rtol=0)


def test_mixture_log_prob_matches_hand_computation():
    logits, means, log_scales = [0.5, -0.5], [0.2, -0.6], [math.log(0.05), math.log(0.3)]
    d = DiscretizedLogisticMixture(1, 2)
    params = _mixture_params(logits, means, log_scales)
    z = math.exp(0.5) + math.exp(-0.5)
    pis = [math.exp(0.5) / z, math.exp(-0.5) / z]
    for k in (0, 1, 128, 154, 254, 255):
        c = 2 * k / 255 - 1
        p = 0.0
        for pi, mu, ls in zip(pis, means, log_scales):
            s = math.exp(ls)
            upper = 1.0 if k == 255 else _sigmoid((c + 1 / 255 - mu) / s)
            lower = 0.0 if k == 0 else _sigmoid((c - 1 / 255 - mu) / s)
            p += pi * (upper - lower)
        got = d.log_prob(params, torch.full((1, 1, 1, 1), k / 255)).item()
        assert got == pytest.approx(math.log(p), abs=1e-5), k


def test_mixture_gradients_finite_at_extremes():
    d = DiscretizedLogisticMixture(1, 3)
    params = _mixture_params(*SETTINGS[5]).expand(256, -1, -1, -1).clone().requires_grad_(True)
    d.log_prob(params, ALL_VALUES).sum().backward()
    assert torch.isfinite(params.grad).all()


def test_mixture_samples_follow_the_probabilities():
    d = DiscretizedLogisticMixture(1, 2)
    # a narrow mode mid-range and a wide one leaning on the upper edge: edge bin 255 gets real mass
    params = _mixture_params([0.0, 0.4], [-0.2, 0.9], [math.log(0.02), math.log(0.1)])
    probs = d.log_prob(params.expand(256, -1, -1, -1), ALL_VALUES).exp().flatten().double()
    n = 200_000
    draws = d.sample(params.expand(n, -1, -1, -1), torch.Generator().manual_seed(3))
    assert draws.shape == (n, 1, 1, 1)
    k = draws.flatten() * 255
    assert torch.equal(k, k.round())  # on the 8-bit grid
    hist = torch.bincount(k.round().long(), minlength=256).double() / n
    assert probs[255] > 0.05
    assert 0.5 * (hist - probs).abs().sum().item() < 0.01  # total variation
    assert (hist - probs).abs().max().item() < 4 * math.sqrt(0.25 / n) + 1e-4


def test_mixture_sampling_deterministic_for_generator():
    d = DiscretizedLogisticMixture(3, 4)
    params = torch.randn(2, 36, 5, 5, generator=torch.Generator().manual_seed(0))
    a = d.sample(params, torch.Generator().manual_seed(7))
    b = d.sample(params, torch.Generator().manual_seed(7))
    c = d.sample(params, torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == (2, 3, 5, 5) and a.min() >= 0 and a.max() <= 1


@pytest.mark.parametrize("logits,means,log_scales", SETTINGS[:5])
def test_mixture_mean_within_half_a_bin_of_the_discrete_mean(logits, means, log_scales):
    d = DiscretizedLogisticMixture(1, 3)
    params = _mixture_params(logits, means, log_scales)
    probs = d.log_prob(params.expand(256, -1, -1, -1), ALL_VALUES).exp().flatten()
    exact = (probs * ALL_VALUES.flatten()).sum().item()
    assert abs(d.mean(params).item() - exact) <= 0.5 / 255 + 1e-5


def test_mixture_rejects_wrong_param_channels():
    d = DiscretizedLogisticMixture(3, 10)
    with pytest.raises(GenvidError, match=r"\[\.\.\., 90, H, W\]"):
        d.log_prob(torch.zeros(1, 89, 2, 2), torch.zeros(1, 3, 2, 2))


@pytest.mark.parametrize("log_scale", [-7.0, -4.0, -1.0, 0.0])
@pytest.mark.parametrize("mu", [-6.0, -1.0, -0.37, 0.0, 0.9, 1.0, 5.0])
def test_gaussian_sums_to_one(log_scale, mu):
    g = DiscretizedGaussian(1)
    with torch.no_grad():
        g.log_scale.fill_(log_scale)
    log_p = g.log_prob(torch.full((256, 1, 1, 1), mu), ALL_VALUES)
    assert torch.isfinite(log_p).all()
    assert abs(log_p.exp().sum().item() - 1.0) < 1e-5


@pytest.mark.parametrize("mu,ks", [(-0.85, (0, 10, 30, 50)), (0.85, (255, 240, 200, 160))])
def test_gaussian_log_prob_matches_hand_computation(mu, ks):
    s = 0.1
    g = DiscretizedGaussian(1, init_scale=s)

    def cdf(v: float) -> float:
        return 0.5 * math.erfc(-(v - mu) / (s * math.sqrt(2)))

    for k in ks:
        c = 2 * k / 255 - 1
        p = (1.0 if k == 255 else cdf(c + 1 / 255)) - (0.0 if k == 0 else cdf(c - 1 / 255))
        got = g.log_prob(torch.full((1, 1, 1, 1), mu), torch.full((1, 1, 1, 1), k / 255)).item()
        assert got == pytest.approx(math.log(p), rel=1e-4), k


def test_gaussian_samples_follow_the_probabilities():
    g = DiscretizedGaussian(1, init_scale=0.05)
    mu = torch.full((1, 1, 1, 1), -0.95)  # leans on the lower edge
    probs = g.log_prob(mu.expand(256, -1, -1, -1), ALL_VALUES).exp().flatten().double()
    n = 100_000
    draws = g.sample(mu.expand(n, -1, -1, -1), torch.Generator().manual_seed(0)).flatten() * 255
    hist = torch.bincount(draws.round().long(), minlength=256).double() / n
    assert probs[0] > 0.1
    assert 0.5 * (hist - probs).abs().sum().item() < 0.01


def test_gaussian_scale_is_learned():
    g = make_likelihood("gaussian", 3, 10)
    assert isinstance(g, DiscretizedGaussian) and g.num_params == 3
    x = torch.rand(2, 3, 4, 4)
    (-g.log_prob(torch.zeros(2, 3, 4, 4), x).sum()).backward()
    assert g.log_scale.grad is not None and torch.all(g.log_scale.grad != 0)
    assert make_likelihood("dmol", 3, 10).num_params == 90
    with pytest.raises(GenvidError, match="unknown pixel likelihood"):
        make_likelihood("bernoulli", 3, 10)


def test_init_head_starts_every_log_scale_at_the_initial_scale():
    d = DiscretizedLogisticMixture(3, 4)
    head = torch.nn.Conv2d(8, d.num_params, 1)
    d.init_head(head, scale=0.1)
    with torch.no_grad():
        _, _, log_scales = d._split(head(torch.zeros(1, 8, 2, 2)))
    torch.testing.assert_close(log_scales, torch.full_like(log_scales, math.log(0.1)))

"""genvid.train.optim: a correctly rounded square root, and torch's AdamW update with it (issue 19)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from genvid.train.optim import AdamW, exact_sqrt, make_adamw


def test_exact_sqrt_is_the_correctly_rounded_root():
    """numpy's float32 sqrt is the IEEE one (correctly rounded); exact_sqrt agrees on every input,
    tiny, huge and near-perfect squares alike, where torch's own sqrt may be an ulp off."""
    rng = np.random.default_rng(0)
    x = np.concatenate([
        rng.uniform(0, 100, 200_000), 10.0 ** rng.uniform(-38, 38, 200_000),
        np.arange(1, 5000, dtype=np.float64) ** 2,  # perfect squares: exact roots
        np.nextafter((np.arange(1, 5000) ** 2).astype(np.float32), np.float32(np.inf)),
        [0.0, 1e-45, 3.4e38]]).astype(np.float32)
    got = exact_sqrt(torch.from_numpy(x)).numpy()
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, np.sqrt(x))
    assert exact_sqrt(torch.tensor([4.0, 2.0])).tolist() == [2.0, float(np.float32(np.sqrt(np.float32(2.0))))]


def test_exact_sqrt_takes_float32_only():
    with pytest.raises(TypeError, match="float32"):
        exact_sqrt(torch.ones(2, dtype=torch.float64))


def _train(opt_factory, steps: int = 5) -> tuple[dict, dict]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(7, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3))
    opt = opt_factory(model.parameters())
    g = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x, y = torch.randn(16, 7, generator=g), torch.randn(16, 3, generator=g)
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()
    return {k: v.clone() for k, v in model.state_dict().items()}, opt.state_dict()


def test_adamw_is_torchs_update_with_the_exact_root(monkeypatch):
    """Bit for bit torch's single-tensor AdamW once torch's sqrt is made exact: the one change."""
    settings = dict(lr=3e-3, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.05)
    ours, our_state = _train(lambda p: AdamW(p, **settings))
    monkeypatch.setattr(torch.Tensor, "sqrt", lambda self: exact_sqrt(self))
    theirs, their_state = _train(lambda p: torch.optim.AdamW(p, foreach=False, **settings))
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    for i, s in their_state["state"].items():  # the same state layout: checkpoints load either way
        assert set(our_state["state"][i]) == set(s)
        assert all(torch.equal(our_state["state"][i][k], s[k]) for k in s)


def test_adamw_resumes_from_its_state_dict():
    settings = dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    straight, _ = _train(lambda p: AdamW(p, **settings), steps=6)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(7, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3))
    opt = AdamW(model.parameters(), **settings)
    g = torch.Generator().manual_seed(1)
    for step in range(6):
        if step == 3:  # a fresh optimiser from the saved state, as the loop resumes
            state = opt.state_dict()
            opt = AdamW(model.parameters(), **settings)
            opt.load_state_dict(state)
        x, y = torch.randn(16, 7, generator=g), torch.randn(16, 3, generator=g)
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()
    assert all(torch.equal(v, straight[k]) for k, v in model.state_dict().items())


def test_parameters_without_gradients_are_left_alone():
    a, b = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(3))
    opt = AdamW([a, b], lr=0.1, weight_decay=0.5)
    (a * 2).sum().backward()
    opt.step()
    assert torch.equal(b, torch.ones(3)) and b not in opt.state and not torch.equal(a, torch.ones(3))


def test_make_adamw_picks_genvids_on_the_cpu():
    p = [torch.nn.Parameter(torch.zeros(2))]
    assert type(make_adamw(p, torch.device("cpu"), 1e-3, (0.9, 0.999), 1e-8, 0.0)) is AdamW
    assert type(make_adamw(p, torch.device("meta"), 1e-3, (0.9, 0.999), 1e-8, 0.0)) is torch.optim.AdamW

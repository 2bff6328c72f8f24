"""Convolutional VRNN / SRNN (seed 001 §3.4–3.6, §8.1): shapes, β warm-up, resume, sampling, smoothing."""
from __future__ import annotations

import copy

import pytest
import torch

from conftest import overfit_losses
from genvid.config import parse_config
from genvid.errors import GenvidError, ParamError
from genvid.models.layers import beta_warmup
from genvid.models.recurrent.vrnn import VRNN, SRNNConfig, VRNNConfig

TINY = dict(channels=1, levels=2, base_channels=4, hidden_channels=8, latent_channels=2, components=2,
            beta_warmup_steps=10)


CONFIGS = {"vrnn": VRNNConfig, "srnn": SRNNConfig}


def make(kind: str, **over) -> VRNN:
    torch.manual_seed(0)
    return VRNN(parse_config(CONFIGS[kind], {**TINY, **over}, f"models.{kind}"))


def squares(b: int, t: int, size: int = 16, seed: int = 0) -> torch.Tensor:
    """Bouncing-free moving 4×4 squares, [B, T, 1, size, size] in {0, 1}."""
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(b, t, 1, size, size)
    pos = torch.randint(0, size - 4, (b, 2), generator=g)
    vel = torch.randint(-2, 3, (b, 2), generator=g)
    for i in range(b):
        p = pos[i].clone()
        for s in range(t):
            x[i, s, 0, p[0]:p[0] + 4, p[1]:p[1] + 4] = 1.0
            p = (p + vel[i]).clamp(0, size - 4)
    return x


def test_config_errors_name_the_key():
    with pytest.raises(ParamError, match=r"models\.vrnn\.levels is missing"):
        parse_config(VRNNConfig, {k: v for k, v in TINY.items() if k != "levels"}, "models.vrnn")
    with pytest.raises(ParamError, match=r"models\.srnn\.kind must be one of srnn"):
        parse_config(SRNNConfig, {**TINY, "kind": "vrnn"}, "models.srnn")
    with pytest.raises(ParamError, match=r"models\.srnn\.output must be one of"):
        parse_config(SRNNConfig, {**TINY, "output": "bernoulli"}, "models.srnn")
    assert parse_config(SRNNConfig, TINY, "models.srnn").kind == "srnn"
    assert parse_config(VRNNConfig, TINY, "models.vrnn").kind == "vrnn"


@pytest.mark.parametrize("kind", ["vrnn", "srnn"])
@pytest.mark.parametrize("over", [{}, {"output": "gaussian", "skip_connections": True},
                                  {"norm": "group", "sample_pixels": True}])
def test_shapes(kind, over):
    m = make(kind, channels=3, **over)
    x = torch.rand(2, 4, 3, 16, 16)
    loss, scalars = m.loss(x, step=3)
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert set(scalars) == {"nelbo_bpd", "recon_bpd", "kl_nats_per_frame", "beta"}
    loss.backward()
    m.eval()
    out = m.generate(x[:, :2], horizon=3, num_samples=2, generator=torch.Generator().manual_seed(0))
    assert out.shape == (2, 2, 3, 3, 16, 16)
    assert out.min() >= 0 and out.max() <= 1
    if m.cfg.sample_pixels:  # samples lie on the 8-bit grid
        assert torch.equal(out * 255, (out * 255).round())
    assert m.log_weights(x, 3, torch.Generator().manual_seed(0)).shape == (2, 3)
    assert m.elbo(x).shape == (2,)
    assert VRNN.scored_dims(x.shape) == 3 * 3 * 16 * 16


def test_bad_frames_raise():
    m = make("vrnn")
    with pytest.raises(GenvidError, match=r"\[B, T>=2, 1, H, W\]"):
        m.loss(torch.rand(2, 4, 3, 16, 16), 0)
    with pytest.raises(GenvidError, match="multiples of 2\\^levels = 4"):
        m.loss(torch.rand(2, 4, 1, 18, 16), 0)
    with pytest.raises(GenvidError, match="T>=2"):
        m.log_weights(torch.rand(2, 1, 1, 16, 16), 2)
    with pytest.raises(GenvidError, match="k must be >= 1"):
        m.log_weights(torch.rand(2, 3, 1, 16, 16), 0)


def test_beta_warmup_is_the_linear_formula():
    w, b0 = 100, 1e-6
    assert beta_warmup(0, w) == b0
    for step in (1, 37, 50, 99):
        assert beta_warmup(step, w) == b0 + (1 - b0) * step / w
    assert beta_warmup(100, w) == 1.0 and beta_warmup(10 ** 7, w) == 1.0
    assert beta_warmup(0, 0) == 1.0 and beta_warmup(5, 0) == 1.0
    assert beta_warmup(3, 10, start=0.5) == 0.5 + 0.5 * 0.3
    with pytest.raises(GenvidError, match="step must be >= 0"):
        beta_warmup(-1, w)


@pytest.mark.parametrize("kind", ["vrnn", "srnn"])
def test_loss_is_a_pure_function_of_step(kind):
    m = make(kind)
    x = squares(4, 4)
    losses = {}
    for step in (0, 9, 10, 11, 9):
        torch.manual_seed(123)
        loss, scalars = m.loss(x, step)
        assert scalars["beta"] == beta_warmup(step, 10)
        losses.setdefault(step, loss.item())
        assert loss.item() == losses[step]  # same step, same noise -> same value, whatever came before
    # Only β depends on the step: loss(a) - loss(b) = (β_a - β_b) KL / dims for the same noise.
    torch.manual_seed(123)
    _, scalars = m.loss(x, 0)
    kl_per_dim = scalars["kl_nats_per_frame"] * 3 / VRNN.scored_dims(x.shape)
    assert losses[11] - losses[0] == pytest.approx((1 - 1e-6) * kl_per_dim, rel=1e-3, abs=1e-7)


def test_resume_at_the_warmup_boundary_is_exact():
    """Train 6 steps straight, or 3 then a save/load and 3 more: bitwise the same losses (the
    warm-up ends at step 4, inside the resumed half)."""
    x = squares(4, 4)

    def run(model, opt, steps):
        out = []
        for step in steps:
            loss, _ = model.loss(x, step)
            opt.zero_grad()
            loss.backward()
            opt.step()
            out.append(loss.item())
        return out

    m = make("srnn", beta_warmup_steps=4)
    opt = torch.optim.Adam(m.parameters(), 1e-3)
    torch.manual_seed(7)
    straight = run(m, opt, range(6))

    m = make("srnn", beta_warmup_steps=4)
    opt = torch.optim.Adam(m.parameters(), 1e-3)
    torch.manual_seed(7)
    first = run(m, opt, range(3))
    saved = copy.deepcopy((m.state_dict(), opt.state_dict(), torch.get_rng_state()))
    m2 = make("srnn", beta_warmup_steps=4)
    opt2 = torch.optim.Adam(m2.parameters(), 1e-3)
    m2.load_state_dict(saved[0])
    opt2.load_state_dict(saved[1])
    torch.set_rng_state(saved[2])
    assert first + run(m2, opt2, range(3, 6)) == straight


@pytest.mark.parametrize("kind", ["vrnn", "srnn"])
def test_generate_deterministic_for_the_generator(kind):
    m = make(kind).eval()
    ctx = squares(2, 3)
    a = m.generate(ctx, 3, 2, torch.Generator().manual_seed(5))
    b = m.generate(ctx, 3, 2, torch.Generator().manual_seed(5))
    c = m.generate(ctx, 3, 2, torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.equal(a[:, 0], a[:, 1])  # samples of one clip differ
    other = m.generate(squares(2, 3, seed=1), 3, 2, torch.Generator().manual_seed(5))
    assert not torch.equal(a, other)  # the context matters


@pytest.mark.parametrize("kind", ["vrnn", "srnn"])
@pytest.mark.parametrize("over", [{}, {"skip_connections": True, "sample_pixels": True}])
def test_generate_is_streaming(kind, over):
    """The first frames do not change when the horizon grows (sampling is causal)."""
    m = make(kind, **over).eval()
    ctx = squares(2, 3)
    short = m.generate(ctx, 2, 2, torch.Generator().manual_seed(1))
    long = m.generate(ctx, 5, 2, torch.Generator().manual_seed(1))
    assert torch.equal(short, long[:, :, :2])


def test_srnn_posterior_smooths_vrnn_filters():
    """Changing only the last frame moves the SRNN's first posterior (a_t sees x_{t:T}) but not the
    VRNN's (q(z_t | x_t, h_t) sees x_{≤t})."""
    x = squares(2, 5)
    y = x.clone()
    y[:, -1] = 1.0 - y[:, -1]
    for kind, moves in (("vrnn", False), ("srnn", True)):
        m = make(kind).eval()
        with torch.no_grad():
            kl_x = m._infer(x, lambda s: torch.zeros(s))["kl"][:, 0]
            kl_y = m._infer(y, lambda s: torch.zeros(s))["kl"][:, 0]
        assert torch.equal(kl_x, kl_y) is not moves, kind


def test_free_bits_floor_the_kl():
    m = make("vrnn", free_bits=1000.0)  # far above every per-channel KL: the KL term is the constant floor
    x = squares(2, 4)
    torch.manual_seed(0)
    loss, s = m.loss(x, step=20)
    dims = VRNN.scored_dims(x.shape)
    recon_nats = s["recon_bpd"] * dims * torch.log(torch.tensor(2.0)).item()
    assert loss.item() == pytest.approx((recon_nats + 1000.0 * 3 * TINY["latent_channels"]) / dims, rel=1e-5)


@pytest.mark.parametrize("kind", ["vrnn", "srnn"])
def test_overfits_a_fixed_batch(kind):
    m = make(kind)
    losses = overfit_losses(m, squares(8, 4), torch.optim.Adam(m.parameters(), 3e-3))
    assert sum(losses[-5:]) / 5 < 0.8 * losses[0]

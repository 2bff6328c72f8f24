"""Recurrent Flow Network (genvid/models/recurrent/rfn.py) and the ConvLSTM cell: shapes, the β warm-up, the
§8.3 dequantisation constant, importance weights, causal deterministic sampling, overfitting."""
from __future__ import annotations

import dataclasses
import io
import math

import pytest
import torch

from conftest import gen, overfit_losses
from genvid.config import parse_config
from genvid.errors import GenvidError, ParamError
from genvid.models.convlstm import ConvLSTMCell
from genvid.models.layers import beta_warmup
from genvid.models.recurrent.flows import ActNorm, Conditioner
from genvid.models.recurrent.rfn import RFN, RFNConfig, build_rfn

TINY = dict(channels=1, levels=2, flow_steps=1, coupling_channels=8, base_distribution_channels=8,
            base_channels=4, hidden_channels=8, smoothing_channels=8, latent_channels=2,
            beta_warmup_steps=10)


def make(**overrides) -> RFN:
    torch.manual_seed(0)
    return RFN(RFNConfig(**{**TINY, **overrides}))


def clip(b=2, t=4, c=1, size=16, seed=0) -> torch.Tensor:
    """Moving-square clips, uint8 / 255 like the pipeline's frames."""
    g = torch.Generator().manual_seed(seed)
    frames = torch.zeros(b, t, c, size, size)
    for i in range(b):
        y, x = torch.randint(0, size - 6, (2,), generator=g).tolist()
        for j in range(t):
            frames[i, j, :, y:y + 5, (x + j) % (size - 5):(x + j) % (size - 5) + 5] = 200.0
    noise = torch.randint(0, 20, frames.shape, generator=g).float()
    return (frames + noise).clamp(0, 255) / 255.0


def initialised(model: RFN, frames: torch.Tensor) -> RFN:
    """One loss call (ActNorm data-dependent init, BatchNorm statistics), then eval mode. The
    Glow's zero-initialised last convs are given small random weights, as training would: at
    init every coupling is the identity and every prior N(0, 1), so nothing depends on the
    condition."""
    model.train()
    model.loss(frames, 0)
    g = torch.Generator().manual_seed(11)
    with torch.no_grad():
        for m in model.flow.modules():
            if isinstance(m, Conditioner):
                m.conv3.weight.copy_(0.05 * torch.randn(m.conv3.weight.shape, generator=g))
    return model.eval()


# ---------------------------------------------------------------- ConvLSTM

def test_convlstm_step_matches_the_gate_equations():
    torch.manual_seed(0)
    cell = ConvLSTMCell(2, 3, kernel_size=3)
    x, h0, c0 = torch.randn(1, 2, 4, 4), torch.randn(1, 3, 4, 4), torch.randn(1, 3, 4, 4)
    h, c = cell(x, (h0, c0))
    gates = torch.nn.functional.conv2d(torch.cat([x, h0], 1), cell.gates.weight, cell.gates.bias, padding=1)
    i, f, o, g = gates.chunk(4, 1)
    c_ref = torch.sigmoid(f) * c0 + torch.sigmoid(i) * torch.tanh(g)
    assert torch.allclose(c, c_ref, atol=1e-6)
    assert torch.allclose(h, torch.sigmoid(o) * torch.tanh(c_ref), atol=1e-6)
    # state=None is the zero state; the forget-gate bias starts at 1
    assert torch.equal(cell(x)[0], cell(x, (torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 4)))[0])
    assert torch.equal(cell.gates.bias[3:6], torch.ones(3))
    with pytest.raises(GenvidError, match="ConvLSTM input"):
        cell(torch.randn(1, 5, 4, 4))


# ---------------------------------------------------------------- config and β

def test_config_sizes_have_no_defaults_and_errors_name_the_key():
    values = dict(TINY)
    del values["beta_warmup_steps"]
    with pytest.raises(ParamError, match=r"models\.rfn\.beta_warmup_steps is missing"):
        parse_config(RFNConfig, values, "models.rfn")
    with pytest.raises(ParamError, match=r"models\.rfn[.:] ?resolution must be a multiple of 2\^levels = 4"):
        build_rfn({**TINY, "resolution": 18})
    with pytest.raises(ParamError, match=r"models\.rfn\.norm must be one of"):
        build_rfn({**TINY, "norm": "layer"})
    model = build_rfn({**TINY, "resolution": 16})
    assert model.cfg.temperature == 0.6 and model.cfg.n_bits == 8 and model.cfg.beta_start == 1e-6


def test_beta_warmup_is_exact_at_every_step():
    assert beta_warmup(0, 10) == 1e-6
    assert beta_warmup(4, 10) == 1e-6 + (1 - 1e-6) * 0.4
    assert beta_warmup(9, 10) == 1e-6 + (1 - 1e-6) * 0.9
    assert beta_warmup(10, 10) == 1.0 and beta_warmup(10_000, 10) == 1.0
    assert beta_warmup(0, 0) == 1.0  # no warm-up
    assert beta_warmup(3, 10, start=0.5) == 0.5 + 0.5 * 0.3
    with pytest.raises(GenvidError, match="step must be >= 0"):
        beta_warmup(-1, 10)


def test_loss_is_a_pure_function_of_step_and_weights_the_kl_by_beta():
    model, frames = make(), clip()
    model.loss(frames, 0)  # ActNorm init
    torch.manual_seed(3)
    loss7, scalars7 = model.loss(frames, 7)
    torch.manual_seed(3)
    again, _ = model.loss(frames, 7)
    assert torch.equal(loss7, again)  # a resumed run at step 7 computes the same loss
    torch.manual_seed(3)
    recon, kl = (v.detach() for v in model.elbo_terms(frames))
    dims = RFN.scored_dims(frames.shape) * math.log(2.0)
    beta = 1e-6 + (1 - 1e-6) * 0.7
    assert scalars7["beta"] == beta
    assert torch.allclose(loss7, ((-recon + beta * kl) / dims).mean())
    assert scalars7["bpd_elbo"] == pytest.approx(float(((kl - recon) / dims).mean()), rel=1e-5)
    assert set(scalars7) == {"beta", "bpd_elbo", "recon_bpd", "kl_nats"}


# ---------------------------------------------------------------- shapes and likelihood

def test_shapes_and_scored_dims():
    model, frames = make(), clip(b=3, t=5)
    loss, scalars = model.loss(frames, 0)
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert RFN.scored_dims(frames.shape) == 4 * 1 * 16 * 16
    model.eval()
    recon, kl = model.elbo_terms(frames, gen(0))
    assert recon.shape == kl.shape == (3,) and (kl >= 0).all()
    assert model.log_weights(frames, 6, gen(0)).shape == (3, 6)
    assert model.elbo_bits_per_dim(frames, gen(0)).shape == (3,)
    out = model.generate(frames[:, :2], horizon=3, num_samples=2, generator=gen(0))
    assert out.shape == (3, 2, 3, 1, 16, 16)
    assert out.min() >= 0 and out.max() <= 1
    assert torch.equal(out * 255, (out * 255).round())  # on the 8-bit grid


def test_dequantisation_constant_and_scaling_follow_section_8_3(monkeypatch):
    """recon = log p_y(y | z) − D·B·ln 2 with y = (k + u)/2^B − 0.5 in the bin of the data's level k."""
    for bits in (8, 5):
        model, frames = make(n_bits=bits), clip()
        seen = {}

        def fake_log_prob(y, conds):
            seen["y"] = y
            return torch.zeros(y.shape[0])
        monkeypatch.setattr(model.flow, "log_prob", fake_log_prob)
        recon, _ = model.elbo_terms(frames, gen(1))
        dims = RFN.scored_dims(frames.shape)
        assert torch.allclose(recon, torch.full((2,), -dims * bits * math.log(2.0)))
        k = torch.floor(torch.round(frames[:, 1:] * 255) / 2 ** (8 - bits)).flatten(0, 1)
        y = seen["y"]
        assert y.shape == k.shape
        assert (y >= k / 2 ** bits - 0.5).all() and (y < (k + 1) / 2 ** bits - 0.5).all()
        assert y.min() >= -0.5 and y.max() < 0.5


def test_log_weights_are_the_elbo_with_a_sampled_kl():
    model = initialised(make(), clip())
    frames = clip(seed=1)
    # K = 1 with the same generator state: the same u and z as one ELBO draw, the analytic KL
    # replaced by log q − log p at that z
    lw = model.log_weights(frames, 1, gen(5))
    terms = model._sample_terms(model._encode(frames), model._drawer(gen(5)))
    assert torch.allclose(lw[:, 0], terms.recon + terms.log_ratio)
    recon, kl = model.elbo_terms(frames, gen(5))
    assert torch.equal(recon, terms.recon) and torch.equal(kl, terms.kl)
    # in distribution: E[log p(z) − log q(z)] = −KL, so E[log w] = E[ELBO]
    enc, draw = model._encode(frames), model._drawer(gen(9))
    with torch.no_grad():
        diffs = torch.stack([(lambda t: t.log_ratio + t.kl)(model._sample_terms(enc, draw)) for _ in range(300)])
    mean, se = diffs.mean(0), diffs.std(0) / math.sqrt(300)
    assert (mean.abs() < 4 * se + 1e-3).all(), (mean, se)
    # the IWAE bound (log-mean-exp) is at least the mean weight
    lw = model.log_weights(frames, 20, gen(2))
    assert (torch.logsumexp(lw, 1) - math.log(20) >= lw.mean(1)).all()


def test_the_generative_path_is_causal_and_smoothing_looks_ahead():
    """h_t and the U-Net skips use x_{<t} only; the smoothing state a_t uses x_{≥t}."""
    model = initialised(make(), clip())
    frames = clip(t=5, seed=2)
    changed = frames.clone()
    changed[:, 3:] = 1.0 - changed[:, 3:]
    a, b = model._encode(frames), model._encode(changed)
    # h[:, j] conditions frame j + 1 and depends on frames 0..j
    assert torch.equal(a.h[:, :3], b.h[:, :3]) and not torch.equal(a.h[:, 3], b.h[:, 3])
    assert not torch.equal(a.a[:, 0], b.a[:, 0])  # a_2 sees x_4 through the backward ConvLSTM


# ---------------------------------------------------------------- generation

def test_generate_is_deterministic_streaming_and_depends_on_the_context():
    model = initialised(make(), clip())
    context = clip(seed=3)[:, :2]
    a = model.generate(context, 3, 2, gen(0))
    assert torch.equal(a, model.generate(context, 3, 2, gen(0)))
    assert not torch.equal(a, model.generate(context, 3, 2, gen(1)))
    assert not torch.equal(a[:, 0], a[:, 1])  # samples of one context differ
    longer = model.generate(context, 5, 2, gen(0))
    assert torch.equal(longer[:, :, :3], a)  # a longer horizon only appends frames
    assert not torch.equal(a, model.generate(1.0 - context, 3, 2, gen(0)))
    one = model.generate(context[:, :1], 2, 1, gen(0))  # a single context frame works (z_1 = 0)
    assert one.shape == (2, 1, 2, 1, 16, 16)


def test_temperature_zero_everywhere_gives_one_deterministic_future():
    """T scales the Glow's ε (split and base priors, §8.2.4); prior_temperature the z prior's σ.
    Both 0: the path through every mean, whatever the generator, identical across samples."""
    model = initialised(make(temperature=0.0, prior_temperature=0.0), clip())
    context = clip(seed=4)[:, :1]  # one frame: no posterior draw in the warm-up
    a, b = model.generate(context, 3, 2, gen(0)), model.generate(context, 3, 2, gen(1))
    assert torch.equal(a, b) and torch.equal(a[:, 0], a[:, 1])
    # the flow at T = 0 with random z still varies with the generator
    model.cfg = dataclasses.replace(model.cfg, prior_temperature=1.0)
    assert not torch.equal(model.generate(context, 3, 1, gen(0)), model.generate(context, 3, 1, gen(1)))


def test_generate_with_fewer_bits_stays_on_the_coarser_grid():
    model = initialised(make(n_bits=5), clip())
    out = model.generate(clip(seed=5)[:, :2], 2, 1, gen(0))
    levels = out * 255 / 8  # 5 bits: multiples of 8/255
    assert torch.allclose(levels, levels.round(), atol=1e-4)


# ---------------------------------------------------------------- state, errors, training

def test_checkpoint_round_trip_keeps_actnorm_init_and_outputs():
    model = initialised(make(), clip())
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    buf.seek(0)
    torch.manual_seed(123)  # different initial weights: everything must come from the checkpoint
    loaded = RFN(model.cfg)
    loaded.load_state_dict(torch.load(buf))
    loaded.eval()
    actnorms = [m for m in loaded.modules() if isinstance(m, ActNorm)]
    assert actnorms and all(bool(m.initialized) for m in actnorms)
    frames = clip(seed=6)
    assert torch.equal(loaded.log_weights(frames, 2, gen(0)), model.log_weights(frames, 2, gen(0)))
    assert torch.equal(loaded.generate(frames[:, :2], 2, 1, gen(0)), model.generate(frames[:, :2], 2, 1, gen(0)))


def test_bad_input_raises_one_line_errors():
    model = make()
    with pytest.raises(GenvidError, match=r"frames must be float \[B, T>=2, 1, H, W\]"):
        model.loss(clip(c=3), 0)
    with pytest.raises(GenvidError, match="multiples of 2\\^levels = 4"):
        model.loss(clip(size=18), 0)
    with pytest.raises(GenvidError, match="T>=2"):
        model.elbo_terms(clip(t=1))
    with pytest.raises(GenvidError, match=r"in \[0, 1\]"):
        model.loss(clip() * 255, 0)
    with pytest.raises(GenvidError, match="k must be >= 1"):
        model.log_weights(clip(), 0)
    with pytest.raises(GenvidError, match="horizon"):
        model.generate(clip()[:, :2], 0, 1, gen(0))


def test_overfits_a_fixed_batch():
    model, frames = make(beta_warmup_steps=0), clip(b=2, t=3)
    losses = overfit_losses(model, frames, torch.optim.Adam(model.parameters(), lr=3e-3), seed=None)
    assert all(math.isfinite(v) for v in losses)
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.3, losses

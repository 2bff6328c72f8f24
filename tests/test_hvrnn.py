"""Hierarchical VRNN (seed 004 §4.4, App. 4.A–4.B): ELBO decomposition, the dense wiring of
Fig. 4.2/4.8 by gradients, β warm-up, generation, config errors."""
from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Bernoulli, Normal, kl_divergence

from conftest import gen, overfit_losses, rand_clip as clip
from genvid.config import parse_config
from genvid.errors import GenvidError, ParamError
from genvid.models.hvrnn.model import THESIS_SCALE, HVRNN, HVRNNConfig, NormConvLSTMCell, normalized_kl
from genvid.models.layers import beta_warmup, gaussian_kl

TINY = dict(channels=1, resolution=16, context_frames=2, encoder_widths=[8, 8, 8], decoder_widths=[8, 8, 8, 8],
            decoder_lstm_layers=4, latent_resolutions=[1, 8, 16], latent_channels=[3, 2, 2],
            latent_widths=[8, 8, 8], beta_warmup_steps=10, norm_groups=4)


def make(**overrides) -> HVRNN:
    torch.manual_seed(0)
    return HVRNN(parse_config(HVRNNConfig, {**TINY, **overrides}, "models.hvrnn"))


# -- config ---------------------------------------------------------------------------------------

def test_config_errors_name_the_key():
    with pytest.raises(ParamError, match=r"models\.hvrnn\.latent_resolutions is missing"):
        parse_config(HVRNNConfig, {k: v for k, v in TINY.items() if k != "latent_resolutions"}, "models.hvrnn")
    with pytest.raises(ParamError, match="encoder_widths needs 3 values"):
        parse_config(HVRNNConfig, {**TINY, "encoder_widths": [8, 8]}, "models.hvrnn")
    with pytest.raises(ParamError, match="latent_resolutions must be decoder stage resolutions"):
        parse_config(HVRNNConfig, {**TINY, "latent_resolutions": [1, 2, 16]}, "models.hvrnn")
    with pytest.raises(ParamError, match="latent_channels needs one value per level"):
        parse_config(HVRNNConfig, {**TINY, "latent_channels": [3, 2]}, "models.hvrnn")
    with pytest.raises(ParamError, match="multiples of norm_groups"):
        parse_config(HVRNNConfig, {**TINY, "decoder_widths": [8, 8, 6, 8]}, "models.hvrnn")
    with pytest.raises(ParamError, match=r"models\.hvrnn\.likelihood must be one of"):
        parse_config(HVRNNConfig, {**TINY, "likelihood": "dmol"}, "models.hvrnn")


def test_bad_frames_raise():
    m = make()
    with pytest.raises(GenvidError, match="frames must be"):
        m.loss(clip(t=2), 0)  # no frame after the 2 context frames
    with pytest.raises(GenvidError, match="context must be"):
        m.generate(clip(r=32)[:, :2], 2, 1, gen())


# -- shapes and the Table 4.1 / 4.2 knobs ---------------------------------------------------------

@pytest.mark.parametrize("levels", [(1,), (1, 8), (1, 8, 16)])
def test_shapes_for_one_two_three_levels(levels):
    n = len(levels)
    m = make(latent_resolutions=list(levels), latent_channels=[3, 2, 2][:n], latent_widths=[8] * n)
    x = clip()
    loss, scalars = m.loss(x, 0)
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert {f"kl_{r}x{r}" for r in levels} | {"recon", "kl", "elbo", "beta"} == set(scalars)
    terms = m.elbo_terms(x, gen())
    assert all(v.shape == (2,) for v in terms.values())
    assert [k.shape for k in m.kl_per_channel(x, gen())] == [(c,) for c in [3, 2, 2][:n]]
    m.eval()
    assert m.generate(x[:, :2], 3, 2, gen()).shape == (2, 2, 3, 1, 16, 16)


def test_thesis_default_levels_at_32():
    m = make(resolution=32, encoder_widths=[8, 8, 8, 8], decoder_widths=[8] * 5, decoder_lstm_layers=5,
             latent_resolutions=[1, 8, 32])
    u = m.unroll(clip(r=32, t=3), gen())
    assert [mu.shape[-1] for mu, _ in u.posterior[0]] == [1, 8, 32]
    assert u.outputs[0].shape == (2, 1, 32, 32)


def test_decoder_convlstm_count_is_a_param():
    for k in (1, 2, 4):
        m = make(decoder_lstm_layers=k)
        cells = [layer for layer in m.decoder.layers if isinstance(layer, NormConvLSTMCell)]
        assert len(cells) == k and len(m.decoder_init) == k
        assert torch.isfinite(m.loss(clip(), 0)[0])


def test_one_level_model_is_the_same_with_or_without_dense():
    a = make(latent_resolutions=[8], latent_channels=[2], latent_widths=[8], dense=True)
    b = make(latent_resolutions=[8], latent_channels=[2], latent_widths=[8], dense=False)
    for pa, pb in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(pa, pb)


# -- the ELBO (eq. 4.5, App. 4.A.1) ---------------------------------------------------------------

def test_gaussian_kl_matches_torch_distributions():
    g = gen(3)
    mu_q, mu_p = torch.randn(50, generator=g), torch.randn(50, generator=g)
    s_q, s_p = torch.rand(50, generator=g) + 0.1, torch.rand(50, generator=g) + 0.1
    expected = kl_divergence(Normal(mu_q, s_q), Normal(mu_p, s_p))
    torch.testing.assert_close(gaussian_kl(mu_q, s_q, mu_p, s_p), expected)
    assert gaussian_kl(torch.tensor(1.0), torch.tensor(1.0), torch.tensor(0.0), torch.tensor(1.0)) == 0.5


def test_squared_error_likelihood_by_hand():
    m = make()  # the default
    assert m.cfg.likelihood == "squared_error"
    out = torch.tensor([[0.0, 2.0], [-1.0, 0.5]])
    x = torch.tensor([[0.5, 1.0], [0.0, 0.25]])
    expected = -torch.tensor([[0.0, (1.0 - 1 / (1 + math.exp(-2.0))) ** 2],
                              [(1 / (1 + math.exp(1.0))) ** 2, (0.25 - 1 / (1 + math.exp(-0.5))) ** 2]])
    torch.testing.assert_close(m.log_likelihood(out, x), expected)
    # a Gaussian with σ² = ½ less its constant log(σ √(2π)) = ½ log π
    gaussian = Normal(torch.sigmoid(out), math.sqrt(0.5)).log_prob(x)
    torch.testing.assert_close(m.log_likelihood(out, x), gaussian + 0.5 * math.log(math.pi))


def test_thesis_scale_arithmetic():
    """The numbers the likelihood was decided from (the module's comment), recomputed."""
    n, (low, high) = THESIS_SCALE["subpixels"], THESIS_SCALE["neg_elbo_range"]
    assert n == 122_880 and low < high
    constant = lambda sigma: n * (math.log(sigma) + 0.5 * math.log(2 * math.pi))  # noqa: E731
    assert round(constant(0.1)) == -170_022 and round(constant(1.0)) == 112_919
    psnr = lambda two_sigma_sq: 10 * math.log10(n / (two_sigma_sq * high))  # noqa: E731  MSE <= 2σ²·(−ELBO)/N
    assert 32.0 < psnr(2 * 0.1 ** 2) < 32.1 and 15.0 < psnr(1.0) < 15.1


@pytest.mark.parametrize("likelihood", ["squared_error", "gaussian", "bernoulli"])
def test_elbo_is_reconstruction_minus_per_level_kl(likelihood):
    m = make(likelihood=likelihood, sigma=0.2).eval()
    x = clip(t=5)
    if likelihood == "bernoulli":
        x = (x > 0.5).float()  # torch's Bernoulli checks its support
    terms = m.elbo_terms(x, gen(7))
    u = m.unroll(x, gen(7))  # the same posterior samples, recomputed independently below
    assert len(u.outputs) == 3  # D = 2 context frames condition, 3 future frames are scored
    recon = torch.zeros(2)
    for t, out in enumerate(u.outputs):
        if likelihood == "squared_error":
            recon -= ((x[:, 2 + t] - torch.sigmoid(out)) ** 2).sum((1, 2, 3))
            continue
        dist = Normal(torch.sigmoid(out), 0.2) if likelihood == "gaussian" else Bernoulli(logits=out)
        recon += dist.log_prob(x[:, 2 + t]).sum((1, 2, 3))
    kls = [sum(kl_divergence(Normal(*u.posterior[t][l]), Normal(*u.prior[t][l])).sum((1, 2, 3)) for t in range(3))
           for l in range(3)]
    torch.testing.assert_close(terms["recon"], recon)
    for r, kl in zip((1, 8, 16), kls):
        torch.testing.assert_close(terms[f"kl_{r}x{r}"], kl)
        assert (kl > 0).all()
    torch.testing.assert_close(terms["elbo"], recon - (kls[0] + kls[1] + kls[2]))
    assert torch.equal(terms["elbo"], terms["recon"] - (terms["kl_1x1"] + terms["kl_8x8"] + terms["kl_16x16"]))


def test_kl_per_channel_averages_the_level_kl():
    m = make().eval()
    x = clip(t=5)
    terms, per_channel = m.elbo_terms(x, gen(2)), m.kl_per_channel(x, gen(2))
    for r, kl in zip((1, 8, 16), per_channel):
        # mean over clips, 3 future steps and r×r positions, summed over channels
        torch.testing.assert_close(kl.sum() * 3 * r * r, terms[f"kl_{r}x{r}"].mean())
    summed = m.kl_per_channel(x, gen(2), positions="sum")
    for r, kl, total in zip((1, 8, 16), per_channel, summed):
        torch.testing.assert_close(total, kl * r * r)
    with pytest.raises(GenvidError, match="positions must be"):
        m.kl_per_channel(x, gen(2), positions="max")
    active = [int((kl > 0.01).sum()) for kl in per_channel]
    assert all(0 <= a <= c for a, c in zip(active, (3, 2, 2)))
    assert normalized_kl(torch.tensor([0.0, 0.075, 0.3])).tolist() == [0.0, 0.5, 1.0]


# -- dense connectivity (Fig. 4.2 prior, Fig. 4.8 posterior) by gradients --------------------------

# The spec, level by level, for levels at 1, 8, 16: "prev@r" is the encoded x_{t-1} at r×r,
# "cur@r" the encoded x_t (posterior only), "z<k>" the sample of level k at the same step.
SPEC = {
    True: {  # every level sees x_{t-1} and all lower levels, and connects to the output
        "prior": [{"prev@1"}, {"prev@8", "z0"}, {"prev@16", "z0", "z1"}],
        "posterior": [{"prev@1", "cur@1"}, {"prev@8", "cur@8", "z0"}, {"prev@16", "cur@16", "z0", "z1"}],
        "decoder": {"prev@1", "z0", "z1", "z2"},
    },
    False: {  # the chain z^1 -> z^2 -> z^3 -> x_t
        "prior": [{"prev@1"}, {"z0"}, {"z1"}],
        "posterior": [{"prev@1", "cur@1"}, {"cur@8", "z0"}, {"cur@16", "z1"}],
        "decoder": {"prev@1", "z2"},
    },
}


def _leaves(m: HVRNN):
    g = gen(11)
    widths = m.encoder.widths
    prev = {r: torch.randn(1, w, r, r, generator=g, requires_grad=True) for r, w in widths.items()}
    cur = {r: torch.randn(1, w, r, r, generator=g, requires_grad=True) for r, w in widths.items()}
    zs = [torch.randn(1, c, r, r, generator=g, requires_grad=True)
          for c, r in zip(m.cfg.latent_channels, m.cfg.latent_resolutions)]
    named = {**{f"prev@{r}": t for r, t in prev.items()}, **{f"cur@{r}": t for r, t in cur.items()},
             **{f"z{k}": t for k, t in enumerate(zs)}}
    with torch.no_grad():  # states from other features, so they carry no gradient to the leaves
        state = m.initial_state({r: torch.randn(1, w, r, r, generator=g) for r, w in widths.items()})
    return prev, cur, zs, named, state


def _receives(outputs, named) -> set[str]:
    g = gen(5)
    scalar = sum((o * torch.randn(o.shape, generator=g)).sum() for o in outputs)
    grads = torch.autograd.grad(scalar, list(named.values()), allow_unused=True)
    return {name for name, gr in zip(named, grads) if gr is not None and gr.abs().sum() > 0}


@pytest.mark.parametrize("dense", [True, False])
def test_wiring_matches_fig_4_2_and_4_8(dense):
    m = make(dense=dense)
    prev, cur, zs, named, state = _leaves(m)
    for l in range(3):
        mu, s, _ = m.prior_params(l, prev, zs, state.prior[l])
        assert _receives([mu, s], named) == SPEC[dense]["prior"][l], f"prior of level {l}"
        mu, s, _ = m.posterior_params(l, prev, cur, zs, state.posterior[l])
        assert _receives([mu, s], named) == SPEC[dense]["posterior"][l], f"posterior of level {l}"
    out, _ = m.decode(prev, zs, state.decoder)
    assert _receives([out], named) == SPEC[dense]["decoder"]


def test_dense_adds_parameters_only_on_the_added_arrows():
    dense, chain = make(dense=True), make(dense=False)
    n = lambda mod: sum(p.numel() for p in mod.parameters())  # noqa: E731
    assert n(dense.encoder) == n(chain.encoder)
    assert n(dense.priors[0]) == n(chain.priors[0]) and n(dense.priors[2]) > n(chain.priors[2])
    assert n(dense.decoder) > n(chain.decoder)


# -- β warm-up and the loss at resume --------------------------------------------------------------

def test_published_parameter_counts_contradict_table_4_6():
    """The report's "Parameters" row: the level increments of seed 004 Table 4.2 (and a step of
    Table 4.1) are below what Table 4.6's 512-wide 3×3 ConvLSTMs cost in genvid's own cell."""
    n = lambda mod: sum(p.numel() for p in mod.parameters())  # noqa: E731
    with torch.device("meta"):
        lstm, conv = n(NormConvLSTMCell(512, 512, 3, 16)), n(torch.nn.Conv2d(512, 512, 3))
    assert lstm == 9 * 1024 * 2048 + 2048 + 2 * 2048  # gates conv over [x, h] + its bias + GroupNorm's affine
    published = {"1-8": 220.60e6, "1-8-32": 230.74e6, "1-8-16-32": 245.19e6}  # Table 4.2
    assert published["1-8-32"] - published["1-8"] < 2 * lstm  # prior and posterior ConvLSTMs of the 32×32 level
    assert published["1-8-16-32"] - published["1-8-32"] < 2 * lstm
    assert 86.64e6 - 62.22e6 < 2 * (lstm - conv)  # Table 4.1: two ConvLSTMs in place of two 3×3 convs


def test_beta_warmup_is_a_pure_function_of_the_step():
    assert [beta_warmup(s, 10, start=0.0) for s in (0, 1, 5, 9, 10, 11, 10_000)] == [0.0, 0.1, 0.5, 0.9, 1.0, 1.0, 1.0]
    assert beta_warmup(0, 0, start=0.0) == 1.0 and beta_warmup(123, 0, start=0.0) == 1.0  # 0 = off: "naive"
    with pytest.raises(GenvidError, match="step must be >= 0"):
        beta_warmup(-1, 10, start=0.0)


def test_loss_at_a_step_is_exact_and_follows_the_formula():
    m = make()
    x = clip(t=5)
    torch.manual_seed(42)
    loss, scalars = m.loss(x, 3)
    torch.manual_seed(42)
    again, _ = m.loss(x, 3)
    assert torch.equal(loss, again)
    dims = 3 * 16 * 16  # future frames × C × H × W
    assert scalars["beta"] == 0.3
    assert loss.item() == pytest.approx((0.3 * scalars["kl"] - scalars["recon"]) / dims, rel=1e-5)
    torch.manual_seed(42)
    late, s_late = m.loss(x, 10_000)
    assert s_late["beta"] == 1.0 and s_late["kl"] == scalars["kl"]
    assert late.item() == pytest.approx(loss.item() + 0.7 * scalars["kl"] / dims, rel=1e-5)


# -- generation -----------------------------------------------------------------------------------

def test_generate_is_deterministic_per_generator_and_in_range():
    m = make().eval()
    ctx = clip()[:, :2]
    a, b, c = (m.generate(ctx, 4, 3, gen(s)) for s in (0, 0, 1))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.min() >= 0 and a.max() <= 1
    assert not torch.equal(a[:, 0], a[:, 1])  # the samples differ


def test_generate_is_streaming_causal():
    m = make().eval()
    ctx = clip()[:, :2]
    short, long = m.generate(ctx, 2, 2, gen(4)), m.generate(ctx, 5, 2, gen(4))
    assert torch.equal(short, long[:, :, :2])


def test_every_context_frame_conditions_the_prediction():
    m = make().eval()
    ctx = clip(t=3)[:1].requires_grad_(True)
    pred = m.rollout(ctx, 1, 1, gen())
    (grad,) = torch.autograd.grad((pred * torch.randn(pred.shape, generator=gen(1))).sum(), ctx)
    assert all(grad[:, t].abs().sum() > 0 for t in range(3))


def test_overfits_a_fixed_batch():
    m = make(beta_warmup_steps=0)
    losses = overfit_losses(m, clip(t=4, seed=9), torch.optim.Adam(m.parameters(), lr=3e-3, betas=(0.5, 0.9)))
    assert all(math.isfinite(v) for v in losses)
    assert sum(losses[-5:]) / 5 < losses[0] - 0.5 * abs(losses[0])

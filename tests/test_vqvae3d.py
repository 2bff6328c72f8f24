import io

import pytest
import torch
import torch.nn.functional as F

from genvid.errors import ParamError
from genvid.models.vq.vqvae3d import CausalTopToBottom, EMAQuantizer, VQVAE3D, VQVAEConfig, vqvae_loss

torch.set_num_threads(1)

TINY = dict(channels=16, res_channels=8, res_blocks=1, codebook_size=16, code_dim=8)
THESIS = dict(channels=128, res_channels=64, res_blocks=5, codebook_size=512, code_dim=64)  # Table 5.2


@pytest.fixture(autouse=True)
def deterministic():
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    yield
    torch.use_deterministic_algorithms(before)


def make(seed: int = 0, **overrides) -> VQVAE3D:
    torch.manual_seed(seed)
    return VQVAE3D(VQVAEConfig.from_dict({**TINY, **overrides}))


def smooth_clips(shape=(2, 3, 8, 32, 32), seed: int = 1) -> torch.Tensor:
    """Low-frequency random video (compressible, unlike white noise)."""
    g = torch.Generator().manual_seed(seed)
    b, c, t, h, w = shape
    coarse = torch.randn(b, c, t // 4, h // 8, w // 8, generator=g)
    return F.interpolate(coarse, size=(t, h, w), mode="trilinear", align_corners=False)


def test_shapes_default_like_profile():
    model = make(channels=32, res_channels=16, res_blocks=2, codebook_size=128, code_dim=32)
    x = torch.randn(2, 3, 16, 64, 64)
    out = model(x)
    assert out.recon.shape == x.shape
    assert out.top_indices.shape == (2, 4, 8, 8) and out.bottom_indices.shape == (2, 8, 16, 16)
    assert out.top_indices.dtype == torch.long
    assert out.commitment_loss.ndim == 0 and out.top_perplexity.ndim == 0
    assert model.code_shapes(16, 64, 64) == ((4, 8, 8), (8, 16, 16))
    top, bottom = model.encode(x)
    assert top.shape == (2, 4, 8, 8) and bottom.shape == (2, 8, 16, 16)
    assert model.decode_codes(top, bottom).shape == x.shape


def test_shapes_thesis_profile_on_meta():
    cfg = VQVAEConfig(**THESIS)
    assert (cfg.codebook_size, cfg.code_dim, cfg.res_blocks, cfg.res_channels, cfg.channels) == (512, 64, 5, 64, 128)
    with torch.device("meta"):
        model = VQVAE3D(cfg).eval()
        out = model(torch.empty(1, 3, 16, 256, 256))
    assert out.recon.shape == (1, 3, 16, 256, 256)
    assert out.top_indices.shape == (1, 4, 32, 32) and out.bottom_indices.shape == (1, 8, 64, 64)
    assert model.code_shapes(16, 256, 256) == ((4, 32, 32), (8, 64, 64))
    reduction = model.bits_reduction(16, 256, 256)
    assert reduction == pytest.approx(1 - (4 * 32 * 32 + 8 * 64 * 64) * 9 / (3 * 16 * 256 * 256 * 8))
    assert round(100 * reduction, 1) == 98.7


def test_code_shapes_reject_undecodable_sizes():
    with pytest.raises(ParamError, match="18x64x64"):
        make().code_shapes(18, 64, 64)
    with pytest.raises(ParamError, match="multiples of 8"):
        make()(torch.randn(1, 3, 16, 60, 64))


def test_ema_update_matches_hand_computation():
    gamma, eps = 0.99, 0.1  # a large eps so the Laplace smoothing is visible
    quant = EMAQuantizer(VQVAEConfig(**{**TINY, "codebook_size": 3, "code_dim": 2, "ema_decay": gamma, "ema_eps": eps}))
    e0 = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    quant.embed.copy_(e0)
    quant.embed_sum.copy_(e0)
    assert torch.equal(quant.cluster_size, torch.ones(3))  # N starts at 1, m at e
    z = torch.tensor([[0.1, 0.0], [0.9, 0.1], [1.2, -0.1], [0.2, 0.2]])  # nearest: 0, 1, 1, 0
    out = quant.train()(z.t().reshape(1, 2, 1, 1, 4))

    assert out.indices.flatten().tolist() == [0, 1, 1, 0]
    n = torch.tensor([2.0, 2.0, 0.0])
    N = gamma * 1.0 + (1 - gamma) * n  # [1.01, 1.01, 0.99]
    m = torch.stack([
        gamma * e0[0] + (1 - gamma) * (z[0] + z[3]),
        gamma * e0[1] + (1 - gamma) * (z[1] + z[2]),
        gamma * e0[2],
    ])
    total = N.sum()
    N_hat = (N + eps) / (total + 3 * eps) * total
    torch.testing.assert_close(quant.cluster_size, N)
    torch.testing.assert_close(quant.embed_sum, m)
    torch.testing.assert_close(quant.embed, m / N_hat[:, None])
    # The commitment loss and the decoder input use the codebook before this step's update.
    expected_commit = ((z - e0[[0, 1, 1, 0]]) ** 2).mean()
    torch.testing.assert_close(out.commitment, expected_commit)
    torch.testing.assert_close(out.codes.reshape(2, 4).t(), e0[[0, 1, 1, 0]])
    torch.testing.assert_close(out.perplexity, torch.tensor(2.0))  # two codes, half each


def test_codebook_init_uniform_01_and_seeded():
    a, b = make(seed=3), make(seed=3)
    e = a.quant_bottom.embed
    assert e.min() >= 0 and e.max() < 1 and e.std() > 0.2
    assert torch.equal(e, b.quant_bottom.embed)
    assert not torch.equal(a.quant_top.embed, a.quant_bottom.embed)


def test_straight_through_reaches_encoder():
    model = make()
    out = model(smooth_clips())
    F.mse_loss(out.recon, smooth_clips()).backward()  # reconstruction term only
    for conv in (model.enc_bottom[0], model.enc_top[0], model.to_code_top, model.to_code_bottom):
        assert conv.weight.grad is not None and conv.weight.grad.abs().sum() > 0
    assert all(not b.requires_grad for b in model.buffers())


def test_loss_includes_commitment():
    x = smooth_clips()
    model = make().eval()  # eval: no EMA update, so repeated forwards agree
    out = model(x)
    loss, scalars = vqvae_loss(out, x, beta=0.25)
    mse = F.mse_loss(out.recon, x)
    torch.testing.assert_close(loss, mse + 0.25 * out.commitment_loss)
    assert out.commitment_loss > 0
    assert vqvae_loss(out, x, beta=1.0)[0] > loss
    assert set(scalars) == {"mse", "commitment", "perplexity_top", "perplexity_bottom"}
    assert scalars["mse"] == pytest.approx(mse.item())
    assert model.loss(x)[0].item() == pytest.approx(loss.item())


def test_noisy_quantisation_train_only():
    x = smooth_clips()
    model = make(noisy_sigma=2.0)
    nearest = model.encode(x)
    eval_out = model.eval()(x)
    assert torch.equal(eval_out.top_indices, nearest[0]) and torch.equal(eval_out.bottom_indices, nearest[1])

    train_out = model.train()(x)
    k = model.cfg.codebook_size
    for noisy, clean in ((train_out.top_indices, nearest[0]), (train_out.bottom_indices, nearest[1])):
        assert noisy.dtype == torch.long and noisy.min() >= 0 and noisy.max() <= k - 1
        assert (noisy != clean).float().mean() > 0.2

    plain = make(noisy_sigma=0.0)
    clean = plain.encode(x)
    out = plain.train()(x)
    assert torch.equal(out.top_indices, clean[0]) and torch.equal(out.bottom_indices, clean[1])


def test_noisy_ema_on_noisy_code_commitment_on_clean_code():
    torch.manual_seed(5)
    gamma = 0.9
    quant = EMAQuantizer(VQVAEConfig(**{**TINY, "codebook_size": 8, "code_dim": 4, "ema_decay": gamma, "noisy_sigma": 3.0})).train()
    e0, N0 = quant.embed.clone(), quant.cluster_size.clone()
    z = torch.randn(2, 4, 2, 3, 3)
    flat = z.permute(0, 2, 3, 4, 1).reshape(-1, 4)
    clean = torch.cdist(flat, e0).argmin(1)
    out = quant(z)
    noisy = out.indices.flatten()
    assert (noisy != clean).any()
    torch.testing.assert_close(out.commitment, ((flat - e0[clean]) ** 2).mean())
    counts = torch.stack([(noisy == i).sum() for i in range(8)]).float()
    torch.testing.assert_close(quant.cluster_size, gamma * N0 + (1 - gamma) * counts)
    torch.testing.assert_close(out.codes.permute(0, 2, 3, 4, 1).reshape(-1, 4), e0[noisy])


def _train_steps(model: VQVAE3D, x: torch.Tensor, steps: int = 2) -> None:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for _ in range(steps):
        loss, _ = model.train().loss(x)
        opt.zero_grad()
        loss.backward()
        opt.step()


def test_sigma_zero_is_exactly_the_plain_vqvae():
    """noisy_sigma 0 trains the same bytes as a config without the option, and draws no random
    number (dropout and dead-code restarts downstream see the same generator state)."""
    x = smooth_clips()
    plain, zero = make(), make(noisy_sigma=0.0)
    torch.manual_seed(11)
    _train_steps(plain, x)
    after_plain = torch.get_rng_state()
    torch.manual_seed(11)
    _train_steps(zero, x)
    assert torch.equal(torch.get_rng_state(), after_plain)
    for (name, a), (_, b) in zip(plain.state_dict().items(), zero.state_dict().items()):
        assert torch.equal(a, b), name


def test_index_noise_is_deterministic_under_the_seed():
    x = smooth_clips()

    def noisy_indices(seed: int):
        model = make(noisy_sigma=1.0)
        torch.manual_seed(seed)
        out = model.train()(x)
        return out.top_indices, out.bottom_indices

    first, again, other = noisy_indices(3), noisy_indices(3), noisy_indices(4)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert any(not torch.equal(a, b) for a, b in zip(first, other))


def test_index_noise_is_a_rounded_gaussian_with_sigma_as_standard_deviation():
    quant = EMAQuantizer(VQVAEConfig(**{**TINY, "codebook_size": 1001, "code_dim": 2, "noisy_sigma": 0.5}))
    torch.manual_seed(0)
    eps = quant.add_noise(torch.full((200_000,), 500)) - 500
    # P(eps = 0) = P(|N(0, 0.25)| < 0.5) = 2 Phi(1) - 1 = 0.6827; P(eps = 1) = Phi(3) - Phi(1) = 0.1573
    assert (eps == 0).float().mean() == pytest.approx(0.6827, abs=0.005)
    assert (eps == 1).float().mean() == pytest.approx(0.1573, abs=0.005)
    assert (eps == -1).float().mean() == pytest.approx(0.1573, abs=0.005)


def test_noise_reflects_at_the_boundaries():
    quant = EMAQuantizer(VQVAEConfig(**{**TINY, "codebook_size": 5, "code_dim": 2, "noisy_sigma": 50.0}))
    torch.manual_seed(0)
    noisy = quant.add_noise(torch.zeros(20000, dtype=torch.long))
    assert noisy.min() == 0 and noisy.max() == 4
    # Reflection (not clamping): the end codes get no more mass than an interior code's share.
    share = torch.stack([(noisy == i).float().mean() for i in range(5)])
    assert share[0] < 0.2 and share[4] < 0.2 and share[1:4].min() > 0.2


def test_dead_code_restart():
    x = smooth_clips()
    model = make(dead_code_restart=True, dead_code_threshold=1.0)
    h_bottom, _ = model._encode(x)
    z_bottom = model._z_bottom(h_bottom, model.quant_top.lookup(model.encode(x)[0]))
    flat = z_bottom.detach().permute(0, 2, 3, 4, 1).reshape(-1, model.cfg.code_dim)
    used = set(model.encode(x)[1].flatten().tolist())
    model.train()(x)
    q = model.quant_bottom
    restarted = [i for i in range(q.k) if i not in used]
    assert restarted, "the tiny model should leave some codes unused"
    for i in restarted:  # an unused code (N = γ < 1) becomes one of this batch's encoder outputs
        assert (flat == q.embed[i]).all(1).any()
        assert q.cluster_size[i] == 1.0 and torch.equal(q.embed_sum[i], q.embed[i])
    # Deterministic under the torch seed.
    again = make(dead_code_restart=True, dead_code_threshold=1.0)
    again.train()(x)
    assert torch.equal(again.quant_bottom.embed, q.embed)


def test_eval_does_not_touch_codebook_and_state_dict_round_trip():
    x = smooth_clips()
    model = make()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.eval()(x)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())

    model.train()
    for _ in range(2):
        model(x)
    assert not torch.equal(model.quant_bottom.embed, before["quant_bottom.embed"])
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    buf.seek(0)
    restored = make(seed=99)
    restored.load_state_dict(torch.load(buf, weights_only=True))
    for name in ("embed", "cluster_size", "embed_sum"):
        for level in ("quant_top", "quant_bottom"):
            assert torch.equal(getattr(getattr(restored, level), name), getattr(getattr(model, level), name))
    assert torch.equal(restored.eval()(x).recon, model.eval()(x).recon)


def test_overfits_one_batch():
    x = smooth_clips()
    model = make(channels=32, res_channels=16, codebook_size=32, code_dim=16)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(150):
        loss, scalars = model.loss(x)
        first = first if first is not None else scalars["mse"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert scalars["mse"] < first / 5


def test_same_seed_same_weights_and_deterministic_forward():
    a, b = make(seed=7), make(seed=7)
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(make(seed=8).enc_bottom[0].weight, a.enc_bottom[0].weight)
    x = smooth_clips()
    assert torch.equal(a.eval()(x).recon, a(x).recon)
    torch.manual_seed(0)
    out_a = make(seed=7, noisy_sigma=1.0).train()(x)
    out_b = make(seed=7, noisy_sigma=1.0).train()(x)
    assert torch.equal(out_a.recon, out_b.recon) and torch.equal(out_a.bottom_indices, out_b.bottom_indices)


def test_decode_codes_round_trip_and_zeroed_levels():
    x = smooth_clips()
    model = make().eval()
    top, bottom = model.encode(x)
    full = model.decode_codes(top, bottom)
    assert torch.equal(full, model(x).recon)
    top_only = model.decode_codes(top, bottom, zero_level="bottom")
    bottom_only = model.decode_codes(top, bottom, zero_level="top")
    assert not torch.allclose(top_only, full) and not torch.allclose(bottom_only, full)
    assert not torch.allclose(top_only, bottom_only)
    # Zeroing the bottom level leaves a decoding that depends on the top codes only.
    assert torch.equal(top_only, model.decode_codes(top, torch.zeros_like(bottom) + 3, zero_level="bottom"))
    with pytest.raises(ValueError, match="zero_level"):
        model.decode_codes(top, bottom, zero_level="middle")


def test_config_from_dict():
    cfg = VQVAEConfig.from_dict({**THESIS, "codebook_size": 256, "code_dim": 32, "beta": 1})
    assert cfg.codebook_size == 256 and cfg.beta == 1.0 and cfg.channels == 128
    assert VQVAEConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ParamError, match=r"vqvae\.foo is not a known parameter"):
        VQVAEConfig.from_dict({**THESIS, "foo": 1})
    with pytest.raises(ParamError, match=r"vqvae\.codebook_size must be >= 1, got 0"):
        VQVAEConfig.from_dict({**THESIS, "codebook_size": 0})
    with pytest.raises(ParamError, match=r"vqvae\.ema_decay must be < 1, got 1.5"):
        VQVAEConfig.from_dict({**THESIS, "ema_decay": 1.5})
    with pytest.raises(ParamError, match=r"vqvae\.channels must be an integer, got '64'"):
        VQVAEConfig.from_dict({**THESIS, "channels": "64"})
    with pytest.raises(ParamError, match=r"vqvae\.code_dim is missing"):  # sizes have no defaults
        VQVAEConfig.from_dict({"channels": 8, "res_channels": 8, "res_blocks": 1, "codebook_size": 4})


def test_bottom_code_is_conditioned_on_the_top_codes():
    """VQ-VAE-2 structure: changing the top codes changes the bottom encoder output."""
    x = smooth_clips()
    model = make().eval()
    h_bottom, _ = model._encode(x)
    top = model.encode(x)[0]
    z = model._z_bottom(h_bottom, model.quant_top.lookup(top))
    z_other = model._z_bottom(h_bottom, model.quant_top.lookup((top + 1) % model.cfg.codebook_size))
    assert not torch.allclose(z, z_other)


def test_bottom_dropout_only_in_training():
    """seed 000 §6.4's fix: with p → 1 the decoder sees only the top codes while training."""
    x = smooth_clips()
    model = make(bottom_dropout=0.999999)
    top, bottom = model.eval().encode(x)
    assert torch.equal(model.eval()(x).recon, model.decode_codes(top, bottom))  # eval: unaffected
    model.train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    recon = model(x).recon
    model.load_state_dict(state)  # undo the EMA step the training forward made
    assert torch.allclose(recon, model.decode_codes(top, bottom, zero_level="bottom"), atol=1e-6)
    with pytest.raises(ParamError, match="vqvae.bottom_dropout must be < 1, got 1.0"):
        VQVAEConfig.from_dict({**TINY, "bottom_dropout": 1.0})


# --------------------------------------------------------------------------- issue 8: structure options

CONTEXT, CLIP = 8, 16  # frames; top steps 0-1 and bottom steps 0-3 lie inside the context


def spread_codebooks(model: VQVAE3D, x: torch.Tensor, seed: int = 0) -> None:
    """Codebooks := random encoder outputs of x (what dead-code restarts do). The thesis init,
    uniform in [0, 1), leaves a random-init model using 3 or 4 codes, so comparing codes would
    be almost vacuous; spread codebooks make a changed encoder output show as a changed code."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        h_bottom, z_top = model._encode(x)
        for quant, z in ((model.quant_top, z_top), (model.quant_bottom, None)):
            if z is None:
                z = model._z_bottom(h_bottom, model.quant_top.lookup(model.encode(x)[0]))
            flat = z.permute(0, 2, 3, 4, 1).reshape(-1, z.shape[1])
            quant.embed.copy_(flat[torch.randint(0, flat.shape[0], (quant.k,), generator=g)])


def with_new_future(x: torch.Tensor, how: str) -> torch.Tensor:
    """x with frames >= CONTEXT replaced by noise or by copies of the last context frame."""
    y = x.clone()
    if how == "noise":
        y[:, :, CONTEXT:] = torch.randn(y[:, :, CONTEXT:].shape, generator=torch.Generator().manual_seed(7))
    else:
        y[:, :, CONTEXT:] = x[:, :, CONTEXT - 1:CONTEXT]
    return y


def encoder_outputs(model: VQVAE3D, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Continuous encoder outputs and code indices of x (eval mode: the quantiser is not updated)."""
    h_bottom, z_top = model._encode(x)
    top, bottom = model.encode(x)
    z_bottom = model._z_bottom(h_bottom, model.quant_top.lookup(top))
    return {"h_bottom": h_bottom, "z_top": z_top, "z_bottom": z_bottom, "top": top, "bottom": bottom}


CONTEXT_STEPS = {"h_bottom": 4, "z_top": 2, "z_bottom": 4, "top": 2, "bottom": 4}


def time_axis(name: str) -> int:
    return 1 if name in ("top", "bottom") else 2  # indices [B,T,H,W], features [B,C,T,H,W]


@pytest.mark.parametrize("how", ["noise", "copy"])
@pytest.mark.parametrize("res_kernel,condition", [([3, 3, 3], True), ([1, 3, 3], True), ([3, 3, 3], False)])
def test_causal_context_codes_do_not_see_the_future(how, res_kernel, condition):
    x = smooth_clips((2, 3, CLIP, 32, 32))
    model = make(temporal_padding="causal", res_kernel=res_kernel, condition_bottom_on_top=condition).eval()
    spread_codebooks(model, x)
    true, other = encoder_outputs(model, x), encoder_outputs(model, with_new_future(x, how))
    for name, n in CONTEXT_STEPS.items():
        ctx = torch.arange(n)
        a, b = true[name].index_select(time_axis(name), ctx), other[name].index_select(time_axis(name), ctx)
        assert torch.equal(a, b), f"{name}: context steps changed with the future"
        assert not torch.equal(true[name], other[name]), f"{name}: the later steps should change"


def test_same_padding_leaks_the_future_into_the_context_codes():
    """Issue 8 finding 1: with symmetric temporal padding the context steps read frames >= 8."""
    x = smooth_clips((2, 3, CLIP, 32, 32))
    model = make().eval()
    spread_codebooks(model, x)
    true, other = encoder_outputs(model, x), encoder_outputs(model, with_new_future(x, "copy"))
    for name in ("h_bottom", "z_top", "z_bottom"):  # the continuous outputs of the last context step
        step = torch.tensor([CONTEXT_STEPS[name] - 1])
        assert not torch.equal(true[name].index_select(2, step), other[name].index_select(2, step))
    changed = torch.cat([(true["top"][:, :2] != other["top"][:, :2]).flatten(),
                         (true["bottom"][:, :4] != other["bottom"][:, :4]).flatten()]).float().mean()
    assert changed > 0.05  # measured 0.14 here; 0.16-0.18 at the default profile's sizes


def frame_gradients(model: VQVAE3D, x: torch.Tensor, level: str, step: int) -> torch.Tensor:
    """|d(sum of z_level at time step `step`) / d frame f| summed over everything but f -> [T].
    The top codes enter z_bottom straight-through, as in training."""
    x = x.clone().requires_grad_(True)
    h_bottom, z_top = model._encode(x)
    z = z_top if level == "top" else model._z_bottom(h_bottom, model.quant_top(z_top).codes)
    (grad,) = torch.autograd.grad(z[:, :, step].sum(), x)
    return grad.abs().sum(dim=(0, 1, 3, 4))


@pytest.mark.parametrize("res_kernel,condition", [([3, 3, 3], True), ([1, 3, 3], True), ([3, 3, 3], False)])
def test_causal_gradients_stop_at_the_end_of_each_step(res_kernel, condition):
    x = smooth_clips((1, 3, CLIP, 16, 16))
    model = make(temporal_padding="causal", res_kernel=res_kernel, condition_bottom_on_top=condition).eval()
    for level, span in (("bottom", 2), ("top", 4)):
        for j in range(CLIP // span):
            g = frame_gradients(model, x, level, j)
            last = span * j + span - 1  # the last frame of step j's own window
            assert torch.all(g[last + 1:] == 0), f"{level} step {j} reads frames after {last}: {g.tolist()}"
            assert torch.all(g[span * j:last + 1] > 0), f"{level} step {j} must read its own frames"


def test_same_padding_gradients_reach_the_next_frames():
    model = make().eval()
    g = frame_gradients(model, smooth_clips((1, 3, CLIP, 16, 16)), "bottom", 3)
    assert g[CONTEXT] > 0 and g[CONTEXT + 3] > 0  # bottom step 3 (frames 6, 7) reads frames 8..11


def test_top_to_bottom_upsamplers_by_hand():
    """Which top step each bottom step reads, from a unit impulse at top step m."""
    def reads(up: torch.nn.Module, m: int) -> list[int]:
        torch.nn.init.ones_(up.weight)
        torch.nn.init.zeros_(up.bias)
        q = torch.zeros(1, 1, 4, 2, 2)
        q[:, :, m] = 1.0
        out = up(q).detach()
        return [i for i in range(out.shape[2]) if out[:, :, i].abs().sum() > 0]

    symmetric = torch.nn.ConvTranspose3d(1, 1, 4, 2, 1)
    assert reads(symmetric, 2) == [3, 4, 5, 6]  # bottom step 3 (frames 6, 7) reads top step 2 (frames 8..11)
    causal = CausalTopToBottom(1)
    for m in range(3):
        assert reads(causal, m) == [2 * m + 1, 2 * m + 2]  # bottom step i reads top step (i-1)//2
    assert reads(causal, 3) == [7]  # the last top step feeds only the last bottom step
    assert causal(torch.ones(2, 1, 4, 3, 5)).shape == (2, 1, 8, 6, 10)


@pytest.mark.parametrize("padding", ["same", "causal"])
@pytest.mark.parametrize("res_kernel", [[3, 3, 3], [1, 3, 3]])
@pytest.mark.parametrize("condition", [True, False])
def test_shapes_with_every_option(padding, res_kernel, condition):
    model = make(temporal_padding=padding, res_kernel=res_kernel, condition_bottom_on_top=condition)
    x = smooth_clips((2, 3, 12, 16, 24))
    out = model(x)
    assert out.recon.shape == x.shape
    assert out.top_indices.shape == (2, 3, 2, 3) and out.bottom_indices.shape == (2, 6, 4, 6)
    top, bottom = model.eval().encode(x)
    assert model.decode_codes(top, bottom).shape == x.shape
    res_convs = [m.block[1] for m in model.modules() if type(m).__name__ == "ResidualLayer"]
    assert len(res_convs) == 3 and all(c.weight.shape[2:] == tuple(res_kernel) for c in res_convs)
    keys = set(model.state_dict())
    assert ("top_to_bottom.weight" in keys) == condition
    assert model.to_code_bottom.in_channels == TINY["channels"] + condition * TINY["code_dim"]
    # The padding mode changes behaviour, not the parameter names.
    assert keys == set(make(temporal_padding="same", res_kernel=res_kernel,
                            condition_bottom_on_top=condition).state_dict())


def test_independent_levels_ignore_the_top_codes():
    x = smooth_clips()
    model = make(condition_bottom_on_top=False).eval()
    assert not hasattr(model, "top_to_bottom")
    h_bottom, _ = model._encode(x)
    top, bottom = model.encode(x)
    z = model._z_bottom(h_bottom, model.quant_top.lookup(top))
    assert torch.equal(z, model._z_bottom(h_bottom, model.quant_top.lookup((top + 1) % model.cfg.codebook_size)))
    assert torch.equal(bottom, model._nearest(model.quant_bottom, model.to_code_bottom(h_bottom)))
    with pytest.raises(RuntimeError, match="top_to_bottom"):
        model.load_state_dict(make().state_dict())


@pytest.mark.parametrize("n_ctx", [8, 6, 5, 16])
def test_encode_context_causal_equals_the_true_codes(n_ctx):
    x = smooth_clips((2, 3, CLIP, 32, 32))
    model = make(temporal_padding="causal").eval()
    spread_codebooks(model, x)
    top, bottom = model.encode_context(x[:, :, :n_ctx], CLIP)
    true_top, true_bottom = model.encode(x)
    n_top, n_bottom = model.context_steps(n_ctx)
    assert (n_top, n_bottom) == (n_ctx // 4, n_ctx // 2)
    assert top.shape == true_top.shape and bottom.shape == true_bottom.shape
    assert torch.equal(top[:, :n_top], true_top[:, :n_top])
    assert torch.equal(bottom[:, :n_bottom], true_bottom[:, :n_bottom])
    assert (top[:, n_top:] == 0).all() and (bottom[:, n_bottom:] == 0).all()
    # Only the context is read: another future gives the same output (trivially: it is not passed).
    other = x.clone()
    other[:, :, n_ctx:] = torch.randn(other[:, :, n_ctx:].shape)
    again = model.encode_context(other[:, :, :n_ctx], CLIP)
    assert torch.equal(again[0], top) and torch.equal(again[1], bottom)


def test_encode_context_same_padding_is_the_last_frame_option():
    """Option (b): the thesis encoder on context + the last context frame repeated."""
    x = smooth_clips((2, 3, CLIP, 32, 32))
    model = make().eval()
    spread_codebooks(model, x)
    top, bottom = model.encode_context(x[:, :, :CONTEXT], CLIP)
    frozen_top, frozen_bottom = model.encode(with_new_future(x, "copy"))
    assert torch.equal(top[:, :2], frozen_top[:, :2]) and torch.equal(bottom[:, :4], frozen_bottom[:, :4])
    assert (top[:, 2:] == 0).all() and (bottom[:, 4:] == 0).all()
    # ... which differs from the leaky codes of the true clip near the end of the context.
    assert not torch.equal(bottom[:, :4], model.encode(x)[1][:, :4])
    for bad in (0, CLIP + 1):
        with pytest.raises(ValueError, match="1 <= Tc <= clip_len=16"):
            model.encode_context(smooth_clips((1, 3, 20, 32, 32))[:, :, :bad], CLIP)


def test_config_structure_options():
    cfg = VQVAEConfig(**THESIS)
    assert (cfg.temporal_padding, cfg.res_kernel, cfg.condition_bottom_on_top) == ("same", (3, 3, 3), True)
    cfg = VQVAEConfig.from_dict({**THESIS, "temporal_padding": "causal", "res_kernel": [1, 3, 3],
                                 "condition_bottom_on_top": False})
    assert cfg.res_kernel == (1, 3, 3)
    d = cfg.to_dict()
    assert d["res_kernel"] == [1, 3, 3] and type(d["res_kernel"]) is list
    assert d["temporal_padding"] == "causal" and d["condition_bottom_on_top"] is False
    assert VQVAEConfig.from_dict(d) == cfg
    for key, bad in (("temporal_padding", "past"), ("res_kernel", [3, 3]), ("res_kernel", [2, 3, 3]),
                     ("res_kernel", "333"), ("res_kernel", [1, True, 3]), ("condition_bottom_on_top", "yes")):
        with pytest.raises(ParamError, match=rf"^vqvae\.{key}(\[\d\])? must be"):
            VQVAEConfig.from_dict({**THESIS, key: bad})

"""SVG-LP (Denton & Fergus 2018): shapes, the KL and the loss formula, the skips from the last
context frame (by gradients), generation."""
from __future__ import annotations

import functools
import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from conftest import gen, overfit_losses, rand_clip
from genvid.config import parse_config
from genvid.errors import GenvidError, ParamError
from genvid.models.layers import gaussian_kl_logvar
from genvid.models.svg_lp.model import SVGLP, SVGLPConfig

TINY = dict(channels=1, resolution=16, context_frames=3, nf=4, g_dim=8, rnn_size=16, z_dim=3,
            prior_layers=1, posterior_layers=1, predictor_layers=2)


def make(**overrides) -> SVGLP:
    torch.manual_seed(0)
    return SVGLP(parse_config(SVGLPConfig, {**TINY, **overrides}, "models.svg_lp"))


clip = functools.partial(rand_clip, t=5)


def test_config_sizes_are_required_and_beta_defaults_to_svg():
    with pytest.raises(ParamError, match=r"models\.svg_lp\.z_dim is missing"):
        parse_config(SVGLPConfig, {k: v for k, v in TINY.items() if k != "z_dim"}, "models.svg_lp")
    with pytest.raises(ParamError, match="resolution must be a power of two"):
        parse_config(SVGLPConfig, {**TINY, "resolution": 24}, "models.svg_lp")
    assert parse_config(SVGLPConfig, TINY, "models.svg_lp").beta == 1e-4


@pytest.mark.parametrize("res,channels", [(16, 1), (32, 3), (64, 1)])
def test_shapes_and_dcgan_depth_follow_the_resolution(res, channels):
    m = make(resolution=res, channels=channels)
    assert len(m.encoder.blocks) == int(math.log2(res)) - 2  # 64: 32, 16, 8, 4 (DCGAN-64)
    x = clip(c=channels, r=res)
    loss, scalars = m.loss(x, 0)
    assert loss.ndim == 0 and set(scalars) == {"mse", "kl"}
    m.eval()
    out = m.generate(x[:, :3], 4, 2, gen())
    assert out.shape == (2, 2, 4, channels, res, res) and out.min() >= 0 and out.max() <= 1


def test_kl_formula_matches_torch_distributions():
    g = gen(3)
    mu_q, mu_p, lv_q, lv_p = (torch.randn(40, generator=g) for _ in range(4))
    expected = kl_divergence(Normal(mu_q, (0.5 * lv_q).exp()), Normal(mu_p, (0.5 * lv_p).exp()))
    torch.testing.assert_close(gaussian_kl_logvar(mu_q, lv_q, mu_p, lv_p), expected)


def test_loss_is_mse_plus_beta_kl_and_independent_of_step():
    m = make(beta=0.5)
    x = clip()
    torch.manual_seed(7)
    loss, scalars = m.loss(x, 0)
    torch.manual_seed(7)
    x_hat, kl = m.teacher_forced(x, lambda shape: torch.randn(shape))
    assert x_hat.shape == (2, 4, 1, 16, 16) and kl.shape == (2, 4)
    mse = ((x_hat - x[:, 1:]) ** 2).mean((2, 3, 4)).sum(1)  # SVG: per-frame pixel mean, summed over time
    torch.testing.assert_close(loss, (mse + 0.5 * kl.sum(1)).mean())
    assert scalars["mse"] == pytest.approx(mse.mean().item()) and scalars["kl"] == pytest.approx(kl.sum(1).mean().item())
    torch.manual_seed(7)
    assert torch.equal(m.loss(x, 10_000)[0], loss)  # no annealing: the step does not matter


def _stepwise(m: SVGLP, frames: torch.Tensor, eps: torch.Tensor, actions=None):
    """The teacher-forced pass step by step through the cells, the recurrence ``rollout`` runs, with
    the posterior noise ``eps`` [B, T-1, z]: SVG's training loop as written."""
    b, t = frames.shape[:2]
    h, skips = m._encode(frames)
    post, prior, pred = (n.zero_state(b, h) for n in (m.posterior, m.prior, m.predictor))
    gs, kls = [], []
    for i in range(1, t):
        mu, logvar, post = m.posterior(h[:, i], post)
        mu_p, logvar_p, prior = m.prior(m._with(h[:, i - 1], actions, i - 1), prior)
        z = mu + (0.5 * logvar).exp() * eps[:, i - 1]
        g, pred = m.predictor(m._with(torch.cat([h[:, i - 1], z], dim=1), actions, i - 1), pred)
        gs.append(g)
        kls.append(gaussian_kl_logvar(mu, logvar, mu_p, logvar_p).sum(1))
    skip = [s[:, [m.skip_frame(i, m.cfg.context_frames) for i in range(1, t)]].flatten(0, 1) for s in skips]
    return m.decoder(torch.stack(gs, 1).flatten(0, 1), skip).unflatten(0, (b, t - 1)), torch.stack(kls, 1)


@pytest.mark.parametrize("steered", [False, True])
def test_the_whole_sequence_lstms_compute_the_step_by_step_recurrence(steered):
    """teacher_forced runs each LSTM over the whole clip in one call (issue 20 item 2): the same
    predictions, KL and gradients as the cells step by step, up to rounding."""
    m = make_steered() if steered else make()
    x = clip(b=3, t=6)
    actions = m._actions(torch.randn(3, 6, 3, generator=gen(8)), 6) if steered else None
    eps = torch.randn(3, 5, m.cfg.z_dim, generator=gen(5))
    fused = m.teacher_forced(x, lambda shape: eps, actions)
    loops = _stepwise(m, x, eps, actions)
    for a, b in zip(fused, loops):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    # a conv's bias right before a training-mode batch norm has gradient 0: both sides are rounding noise
    named = [(n, p) for n, p in m.named_parameters()
             if not (n.endswith(".0.bias") and isinstance(m.get_submodule(n[:-len("0.bias")] + "1"), torch.nn.BatchNorm2d))]
    params = [p for _, p in named]
    g_fused = torch.autograd.grad(sum(o.square().sum() for o in fused), params)
    g_loops = torch.autograd.grad(sum(o.square().sum() for o in loops), params)
    assert len(named) < len(list(m.parameters()))
    for (name, _), a, b in zip(named, g_fused, g_loops):
        # the absolute tolerance scales with the tensor: an element summed from terms up to its largest
        # cancels to 0.08 where the largest is 27.5, and AVX-512 (pytest runs unpinned) rounds it 1e-5 away
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6 * max(1.0, b.abs().max().item()), msg=name)


def _zero_lstm_output(m: SVGLP) -> None:
    """Cut the LSTM path to the decoder: g_t = tanh(0), so only the skips carry the frames."""
    with torch.no_grad():
        m.predictor.out.weight.zero_()


def test_generation_skips_come_from_the_last_context_frame():
    m = make().eval()
    ctx = clip(b=1, t=3).requires_grad_(True)
    horizon = 4

    def grads():
        pred = m.rollout(ctx, horizon, 1, gen())
        return [torch.autograd.grad(pred[0, 0, k].sum(), ctx, retain_graph=True)[0][0] for k in range(horizon)]

    for k, g in enumerate(grads()):  # the full model: every context frame matters, via the LSTMs
        assert all(g[t].abs().sum() > 0 for t in range(3)), k
    _zero_lstm_output(m)
    for k, g in enumerate(grads()):  # without them, only the skip source is left, for every step
        assert g[2].abs().sum() > 0, k
        assert torch.equal(g[:2], torch.zeros_like(g[:2])), k


def test_training_skips_come_from_the_last_observed_frame():
    m = make().eval()  # eval: batch norm on running statistics, so frames do not mix
    _zero_lstm_output(m)
    x = clip(b=1, t=6).requires_grad_(True)
    x_hat, _ = m.teacher_forced(x, lambda shape: torch.zeros(shape))
    sources = []
    for i in range(1, 6):  # x̂_i predicts frame i
        (g,) = torch.autograd.grad(x_hat[0, i - 1].sum(), x, retain_graph=True)
        sources.append([t for t in range(6) if g[0, t].abs().sum() > 0])
    # context_frames = 3: inside the context the previous frame, then always frame 2
    assert sources == [[0], [1], [2], [2], [2]]
    assert [SVGLP.skip_frame(i, 3) for i in range(1, 6)] == [0, 1, 2, 2, 2]


def test_generate_is_deterministic_and_streaming_causal():
    m = make().eval()
    ctx = clip()[:, :3]
    a, b, c = (m.generate(ctx, 4, 2, gen(s)) for s in (0, 0, 1))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(m.generate(ctx, 2, 2, gen(0)), a[:, :, :2])


def moving_square(b=2, t=5, r=16) -> torch.Tensor:
    """A 4×4 square moving one pixel right per frame, a different row per clip."""
    x = torch.zeros(b, t, 1, r, r)
    for i in range(b):
        for f in range(t):
            x[i, f, 0, 3 + 5 * i:7 + 5 * i, 2 + f:6 + f] = 1.0
    return x


def test_overfits_a_fixed_batch():
    m = make()
    losses = overfit_losses(m, moving_square(), torch.optim.Adam(m.parameters(), lr=1e-2))
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < 0.2 * losses[0]


def test_bad_input_raises():
    m = make()
    with pytest.raises(GenvidError, match="frames must be"):
        m.loss(clip(r=32), 0)
    with pytest.raises(GenvidError, match="horizon and num_samples"):
        m.eval().generate(clip()[:, :3], 0, 1, gen())


# ----------------------------------------------------------------------------- svg_lp_action (issue 24)

def make_steered(**overrides) -> SVGLP:
    from genvid.models.svg_lp.model import SVGLPActionConfig
    torch.manual_seed(0)
    return SVGLP(parse_config(SVGLPActionConfig, {**TINY, **overrides}, "models.svg_lp_action")).eval()


@pytest.mark.parametrize("warp", [False, True])
def test_the_steered_model_reads_each_action_when_it_leads_to_a_frame(warp):
    """Frame tc + j follows the action after frame tc - 1 + j: changing action row r leaves every
    predicted frame before frame r + 1 alone and changes the later ones (with and without the ego warp)."""
    m = make_steered(ego_warp=warp)
    context, cond = clip(b=1, t=3), torch.randn(1, 8, 3, generator=gen(4))
    base = m.generate(context, 5, 2, gen(1), cond)
    again = m.generate(context, 5, 2, gen(1), cond.clone())
    assert torch.equal(base, again)
    for row in (2, 4, 7):
        moved = cond.clone()
        moved[0, row] += 3.0
        out = m.generate(context, 5, 2, gen(1), moved)
        first_changed = max(row - 2, 0)  # predicted frame index j = row - (tc - 1)
        assert torch.equal(out[:, :, :first_changed], base[:, :, :first_changed])
        if row < 7:  # the last row leads past the horizon: read by nothing
            assert not torch.equal(out[:, :, first_changed], base[:, :, first_changed])
        else:
            assert torch.equal(out, base)


def test_the_steered_model_standardises_its_actions_with_the_training_statistics():
    raw = make_steered()
    scaled = make_steered(cond_mean=[1.0, 2.0, 3.0], cond_std=[2.0, 2.0, 2.0])
    scaled.load_state_dict(raw.state_dict())
    context, cond = clip(b=1, t=3), torch.randn(1, 8, 3, generator=gen(4))
    mean, std = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([2.0, 2.0, 2.0])
    assert torch.equal(scaled.generate(context, 4, 1, gen(2), cond * std + mean), raw.generate(context, 4, 1, gen(2), cond))
    loss, _ = scaled.loss(clip(b=2, t=5), 0, torch.zeros(2, 5, 3))
    assert torch.isfinite(loss)


def test_conditioning_errors_are_one_line():
    from genvid.models.svg_lp.model import SVGLPActionConfig
    with pytest.raises(GenvidError, match=r"svg_lp_action needs cond \[B, T>=7, 3\]"):
        make_steered().generate(clip(b=1, t=3), 4, 1, gen(0), torch.zeros(1, 6, 3))
    with pytest.raises(GenvidError, match="SVG-LP without actions was given cond"):
        make().loss(clip(b=1, t=5), 0, torch.zeros(1, 5, 3))
    with pytest.raises(ParamError, match="cond_std must be > 0"):
        parse_config(SVGLPActionConfig, {**TINY, "cond_std": [1.0, 0.0, 1.0]}, "models.svg_lp_action")


# ----------------------------------------------------------------------------- the ego warp (issue 48)

def test_horizontal_shift_by_hand():
    """Output column j reads the input at j - s, linearly between columns, the border column repeated."""
    from genvid.models.svg_lp.model import horizontal_shift

    row = torch.tensor([0.0, 1.0, 2.0, 3.0]).view(1, 1, 1, 4).repeat(3, 2, 2, 1)  # [N, C, H, W]
    out = horizontal_shift(row, torch.tensor([1.0, 0.5, -1.0]))
    assert torch.equal(out[0, 0, 0], torch.tensor([0.0, 0.0, 1.0, 2.0]))
    assert torch.equal(out[1, 1, 1], torch.tensor([0.0, 0.5, 1.5, 2.5]))
    assert torch.equal(out[2, 0, 1], torch.tensor([1.0, 2.0, 3.0, 3.0]))
    assert torch.equal(horizontal_shift(row, torch.zeros(3)), row)
    shift = torch.tensor([0.5, 0.25, 0.75], requires_grad=True)
    horizontal_shift(row, shift)[:, :, :, 1:3].sum().backward()  # interior columns: d out / d s = -slope = -1
    assert torch.allclose(shift.grad, torch.full((3,), -8.0))  # 2 channels x 2 rows x 2 columns
    with pytest.raises(GenvidError, match=r"shift must be \[3\]"):
        horizontal_shift(row, torch.zeros(2))


def test_the_cubic_shift_by_hand():
    """Keys' kernel (a = -1/2) at a half pixel weighs the four nearest columns -1/16, 9/16, 9/16, -1/16: exact
    on a whole-pixel shift, exact on a ramp away from the border (cubic convolution reproduces straight lines),
    the border column repeated; and a 4-pixel period keeps more of its amplitude than under the tent."""
    from genvid.models.svg_lp.model import horizontal_shift

    row = torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]).view(1, 1, 1, 8)
    assert torch.equal(horizontal_shift(row, torch.tensor([2.0]), "cubic")[0, 0, 0, 2:], row[0, 0, 0, :6])
    half = horizontal_shift(row, torch.tensor([0.5]), "cubic")[0, 0, 0]
    assert torch.allclose(half[2:7], torch.tensor([1.5, 2.5, 3.5, 4.5, 5.5]))
    assert half[1] == pytest.approx(-0.0625 * 0 + 0.5625 * 0 + 0.5625 * 1 - 0.0625 * 2)  # column -1 repeats column 0
    assert torch.equal(horizontal_shift(row, torch.zeros(1), "cubic"), row)
    wave = torch.tensor([0.0, 1.0, 0.0, -1.0] * 8).view(1, 1, 1, 32)  # period 4
    amplitude = {k: horizontal_shift(wave, torch.tensor([0.5]), k)[0, 0, 0, 8:24].abs().max().item()
                 for k in ("linear", "cubic")}
    assert amplitude["linear"] == pytest.approx(0.5) and amplitude["cubic"] == pytest.approx(0.625)
    shift = torch.tensor([0.25], requires_grad=True)
    horizontal_shift(row, shift, "cubic")[:, :, :, 3:5].sum().backward()  # a ramp's slope is 1 everywhere inside
    assert shift.grad.item() == pytest.approx(-2.0)
    with pytest.raises(GenvidError, match="kernel must be one of linear, cubic, got 'sinc'"):
        horizontal_shift(row, torch.zeros(1), "sinc")


def _warp_only(m: SVGLP, shift: float) -> None:
    """Force the ego warp to carry the whole frame (mask 1) by ``shift`` pixels (max_shift · tanh(large))."""
    with torch.no_grad():
        last = m.decoder.ups[-1][0]
        last.weight[:, -1].zero_()
        last.bias[-1] = 50.0  # the mask channel: sigmoid -> 1
        m.shift_head.weight.zero_()
        m.shift_head.bias.fill_(50.0 if shift > 0 else -50.0)


def test_the_ego_warp_moves_the_previous_frame_real_in_training_and_predicted_in_generation():
    from genvid.models.svg_lp.model import horizontal_shift

    m = make_steered(ego_warp=True, max_shift=2.0)
    assert m.decoder.ups[-1][0].out_channels == TINY["channels"] + 1 and m.shift_head.out_features == 1
    assert not hasattr(make_steered(), "shift_head")  # off: SVG-LP's modules only
    _warp_only(m, 2.0)
    frames = clip(b=2, t=5)
    x_hat, _ = m.teacher_forced(frames, lambda shape: torch.zeros(shape), m._actions(torch.zeros(2, 5, 3), 5))
    want = horizontal_shift(frames[:, :-1].flatten(0, 1), torch.full((8,), 2.0)).unflatten(0, (2, 4))
    assert torch.allclose(x_hat, want, atol=1e-6)
    context = clip(b=1, t=3)
    out = m.generate(context, 3, 2, gen(1), torch.zeros(1, 6, 3))
    expect, prev = [], context[:, -1]
    for _ in range(3):
        prev = horizontal_shift(prev, torch.full((1,), 2.0))
        expect.append(prev)
    assert torch.allclose(out[0, 1], torch.cat(expect), atol=1e-6)  # each sample: the rollout's own frames


class _Drawn(torch.nn.Module):
    """A stand-in decoder: the same frame for every g (a random pattern, then the mask channel at 0)."""

    def __init__(self, pattern: torch.Tensor):
        super().__init__()
        self.pattern = pattern

    def forward(self, g, skips):
        out = torch.cat([self.pattern, torch.zeros_like(self.pattern[:1])])  # mask 0: the decoder's frame alone
        return out.expand(g.shape[0], -1, -1, -1)


def test_warp_decoder_moves_the_decoders_frame_by_the_shifts_since_its_skip_frame():
    """With ``warp_decoder`` the decoder's frame is drawn in the skip frame's pose and moved to the new frame's
    by every shift since: in training frame i's skips are frame min(i - 1, context - 1)'s, so a context frame
    moves by one shift and the k-th frame after the context by k + 1; in generation the j-th predicted frame
    by j + 1. Without it the decoder's frame stays where the decoder drew it."""
    from genvid.models.svg_lp.model import horizontal_shift

    pattern = torch.rand(TINY["channels"], 16, 16, generator=gen(3))
    frames, cond = clip(b=2, t=6), torch.zeros(2, 6, 3)
    for warp_decoder in (False, True):
        m = make_steered(ego_warp=True, max_shift=1.0, warp_decoder=warp_decoder)
        _warp_only(m, 1.0)
        m.decoder = _Drawn(pattern)
        x_hat, _ = m.teacher_forced(frames, lambda shape: torch.zeros(shape), m._actions(cond, 6))
        for i in range(1, 6):  # frame i: skip frame min(i - 1, 2); one more shift for the frame itself
            moved = (i - min(i - 1, TINY["context_frames"] - 1)) * float(warp_decoder)
            want = horizontal_shift(pattern[None], torch.tensor([moved]))[0]
            assert torch.allclose(x_hat[:, i - 1], want.expand(2, -1, -1, -1), atol=1e-6), (warp_decoder, i)
        out = m.generate(clip(b=1, t=3), 4, 2, gen(1), torch.zeros(1, 7, 3))
        for j in range(4):
            want = horizontal_shift(pattern[None], torch.tensor([(j + 1) * float(warp_decoder)]))[0]
            assert torch.allclose(out[0, :, j], want.expand(2, -1, -1, -1), atol=1e-6), (warp_decoder, j)


class _Masked(torch.nn.Module):
    """A stand-in decoder drawing ``pattern`` and the given mask (already in [0, 1], as the decoder's sigmoid gives)."""

    def __init__(self, pattern: torch.Tensor, mask: torch.Tensor):
        super().__init__()
        self.pattern, self.mask = pattern, mask

    def forward(self, g, skips):
        return torch.cat([self.pattern, self.mask]).expand(g.shape[0], -1, -1, -1)


def test_the_hard_mask_picks_one_source_per_pixel_and_passes_the_soft_gradient():
    """``warp_mask: hard``: each pixel is the shifted previous frame (mask > 1/2) or the decoder's, never a blend;
    the mask's gradient is the soft blend's (straight-through)."""
    from genvid.models.svg_lp.model import horizontal_shift

    pattern = torch.rand(TINY["channels"], 16, 16, generator=gen(3))
    soft_mask = torch.rand(1, 16, 16, generator=gen(5)) * 0.8 + 0.1
    previous = torch.rand(2, TINY["channels"], 16, 16, generator=gen(6))
    outs, grads = {}, {}
    for kind in ("soft", "hard"):
        m = make_steered(ego_warp=True, max_shift=1.0, warp_mask=kind)
        mask = soft_mask.clone().requires_grad_(True)
        m.decoder = _Masked(pattern, mask)
        frame, shift = m._frame(torch.zeros(2, TINY["g_dim"]), [], previous)
        frame.sum().backward()
        outs[kind], grads[kind] = frame.detach(), mask.grad
        moved = horizontal_shift(previous, shift.detach(), "linear")
        pick = (soft_mask > 0.5).float()
        want = pick * moved + (1 - pick) * pattern if kind == "hard" else soft_mask * moved + (1 - soft_mask) * pattern
        assert torch.allclose(frame.detach(), want, atol=1e-6), kind
    assert not torch.allclose(outs["soft"], outs["hard"])
    assert torch.allclose(grads["soft"], grads["hard"])
    with pytest.raises(ParamError, match="warp_mask chooses .* needs ego_warp: true"):
        make_steered(warp_mask="hard")
    with pytest.raises(ParamError, match="warp_mask must be one of soft, hard"):
        make_steered(ego_warp=True, warp_mask="gumbel")


def test_predicting_with_a_hard_mask_picks_per_pixel_and_leaves_training_as_it_was():
    """``sampling.mask: hard``: each predicted pixel is the shifted previous output (soft mask > 1/2) or the
    decoder's, frame after frame, by hand; the teacher-forced frames (the loss) are the soft blend either way."""
    from genvid.models.svg_lp.model import SVGLPSampling, horizontal_shift

    pattern = torch.rand(TINY["channels"], 16, 16, generator=gen(3))
    soft = torch.rand(1, 16, 16, generator=gen(5)) * 0.8 + 0.1
    frames, context = clip(b=2, t=5), clip(b=1, t=3)
    trained = {}
    for mask in ("soft", "hard"):
        m = make_steered(ego_warp=True, max_shift=1.0)
        with torch.no_grad():
            m.shift_head.weight.zero_()
            m.shift_head.bias.fill_(50.0)  # s_t = tanh(50) = 1 pixel to the right
        m.decoder = _Masked(pattern, soft)
        m.configure_sampling(SVGLPSampling(mask=mask))
        trained[mask], _ = m.teacher_forced(frames, lambda shape: torch.zeros(shape), m._actions(torch.zeros(2, 5, 3), 5))
        out = m.generate(context, 3, 1, gen(1), torch.zeros(1, 6, 3))
        weight = (soft > 0.5).float() if mask == "hard" else soft
        previous = context[:, -1]
        for j in range(3):
            previous = weight * horizontal_shift(previous, torch.ones(1)) + (1 - weight) * pattern
            assert torch.allclose(out[0, 0, j], previous[0], atol=1e-6), (mask, j)
    assert torch.equal(trained["soft"], trained["hard"])


def test_the_prediction_mask_is_checked_where_params_are():
    from genvid.models.registry import MODELS
    from genvid.models.svg_lp.model import SVGLPSampling

    params = {k: v for k, v in TINY.items() if k not in ("channels", "resolution", "context_frames")}
    network = MODELS["svg_lp_action"].network
    assert network({**params, "ego_warp": True, "sampling": {"mask": "hard"}}, 1, 16, 3).cfg.ego_warp
    with pytest.raises(ParamError, match=r"^models.svg_lp_action.sampling: mask chooses .* needs ego_warp: true"):
        network({**params, "sampling": {"mask": "hard"}}, 1, 16, 3)
    with pytest.raises(ParamError, match="models.svg_lp_action.sampling.mask must be one of soft, hard"):
        network({**params, "ego_warp": True, "sampling": {"mask": "round"}}, 1, 16, 3)
    with pytest.raises(ParamError, match="models.svg_lp_action.sampling.temperature is not a known parameter"):
        network({**params, "ego_warp": True, "sampling": {"temperature": 0.5}}, 1, 16, 3)
    with pytest.raises(ParamError, match="models.svg_lp.sampling is not a known parameter"):
        MODELS["svg_lp"].network({**params, "sampling": {"mask": "hard"}}, 1, 16, 3)  # no prediction-time options
    with pytest.raises(GenvidError, match="needs ego_warp: true"):
        make_steered().configure_sampling(SVGLPSampling(mask="hard"))


def test_the_shift_head_reads_the_action_that_leads_to_each_frame():
    """``shift_reads_action``: s_t = max_shift · tanh(W [g_t ‖ a_{t-1}] + b), by hand; teacher-forced frame i
    gets a_{i-1}, the rollout's j-th frame a_{tc-1+j}, the same rows the predictor reads; off, the head is
    SVG-LP's g_t -> s_t and never sees an action."""
    m = make_steered(ego_warp=True, shift_reads_action=True, max_shift=2.0)
    g, a = torch.randn(4, m.cfg.g_dim, generator=gen(1)), torch.randn(4, 3, generator=gen(2))
    w, b = m.shift_head.weight[0], m.shift_head.bias[0]
    want = 2.0 * torch.tanh(g @ w[:m.cfg.g_dim] + a @ w[m.cfg.g_dim:] + b)
    torch.testing.assert_close(m._shift(g, a), want)
    seen = []
    frame = m._frame
    m._frame = lambda *args, **kw: (seen.append(args[4]), frame(*args, **kw))[1]
    x, cond = clip(b=2, t=6), torch.randn(2, 8, 3, generator=gen(3))
    actions = m._actions(cond[:, :6], 6)
    m.teacher_forced(x, lambda shape: torch.zeros(shape), actions)
    assert torch.equal(seen[0], actions[:, :5].flatten(0, 1))
    seen.clear()
    m.generate(x[:, :3], 5, 1, gen(4), cond)
    steer = m._actions(cond, 8)
    assert len(seen) == 5 and all(torch.equal(seen[j], steer[:, 2 + j]) for j in range(5))
    plain = make_steered(ego_warp=True)
    assert plain.shift_head.in_features == plain.cfg.g_dim
    torch.testing.assert_close(plain._shift(g, a), plain._shift(g, None))
    with pytest.raises(ParamError, match="shift_reads_action .* needs ego_warp: true"):
        make_steered(shift_reads_action=True)


def test_warp_decoder_needs_the_ego_warp():
    with pytest.raises(ParamError, match="warp_decoder .* needs ego_warp: true"):
        make_steered(warp_decoder=True)


def test_the_ego_warp_is_bounded_and_checked():
    assert make_steered(ego_warp=True).cfg.max_shift == 4.0
    with pytest.raises(ParamError, match="warp_kernel"):
        make_steered(ego_warp=True, warp_kernel="sinc")
    with pytest.raises(ParamError, match="max_shift must be > 0"):
        make_steered(ego_warp=True, max_shift=0.0)


def test_the_warp_oracle_follows_a_world_that_only_shifts():
    """benchmarks/warp_oracle.py: where every true future is the last context frame shifted by whole pixels of
    the grid, the oracle finds each shift, reproduces the futures and has the world's sensitivity, 1."""
    import sys

    import numpy as np

    from conftest import ROOT, load_benchmark
    from genvid.metrics.control import sensitivity
    from genvid.models.svg_lp.model import horizontal_shift

    sys.path.insert(0, str(ROOT / "benchmarks"))
    oracle = load_benchmark("warp_oracle")
    rng = np.random.default_rng(0)
    last = rng.integers(0, 256, (2, 8, 32, 3), dtype=np.uint8)  # [M, H, W, C]
    frames = np.zeros((2, 3, 4, 8, 32, 3), np.uint8)  # [M, K, T, H, W, C]: action k shifts by k - 1 px a frame
    for m in range(2):
        for k in range(3):
            prev = torch.tensor(last[m], dtype=torch.float32).permute(2, 0, 1)[None]
            for t in range(4):
                prev = horizontal_shift(prev, torch.tensor([float(k - 1)]))
                frames[m, k, t] = prev[0].permute(1, 2, 0).round().to(torch.uint8).numpy()
    futures = oracle.oracle_futures(last, frames, "linear")
    assert np.array_equal(futures[:, :, 0], frames)
    assert sensitivity(futures, frames) == pytest.approx(1.0)

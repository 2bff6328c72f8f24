"""Seed 003's feature flow operator (Eq 6.3) against hand computations, and the model's own
behaviour; the registry's contract tests (tests/test_predictors.py) cover leak, determinism and
save/load."""
from __future__ import annotations

import pytest
import torch

from genvid.errors import GenvidError
from genvid.models.feature_flow.flow import (feature_flow, flow_weights, move_pixels, offset_index, on_grid,
                                             warp_pixels)
from genvid.models.feature_flow.model import FeatureFlow, FeatureFlowConfig, object_weights

KAPPA = 3


def one_hot_weights(h: int, w: int, k: int, l: int, kappa: int = KAPPA) -> torch.Tensor:
    weights = torch.zeros(1, kappa * kappa, h, w)
    weights[0, offset_index(k, l, kappa)] = 1.0
    return weights


def hand_flow(fixels: torch.Tensor, weights: torch.Tensor, kappa: int) -> torch.Tensor:
    """Eq 6.3 term by term, loops over the output fixels and the (closed) displacement ranges."""
    _, c, h, w = fixels.shape
    xi = kappa // 2
    out = torch.zeros_like(fixels)
    for i in range(h):
        for j in range(w):
            for k in range(-xi, xi + 1):
                for l in range(-xi, xi + 1):
                    si, sj = i - k, j - l
                    if 0 <= si < h and 0 <= sj < w:
                        out[0, :, i, j] += weights[0, (k + xi) * kappa + l + xi, si, sj] * fixels[0, :, si, sj]
    return out


@pytest.mark.parametrize("k,l", [(0, 0), (1, 0), (0, -1), (-1, 1), (1, 1)])
def test_one_hot_flow_moves_a_fixel_by_exactly_k_l(k, l):
    fixels = torch.zeros(1, 2, 6, 7)
    fixels[0, :, 3, 3] = torch.tensor([2.0, -5.0])
    moved = feature_flow(fixels, one_hot_weights(6, 7, k, l), KAPPA)
    expected = torch.zeros_like(fixels)
    expected[0, :, 3 + k, 3 + l] = torch.tensor([2.0, -5.0])
    assert torch.equal(moved, expected)


def test_the_sums_include_plus_and_minus_xi():
    """Eq 6.3 prints k, l in (-ξ, ξ); with κ = 5 the displacements ±2 must move fixels too."""
    fixels = torch.zeros(1, 1, 9, 9)
    fixels[0, 0, 4, 4] = 1.0
    for k, l in ((2, 2), (-2, -2), (2, -2), (-2, 0)):
        moved = feature_flow(fixels, one_hot_weights(9, 9, k, l, kappa=5), 5)
        assert moved[0, 0, 4 + k, 4 + l] == 1.0 and moved.sum() == 1.0
    with pytest.raises(GenvidError, match="outside a 5x5 patch"):
        offset_index(3, 0, 5)


def test_operator_matches_eq_6_3_by_hand_with_random_weights():
    g = torch.Generator().manual_seed(0)
    fixels = torch.randn(1, 3, 5, 6, generator=g)
    weights = flow_weights(torch.randn(1, 9, 5, 6, generator=g), KAPPA)
    assert torch.allclose(feature_flow(fixels, weights, KAPPA), hand_flow(fixels, weights, KAPPA), atol=1e-6)


def test_mass_is_conserved_at_every_fixel_including_the_border():
    g = torch.Generator().manual_seed(1)
    fixels = torch.rand(2, 4, 8, 8, generator=g)
    weights = flow_weights(torch.randn(2, 9, 8, 8, generator=g) * 5, KAPPA)
    assert torch.allclose(weights.sum(1), torch.ones(2, 8, 8))
    moved = feature_flow(fixels, weights, KAPPA)
    assert torch.allclose(moved.sum(dim=(2, 3)), fixels.sum(dim=(2, 3)), rtol=1e-5)


def test_border_fixels_cannot_send_mass_off_the_grid():
    valid = on_grid(KAPPA, 4, 5)
    up_left = offset_index(-1, -1, KAPPA)
    assert not valid[up_left, 0, :].any() and not valid[up_left, :, 0].any() and valid[up_left, 1:, 1:].all()
    # logits that push everything off the top edge: the top row's mass stays on the grid
    logits = torch.zeros(1, 9, 4, 5)
    logits[0, offset_index(-1, 0, KAPPA)] = 50.0
    weights = flow_weights(logits, KAPPA)
    assert weights[0, offset_index(-1, 0, KAPPA), 0].sum() == 0
    assert torch.allclose(weights[0, :, 0].sum(0), torch.ones(5))
    fixels = torch.ones(1, 1, 4, 5)
    assert torch.isclose(feature_flow(fixels, weights, KAPPA).sum(), torch.tensor(20.0))


def test_operator_errors_name_the_shapes():
    with pytest.raises(GenvidError, match=r"flow logits must be \[B, 9, H, W\]"):
        flow_weights(torch.zeros(1, 8, 4, 4), KAPPA)
    with pytest.raises(GenvidError, match="kappa must be odd"):
        on_grid(4, 4, 4)
    with pytest.raises(GenvidError, match=r"flow weights must be \[1, 9, 4, 4\]"):
        feature_flow(torch.zeros(1, 2, 4, 4), torch.zeros(1, 9, 4, 3), KAPPA)


def tiny(**over) -> FeatureFlow:
    values = dict(channels=1, resolution=32, context_frames=3, width=4, fixel_channels=8, flow_channels=8,
                  z_dim=4, flow_scale=4, kappa=3, disc_width=4)
    values.update(over)
    torch.manual_seed(0)
    return FeatureFlow(FeatureFlowConfig(**values))


def test_config_rules():
    assert FeatureFlowConfig(channels=1, resolution=32, context_frames=2, width=4, fixel_channels=8,
                             flow_channels=8, z_dim=4, flow_scale=16, kappa=3, disc_width=4).validate() \
        == "resolution / flow_scale must be >= 4 (E² halves the fixels twice), got 32 / 16"
    assert "power of two" in FeatureFlowConfig(channels=1, resolution=48, context_frames=2, width=4, fixel_channels=8,
                                                flow_channels=8, z_dim=4, flow_scale=4, kappa=3,
                                                disc_width=4).validate()


@pytest.mark.parametrize("scale", [2, 4, 8])
def test_flow_acts_at_the_configured_resolution(scale):
    model = tiny(resolution=64, flow_scale=scale).eval()
    x = torch.rand(2, 1, 64, 64)
    frame, _, weights = model.generator(x, torch.zeros(2, 4), (None, None))
    assert frame.shape == x.shape and weights.shape == (2, 9, 64 // scale, 64 // scale)
    assert 0 <= float(frame.detach().min()) and float(frame.detach().max()) <= 1


def test_copy_mask_blends_towards_the_previous_frame():
    """With the mask logit pushed high the prediction is the previous frame; without the mask it is not."""
    model = tiny().eval()
    with torch.no_grad():
        model.generator.d2[-1].bias[1:] = 30.0
    x = torch.rand(2, 1, 32, 32)
    frame, _, _ = model.generator(x, torch.zeros(2, 4), (None, None))
    assert torch.allclose(frame, x, atol=1e-6)
    plain = tiny(copy_mask=False).eval()
    assert plain.generator.d2[-1].out_channels == 1
    assert not torch.allclose(plain.generator(x, torch.zeros(2, 4), (None, None))[0], x, atol=1e-2)


@pytest.mark.parametrize("k,l", [(0, 0), (1, 0), (-1, 1)])
def test_move_pixels_moves_each_cell_whole_by_whole_cells(k, l):
    """move_copy's operator: a cell of scale × scale pixels is one fixel; one-hot weights move it by
    (k, l) cells, i.e. (scale·k, scale·l) pixels, its pixels in the same order."""
    scale = 2
    frame = torch.zeros(1, 3, 12, 12)
    frame[0, :, 4:6, 6:8] = torch.arange(12.0).view(3, 2, 2)
    moved = move_pixels(frame, one_hot_weights(6, 6, k, l), KAPPA, scale)
    expected = torch.zeros_like(frame)
    expected[0, :, 4 + 2 * k:6 + 2 * k, 6 + 2 * l:8 + 2 * l] = torch.arange(12.0).view(3, 2, 2)
    assert torch.equal(moved, expected)


def test_move_pixels_shares_a_cell_between_displacements_and_conserves_it():
    frame = torch.zeros(1, 1, 8, 8)
    frame[0, 0, 2:4, 2:4] = 1.0
    weights = one_hot_weights(4, 4, 0, 0)
    weights[0, :, 1, 1] = 0.0
    weights[0, offset_index(0, 0, KAPPA), 1, 1], weights[0, offset_index(0, 1, KAPPA), 1, 1] = 0.25, 0.75
    moved = move_pixels(frame, weights, KAPPA, 2)
    assert torch.equal(moved[0, 0, 2:4, 2:4], torch.full((2, 2), 0.25))
    assert torch.equal(moved[0, 0, 2:4, 4:6], torch.full((2, 2), 0.75)) and moved.sum() == frame.sum()
    with pytest.raises(GenvidError, match="is not the flow's grid"):
        move_pixels(frame, weights, KAPPA, 4)


def test_move_copy_blends_the_previous_frame_moved_by_the_flow():
    """With the mask pushed to copy, move_copy's prediction is x_{t-1} moved by the model's own flow
    weights; the untrained flow mostly stays, so the untrained model still nearly copies."""
    model = tiny(move_copy=True).eval()
    with torch.no_grad():
        model.generator.d2[-1].bias[1:] = 30.0
    x = torch.rand(2, 1, 32, 32)
    frame, _, weights = model.generator(x, torch.zeros(2, 4), (None, None))
    assert torch.allclose(frame, move_pixels(x, weights, KAPPA, 4), atol=1e-6)
    assert not torch.allclose(frame, x, atol=1e-3)
    assert float(weights[:, offset_index(0, 0, KAPPA)].min()) > 0.5  # STILL_BIAS: most of each cell stays


def test_warp_pixels_reads_each_pixel_where_the_displacement_says_by_hand():
    """A whole-pixel displacement reads the neighbour exactly (the border pixel past the edge); a fraction
    blends the two neighbours by hand; zero is the frame itself."""
    frame = torch.arange(2 * 3 * 5 * 6, dtype=torch.float32).view(2, 3, 5, 6)
    zero = torch.zeros(2, 2, 5, 6)
    assert torch.equal(warp_pixels(frame, zero), frame)
    right = zero.clone()
    right[:, 0] = 1.0  # every pixel reads the one to its right
    moved = warp_pixels(frame, right)
    assert torch.equal(moved[..., :-1], frame[..., 1:]) and torch.equal(moved[..., -1], frame[..., -1])
    up = zero.clone()
    up[:, 1] = -0.25  # a quarter of a row upwards: 3/4 of the pixel, 1/4 of the one above
    moved = warp_pixels(frame, up)
    assert torch.allclose(moved[:, :, 1:], 0.75 * frame[:, :, 1:] + 0.25 * frame[:, :, :-1])
    assert torch.equal(moved[:, :, 0], frame[:, :, 0])
    one = zero.clone()
    one[0, :, 2, 3] = torch.tensor([0.5, 1.5])  # one pixel, half a column right and 1.5 rows down
    expected = 0.5 * (0.5 * frame[0, :, 3, 3] + 0.5 * frame[0, :, 3, 4]) + 0.5 * (0.5 * frame[0, :, 4, 3] + 0.5 * frame[0, :, 4, 4])
    assert torch.allclose(warp_pixels(frame, one)[0, :, 2, 3], expected)
    with pytest.raises(GenvidError, match=r"must be \[2, 2, 5, 6\]"):
        warp_pixels(frame, torch.zeros(2, 2, 5, 5))


def test_warp_pixels_gradient_points_the_displacement_towards_the_object():
    """The L2 gradient of a warped frame moves the displacement towards where a one-pixel-shifted object
    came from, and reaches the frame too."""
    frame = torch.zeros(1, 1, 8, 8)
    frame[0, 0, 3:5, 2:4] = 1.0
    target = torch.zeros(1, 1, 8, 8)
    target[0, 0, 3:5, 3:5] = 1.0  # the object one column to the right: read one column to the left
    displacement = torch.full((1, 2, 8, 8), -0.5).mul(torch.tensor([1.0, 0.0]).view(1, 2, 1, 1)).requires_grad_()
    source = frame.clone().requires_grad_()
    ((warp_pixels(source, displacement) - target) ** 2).sum().backward()
    assert bool((displacement.grad[0, 0, 3:5, 4] > 0).all())  # the leading column: descent pushes it to -1
    assert source.grad.abs().sum() > 0


def test_pixel_warp_starts_copying_in_place_and_blends_the_warped_frame():
    """pixel_warp: the untrained displacement is 0 (the model copies as without it); pushed to copy, with the
    displacement's channels set, the prediction is x_{t-1} warped by max_warp · tanh of them."""
    model = tiny(pixel_warp=True, max_warp=2.0).eval()
    conv = model.generator.d2[-1]
    assert conv.out_channels == 1 + 1 + 2 and torch.equal(conv.bias[2:], torch.zeros(2))
    x = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        conv.bias[1] = 30.0
    frame, _, _ = model.generator(x, torch.zeros(2, 4), (None, None))
    assert torch.allclose(frame, x, atol=1e-6)
    with torch.no_grad():
        conv.bias[2] = 100.0  # tanh saturates: every pixel reads max_warp = 2 columns to its right
    frame, _, _ = model.generator(x, torch.zeros(2, 4), (None, None))
    assert torch.allclose(frame[..., :-2], x[..., 2:], atol=1e-5)


@pytest.mark.parametrize("options,message", [({"copy_mask": False}, "needs copy_mask"),
                                             ({"move_copy": True}, "choose one")])
def test_pixel_warp_refuses_settings_it_cannot_combine_with(options, message):
    with pytest.raises(GenvidError, match=message):
        tiny(pixel_warp=True, **options)


def test_flow_skip_lets_the_flow_read_each_fixel():
    """With D¹'s way up from E² silenced, the thesis's flow is the same at every inner fixel whatever the frame;
    with flow_skip the ConvLSTM also reads the fixels, so the flow follows the frame fixel by fixel."""
    x = torch.zeros(1, 1, 32, 32)
    x[0, 0, 8:16, 8:16] = 1.0
    spreads = []
    for skip in (False, True):
        model = tiny(flow_skip=skip).eval()
        with torch.no_grad():  # batch norm's scale and shift 0 too: D¹ gives zeros whatever it reads
            for p in model.generator.d1.parameters():
                p.zero_()
        _, _, weights = model.generator(x, torch.zeros(1, 4), (None, None))
        inner = weights[0, :, 2:6, 2:6].detach()  # off the border, where F's mask changes the softmax
        spreads.append(float((inner - inner[:, :1, :1]).abs().max()))
    assert spreads[0] < 1e-7 and spreads[1] > 1e-5, spreads


def test_closed_loop_inputs_are_real_then_open_loop_its_own():
    """unroll: prediction t reads real frame t-1 while t <= closed, its own prediction after; so the
    closed-loop predictions ignore a later real frame and the open-loop ones ignore every real frame
    after the closed part."""
    model = tiny().eval()
    frames = torch.rand(2, 6, 1, 32, 32)
    changed = frames.clone()
    changed[:, 4:] = torch.rand(2, 2, 1, 32, 32)  # frames 4, 5: only open-loop predictions follow them

    def run(x):
        torch.manual_seed(3)
        with torch.no_grad():
            return model.unroll(x, 3, 6, lambda shape: torch.randn(shape))

    a, b = run(frames), run(changed)
    assert torch.equal(a, b)  # predictions 1..5 read frames 0..2 and their own outputs
    changed[:, 2] = 0.0
    c = run(changed)
    assert torch.equal(a[:, :2], c[:, :2]) and not torch.equal(a[:, 2], c[:, 2])


def test_frame_difference_feeds_each_step_the_frame_before_its_input():
    """frame_difference (genvid's addition): E¹ reads [x_{t-1} ‖ x_{t-1} - x_{t-2}]; x_{t-2} is the real frame
    while it is a context frame, the model's own output after, and the first step's difference is zero."""
    model = tiny(frame_difference=True).eval()
    assert model.generator.e1[0].in_channels == 2 and tiny().generator.e1[0].in_channels == 1
    frames = torch.rand(2, 6, 1, 32, 32)
    seen, forward = [], model.generator.forward

    def recording(x_prev, z, state, x_before=None, copy=None, pick=False):
        seen.append((x_prev, x_before))
        return forward(x_prev, z, state, x_before, copy, pick)

    model.generator.forward = recording
    torch.manual_seed(3)
    with torch.no_grad():
        out = model.unroll(frames, 3, 6, lambda shape: torch.randn(shape))
    inputs = [frames[:, 0], frames[:, 1], frames[:, 2], out[:, 2], out[:, 3]]  # step t reads x_{t-1}
    assert seen[0][1] is None and len(seen) == 5
    for t in range(1, 5):
        assert torch.equal(seen[t][0], inputs[t]) and torch.equal(seen[t][1], inputs[t - 1])
    x, z = torch.rand(2, 1, 32, 32), torch.randn(2, 4)
    with torch.no_grad():  # no frame before the first: its difference is zero, not the frame itself
        first = forward(x, z, (None, None))[0]
        assert torch.equal(first, forward(x, z, (None, None), x)[0])
        assert not torch.equal(first, forward(x, z, (None, None), torch.zeros_like(x))[0])


def test_loss_gives_each_optimiser_its_own_and_pure_gan_has_no_l2():
    frames = torch.rand(2, 6, 1, 32, 32)
    torch.manual_seed(0)
    losses, scalars = tiny().train().loss(frames, 0)
    assert set(losses) == {"g", "d"} and {"l2", "open_l2", "g_adv", "d_real", "d_fake"} <= set(scalars)
    model = tiny(l2_weight=0.0).train()
    torch.manual_seed(0)
    losses, scalars = model.loss(frames, 0)
    assert torch.isclose(losses["g"], torch.tensor(0.01 * scalars["g_adv"]), rtol=1e-5)
    groups = model.optimizer_groups()
    assert {id(p) for p in groups["g"]}.isdisjoint(id(p) for p in groups["d"])
    assert len(groups["g"]) + len(groups["d"]) == len(list(model.parameters()))
    # the discriminator's loss reaches no generator weight
    model.zero_grad()
    losses["d"].backward()
    assert all(p.grad is None for p in groups["g"])


def test_open_loop_l2_adds_the_rollouts_error_by_hand():
    """open_l2_weight (genvid's addition): g = l2_weight * closed L2 + adv_weight * g_adv + w * open-loop L2."""
    frames = torch.rand(2, 6, 1, 32, 32)
    torch.manual_seed(0)
    plain, scalars = tiny().train().loss(frames, 0)
    torch.manual_seed(0)
    extra, again = tiny(open_l2_weight=0.5).train().loss(frames, 0)
    assert again["open_l2"] == scalars["open_l2"] > 0
    expected = scalars["l2"] + 0.01 * scalars["g_adv"] + 0.5 * scalars["open_l2"]
    assert torch.isclose(extra["g"], torch.tensor(expected), rtol=1e-5)
    assert torch.isclose(plain["g"], torch.tensor(scalars["l2"] + 0.01 * scalars["g_adv"]), rtol=1e-5)


def test_object_weights_mark_where_the_object_is_and_was_by_hand():
    """A one-pixel object crossing a flat background: frame t's weights are 1 + w where it is at t or was at t-1."""
    frames = torch.full((1, 4, 1, 3, 5), 0.2)
    for t in range(4):
        frames[0, t, 0, 1, t] = 0.9  # the median over time keeps the background: each pixel holds it 3 times of 4
    weights = object_weights(frames, 3.0)
    expected = torch.ones(1, 3, 1, 3, 5)
    for t in range(1, 4):
        expected[0, t - 1, 0, 1, t - 1:t + 1] = 4.0
    assert torch.equal(weights, expected)
    faint = torch.where(frames > 0.5, torch.tensor(0.24), frames)  # under OBJECT_THRESHOLD from the background
    assert torch.equal(object_weights(faint, 3.0), torch.ones(1, 3, 1, 3, 5))


def test_object_weight_weighs_both_l2_terms_by_hand():
    frames = torch.full((2, 6, 1, 32, 32), 0.3)
    frames[:, :, :, 8:12, 4:8] = 0.9
    for t in range(6):
        frames[:, t, :, 20:24, 2 + 3 * t:6 + 3 * t] = 0.8  # the object moves 3 px a frame
    torch.manual_seed(0)
    model = tiny(open_l2_weight=1.0, object_weight=5.0).train()
    torch.manual_seed(0)
    losses, scalars = model.loss(frames, 0)
    torch.manual_seed(0)
    pred = model.unroll(frames, 3, 6, lambda shape: torch.randn(shape))
    err = (pred.detach() - frames[:, 1:]) ** 2 * object_weights(frames, 5.0)
    assert scalars["l2"] == pytest.approx(float(err[:, :3].mean()), rel=1e-5)
    assert scalars["open_l2"] == pytest.approx(float(err[:, 3:].mean()), rel=1e-5)
    assert float(object_weights(frames, 5.0).amax()) == 6.0  # the still square is background: only the mover counts
    assert torch.equal(object_weights(frames, 5.0)[:, :, :, 8:12, 4:8], torch.ones(2, 5, 1, 4, 4))


def test_generate_shapes_range_and_noise_from_the_generator():
    model = tiny().eval()
    context = torch.rand(2, 3, 1, 32, 32)
    out = model.generate(context, 4, 3, torch.Generator().manual_seed(0))
    again = model.generate(context, 4, 3, torch.Generator().manual_seed(0))
    other = model.generate(context, 4, 3, torch.Generator().manual_seed(1))
    assert out.shape == (2, 3, 4, 1, 32, 32) and torch.equal(out, again) and not torch.equal(out, other)
    assert not torch.equal(out[:, 0], out[:, 1])  # fresh z per sample
    with pytest.raises(GenvidError, match=r"context must be float \[B, T>=1, 1, 32, 32\]"):
        model.generate(torch.rand(2, 3, 3, 32, 32), 4, 1, torch.Generator())


# ----------------------------------------------------------------------------- feature_flow_action (issue 48)

def steered(**over) -> FeatureFlow:
    from genvid.config import parse_config
    from genvid.models.feature_flow.model import FeatureFlowActionConfig
    values = dict(channels=1, resolution=32, context_frames=3, width=4, fixel_channels=8, flow_channels=8,
                  z_dim=4, flow_scale=4, kappa=3, disc_width=4)
    values.update(over)
    torch.manual_seed(0)
    return FeatureFlow(parse_config(FeatureFlowActionConfig, values, "models.feature_flow_action")).eval()


def test_the_steered_model_reads_each_action_when_it_leads_to_a_frame():
    """Frame t follows the action after frame t - 1: changing action row r leaves every predicted frame
    before frame r + 1 alone and changes the later ones (a context row through the recurrent states);
    the last row leads past the horizon."""
    model = steered()
    context, cond = torch.rand(1, 3, 1, 32, 32), torch.randn(1, 8, 3, generator=torch.Generator().manual_seed(4))
    base = model.generate(context, 5, 2, torch.Generator().manual_seed(1), cond)
    assert torch.equal(base, model.generate(context, 5, 2, torch.Generator().manual_seed(1), cond.clone()))
    for row in (0, 2, 4, 7):
        moved = cond.clone()
        moved[0, row] += 3.0
        out = model.generate(context, 5, 2, torch.Generator().manual_seed(1), moved)
        first_changed = max(row - 2, 0)  # predicted frame j is frame tc + j, led to by row tc - 1 + j
        assert torch.equal(out[:, :, :first_changed], base[:, :, :first_changed])
        if row < 7:
            assert not torch.equal(out[:, :, first_changed], base[:, :, first_changed])
        else:
            assert torch.equal(out, base)


def test_the_steered_model_standardises_its_actions_and_trains_on_them():
    raw = steered()
    scaled = steered(cond_mean=[1.0, 2.0, 3.0], cond_std=[2.0, 2.0, 2.0])
    scaled.load_state_dict(raw.state_dict())
    context, cond = torch.rand(1, 3, 1, 32, 32), torch.randn(1, 8, 3, generator=torch.Generator().manual_seed(4))
    mean, std = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([2.0, 2.0, 2.0])
    assert torch.allclose(scaled.generate(context, 4, 1, torch.Generator().manual_seed(2), cond * std + mean),
                          raw.generate(context, 4, 1, torch.Generator().manual_seed(2), cond), atol=1e-5)
    frames = torch.rand(2, 6, 1, 32, 32)
    model = steered().train()
    first = torch.zeros(2, 6, 3)
    torch.manual_seed(0)
    a, _ = model.loss(frames, 0, first)
    torch.manual_seed(0)
    b, _ = model.loss(frames, 0, first + 1.0)
    assert not torch.equal(a["g"], b["g"])  # the actions reach the generator's loss
    a["g"].backward()
    assert model.generator.z_in.weight.grad[:, 4:].abs().sum() == 0  # zero actions: no gradient on their weights
    assert model.generator.z_in.weight.grad[:, :4].abs().sum() > 0


def test_steered_conditioning_errors_are_one_line():
    from genvid.config import parse_config
    from genvid.errors import ParamError
    from genvid.models.feature_flow.model import FeatureFlowActionConfig
    with pytest.raises(GenvidError, match=r"feature_flow_action needs cond \[B, T>=7, 3\]"):
        steered().generate(torch.rand(1, 3, 1, 32, 32), 4, 1, torch.Generator(), torch.zeros(1, 6, 3))
    with pytest.raises(GenvidError, match="feature_flow was given cond"):
        tiny().loss(torch.rand(1, 5, 1, 32, 32), 0, torch.zeros(1, 5, 3))
    with pytest.raises(ParamError, match="cond_std must be > 0"):
        parse_config(FeatureFlowActionConfig, dict(channels=1, resolution=32, context_frames=3, width=4,
                                                   fixel_channels=8, flow_channels=8, z_dim=4, flow_scale=4,
                                                   kappa=3, disc_width=4, cond_std=[1.0, 0.0, 1.0]),
                     "models.feature_flow_action")


def test_the_prediction_mask_is_checked_where_params_are():
    from genvid.models.feature_flow.model import FeatureFlowSampling
    from genvid.models.registry import MODELS
    from genvid.errors import ParamError

    params = dict(width=4, fixel_channels=8, flow_channels=8, z_dim=4, flow_scale=4, kappa=3, disc_width=4)
    for name in ("feature_flow", "feature_flow_action"):
        network = MODELS[name].network
        assert network({**params, "sampling": {"mask": "hard"}}, 1, 32, 3).sampling == FeatureFlowSampling()
        with pytest.raises(ParamError, match=rf"^models.{name}.sampling: mask picks .* needs copy_mask: true"):
            network({**params, "copy_mask": False, "sampling": {"mask": "hard"}}, 1, 32, 3)
        with pytest.raises(ParamError, match=rf"models.{name}.sampling.mask must be one of soft, hard"):
            network({**params, "sampling": {"mask": "round"}}, 1, 32, 3)
    with pytest.raises(GenvidError, match="^models.feature_flow.sampling: mask picks .* needs copy_mask: true"):
        tiny(copy_mask=False).configure_sampling(FeatureFlowSampling(mask="hard"))
    matte = {"sampling": {"matte": "hard"}}
    assert network({**params, "context_warp": True, "warp_motion": "layered", **matte}, 1, 32, 3) is not None
    for off in ({}, {"context_warp": True}):  # no warp, or a warp without a matte
        with pytest.raises(ParamError, match=r"sampling: matte hardens .* needs context_warp: true and warp_motion: "):
            network({**params, **off, **matte}, 1, 32, 3)
        with pytest.raises(ParamError, match=r"warp_matte_weight weighs the layered context warp's matte: it needs "):
            network({**params, **off, "warp_matte_weight": 0.002}, 1, 32, 3)

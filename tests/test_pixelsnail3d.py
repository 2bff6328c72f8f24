"""3D PixelSNAIL priors: config, shapes, loss, causality, conditioning, parameter counts."""
import math

import pytest
import torch
import torch.nn.functional as F

from genvid.errors import GenvidError, ParamError
from genvid.models.pixelsnail3d import (
    PROFILES, CausalConv3d, GatedResidual, PixelSNAIL3d, PixelSNAILConfig, bits_per_code, causal_taps,
    count_parameters)

torch.set_num_threads(1)

TOP = dict(num_codes=32, shape=(3, 4, 4), channels=32, res_blocks=1, snail_blocks=2, heads=2,
           key_channels=8, value_channels=16, dropout=0.1)
BOTTOM = dict(num_codes=32, shape=(2, 8, 8), channels=32, res_blocks=1, snail_blocks=2, attention=False,
              cond_shape=(1, 4, 4), cond_num_codes=16, cond_res_blocks=1, dropout=0.1)


def build(params: dict, seed: int = 0) -> PixelSNAIL3d:
    torch.manual_seed(seed)
    return PixelSNAIL3d(PixelSNAILConfig.from_dict(params)).eval()


def random_inputs(model: PixelSNAIL3d, batch: int = 2, seed: int = 1):
    cfg, g = model.config, torch.Generator().manual_seed(seed)
    codes = torch.randint(0, cfg.num_codes, (batch, *cfg.shape), generator=g)
    cond = None if cfg.cond_shape is None else torch.randint(0, cfg.cond_codes, (batch, *cfg.cond_shape), generator=g)
    return codes, cond


def test_config_rejects_unknown_key_and_bad_values():
    with pytest.raises(ParamError, match="prior_top.chanels is not a known parameter"):
        PixelSNAILConfig.from_dict({"chanels": 64}, section="prior_top")
    with pytest.raises(ParamError, match="kernel_size"):
        PixelSNAILConfig.from_dict({"kernel_size": 4})
    with pytest.raises(ParamError, match="dropout"):
        PixelSNAILConfig.from_dict({"dropout": 1.5})
    with pytest.raises(ParamError, match="not a multiple of the top grid"):
        PixelSNAILConfig.from_dict({"shape": [8, 16, 16], "cond_shape": [3, 8, 8]})
    cfg = PixelSNAILConfig.from_dict({"shape": [4, 8, 8], "cond_shape": [2, 4, 4]})  # lists from YAML
    assert cfg.shape == (4, 8, 8) and cfg.cond_shape == (2, 4, 4) and cfg.length == 256
    for params in PROFILES.values():
        PixelSNAILConfig.from_dict(params)


@pytest.mark.parametrize("k", [3, 5])
@pytest.mark.parametrize("mask", ["A", "B"])
def test_causal_taps_are_exactly_the_earlier_raster_positions_of_the_box(k, mask):
    r, taps = k // 2, set(causal_taps(k, mask).tolist())
    for tau in range(k):
        for a in range(k):
            for b in range(k):
                offset = (tau - (k - 1), a - r, b - r)  # (dt, dh, dw) relative to the output
                earlier = offset < (0, 0, 0) or (mask == "B" and offset == (0, 0, 0))
                assert (((tau * k + a) * k + b) in taps) == earlier
    assert len(taps) == (k - 1) * k * k + r * k + r + (mask == "B")


def test_causal_conv_matches_a_masked_dense_conv():
    torch.manual_seed(0)
    conv = CausalConv3d(4, 6, 3, "B")
    x = torch.randn(2, 4, 3, 5, 5)
    dense = conv.kernel()
    # box index 22 is the centre (frame t, row h, column w); 23-26 are later in raster order
    assert (dense.flatten(2)[:, :, 23:] == 0).all() and (dense.flatten(2)[:, :, :23] != 0).all()
    expected = F.conv3d(F.pad(x, (1, 1, 1, 1, 2, 0)), dense, conv.bias)
    assert torch.equal(conv(x), expected)
    assert conv.weight.numel() == 6 * 4 * 23  # only causal taps are parameters


def test_gated_residual_is_x_plus_a_times_sigmoid_b():
    torch.manual_seed(0)
    layer = GatedResidual(4, CausalConv3d(4, 4, 3, "B"), dropout=0.0)
    x = torch.randn(1, 4, 2, 3, 3)
    c = F.elu(layer.conv1(F.elu(x)))
    ab = torch.einsum("oc,bcthw->bothw", layer.conv2.weight, c) + layer.conv2.bias.view(1, -1, 1, 1, 1)
    expected = x + ab[:, :4] * torch.sigmoid(ab[:, 4:])
    torch.testing.assert_close(layer(x), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("params", [TOP, BOTTOM])
def test_shapes_and_loss_is_mean_nats_per_code(params):
    model = build(params)
    codes, cond = random_inputs(model)
    logits = model(codes, cond)
    assert logits.shape == (2, model.config.num_codes, *model.config.shape)
    picked = logits.log_softmax(1).gather(1, codes.unsqueeze(1))
    torch.testing.assert_close(model.loss(codes, cond), -picked.mean())
    assert bits_per_code(math.log(2.0) * 3.0) == pytest.approx(3.0)


def perturb_from(codes: torch.Tensor, i: int, k: int, seed: int) -> torch.Tensor:
    """Codes with every position >= i (raster order) replaced by different random codes."""
    g = torch.Generator().manual_seed(seed)
    out = codes.clone().view(codes.shape[0], -1)
    out[:, i:] = (out[:, i:] + torch.randint(1, k, out[:, i:].shape, generator=g)) % k
    return out.view_as(codes)


@pytest.mark.parametrize("params", [TOP, BOTTOM])
def test_logits_at_i_do_not_depend_on_codes_at_i_or_later(params):
    model = build(params)
    codes, cond = random_inputs(model)
    n, k = model.config.length, model.config.num_codes
    base = model(codes, cond).flatten(2)
    g = torch.Generator().manual_seed(3)
    for i in [0, 1, *torch.randint(2, n, (5,), generator=g).tolist(), n - 1]:
        changed = model(perturb_from(codes, i, k, seed=i), cond).flatten(2)
        # Masked taps multiply the new codes' features by exact zeros; masked attention
        # scores are overwritten: earlier logits come out bitwise equal.
        assert torch.equal(changed[:, :, : i + 1], base[:, :, : i + 1]), f"position {i} sees the future"
        if i + 1 < n:
            assert not torch.equal(changed[:, :, i + 1], base[:, :, i + 1])  # and i + 1 does see code i


def test_causality_by_gradient_with_attention():
    """d logits_i / d x0_j is zero for every j >= i (x0 = embedded codes), nonzero for some j < i."""
    model = build(TOP)
    codes, _ = random_inputs(model, batch=1)
    x0 = model.embed_codes(codes).requires_grad_(True)
    model.embed_codes = lambda _codes: x0  # feed the differentiable embedding through forward
    logits = model(codes).flatten(2)
    n = model.config.length
    for i in [0, 5, 17, n - 1]:
        (grad,) = torch.autograd.grad(logits[0, :, i].sum(), x0, retain_graph=True)
        per_position = grad.abs().sum(1).flatten()
        assert (per_position[i:] == 0).all()
        if i > 0:
            assert (per_position[:i] > 0).any()


def test_bottom_prior_uses_the_top_codes_and_top_prior_refuses_them():
    model = build(BOTTOM)
    codes, cond = random_inputs(model)
    other = (cond + 1) % model.config.cond_codes
    assert not torch.equal(model(codes, cond), model(codes, other))
    top = build(TOP)
    with pytest.raises(GenvidError, match="unconditional"):
        top.check_inputs(random_inputs(top)[0], cond)
    with pytest.raises(GenvidError, match="needs the top codes"):
        model.check_inputs(codes, None)


def test_bad_codes_give_one_line_errors():
    model = build(BOTTOM)
    codes, cond = random_inputs(model)
    cases = [
        (codes.masked_fill(codes == codes[0, 0, 0, 0], 40), cond,
         "latent codes contain index 40 but the prior has K=32"),
        (codes[:, :1], cond, r"latent codes have shape \[2, 1, 8, 8\] but the prior expects \[B, 2, 8, 8\]"),
        (codes.float(), cond, "must be integer indices"),
        (codes, cond[:, :, :2], r"cond \(top\) codes have shape"),
        (codes, cond + 16, "cond \\(top\\) codes contain index .* but the prior has K=16"),
        (codes, cond[:1], "cond has batch size 1"),
    ]
    for bad_codes, bad_cond, message in cases:
        with pytest.raises(GenvidError, match=message) as err:
            model.check_inputs(bad_codes, bad_cond)
        assert "\n" not in str(err.value)


def test_thesis_profiles_have_the_stated_parameter_counts():
    top = count_parameters(PixelSNAILConfig.from_dict(PROFILES["top_thesis"]))
    bottom = count_parameters(PixelSNAILConfig.from_dict(PROFILES["bottom_thesis"]))
    assert abs(top - 50e6) <= 5e6, top  # seed 000 Table 5.4: ~50M (6 residual blocks)
    assert abs(bottom - 100e6) <= 10e6, bottom  # seed 000 §5.3.2: 102M
    fewer = count_parameters(PixelSNAILConfig.from_dict({**PROFILES["top_thesis"], "res_blocks": 4}))
    assert 30e6 < fewer < 40e6  # Table 5.4's 4-block model: ~34M


def test_a_few_training_steps_lower_the_loss():
    model = build({**TOP, "dropout": 0.0}).train()
    codes, _ = random_inputs(model, batch=4)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = model.loss(codes).item()
    for _ in range(15):
        optimizer.zero_grad()
        loss = model.loss(codes)
        loss.backward()
        optimizer.step()
    assert model.loss(codes).item() < 0.7 * first

"""3D PixelSNAIL priors: config, shapes, loss, causality, conditioning, parameter counts."""
import math

import pytest
import torch
import torch.nn.functional as F

from genvid.errors import GenvidError, ParamError
from genvid.models.vq.causal_conv import CausalConv3d, rows_taps
from genvid.models.vq.pixelsnail3d import (
    GatedResidual, PixelSNAIL3d, PixelSNAILConfig, bits_per_code, code_cross_entropy, count_parameters)

torch.set_num_threads(1)

TOP = dict(num_codes=32, shape=(3, 4, 4), channels=32, res_blocks=1, snail_blocks=2, kernel_size=3, attention=True,
           heads=2, key_channels=8, value_channels=16, dropout=0.1)
BOTTOM = dict(num_codes=32, shape=(2, 8, 8), channels=32, res_blocks=1, snail_blocks=2, kernel_size=3,
              attention=False, cond_shape=(1, 4, 4), cond_num_codes=16, cond_res_blocks=1, dropout=0.1)
# The bottom prior's setting (no attention) on a grid its 4 layers span
COVER = dict(num_codes=16, shape=(3, 4, 4), channels=16, res_blocks=2, snail_blocks=2, kernel_size=3,
             attention=False, cond_shape=(3, 2, 2), cond_num_codes=8, cond_res_blocks=1, dropout=0.1)


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
        PixelSNAILConfig.from_dict({**TOP, "chanels": 64}, section="prior_top")
    with pytest.raises(ParamError, match="prior.kernel_size must be odd and >= 3, got 4"):
        PixelSNAILConfig.from_dict({**TOP, "kernel_size": 4})
    with pytest.raises(ParamError, match="prior.dropout must be < 1, got 1.5"):
        PixelSNAILConfig.from_dict({**TOP, "dropout": 1.5})
    with pytest.raises(ParamError, match="not a multiple of the top grid"):
        PixelSNAILConfig.from_dict({**BOTTOM, "shape": [8, 16, 16], "cond_shape": [3, 8, 8]})
    with pytest.raises(ParamError, match="prior.channels is missing"):  # sizes have no defaults
        PixelSNAILConfig.from_dict({k: v for k, v in TOP.items() if k != "channels"})
    cfg = PixelSNAILConfig.from_dict({**BOTTOM, "shape": [4, 8, 8], "cond_shape": [2, 4, 4]})  # lists from YAML
    assert cfg.shape == (4, 8, 8) and cfg.cond_shape == (2, 4, 4) and cfg.length == 256
    for params in (TOP, BOTTOM, COVER):
        PixelSNAILConfig.from_dict(params)


def test_gated_residual_is_x_plus_a_times_sigmoid_b():
    torch.manual_seed(0)
    layer = GatedResidual(4, CausalConv3d(4, 4, rows_taps(3, stem=False)), dropout=0.0)
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


def test_without_attention_every_earlier_position_reaches_every_later_one():
    """No blind spot (docs/design.md §6): in the bottom prior's setting (convolutions only) the logits at
    every position, the last one included, have a non-zero gradient w.r.t. the embedded code at
    every earlier position, and zero at it and after. A single masked 3x3x3 stack fails this at
    30 of these 48 positions (the upper right of the current frame, the bottom of the previous
    frame), though not at the last one."""
    model = build(COVER)
    codes, cond = random_inputs(model, batch=1)
    x0 = model.embed_codes(codes).requires_grad_(True)
    model.embed_codes = lambda _codes: x0
    logits = model(codes, cond).flatten(2)
    n = model.config.length
    for i in [n - 1, *range(n - 1)]:
        (grad,) = torch.autograd.grad(logits[0, :, i].sum(), x0, retain_graph=True)
        per_position = grad.abs().sum(1).flatten()
        assert (per_position[i:] == 0).all(), f"position {i} sees the future"
        unseen = (per_position[:i] == 0).nonzero().flatten().tolist()
        assert not unseen, f"position {i} does not see earlier positions {unseen}"


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
        (codes, cond[:, :, :2], r"cond \(top\) codes are on grid \(1, 2, 4\) but this bottom prior was built "
                                r"for the top grid \(1, 4, 4\)"),
        (codes, cond + 16, "cond \\(top\\) codes contain index .* but the prior has K=16"),
        (codes, cond[:1], "cond has batch size 1"),
    ]
    for bad_codes, bad_cond, message in cases:
        with pytest.raises(GenvidError, match=message) as err:
            model.check_inputs(bad_codes, bad_cond)
        assert "\n" not in str(err.value)


def test_the_bottom_prior_must_be_built_for_the_top_prior_it_is_given():
    top, bottom = PixelSNAILConfig.from_dict(TOP), PixelSNAILConfig.from_dict(BOTTOM)
    bottom.check_condition(PixelSNAILConfig.from_dict({**TOP, "shape": [1, 4, 4], "num_codes": 16}))
    with pytest.raises(GenvidError) as err:
        bottom.check_condition(top)
    assert str(err.value) == ("the bottom prior was built for top codes on grid (1, 4, 4) with K=16, but the top "
                              "prior models grid (3, 4, 4) with K=32")
    with pytest.raises(GenvidError, match="unconditional"):
        top.check_condition(top)


@pytest.mark.parametrize("attention", [True, False])
def test_parameter_count_follows_the_size_arithmetic(attention):
    """The module docstring's count: per layer 26 C^2 + 9 C (three convs of 10/6/2 taps, two
    1x1 links without biases, three C -> 2C gate convs), stems 22 C^2 + 3 C, embedding and head,
    attention (its gated residual's link from the attention output has no bias either)."""
    c, k, layers, blocks, heads, dk, dv = 8, 5, 2, 3, 2, 4, 6
    cfg = PixelSNAILConfig(num_codes=k, shape=(2, 4, 4), channels=c, res_blocks=layers, snail_blocks=blocks,
                           kernel_size=3, attention=attention, heads=heads, key_channels=dk, value_channels=dv)
    per_layer = 26 * c * c + 9 * c
    attn = ((c + 3) * heads * dk + heads * dk + (2 * c + 3) * heads * (dk + dv) + heads * (dk + dv)
            + (c * c + c) + heads * dv * c + (2 * c * c + 2 * c))
    expected = (k * c + 22 * c * c + 3 * c + blocks * layers * per_layer + (c * k + k)
                + (blocks * attn if attention else 0))
    assert count_parameters(cfg) == expected


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


@pytest.mark.parametrize("params", [TOP, BOTTOM])
def test_checkpointed_blocks_give_the_same_loss_and_gradients_bit_for_bit(params):
    """Issue 25 item 3: recomputing each SNAIL block in the backward (dropout on: the recomputation
    must draw the same masks) changes no bit of the loss or of any gradient, and keeps less for it."""
    def step(checkpoint: bool):
        model = build({**params, "checkpoint": checkpoint}).train()
        codes, cond = random_inputs(model)
        torch.manual_seed(5)
        saved = []
        with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.numel()) or t, lambda t: t):
            loss = model.loss(codes, cond)
        loss.backward()
        return loss, [p.grad for p in model.parameters()], sum(saved)

    (loss, grads, kept), (loss_ck, grads_ck, kept_ck) = step(False), step(True)
    assert torch.equal(loss, loss_ck) and all(torch.equal(a, b) for a, b in zip(grads, grads_ck))
    assert kept_ck < 0.6 * kept
    with torch.no_grad():  # no graph, nothing to recompute: the plain forward
        model = build({**params, "checkpoint": True})
        assert torch.equal(model(*random_inputs(model)), build(params)(*random_inputs(model)))


def _logits_and_codes(shape, seed=0):
    b, k, *grid = shape
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g) * 3, torch.randint(0, k, (b, *grid), generator=g)


@pytest.mark.parametrize("shape", [(3, 7, 2, 4, 5), (2, 512, 4, 8, 8), (1, 16, 1, 1, 1)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_code_cross_entropy_is_bitwise_cross_entropy_on_cpu(shape, reduction):
    """The flat NLL (deterministic on CUDA) gives F.cross_entropy's bits, values and gradients."""
    logits, codes = _logits_and_codes(shape)
    a, b = logits.clone().requires_grad_(), logits.clone().requires_grad_()
    expected = F.cross_entropy(a, codes, reduction=reduction)
    got = code_cross_entropy(b, codes, reduction=reduction)
    assert got.shape == expected.shape == ((shape[0], *shape[2:]) if reduction == "none" else ())
    assert torch.equal(got, expected)
    weights = torch.rand(expected.shape, generator=torch.Generator().manual_seed(5))
    (expected * weights).sum().backward()
    (got * weights).sum().backward()
    assert torch.equal(a.grad, b.grad)


def test_code_cross_entropy_under_bf16_autocast_matches_cross_entropy():
    logits, codes = _logits_and_codes((4, 64, 2, 4, 4))
    conv = torch.nn.Conv3d(64, 64, 1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        half = conv(logits)
        expected, got = F.cross_entropy(half, codes), code_cross_entropy(half, codes)
    assert half.dtype == torch.bfloat16 and got.dtype == torch.float32 and torch.equal(got, expected)


def test_code_cross_entropy_rejects_mismatched_shapes_and_reductions():
    logits, codes = _logits_and_codes((2, 8, 2, 3, 3))
    with pytest.raises(GenvidError, match=r"logits of shape \[2, 8, 2, 3, 3\] do not match codes of shape \[2, 3, 3\]"):
        code_cross_entropy(logits, codes[:, 0])
    with pytest.raises(GenvidError, match="reduction must be"):
        code_cross_entropy(logits, codes, reduction="batchmean")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_code_cross_entropy_runs_on_cuda_in_deterministic_mode():
    """F.cross_entropy over a grid raises here (nll_loss2d); the flat form must not, and must
    agree with the CPU to float32 rounding, gradients included."""
    logits, codes = _logits_and_codes((4, 512, 2, 8, 8))
    cpu = logits.clone().requires_grad_()
    code_cross_entropy(cpu, codes).backward()
    was = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        runs = []
        for _ in range(2):
            x = logits.cuda().requires_grad_()
            loss = code_cross_entropy(x, codes.cuda())
            loss.backward()
            total = code_cross_entropy(x.detach(), codes.cuda(), reduction="sum")
            runs.append((loss.detach().cpu(), x.grad.cpu(), total.cpu()))
    finally:
        torch.use_deterministic_algorithms(was)
    assert all(torch.equal(u, v) for u, v in zip(*runs))  # the same bits twice
    torch.testing.assert_close(runs[0][1], cpu.grad, rtol=1e-5, atol=1e-9)
    torch.testing.assert_close(runs[0][0], code_cross_entropy(logits, codes), rtol=1e-5, atol=0)


def test_pointwise_is_w_x_at_every_position_plus_bias_or_summand():
    torch.manual_seed(0)
    pw, bare = GatedResidual(4, torch.nn.Identity(), 0.0, aux_channels=3).conv2, \
        GatedResidual(4, torch.nn.Identity(), 0.0, aux_channels=3).aux
    x, y, add = torch.randn(2, 4, 2, 3, 3), torch.randn(2, 3, 2, 3, 3), torch.randn(2, 4, 2, 3, 3)
    expected = torch.einsum("oc,bcthw->bothw", pw.weight, x) + pw.bias.view(1, -1, 1, 1, 1)
    torch.testing.assert_close(pw(x), expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(pw(x, add=expected), 2 * expected, rtol=1e-5, atol=1e-6)
    assert bare.bias is None  # a link adds to conv1's output, whose bias it would duplicate
    torch.testing.assert_close(bare(y, add=add), add + torch.einsum("oc,bcthw->bothw", bare.weight, y),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_dropout_draws_the_masks_and_values_of_f_dropout(p):
    """One ATen op instead of F.dropout's four on the CPU, bit for bit the same values and gradients
    from the same generator state; the identity in eval mode or at p = 0."""
    from genvid.models.vq.pixelsnail3d import Dropout
    x = torch.randn(3, 8, 5, 7, requires_grad=True)
    torch.manual_seed(3)
    ours = Dropout(p).train()(x)
    (grad_ours,) = torch.autograd.grad(ours.square().sum(), x)
    torch.manual_seed(3)
    ref = F.dropout(x, p, training=True)
    (grad_ref,) = torch.autograd.grad(ref.square().sum(), x)
    assert torch.equal(ours, ref) and torch.equal(grad_ours, grad_ref)
    assert 0 < (ours == 0).float().mean() < 1
    assert Dropout(p).eval()(x) is x and Dropout(0.0).train()(x) is x

"""genvid.device: params device.precision, device.channels_last and device.compile (issue 25)."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from conftest import ROOT, TINY_AT_32
from genvid import params as P
from genvid.device import autocast, channels_last_format, compile_units, place, to_channels_last
from genvid.errors import ParamError
from genvid.models import registry
from genvid.models.vq.causal_conv import CausalConv3d, frame_taps
from genvid.models.vq.pixelsnail3d import Conditioning, PixelSNAIL3d, PixelSNAILConfig, SnailBlock, Stem
from genvid.params import top_level
from genvid.profiles import apply, load_profile
from genvid.train import TrainConfig, fit


def net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv3d(2, 4, 3, padding=1), nn.ReLU(), nn.Flatten(2), nn.Linear(4 * 4 * 4, 3),
                         nn.Unflatten(1, (4, 1)), nn.Conv2d(4, 2, (1, 1)))


def test_every_4d_and_5d_tensor_becomes_channels_last_with_its_values_and_identity():
    model = net()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    params = list(model.parameters())
    assert to_channels_last(model) is model and list(model.parameters()) == params  # an optimiser keeps stepping them
    for name, t in model.state_dict().items():
        assert torch.equal(t, before[name])
        fmt = {5: torch.channels_last_3d, 4: torch.channels_last}.get(t.dim())
        assert fmt is None or t.is_contiguous(memory_format=fmt), name
        assert fmt is not None or t.is_contiguous(), name
    assert model[0].weight.stride() == (54, 1, 18, 6, 2)  # [4, 2, 3, 3, 3]: channels fastest (NDHWC)
    assert channels_last_format(torch.zeros(2, 3)) is None


def test_a_channels_last_convolution_returns_channels_last_activations_from_contiguous_inputs():
    """The layout spreads from the weights (cuDNN does so in 2D and 3D; the CPU in 2D)."""
    conv = to_channels_last(nn.Conv2d(2, 4, 3, padding=1))
    x = torch.randn(1, 2, 5, 5)
    y = conv(x)
    assert x.is_contiguous() and y.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(y, nn.functional.conv2d(x, conv.weight.contiguous(), conv.bias, padding=1))


def test_place_moves_and_converts_only_when_asked():
    assert place(net(), "cpu")[0].weight.is_contiguous()
    assert place(net(), "cpu", channels_last=True)[0].weight.is_contiguous(memory_format=torch.channels_last_3d)


def test_autocast_is_bf16_when_asked_and_a_no_op_for_fp32():
    a, b = torch.randn(4, 4), torch.randn(4, 4)
    with autocast("cpu", "fp32"):
        assert (a @ b).dtype == torch.float32
    with autocast("cpu", "bf16"):
        assert (a @ b).dtype == torch.bfloat16


@pytest.mark.parametrize("key", ["channels_last", "compile"])
def test_the_device_section_takes_channels_last_and_compile_as_bools(key):
    assert getattr(top_level({"device": {"device": "cpu", "precision": "bf16", key: True}}, "device"), key) is True
    assert getattr(top_level({"device": {"device": "cpu"}}, "device"), key) is False
    with pytest.raises(ParamError, match=key):
        top_level({"device": {"device": "cpu", key: "yes"}}, "device")


def _train(tmp, channels_last: bool, steps: int = 4) -> nn.Module:
    model = net()
    data = TensorDataset(torch.randn(8, 2, 4, 4, 4, generator=torch.Generator().manual_seed(1)))
    cfg = TrainConfig(steps=steps, batch_size=2, lr=1e-2, val_every=steps, log_every=1, ckpt_every=2, seed=3)
    fit(model, lambda m, b, step: (m(b[0]).square().mean(), {}), data, None, cfg, tmp, "cl", desc="cl",
        channels_last=channels_last)
    return model


def test_fit_trains_channels_last_deterministically_and_resumes_exactly(tmp_path):
    """fit(channels_last=True) keeps the layout through AdamW's steps and a resume from its checkpoint."""
    once = _train(tmp_path / "a", True)
    assert once[0].weight.is_contiguous(memory_format=torch.channels_last_3d)
    again = _train(tmp_path / "b", True)
    _train(tmp_path / "c", True, steps=2)
    resumed = _train(tmp_path / "c", True)  # from the step-2 checkpoint
    for a, b, c in zip(once.state_dict().values(), again.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b) and torch.equal(a, c)
    plain = _train(tmp_path / "d", False)
    for a, b in zip(once.parameters(), plain.parameters()):  # the same maths, perhaps other kernels
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


PIXEL_NETWORKS = sorted(name for name, spec in registry.MODELS.items() if spec.network is not None)


@pytest.mark.parametrize("name", PIXEL_NETWORKS)
def test_every_network_generates_the_same_futures_with_channels_last_weights(name):
    """The sample stage places a loaded model channels-last (genvid.device.place): its generate path,
    which training does not run, must take the layout (no view of permuted memory) and predict the
    same futures up to rounding."""
    tiny = apply(P.read_params(ROOT / "params.yaml"), load_profile("tiny", ROOT / "profiles"))
    spec = registry.get(name)
    torch.manual_seed(0)
    model = spec.network({**tiny["models"][name], **TINY_AT_32.get(name, {})}, 3, 32, 4).eval()
    context = torch.rand(2, 4, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    extra = {"cond": torch.randn(2, 7, 3, generator=torch.Generator().manual_seed(3))} if spec.conditioning else {}
    with torch.no_grad():
        plain = model.generate(context, 3, 2, torch.Generator().manual_seed(1), **extra)
        cl = place(model, "cpu", channels_last=True).generate(context, 3, 2, torch.Generator().manual_seed(1), **extra)
    torch.testing.assert_close(cl, plain, rtol=1e-4, atol=1e-4)


# ----------------------------------------------------------------------------- device.compile

PRIOR = dict(num_codes=8, shape=(2, 4, 4), channels=8, res_blocks=2, snail_blocks=2, kernel_size=3, heads=1,
             key_channels=4, value_channels=4, dropout=0.2)


def prior(**overrides) -> PixelSNAIL3d:
    torch.manual_seed(0)
    return PixelSNAIL3d(PixelSNAILConfig(**{**PRIOR, "attention": True, **overrides}))


def test_compile_units_compiles_the_marked_blocks_and_leaves_the_parameters_and_state_dict():
    import torch._inductor.config as inductor

    model = prior(attention=False, cond_shape=(1, 2, 2), cond_res_blocks=1)
    keys, params = list(model.state_dict()), list(model.parameters())
    assert compile_units(model) is model and list(model.state_dict()) == keys and list(model.parameters()) == params
    compiled = {type(m).__name__ for m in model.modules() if m._compiled_call_impl is not None}
    assert compiled == {Stem.__name__, SnailBlock.__name__, Conditioning.__name__}
    assert inductor.deterministic  # no benchmark-chosen kernels: the compiled bytes do not depend on timings
    assert not any(m._compiled_call_impl is not None for m in prior().modules())  # nothing compiled unasked


def _fit_prior(tmp, steps: int = 4, **overrides) -> PixelSNAIL3d:
    model = prior(**overrides)
    codes = torch.randint(0, 8, (8, 2, 4, 4), generator=torch.Generator().manual_seed(1))
    cfg = TrainConfig(steps=steps, batch_size=2, lr=1e-2, val_every=4, log_every=1, ckpt_every=2, seed=3)
    fit(model, lambda m, b, step: (m.loss(b[0]), {}), TensorDataset(codes), None, cfg, tmp, "c", desc="c", compile=True)
    return model


def test_a_compiled_causal_conv_builds_the_eager_kernel_and_its_gradient_bit_for_bit():
    """Compiled, CausalConv3d.kernel takes its pads-and-cat path; Inductor's copies give the eager scatter's bits."""
    torch.manual_seed(0)
    conv = CausalConv3d(3, 2, frame_taps(3, stem=False))
    upstream = torch.randn(2, 3, *conv.box)

    def kernel_and_grad(kernel_fn) -> tuple[torch.Tensor, torch.Tensor]:
        conv.weight.grad = None
        kernel = kernel_fn()
        (kernel * upstream).sum().backward()
        return kernel.detach(), conv.weight.grad

    eager, compiled = kernel_and_grad(conv.kernel), kernel_and_grad(torch.compile(conv.kernel, fullgraph=True))
    assert all(torch.equal(a, b) for a, b in zip(eager, compiled))


def test_a_compiled_prior_trains_deterministically_resumes_exactly_and_recomputes_blocks_alike(tmp_path):
    """device.compile: two trainings give the same bytes, a resume from the step-2 checkpoint too (the
    restored RNG seeds Inductor's dropout), and recomputing the SNAIL blocks in the backward
    (prior.checkpoint) draws the same masks; in eval mode the compiled blocks compute the eager logits
    up to rounding, and the weights load into an eager prior."""
    once, again = _fit_prior(tmp_path / "a"), _fit_prior(tmp_path / "b")
    _fit_prior(tmp_path / "c", steps=2)
    resumed = _fit_prior(tmp_path / "c")
    recomputed = _fit_prior(tmp_path / "d", checkpoint=True)
    for name, a in once.state_dict().items():
        for other in (again, resumed, recomputed):
            assert torch.equal(a, other.state_dict()[name]), name
    assert not torch.equal(once.state_dict()["head.weight"], prior().state_dict()["head.weight"])  # it trained
    eager = prior()
    eager.load_state_dict(once.state_dict())
    codes = torch.randint(0, 8, (3, 2, 4, 4), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(once.eval()(codes), eager.eval()(codes), rtol=1e-4, atol=1e-5)

"""genvid.models.vq.overlap_add: nn.ConvTranspose3d's sum as a matrix product and an overlap-add (the VQ-VAE
decoder's last layer, whose oneDNN kernel rounds by the CPU's caches: docs/reproducibility.md)."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from conftest import ROOT, venv_env
from genvid.errors import GenvidError
from genvid.models.vq.overlap_add import OverlapAddConvTranspose3d
from genvid.models.vq.vqvae3d import BOTTOM_KERNEL, BOTTOM_PAD, BOTTOM_STRIDE

SHAPES = [  # (C_in, C_out, kernel, stride, padding, input shape)
    (64, 3, BOTTOM_KERNEL, BOTTOM_STRIDE, BOTTOM_PAD, (2, 64, 4, 8, 8)),  # the VQ-VAE decoder's last layer
    (5, 2, (2, 2, 2), (1, 1, 1), (0, 0, 0), (1, 5, 3, 4, 5)),
    (4, 3, (4, 4, 4), (2, 2, 2), (1, 1, 1), (2, 4, 3, 5, 4)),
    (4, 3, (2, 4, 6), (2, 2, 3), (0, 1, 2), (2, 4, 3, 2, 4)),
    (3, 1, (3, 3, 3), (1, 1, 1), (2, 0, 1), (1, 3, 4, 4, 4)),
]


@pytest.mark.parametrize("c_in, c_out, kernel, stride, padding, shape", SHAPES)
def test_it_computes_torchs_transposed_convolution_and_its_gradients(c_in, c_out, kernel, stride, padding, shape):
    torch.manual_seed(0)
    layer = OverlapAddConvTranspose3d(c_in, c_out, kernel, stride, padding)
    x = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    layer = layer.double()
    ours = layer(x)
    theirs = F.conv_transpose3d(x, layer.weight, layer.bias, layer.stride, layer.padding)
    assert ours.shape == theirs.shape
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)
    g = torch.randn_like(ours)
    for a, b in zip(torch.autograd.grad(ours, (x, layer.weight, layer.bias), g),
                    torch.autograd.grad(theirs, (x, layer.weight, layer.bias), g)):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-11)


def test_a_hand_computed_case():
    """Two inputs 1, 2 through taps 3, 5 along the last axis: stride 1 overlaps the patches (3, 5+6, 10),
    stride 2 lays them side by side (3, 5, 6, 10); padding 1 crops one voxel from each end."""
    x = torch.tensor([1.0, 2.0]).view(1, 1, 1, 1, 2)
    for stride, padding, expected in ((1, 0, [3.0, 11.0, 10.0]), (2, 0, [3.0, 5.0, 6.0, 10.0]), (2, 1, [5.0, 6.0])):
        layer = OverlapAddConvTranspose3d(1, 1, (1, 1, 2), (1, 1, stride), (0, 0, padding))
        with torch.no_grad():
            layer.weight.copy_(torch.tensor([3.0, 5.0]).view(1, 1, 1, 1, 2))
            layer.bias.fill_(0.5)
            assert layer(x).flatten().tolist() == [v + 0.5 for v in expected]


def test_it_is_a_drop_in_for_nn_conv_transpose3d():
    """The same parameters, initial values and state_dict keys: the VQ-VAE's checkpoints and init are unchanged."""
    torch.manual_seed(3)
    ours = OverlapAddConvTranspose3d(8, 3, BOTTOM_KERNEL, BOTTOM_STRIDE, BOTTOM_PAD)
    torch.manual_seed(3)
    theirs = torch.nn.ConvTranspose3d(8, 3, BOTTOM_KERNEL, BOTTOM_STRIDE, BOTTOM_PAD)
    assert isinstance(ours, torch.nn.ConvTranspose3d)
    assert ours.state_dict().keys() == theirs.state_dict().keys()
    for key, value in theirs.state_dict().items():
        assert torch.equal(ours.state_dict()[key], value), key


_UNDER_ISA = """
import hashlib, sys
from genvid.determinism import pin_environment
pin_environment(2)
import torch, torch.nn.functional as F
from genvid.models.vq.overlap_add import OverlapAddConvTranspose3d
torch.manual_seed(1)
layer = OverlapAddConvTranspose3d(64, 3, (4, 8, 8), (2, 4, 4), (1, 2, 2))
x = torch.randn(2, 64, 4, 8, 8, requires_grad=True)
def digest(*ts):
    return hashlib.sha256(b"".join(t.detach().numpy().tobytes() for t in ts)).hexdigest()[:16]
ours = layer(x)
theirs = F.conv_transpose3d(x, layer.weight, layer.bias, layer.stride, layer.padding)
print(digest(ours, *torch.autograd.grad(ours.square().sum(), (x, layer.weight, layer.bias))),
      digest(theirs, *torch.autograd.grad(theirs.square().sum(), (x, layer.weight, layer.bias))))
"""


def test_its_bits_do_not_depend_on_the_kernels_onednn_dispatches_to():
    """What parts CPU generations is oneDNN's choice of kernel, which no pin holds; lowering the instruction set it
    may use (the pins keep a lower level: genvid.determinism) stands in for another CPU. torch's own transposed
    convolution changes its bits with the level; the overlap-add's forward and gradients do not: no oneDNN."""
    seen = {}
    for isa in ("AVX2", "SSE41"):
        out = subprocess.run([sys.executable, "-c", _UNDER_ISA], cwd=ROOT, capture_output=True, text=True,
                             env={**venv_env(), "ONEDNN_MAX_CPU_ISA": isa})
        assert out.returncode == 0, out.stderr[-2000:]
        seen[isa] = out.stdout.split()
    assert seen["AVX2"][0] == seen["SSE41"][0]
    assert seen["AVX2"][1] != seen["SSE41"][1]  # the stand-in bites: oneDNN's own layer did change


@pytest.mark.parametrize("kwargs, message", [
    (dict(kernel_size=(4, 6, 8), stride=(2, 4, 4), padding=0), "must be whole strides"),
    (dict(kernel_size=2, stride=1, padding=2), "padding (2, 2, 2) must be below the kernel"),
])
def test_a_layer_it_cannot_compute_is_refused_in_one_line(kwargs, message):
    with pytest.raises(GenvidError, match=message.replace("(", r"\(").replace(")", r"\)")):
        OverlapAddConvTranspose3d(2, 1, **kwargs)


def test_a_wrong_input_is_refused_in_one_line():
    layer = OverlapAddConvTranspose3d(4, 3, 2, 2)
    with pytest.raises(GenvidError, match=r"expects \[B, 4, D, H, W\], got \[1, 3, 2, 2, 2\]"):
        layer(torch.zeros(1, 3, 2, 2, 2))
    with pytest.raises(GenvidError, match="no output_size"):
        layer(torch.zeros(1, 4, 2, 2, 2), output_size=(4, 4, 4))

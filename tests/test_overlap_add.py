"""genvid.models.vq.overlap_add: nn.ConvTranspose3d's sum as a matrix product and an overlap-add (the VQ-VAE
decoder's last layer, whose oneDNN kernel rounds by the CPU's caches: docs/reproducibility.md)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

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


def test_a_clips_output_does_not_depend_on_its_batch_or_the_threads():
    """Each output row is one matrix product row: the same bits alone or beside other clips, on 1 or 2 threads."""
    torch.manual_seed(1)
    layer = OverlapAddConvTranspose3d(64, 3, BOTTOM_KERNEL, BOTTOM_STRIDE, BOTTOM_PAD)
    x = torch.randn(3, 64, 4, 8, 8)
    threads = torch.get_num_threads()
    try:
        with torch.no_grad():
            torch.set_num_threads(2)
            batch = layer(x)
            torch.set_num_threads(1)
            assert torch.equal(layer(x), batch)
            for i in range(3):
                assert torch.equal(layer(x[i:i + 1])[0], batch[i]), i
    finally:
        torch.set_num_threads(threads)


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

"""Causal 3D convolutions: each stack's taps read only what its features may know, and the
convolution is the sum over its taps of shifted inputs, its dense kernel built alike eagerly and compiled."""
import pytest
import torch

from genvid.models.vq.causal_conv import CausalConv3d, frame_taps, row_taps, rows_taps

torch.set_num_threads(1)


@pytest.mark.parametrize("k", [3, 5])
def test_each_stack_reads_only_what_its_features_may_know(k):
    """f(t) may know frames < t; v(t, h) the codes before row (t, h); h(t, h, w) the codes before
    (t, h, w). A stem tap reads a code, which must lie in that set; a layer tap reads the same
    stack's feature at the offset, whose set must lie inside the output's."""
    r = k // 2
    stem_ok = {frame_taps: lambda dt, dh, dw: dt < 0,
               rows_taps: lambda dt, dh, dw: (dt, dh) < (0, 0),
               row_taps: lambda dt, dh, dw: (dt, dh, dw) < (0, 0, 0)}
    layer_ok = {frame_taps: lambda dt, dh, dw: dt <= 0,
                rows_taps: lambda dt, dh, dw: (dt, dh) <= (0, 0),
                row_taps: lambda dt, dh, dw: (dt, dh, dw) <= (0, 0, 0)}
    for taps, ok in stem_ok.items():
        assert all(ok(*o) for o in taps(k, stem=True))
    for taps, ok in layer_ok.items():
        assert all(ok(*o) for o in taps(k, stem=False))
    # the widths the receptive field argument and the size arithmetic rely on
    square = {(a, b) for a in range(-r, r + 1) for b in range(-r, r + 1)}
    assert set(frame_taps(k, stem=False)) == {(-1, 0, 0)} | {(0, a, b) for a, b in square}
    assert set(rows_taps(k, stem=False)) == {(0, a, b) for a in range(-r, 1) for b in range(-r, r + 1)}
    assert set(row_taps(k, stem=False)) == {(0, 0, b) for b in range(-r, 1)}
    assert len(frame_taps(k, stem=True)) == (k - 1) * k * k
    assert (len(rows_taps(k, stem=True)), len(row_taps(k, stem=True))) == (r * k, r)


def test_causal_conv_is_the_sum_over_its_taps_of_shifted_inputs():
    torch.manual_seed(0)
    taps = frame_taps(3, stem=False) + [(-2, 1, -1)]
    conv = CausalConv3d(4, 6, taps)
    assert conv.weight.numel() == 6 * 4 * 11  # only the taps are parameters
    x = torch.randn(2, 4, 3, 5, 5)
    expected = conv.bias.view(1, -1, 1, 1, 1).expand(2, -1, 3, 5, 5).clone()
    for i, (dt, dh, dw) in enumerate(conv.offsets):  # out[t, h, w] += W_i x[t + dt, h + dh, w + dw]
        shifted = torch.zeros_like(x)
        shifted[:, :, max(0, -dt):, max(0, -dh): 5 - max(0, dh), max(0, -dw): 5 - max(0, dw)] = \
            x[:, :, : 3 + min(0, dt) if dt else None, max(0, dh): 5 + min(0, dh), max(0, dw): 5 + min(0, dw)]
        expected = expected + torch.einsum("oc,bcthw->bothw", conv.weight[:, :, i], shifted)
    torch.testing.assert_close(conv(x), expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="later frame"):
        CausalConv3d(4, 4, [(1, 0, 0)])


@pytest.mark.parametrize("taps", [frame_taps(3, stem=False) + [(-2, 1, -1)], frame_taps(3, stem=False),
                                  frame_taps(5, stem=True), rows_taps(3, stem=True), row_taps(3, stem=True),
                                  rows_taps(3, stem=False), [(-2, -1, 1), (0, 1, -1)]])
@pytest.mark.parametrize("compiling", [False, True])
def test_causal_conv_kernel_holds_each_tap_at_its_offset_and_zeros_elsewhere(taps, compiling, monkeypatch):
    """kernel() builds the dense box by a scatter (eager) or from runs of taps, pads and one cat (under
    torch.compile, here faked): each weight lands at its offset, every other cell is an exact zero, and
    the weight's gradient is the kernel's at the taps."""
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: compiling)
    torch.manual_seed(0)
    conv = CausalConv3d(3, 2, taps)
    kernel = conv.kernel()
    assert kernel.shape == (2, 3, *conv.box)
    expected = torch.zeros(2, 3, *conv.box)
    for i, (dt, dh, dw) in enumerate(conv.offsets):
        expected[:, :, dt - conv.lo[0], dh - conv.lo[1], dw - conv.lo[2]] = conv.weight[:, :, i]
    assert torch.equal(kernel, expected)
    upstream = torch.randn_like(kernel)
    (kernel * upstream).sum().backward()
    at_taps = torch.stack([upstream[:, :, dt - conv.lo[0], dh - conv.lo[1], dw - conv.lo[2]]
                           for dt, dh, dw in conv.offsets], dim=2)
    assert torch.equal(conv.weight.grad, at_taps)

"""A transposed 3D convolution computed as one matrix product, so that its bits do not depend on the CPU
generation (docs/reproducibility.md, the VQ family across AMD generations).

    y[b, :, q·s + r - p] = Σ_{a < m} Σ_{c_in} x[b, c_in, q - a] · W[c_in, :, a·s + r]        (per axis; m = k / s)

Output block q (s voxels along each axis, offset r) is the sum of the patches of the m input voxels q - a that
cover it (overlap-add). Gathering those m^3 voxels' channels beside each other makes the whole layer one matrix
product, [blocks, m^3·C_in] @ [m^3·C_in, C_out·s_d·s_h·s_w], then a depth-to-space reshape and the crop by p.

``nn.ConvTranspose3d`` computes the same sum as oneDNN's backward-data pass of a 3D convolution, whose kernel
blocks the reduction by the CPU's caches: at the VQ-VAE decoder's last layer (64 channels to the frame's 3,
kernel 4×8×8, stride 2×4×4) an AMD EPYC Zen 3 rounds it otherwise than a Zen 4, a Zen 5 and an Intel Xeon, and
every VQ-family artefact after it differs. Here the only reduction is the matrix product, which MKL computes on
one code path on every CPU under genvid's pin (MKL_CBWR=COMPATIBLE; the ``linear`` and ``matmul`` op
fingerprints agree on every machine recorded); the rest is copies and one bias addition. Its parameters,
initialisation and state_dict keys are nn.ConvTranspose3d's, so it is a drop-in for it.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genvid.errors import GenvidError


class OverlapAddConvTranspose3d(nn.ConvTranspose3d):
    """nn.ConvTranspose3d (groups 1, dilation 1, no output padding, each kernel side a whole number of
    strides) as one matrix product: the same sum, generation-free bits."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride, padding=0, bias: bool = True):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, bias=bias)
        for k, s, p in zip(self.kernel_size, self.stride, self.padding):
            if k % s:
                raise GenvidError(f"OverlapAddConvTranspose3d: kernel {tuple(self.kernel_size)} must be whole "
                                  f"strides {tuple(self.stride)} along every axis")
            if p >= k:
                raise GenvidError(f"OverlapAddConvTranspose3d: padding {tuple(self.padding)} must be below the "
                                  f"kernel {tuple(self.kernel_size)}")

    def forward(self, x: Tensor, output_size=None) -> Tensor:
        if output_size is not None:
            raise GenvidError("OverlapAddConvTranspose3d takes no output_size (its output padding is 0)")
        if x.ndim != 5 or x.shape[1] != self.in_channels:
            raise GenvidError(f"OverlapAddConvTranspose3d expects [B, {self.in_channels}, D, H, W], got {list(x.shape)}")
        b, c_in, *grid = x.shape
        (sd, sh, sw), c_out = self.stride, self.out_channels
        md, mh, mw = (k // s for k, s in zip(self.kernel_size, self.stride))
        d, h, w = (n + m - 1 for n, m in zip(grid, (md, mh, mw)))  # output blocks of s_d x s_h x s_w voxels
        # block q gathers input voxel q - a through tap block a: every (a, e, f) shift of the padded input
        padded = F.pad(x.permute(0, 2, 3, 4, 1), (0, 0, mw - 1, mw - 1, mh - 1, mh - 1, md - 1, md - 1))
        shifts = [padded[:, md - 1 - a:md - 1 - a + d, mh - 1 - e:mh - 1 - e + h, mw - 1 - f:mw - 1 - f + w]
                  for a in range(md) for e in range(mh) for f in range(mw)]
        gathered = torch.stack(shifts, dim=4).reshape(b * d * h * w, -1)  # [blocks, (a, e, f, C_in)]
        # W [C_in, C_out, (m_d s_d), (m_h s_h), (m_w s_w)] -> [(a, e, f, C_in), (C_out, r_d, r_h, r_w)]
        taps = self.weight.view(c_in, c_out, md, sd, mh, sh, mw, sw).permute(2, 4, 6, 0, 1, 3, 5, 7)
        blocks = gathered @ taps.reshape(md * mh * mw * c_in, c_out * sd * sh * sw)
        full = blocks.view(b, d, h, w, c_out, sd, sh, sw).permute(0, 4, 1, 5, 2, 6, 3, 7)
        full = full.reshape(b, c_out, d * sd, h * sh, w * sw)
        pd, ph, pw = self.padding
        out = full[:, :, pd:full.shape[2] - pd, ph:full.shape[3] - ph, pw:full.shape[4] - pw]
        return out + self.bias.view(1, -1, 1, 1, 1) if self.bias is not None else out.contiguous()


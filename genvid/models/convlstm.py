"""A convolutional LSTM cell (Shi et al. 2015), the recurrent state of seed 001's models.

Seed 001 §8.1 and §8.2.2: the deterministic state h_t of VRNN, SRNN and RFN is a ConvLSTM with a
3×3 kernel, so the state keeps the spatial layout of the features::

    [i, f, o, g] = conv_k×k([x_t ‖ h_{t-1}])
    c_t = σ(f) ⊙ c_{t-1} + σ(i) ⊙ tanh(g)
    h_t = σ(o) ⊙ tanh(c_t)
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from genvid.errors import GenvidError

State = tuple[Tensor, Tensor]


class ConvLSTMCell(nn.Module):
    """One ConvLSTM step: ``cell(x, state) -> (h, c)``; ``state=None`` starts from zeros."""

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size: int = 3):
        super().__init__()
        if kernel_size % 2 != 1:
            raise GenvidError(f"ConvLSTM kernel_size must be odd (same padding), got {kernel_size}")
        self.in_channels, self.hidden_channels = in_channels, hidden_channels
        self.gates = nn.Conv2d(in_channels + hidden_channels, 4 * hidden_channels, kernel_size,
                               padding=kernel_size // 2)
        # Forget-gate bias 1 (Jozefowicz et al. 2015): the cell starts by keeping its memory.
        with torch.no_grad():
            self.gates.bias[hidden_channels:2 * hidden_channels].fill_(1.0)

    def initial_state(self, x: Tensor) -> State:
        """Zero (h, c) matching the batch and spatial size of the input ``x``."""
        b, _, height, width = x.shape
        zeros = x.new_zeros(b, self.hidden_channels, height, width)
        return zeros, zeros

    def forward(self, x: Tensor, state: State | None = None) -> State:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise GenvidError(f"ConvLSTM input must be [B, {self.in_channels}, H, W], got {list(x.shape)}")
        h, c = self.initial_state(x) if state is None else state
        i, f, o, g = self.gates(torch.cat([x, h], dim=1)).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c

"""Float maths that gives the same bits on every x86-64 CPU, Intel and AMD alike (issue 19).

torch's CPU ``Tensor.sqrt`` on float32 is not correctly rounded on tensors of more than 8 elements
(measured; MKL's vector maths by all signs): one ulp off for about 17 % of inputs on an AMD EPYC and
on an Intel Xeon alike, but on other inputs (tests/data/op_fingerprints/README.md), whatever ATEN_CPU_CAPABILITY or
MKL_CBWR say. Whatever divides by such a root depends on the CPU vendor: Adam's denominator (every
trained weight), LPIPS's unit-normalised features (every score). Measured on the default DAG: with
torch's Adam in the Dynamics motion classifier and torch's root in LPIPS, an Intel Xeon reproduced
74 of the 79 stages an AMD EPYC had locked, and the five that differed were that classifier and
what reads it or LPIPS on Dynamics.

- ``exact_sqrt``: the correctly rounded root, the same everywhere. Every float32 root genvid takes
  goes through it (tests/test_numerics.py checks the source for others).
- ``AdamW``: torch's single-tensor AdamW update step for step (``torch.optim.adam._single_tensor_adam``
  with decoupled weight decay, the same state layout), with ``exact_sqrt`` in the denominator; with
  ``weight_decay=0`` it is torch's Adam.
- ``make_adamw``: the training loop's optimiser, genvid's on the CPU; on a GPU torch's own (its
  multi-tensor kernels; CUDA's float32 sqrt is correctly rounded already).
"""
from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor


def exact_sqrt(x: Tensor) -> Tensor:
    """The correctly rounded square root of a float32 tensor, on any CPU.

    The float64 root, then rounded to float32: a float64 root within one float64 ulp of the true
    root rounds to the correctly rounded float32 root, because the root of a float32 lies at least
    2^-51 (relative) away from every float32 rounding midpoint, more than that ulp (2^-52).
    """
    if x.dtype != torch.float32:
        raise TypeError(f"exact_sqrt takes float32 tensors, got {x.dtype}")
    return x.double().sqrt_().float()


class AdamW(torch.optim.Optimizer):
    """AdamW (Loshchilov & Hutter) with torch's update, with ``exact_sqrt`` in the denominator
    (``weight_decay=0``: Adam, bit for bit torch's with that root).

    State per parameter as torch's (``step`` a float32 scalar tensor, ``exp_avg``, ``exp_avg_sq``),
    so checkpoints and LR schedulers work the same.
    """

    def __init__(self, params: Iterable, lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2):
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):
        if closure is not None:
            raise ValueError("genvid's AdamW takes no closure")
        for group in self.param_groups:
            lr, (beta1, beta2), eps, weight_decay = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            for param in group["params"]:
                if param.grad is None:
                    continue
                if param.dtype != torch.float32 or param.grad.is_sparse:
                    raise TypeError(f"genvid's AdamW trains dense float32 parameters, got {param.dtype}")
                state = self.state[param]
                if not state:
                    state["step"] = torch.tensor(0.0, dtype=torch.float32)
                    state["exp_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(param, memory_format=torch.preserve_format)
                grad, exp_avg, exp_avg_sq = param.grad, state["exp_avg"], state["exp_avg_sq"]
                state["step"] += 1
                step = state["step"].item()

                param.mul_(1 - lr * weight_decay)
                exp_avg.lerp_(grad, 1 - beta1)
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                bias_correction1 = 1 - beta1 ** step
                bias_correction2 = 1 - beta2 ** step
                step_size = lr / bias_correction1
                denom = (exact_sqrt(exp_avg_sq) / bias_correction2 ** 0.5).add_(eps)
                param.addcdiv_(exp_avg, denom, value=-step_size)
        return None


def make_adamw(params: list[Tensor], device: torch.device, lr: float, betas: tuple[float, float], eps: float,
               weight_decay: float) -> torch.optim.Optimizer:
    """The loop's optimiser: genvid's vendor-independent AdamW on the CPU, torch's on a GPU."""
    if device.type == "cpu":
        return AdamW(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
    return torch.optim.AdamW(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)

"""How a run's networks compute on their device: params ``device.precision``, ``device.channels_last``
and ``device.compile``.

- ``precision: bf16`` runs the forward passes under bf16 autocast (weights, optimiser state and
  losses stay float32). On CUDA, deterministic cuDNN in bf16 measured 20x faster than in fp32 for
  the VQ-VAE's 3D convolutions (issue 25: 1,149 -> 57 ms a step on an H100) and two runs gave the
  same bytes. The CPU default stays fp32: the committed dvc.lock is fp32's bytes.
- ``channels_last: true`` stores every 4D weight channels-last (NHWC) and every 5D one
  channels-last-3d (NDHWC), the layouts cuDNN's fastest bf16 convolution kernels read. cuDNN returns
  channels-last activations from a channels-last weight, so the layout spreads through the network
  without touching its inputs (57 -> 35.6 ms a VQ-VAE step, same bytes over two runs; on the CPU only
  2D convolutions follow the weight, 3D ones their input's layout).
- ``compile: true`` compiles, for training, each block a model marks as a compile unit (a class
  attribute ``compile_unit = True``: the PixelSNAIL priors' stems, SNAIL blocks and conditioning stack)
  with torch.compile (Inductor). Inductor fuses each block's elementwise work (ELUs, dropout, the
  gates, the attention's masking) into a few generated kernels around the convolutions and matrix
  products, the remedy for priors that launch one kernel per ATen op (issue 25, counted by
  benchmarks/prior_ops.py: a training step of the thesis top prior dispatches 3,070 ATen ops eagerly
  and 783 compiled, the bottom prior 5,181 and 1,301). The blocks repeat, so one compiled graph
  serves them all.
  Inductor runs in its deterministic mode (genvid.determinism: no benchmark-chosen kernels) and
  draws dropout's masks with its own generator, seeded from torch's: two compiled trainings give
  the same bytes and a recomputed (checkpointed) block draws the same masks, but not those of an
  eager run. The train stage's passes after fitting run the compiled blocks too; the sample stage
  loads the networks eager (its cached sampler calls the layers' parts, never a whole block).

Each changes the bytes a run writes (other kernels, other rounding), so all three are params
that every training and sampling stage depends on.
"""
from __future__ import annotations

import torch
from torch import nn

PRECISIONS: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16}


def autocast(device: str | torch.device, precision: str) -> torch.autocast:
    """The autocast context of ``precision`` on ``device`` (a no-op context for fp32)."""
    dtype = PRECISIONS[precision]
    kind = torch.device(device).type
    return torch.autocast(kind if kind == "cuda" else "cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None)


def channels_last_format(t: torch.Tensor) -> torch.memory_format | None:
    """channels_last for a 4D tensor, channels_last_3d for a 5D one, None for any other rank."""
    return {4: torch.channels_last, 5: torch.channels_last_3d}.get(t.dim())


def to_channels_last(module: nn.Module) -> nn.Module:
    """``module`` with every 4D/5D parameter and buffer (and gradient) channels-last, in place.

    Values are unchanged, only strides; parameters keep their identity (an optimiser built before
    still steps them). ``nn.Module.to(memory_format=...)`` takes one format for every rank and
    raises on a 5D tensor given channels_last, hence one format per tensor here."""
    def convert(t: torch.Tensor) -> torch.Tensor:
        fmt = channels_last_format(t)
        return t if fmt is None else t.contiguous(memory_format=fmt)

    return module._apply(convert)


def compile_units(module: nn.Module) -> nn.Module:
    """Compile, in place, every submodule of ``module`` whose class sets ``compile_unit = True``
    (params ``device.compile``). Shapes are static (``dynamic=False``): a training batch keeps its
    shape, and a new shape (an evaluation batch) compiles once more. Parameters, state_dict and the
    module's identity are unchanged, so checkpoints load either way."""
    import torch._inductor.config as inductor

    inductor.deterministic = True  # genvid.determinism sets its environment variable; this holds it
    for sub in module.modules():
        if getattr(type(sub), "compile_unit", False):
            sub.compile(dynamic=False)
    return module


def place(module: nn.Module, device: str | torch.device, channels_last: bool = False) -> nn.Module:
    """``module`` on ``device``, channels-last when asked (params ``device.channels_last``), in place."""
    module.to(device)
    return to_channels_last(module) if channels_last else module

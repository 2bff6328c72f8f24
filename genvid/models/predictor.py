"""The Predictor contract (docs/design.md §3): context pixels in, sampled futures out.

Every video model is scored through one method::

    predict(context, horizon, num_samples, generator, cond=None) -> futures

- ``context``: uint8 [B, Tc, H, W, C], the context frames of B test clips and nothing else
  of the clip (no codes, no later frames, no clip index);
- ``cond``: float32 [B, Tc + horizon, A] or None, per-frame conditioning for the context and
  the horizon: the recorded actions (genvid.data.frames.CONDITIONING), row t the action after
  frame t. Only a model whose ModelSpec declares ``conditioning`` receives it, and the others
  refuse it. Future actions are inputs by design, the ones a user steers a learned simulator
  with; future frames never are (tests/test_predictors.py checks both);
- ``futures``: uint8 [B, num_samples, horizon, H, W, C], drawn from ``generator`` only, so
  the same generator state gives the same bytes.

A model that works on pixels in [0, 1] owns its loss and its sampler (nanoGPT style)::

    model.loss(frames, step) -> (loss, scalars)          # frames float [B, T, C, H, W] in [0, 1]
    model.generate(context, horizon, num_samples, generator) -> float [B, S, horizon, C, H, W]

(a conditioned model: ``loss(frames, step, cond)`` and ``generate(..., cond)``, cond float [B, T, A]),

and ``PixelPredictor`` turns it into a Predictor. Noise is drawn on ``generator``'s device
and moved to the model's, so CPU and GPU runs draw the same random numbers.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from genvid.config import INT_LIMIT
from genvid.errors import GenvidError, ParamError


@runtime_checkable
class Predictor(Protocol):
    def predict(self, context: Tensor, horizon: int, num_samples: int,
                generator: torch.Generator, cond: Tensor | None = None) -> Tensor: ...


def to_unit(frames: Tensor) -> Tensor:
    """uint8 [..., H, W, C] -> float32 [..., C, H, W] in [0, 1]."""
    return frames.movedim(-1, -3).float().div_(255.0)


def to_uint8(frames: Tensor) -> Tensor:
    """float [..., C, H, W] in [0, 1] -> uint8 [..., H, W, C] (clamped, rounded half to even)."""
    return frames.detach().float().clamp(0.0, 1.0).mul(255.0).round_().to(torch.uint8).movedim(-3, -1).cpu()


def check_context(context: Tensor, channels: int | None = None) -> None:
    if context.dtype != torch.uint8 or context.ndim != 5:
        raise GenvidError(f"context must be uint8 [B, Tc, H, W, C], got {context.dtype} {list(context.shape)}")
    if channels is not None and context.shape[-1] != channels:
        raise GenvidError(f"context frames have {context.shape[-1]} channels, the model expects {channels}")


def check_cond(cond: Tensor | None, context: Tensor, horizon: int, conditioned: bool) -> None:
    """A conditioned model needs ``cond`` float [B, Tc + horizon, A]; any other model refuses one."""
    if not conditioned:
        if cond is not None:
            raise GenvidError("this model takes no conditioning (its ModelSpec declares none), but cond was given")
        return
    if cond is None:
        raise GenvidError("this model is conditioned on per-frame inputs: predict needs cond [B, Tc + horizon, A]")
    b, tc = context.shape[:2]
    if not cond.dtype.is_floating_point or cond.ndim != 3 or tuple(cond.shape[:2]) != (b, tc + horizon):
        raise GenvidError(f"cond must be float [B, Tc + horizon, A] = [{b}, {tc + horizon}, A], "
                          f"got {cond.dtype} {list(cond.shape)}")


def sample_rows(context: Tensor, horizon: int, num_samples: int) -> Tensor:
    """A pixel model's ``generate`` preamble: check the counts, then repeat each clip's context
    ``num_samples`` times, sample-major per clip ([B, Tc, ...] -> [B*S, Tc, ...])."""
    if horizon < 1 or num_samples < 1:
        raise GenvidError(f"horizon and num_samples must be >= 1, got {horizon}, {num_samples}")
    return context.repeat_interleave(num_samples, dim=0)


def clips_per_call(model_params: dict, num_samples: int) -> int:
    """Test clips per ``predict`` call: ``sampling.batch_size`` rows (clips x samples), else one clip.
    Futures are seeded per call (by its first clip), so whoever redraws a run's futures uses this."""
    rows = model_params.get("sampling", {}).get("batch_size", num_samples)
    if isinstance(rows, bool) or not isinstance(rows, int) or not 1 <= rows <= INT_LIMIT:
        raise ParamError(f"sampling.batch_size must be an integer in [1, {INT_LIMIT:,}] (rows of clips x samples "
                         f"drawn together), got {rows!r}")
    return max(1, rows // num_samples)


def check_prediction(futures: Tensor, context: Tensor, horizon: int, num_samples: int) -> Tensor:
    """The contract's output shape and dtype, or a GenvidError saying what came back."""
    b, _, h, w, c = context.shape
    expected = (b, num_samples, horizon, h, w, c)
    if futures.dtype != torch.uint8 or tuple(futures.shape) != expected:
        raise GenvidError(f"predictor returned {futures.dtype} {list(futures.shape)}, "
                          f"expected uint8 {list(expected)}")
    return futures


class PixelPredictor:
    """A Predictor for a model with ``generate`` on [0, 1] pixels [B, T, C, H, W] (and per-frame
    ``cond`` when ``conditioned``)."""

    def __init__(self, model: nn.Module, device: torch.device | str = "cpu", conditioned: bool = False):
        self.model, self.device, self.conditioned = model.eval(), torch.device(device), conditioned

    @torch.no_grad()
    def predict(self, context: Tensor, horizon: int, num_samples: int,
                generator: torch.Generator, cond: Tensor | None = None) -> Tensor:
        check_context(context)
        check_cond(cond, context, horizon, self.conditioned)
        extra = {"cond": cond.float().to(self.device)} if self.conditioned else {}
        futures = self.model.generate(to_unit(context).to(self.device), horizon, num_samples, generator, **extra)
        return check_prediction(to_uint8(futures), context, horizon, num_samples)


class CopyLast:
    """The trivial baseline: the last context frame, repeated (deterministic, so every sample
    is the same)."""

    def predict(self, context: Tensor, horizon: int, num_samples: int,
                generator: torch.Generator, cond: Tensor | None = None) -> Tensor:
        check_context(context)
        check_cond(cond, context, horizon, conditioned=False)
        last = context[:, None, -1:]
        return last.expand(-1, num_samples, horizon, -1, -1, -1).contiguous()

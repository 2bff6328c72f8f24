"""The protocol's sampling loop: every future genvid scores on a protocol is drawn here, one way.

Stage ``sample`` (the leaderboard's futures and the long horizon's) and every protocol-scored ablation
(stage ``ablate``, genvid.ablation) call ``protocol_batches``, so a run and its ablation variants see
the same seeds, conditioning, precision and batching:

- ``per_call`` test clips per ``predict`` call, in the protocol's clip order;
- each call's generator seeded by ``seed_of(its first clip)`` (genvid.train.sampler.derived_seed of
  the ``sample.seed`` and, for another stream than the protocol's, the stream's number);
- the model sees the context frames only, plus, for a model that reads per-frame inputs, the clip's
  recorded ``cond`` for the context and the horizon (future actions are inputs by design);
- under ``autocast`` (params ``device.precision``: a no-op in fp32), without autograd.

With ``diagnostics``, the family's ``predict_with_diagnostics`` gives the same futures plus series that
see the whole clip (labelled as such in the samples file).
"""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Callable, ContextManager, Iterator

import numpy as np
import torch
from tqdm import tqdm


@dataclass(frozen=True)
class Batch:
    """One predict call's clips: ``rows`` of the protocol's clip list."""

    rows: slice
    real: np.ndarray  # uint8 [b, context + horizon, H, W, C]: the context and the true future
    futures: np.ndarray  # uint8 [b, num_samples, horizon, H, W, C]
    cond: np.ndarray | None  # float32 [b, context + horizon, A]: what a conditioned model was given
    series: dict[str, np.ndarray] = field(default_factory=dict)  # diagnostics only


def protocol_batches(predictor: Any, frames: Any, recorded: Any, starts: np.ndarray, context_frames: int,
                     horizon: int, num_samples: int, per_call: int, seed_of: Callable[[int], int], *,
                     diagnostics: bool = False, autocast: ContextManager | None = None,
                     desc: str | None = None) -> Iterator[Batch]:
    """The futures of the clips starting at ``starts`` in ``frames`` (uint8 [T, H, W, C], an array or an
    HDF5 dataset), ``per_call`` clips a call; ``recorded`` the frames' per-frame inputs [T, A] for a model
    that reads them, else None. A progress bar when ``desc`` is given."""
    length = context_frames + horizon
    firsts = range(0, len(starts), per_call)
    for first in (tqdm(firsts, desc=desc, unit="batch") if desc else firsts):
        rows = slice(first, min(first + per_call, len(starts)))
        real = np.stack([frames[int(a):int(a) + length] for a in starts[rows]])
        cond = None if recorded is None else np.stack([recorded[int(a):int(a) + length]
                                                       for a in starts[rows]]).astype(np.float32)
        given = {} if cond is None else {"cond": torch.from_numpy(cond)}
        generator = torch.Generator().manual_seed(seed_of(first))
        with torch.no_grad(), (autocast or nullcontext()):
            if diagnostics:
                futures, series = predictor.predict_with_diagnostics(torch.from_numpy(real), context_frames, horizon,
                                                                     num_samples, generator, **given)
            else:  # the context frames are the only frames predict sees: no later frame, no index
                futures, series = predictor.predict(torch.from_numpy(real[:, :context_frames]), horizon,
                                                    num_samples, generator, **given), {}
        yield Batch(rows, real, futures.numpy(), cond, {k: v.numpy() for k, v in series.items()})

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

With a ``BatchCache``, each call's futures are also kept on disk as it finishes, and a rerun after a kill reads
them back instead of drawing them again: a call's futures depend on its own generator alone, so the file the
rerun writes is the uninterrupted run's, byte for byte (a VQ prior's sampling on a GPU outlasted two device calls).
"""
from __future__ import annotations

import os
import shutil
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
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


SERIES = "series."  # a kept call's diagnostic series, beside its "futures"


class BatchCache:
    """The finished predict calls of one stage run, under ``folder/<identity>``: ``identity`` (genvid.io.fingerprint
    of everything the futures depend on: the model, the params, the seeds, the calls' size, the code) names the
    folder, so a rerun with anything changed finds none of another run's calls. ``clear`` once the output is
    written."""

    def __init__(self, folder: Path, identity: str):
        self.parent, self.folder = Path(folder), Path(folder) / identity[:32]

    def _path(self, tag: str, rows: slice) -> Path:  # the call's clips: a call of other rows is another call
        return self.folder / f"{tag}-{rows.start:09d}-{rows.stop:09d}.npz"

    def get(self, tag: str, rows: slice) -> dict[str, np.ndarray] | None:
        path = self._path(tag, rows)
        if not path.is_file():
            return None
        with np.load(path) as data:
            return {name: data[name] for name in data.files}

    def put(self, tag: str, rows: slice, arrays: dict[str, np.ndarray]) -> None:
        path = self._path(tag, rows)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:  # np.savez would add .npz to a name without it
            np.savez(f, **arrays)
        os.replace(tmp, path)  # a call is kept whole or not at all

    def count(self, tag: str) -> int:
        return len(list(self.folder.glob(f"{tag}-*.npz"))) if self.folder.is_dir() else 0

    def clear(self) -> None:
        """Remove every run's kept calls (this one's and any other identity's left by an older run)."""
        shutil.rmtree(self.parent, ignore_errors=True)


def protocol_batches(predictor: Any, frames: Any, recorded: Any, starts: np.ndarray, context_frames: int,
                     horizon: int, num_samples: int, per_call: int, seed_of: Callable[[int], int], *,
                     diagnostics: bool = False, autocast: ContextManager | None = None,
                     desc: str | None = None, cache: BatchCache | None = None, tag: str = "protocol") -> Iterator[Batch]:
    """The futures of the clips starting at ``starts`` in ``frames`` (uint8 [T, H, W, C], an array or an
    HDF5 dataset), ``per_call`` clips a call; ``recorded`` the frames' per-frame inputs [T, A] for a model
    that reads them, else None. A progress bar when ``desc`` is given; with ``cache``, the calls it holds under
    ``tag`` are read back, and the others kept there as they finish."""
    length = context_frames + horizon
    firsts = range(0, len(starts), per_call)
    for first in (tqdm(firsts, desc=desc, unit="batch") if desc else firsts):
        rows = slice(first, min(first + per_call, len(starts)))
        real = np.stack([frames[int(a):int(a) + length] for a in starts[rows]])
        cond = None if recorded is None else np.stack([recorded[int(a):int(a) + length]
                                                       for a in starts[rows]]).astype(np.float32)
        kept = None if cache is None else cache.get(tag, rows)
        if kept is not None:
            yield Batch(rows, real, kept["futures"], cond,
                        {k.removeprefix(SERIES): v for k, v in kept.items() if k.startswith(SERIES)})
            continue
        given = {} if cond is None else {"cond": torch.from_numpy(cond)}
        generator = torch.Generator().manual_seed(seed_of(first))
        with torch.no_grad(), (autocast or nullcontext()):
            if diagnostics:
                futures, series = predictor.predict_with_diagnostics(torch.from_numpy(real), context_frames, horizon,
                                                                     num_samples, generator, **given)
            else:  # the context frames are the only frames predict sees: no later frame, no index
                futures, series = predictor.predict(torch.from_numpy(real[:, :context_frames]), horizon,
                                                    num_samples, generator, **given), {}
        batch = Batch(rows, real, futures.numpy(), cond, {k: v.numpy() for k, v in series.items()})
        if cache is not None:
            cache.put(tag, rows, {"futures": batch.futures, **{SERIES + k: v for k, v in batch.series.items()}})
        yield batch

"""The samples file (SPEC §3): one per run; this module is its only writer and reader.

Layout, all uint8 frames [.., H, W, C]:

    real          [N, Tc + horizon, H, W, C]    the real test clips: context, then the true future
    predictions   [N, S, horizon, H, W, C]      the predictor's S futures per clip (context frames only in)
    extras/<name> [N, S', horizon, H, W, C]     optional named series; attrs ``label`` and
                                                ``sees_future`` (true: made with the real future,
                                                e.g. a reconstruction: an upper bound, never a prediction)
    episode, start, cluster  int64 [N]           where each clip comes from; ``cluster`` groups
                                                 dependent clips for the intervals (genvid.metrics.stats)
    cond          float32 [N, Tc + horizon, A]  only for a conditioned model: the per-frame inputs
                                                predict was given (attrs ``name``, ``columns``); those of
                                                the horizon are inputs the user chooses, not outcomes
    counterfactual/predictions  uint8 [M, K, S'', horizon, H, W, C]
                                                only where the benchmark has counterfactual clips
                                                (genvid.data.counterfactuals): the futures of its M
                                                clips under each of the K held action sequences
                                                (attrs ``sequences``, ``conditioned``: false for a model
                                                that reads no actions, whose K futures are then one
                                                prediction, drawn once)
    attrs: context_frames, horizon, num_samples, run, model, benchmark, seed

Every dataset is written with ``track_times=False`` and the attributes in sorted order, so
the bytes depend only on the content; the file appears only when complete (atomic rename).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import h5py
import numpy as np

from genvid.data.h5 import plain_attrs, read_h5
from genvid.errors import GenvidError
from genvid.io import atomic_path

INDEX_COLUMNS = ("episode", "start", "cluster")
COND = "cond"
COUNTERFACTUAL = "counterfactual/predictions"
REQUIRED_ATTRS = ("context_frames", "horizon", "num_samples")


@dataclass(frozen=True)
class Extra:
    samples: int  # S' (1 for a deterministic series)
    label: str
    sees_future: bool


@dataclass(frozen=True)
class Cond:
    """The per-frame conditioning a samples file carries: its frames-file name and columns."""

    name: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class CounterfactualPredictions:
    """A samples file's futures of the counterfactual clips under each held action sequence."""

    predictions: np.ndarray  # uint8 [M, K, S'', horizon, H, W, C]
    sequences: tuple[str, ...]
    conditioned: bool  # false: the model read no actions (the K futures of a clip are one prediction)


@dataclass(frozen=True)
class SamplesInfo:
    """A validated samples file's shape, series and attributes."""

    path: Path
    clips: int
    samples: int
    context_frames: int
    horizon: int
    height: int
    width: int
    channels: int
    extras: dict[str, Extra]
    attrs: dict[str, Any]
    cond: Cond | None = None

    @property
    def clip_len(self) -> int:
        return self.context_frames + self.horizon


class SamplesWriter:
    """Fill a samples file clip batch by clip batch (see ``write_samples``)."""

    def __init__(self, f: h5py.File, clips: int, frame: tuple[int, int, int], context: int, horizon: int,
                 samples: int, extras: dict[str, Extra], cond: Cond | None = None):
        self.file = f

        def frames(name: str, shape: tuple[int, ...]) -> h5py.Dataset:
            return f.create_dataset(name, (clips, *shape, *frame), np.uint8, track_times=False,
                                    chunks=(1, *shape, *frame))

        self.real = frames("real", (context + horizon,))
        self.predictions = frames("predictions", (samples, horizon))
        self.extras = {}
        for name, extra in sorted(extras.items()):
            ds = frames(f"extras/{name}", (extra.samples, horizon))
            ds.attrs["label"], ds.attrs["sees_future"] = extra.label, extra.sees_future
            self.extras[name] = ds
        self.index = {c: f.create_dataset(c, (clips,), np.int64, track_times=False) for c in INDEX_COLUMNS}
        self.cond = None
        if cond is not None:
            self.cond = f.create_dataset(COND, (clips, context + horizon, len(cond.columns)), np.float32,
                                         track_times=False)
            self.cond.attrs["columns"], self.cond.attrs["name"] = ",".join(cond.columns), cond.name

    def write(self, rows: slice, real: np.ndarray, predictions: np.ndarray,
              extras: dict[str, np.ndarray] | None = None, cond: np.ndarray | None = None,
              **index: np.ndarray) -> None:
        if (cond is None) != (self.cond is None):
            raise GenvidError(f"samples file: cond {'missing' if cond is None else 'given'} for a "
                              f"{'conditioned' if self.cond is not None else 'non-conditioned'} file")
        self.real[rows], self.predictions[rows] = real, predictions
        if self.cond is not None:
            self.cond[rows] = cond
        for name, ds in self.extras.items():
            ds[rows] = (extras or {})[name]
        for name, ds in self.index.items():
            ds[rows] = index[name]

    def counterfactual(self, cf: CounterfactualPredictions) -> None:
        """The futures of the benchmark's counterfactual clips (written once, whole)."""
        ds = self.file.create_dataset(COUNTERFACTUAL, data=np.ascontiguousarray(cf.predictions, dtype=np.uint8),
                                      track_times=False, chunks=(1, 1, *cf.predictions.shape[2:]))
        ds.attrs["conditioned"], ds.attrs["sequences"] = bool(cf.conditioned), ",".join(cf.sequences)


@contextlib.contextmanager
def write_samples(path: str | Path, clips: int, frame: tuple[int, int, int], context_frames: int, horizon: int,
                  num_samples: int, attrs: dict[str, Any], extras: dict[str, Extra] | None = None,
                  cond: Cond | None = None) -> Iterator[SamplesWriter]:
    """Open a new samples file for writing; it is renamed into place only if the block succeeds."""
    with atomic_path(path, suffix=".h5") as tmp, h5py.File(tmp, "w") as f:
        writer = SamplesWriter(f, clips, frame, context_frames, horizon, num_samples, extras or {}, cond)
        yield writer
        all_attrs = {**attrs, "context_frames": context_frames, "horizon": horizon, "num_samples": num_samples}
        for key, value in sorted(all_attrs.items()):
            f.attrs[key] = value


def read_samples_info(path: str | Path) -> SamplesInfo:
    """Check a samples file against the contract; one GenvidError line naming the problem."""
    path = Path(path)
    with read_h5(path, "samples file") as f:
        return _check(f, path)


def _check(f: h5py.File, path: Path) -> SamplesInfo:
    attrs = plain_attrs(f)
    attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in attrs.items()}
    for key in REQUIRED_ATTRS:
        value = attrs.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise GenvidError(f"{path}: attribute '{key}' must be a positive integer, got {value!r}")
    c, horizon, s = attrs["context_frames"], attrs["horizon"], attrs["num_samples"]
    real = _frames(f, "real", path, 5)
    n, t, h, w, ch = real.shape
    if n == 0:
        raise GenvidError(f"{path}: holds no clips")
    if t != c + horizon:
        raise GenvidError(f"{path}: 'real' clips have {t} frames, expected context_frames + horizon = {c + horizon}")
    expected = {"predictions": (n, s, horizon, h, w, ch)}
    extras = {}
    group = f.get("extras")
    for name in sorted(group) if isinstance(group, h5py.Group) else []:
        ds = _frames(f, f"extras/{name}", path, 6)
        expected[f"extras/{name}"] = (n, ds.shape[1], horizon, h, w, ch)
        extras[name] = Extra(int(ds.shape[1]), str(ds.attrs.get("label", name)), bool(ds.attrs.get("sees_future", False)))
    for name, shape in expected.items():
        found = _frames(f, name, path, len(shape)).shape
        if tuple(found) != shape:
            raise GenvidError(f"{path}: '{name}' has shape {list(found)}, expected {list(shape)}")
    for name in INDEX_COLUMNS:
        ds = f.get(name)
        if not isinstance(ds, h5py.Dataset) or ds.shape != (n,) or ds.dtype.kind not in "iu":
            raise GenvidError(f"{path}: dataset '{name}' must be integers [{n}]")
    return SamplesInfo(path, n, s, c, horizon, h, w, ch, extras, attrs, _cond(f, path, n, t))


def _cond(f: h5py.File, path: Path, n: int, t: int) -> Cond | None:
    ds = f.get(COND)
    if ds is None:
        return None
    columns = ds.attrs.get("columns", "") if isinstance(ds, h5py.Dataset) else ""
    columns = tuple((columns.decode() if isinstance(columns, bytes) else str(columns)).split(","))
    if (not isinstance(ds, h5py.Dataset) or ds.dtype != np.float32 or ds.shape != (n, t, len(columns))
            or not all(columns)):
        raise GenvidError(f"{path}: '{COND}' must be float32 [{n}, {t}, A] with A names in attribute 'columns'")
    name = ds.attrs.get("name", "")
    return Cond(name.decode() if isinstance(name, bytes) else str(name), columns)


def _frames(f: h5py.File, name: str, path: Path, ndim: int) -> h5py.Dataset:
    ds = f.get(name)
    if not isinstance(ds, h5py.Dataset):
        raise GenvidError(f"{path}: dataset '{name}' missing")
    if ds.dtype != np.uint8 or ds.ndim != ndim:
        raise GenvidError(f"{path}: '{name}' must be uint8 with {ndim} dimensions, got {ds.dtype} {list(ds.shape)}")
    return ds


def read_clips(path: str | Path, name: str, rows: slice) -> np.ndarray:
    """Rows of one series ('real', 'predictions' or 'extras/<name>') as uint8."""
    with read_h5(path, "samples file") as f:
        return f[name][rows]


def read_cond(path: str | Path, rows: slice) -> np.ndarray:
    """Rows of the conditioning a conditioned model was given, float32 [n, Tc + horizon, A]."""
    with read_h5(path, "samples file") as f:
        if COND not in f:
            raise GenvidError(f"{path}: no '{COND}' dataset (the run's model reads no per-frame inputs)")
        return f[COND][rows]


def read_index(path: str | Path) -> dict[str, np.ndarray]:
    with read_h5(path, "samples file") as f:
        return {name: f[name][:].astype(np.int64) for name in INDEX_COLUMNS}


def read_counterfactual(path: str | Path) -> CounterfactualPredictions | None:
    """The counterfactual futures of a samples file, or None where it has none (a benchmark without
    counterfactual clips)."""
    path = Path(path)
    with read_h5(path, "samples file") as f:
        info = _check(f, path)
        ds = f.get(COUNTERFACTUAL)
        if ds is None:
            return None
        shape = (info.horizon, info.height, info.width, info.channels)
        sequences = ds.attrs.get("sequences", "")
        sequences = tuple((sequences.decode() if isinstance(sequences, bytes) else str(sequences)).split(","))
        if (not isinstance(ds, h5py.Dataset) or ds.dtype != np.uint8 or ds.ndim != 7
                or tuple(ds.shape[3:]) != shape or ds.shape[1] != len(sequences)):
            raise GenvidError(f"{path}: '{COUNTERFACTUAL}' must be uint8 [M, K, S, {', '.join(map(str, shape))}] "
                              "with K names in attribute 'sequences'")
        return CounterfactualPredictions(ds[()], sequences, bool(ds.attrs.get("conditioned", False)))

"""The samples file (docs/design.md §3): one per run; this module is its only writer and reader.

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
    long_horizon/real, predictions, episode, start, cluster, cond
                                                only where the benchmark has a long-horizon protocol
                                                (params benchmarks.<b>.long_horizon): its own M test
                                                clips of Tc + H' frames and S futures of H' frames,
                                                laid out as above (no extras); group attrs
                                                context_frames, horizon, num_samples
    attrs: context_frames, horizon, num_samples, run, model, benchmark, seed

Every dataset is written with ``track_times=False`` and the attributes in sorted order, so
the bytes depend only on the content; the file appears only when complete (atomic rename).
"""
from __future__ import annotations

import contextlib
import dataclasses
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
LONG_HORIZON = "long_horizon"
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
    group: str = ""  # "" for the protocol's clips, LONG_HORIZON for the long-horizon protocol's

    @property
    def clip_len(self) -> int:
        return self.context_frames + self.horizon

    def dataset(self, name: str) -> str:
        """The path in the file of this protocol's series ``name`` ('real', 'predictions', 'extras/<x>')."""
        return f"{self.group}/{name}" if self.group else name


class ClipsWriter:
    """The datasets of one protocol's clips under ``group`` (the root, or LONG_HORIZON), filled clip batch by
    clip batch; created in a fixed order, so the bytes depend only on the content."""

    def __init__(self, f: h5py.File, group: str, clips: int, frame: tuple[int, int, int], context: int, horizon: int,
                 samples: int, extras: dict[str, Extra], cond: Cond | None = None):
        prefix = f"{group}/" if group else ""

        def frames(name: str, shape: tuple[int, ...]) -> h5py.Dataset:
            return f.create_dataset(prefix + name, (clips, *shape, *frame), np.uint8, track_times=False,
                                    chunks=(1, *shape, *frame))

        self.real = frames("real", (context + horizon,))
        self.predictions = frames("predictions", (samples, horizon))
        self.extras = {}
        for name, extra in sorted(extras.items()):
            ds = frames(f"extras/{name}", (extra.samples, horizon))
            ds.attrs["label"], ds.attrs["sees_future"] = extra.label, extra.sees_future
            self.extras[name] = ds
        self.index = {c: f.create_dataset(prefix + c, (clips,), np.int64, track_times=False) for c in INDEX_COLUMNS}
        self.cond = None
        if cond is not None:
            self.cond = f.create_dataset(prefix + COND, (clips, context + horizon, len(cond.columns)), np.float32,
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


class SamplesWriter(ClipsWriter):
    """Fill a samples file clip batch by clip batch (see ``write_samples``)."""

    def __init__(self, f: h5py.File, clips: int, frame: tuple[int, int, int], context: int, horizon: int,
                 samples: int, extras: dict[str, Extra], cond: Cond | None = None):
        super().__init__(f, "", clips, frame, context, horizon, samples, extras, cond)
        self.file, self.frame, self.cond_info = f, frame, cond

    def counterfactual(self, cf: CounterfactualPredictions) -> None:
        """The futures of the benchmark's counterfactual clips (written once, whole)."""
        ds = self.file.create_dataset(COUNTERFACTUAL, data=np.ascontiguousarray(cf.predictions, dtype=np.uint8),
                                      track_times=False, chunks=(1, 1, *cf.predictions.shape[2:]))
        ds.attrs["conditioned"], ds.attrs["sequences"] = bool(cf.conditioned), ",".join(cf.sequences)

    def long_horizon(self, clips: int, context_frames: int, horizon: int, num_samples: int) -> ClipsWriter:
        """The long-horizon protocol's clips, filled like the protocol's (the same frame size and
        conditioning, no extras)."""
        writer = ClipsWriter(self.file, LONG_HORIZON, clips, self.frame, context_frames, horizon, num_samples, {},
                             self.cond_info)
        attrs = {"context_frames": context_frames, "horizon": horizon, "num_samples": num_samples}
        for key, value in sorted(attrs.items()):
            self.file[LONG_HORIZON].attrs[key] = value
        return writer


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


def _check(f: h5py.File, path: Path, group: str = "") -> SamplesInfo:
    node = f[group] if group else f
    of = f" of group '{group}'" if group else ""
    prefix = f"{group}/" if group else ""
    attrs = plain_attrs(node)
    attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in attrs.items()}
    for key in REQUIRED_ATTRS:
        value = attrs.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise GenvidError(f"{path}: attribute '{key}'{of} must be a positive integer, got {value!r}")
    c, horizon, s = attrs["context_frames"], attrs["horizon"], attrs["num_samples"]
    real = _frames(f, prefix + "real", path, 5)
    n, t, h, w, ch = real.shape
    if n == 0:
        raise GenvidError(f"{path}: holds no clips{of}")
    if t != c + horizon:
        raise GenvidError(f"{path}: '{prefix}real' clips have {t} frames, expected context_frames + horizon = "
                          f"{c + horizon}")
    expected = {prefix + "predictions": (n, s, horizon, h, w, ch)}
    extras = {}
    extras_group = f.get(prefix + "extras")
    for name in sorted(extras_group) if isinstance(extras_group, h5py.Group) else []:
        ds = _frames(f, f"{prefix}extras/{name}", path, 6)
        expected[f"{prefix}extras/{name}"] = (n, ds.shape[1], horizon, h, w, ch)
        extras[name] = Extra(int(ds.shape[1]), str(ds.attrs.get("label", name)), bool(ds.attrs.get("sees_future", False)))
    for name, shape in expected.items():
        found = _frames(f, name, path, len(shape)).shape
        if tuple(found) != shape:
            raise GenvidError(f"{path}: '{name}' has shape {list(found)}, expected {list(shape)}")
    for name in INDEX_COLUMNS:
        ds = f.get(prefix + name)
        if not isinstance(ds, h5py.Dataset) or ds.shape != (n,) or ds.dtype.kind not in "iu":
            raise GenvidError(f"{path}: dataset '{prefix}{name}' must be integers [{n}]")
    return SamplesInfo(path, n, s, c, horizon, h, w, ch, extras, attrs, _cond(f, path, n, t, prefix), group)


def _cond(f: h5py.File, path: Path, n: int, t: int, prefix: str = "") -> Cond | None:
    ds = f.get(prefix + COND)
    if ds is None:
        return None
    columns = ds.attrs.get("columns", "") if isinstance(ds, h5py.Dataset) else ""
    columns = tuple((columns.decode() if isinstance(columns, bytes) else str(columns)).split(","))
    if (not isinstance(ds, h5py.Dataset) or ds.dtype != np.float32 or ds.shape != (n, t, len(columns))
            or not all(columns)):
        raise GenvidError(f"{path}: '{prefix}{COND}' must be float32 [{n}, {t}, A] with A names in attribute "
                          "'columns'")
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
    """Rows of one series ('real', 'predictions' or 'extras/<name>'; a SamplesInfo's ``dataset(name)`` for the
    long horizon's) as uint8."""
    with read_h5(path, "samples file") as f:
        return f[name][rows]


def read_cond(path: str | Path, rows: slice) -> np.ndarray:
    """Rows of the conditioning a conditioned model was given, float32 [n, Tc + horizon, A]."""
    with read_h5(path, "samples file") as f:
        if COND not in f:
            raise GenvidError(f"{path}: no '{COND}' dataset (the run's model reads no per-frame inputs)")
        return f[COND][rows]


def read_index(path: str | Path, group: str = "") -> dict[str, np.ndarray]:
    """episode, start and cluster of the clips of the protocol's (``group`` "") or the long horizon's."""
    prefix = f"{group}/" if group else ""
    with read_h5(path, "samples file") as f:
        return {name: f[prefix + name][:].astype(np.int64) for name in INDEX_COLUMNS}


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


def read_long_horizon(path: str | Path) -> SamplesInfo | None:
    """The long-horizon clips of a samples file as a SamplesInfo whose ``group`` is LONG_HORIZON (its
    ``dataset(name)`` gives their series), or None where the file has none. Checked against the
    file's protocol: the same frames, context and conditioning, a longer horizon; the attributes are
    the file's with the group's context_frames, horizon and num_samples."""
    path = Path(path)
    with read_h5(path, "samples file") as f:
        info = _check(f, path)
        group = f.get(LONG_HORIZON)
        if group is None:
            return None
        if not isinstance(group, h5py.Group):
            raise GenvidError(f"{path}: '{LONG_HORIZON}' must be a group of datasets")
        long = _check(f, path, LONG_HORIZON)
        frame, long_frame = (info.height, info.width, info.channels), (long.height, long.width, long.channels)
        if long_frame != frame:
            raise GenvidError(f"{path}: '{LONG_HORIZON}' frames are {list(long_frame)}, the protocol's {list(frame)}")
        if long.context_frames != info.context_frames or long.horizon <= info.horizon:
            raise GenvidError(f"{path}: '{LONG_HORIZON}' predicts {long.context_frames} -> {long.horizon} frames; it "
                              f"must have the protocol's context ({info.context_frames}) and a longer horizon than "
                              f"{info.horizon}")
        if long.extras:
            raise GenvidError(f"{path}: '{LONG_HORIZON}' holds extras {sorted(long.extras)}; it has predictions only")
        if long.cond != info.cond:
            raise GenvidError(f"{path}: '{LONG_HORIZON}/{COND}' must be present exactly where '{COND}' is, "
                              "with the same columns")
    return dataclasses.replace(long, attrs={**info.attrs, **long.attrs})

"""The figures file (reports/figures/figures.h5, stage figures): the report's frames that only a
model can make, drawn once by the model's family so that the report runs no model.

One module owns the schema (write_figures, read_figures); each group is optional:

    levels/          the main run's level decodings (a family declaring figure "levels", seed 000 Fig. 6.1)
        attrs        run, clip (the samples file's test clip row), params (JSON: the run's models
                     params it was made with), config (JSON: the model's stored config),
                     parameters (JSON: {name: count}), codebook_size
        <name>       uint8 [T, H, W, C] per decoding (top_alone, bottom_alone, both) and "real"
    temperatures/    report.temperature_run's futures at each temperature (figure "temperatures")
        attrs        run, model, seed, context_frames, params (JSON)
        rows         int64 [k]     test clip rows of the samples file
        temperatures float64 [n]
        real         uint8 [k, context + horizon, H, W, C]
        futures      uint8 [n, k, horizon, H, W, C]   (one future per clip per temperature)
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from genvid.data.h5 import read_h5
from genvid.errors import GenvidError
from genvid.io import atomic_path

FORMAT = 1
LEVELS = "levels"  # figure names a family may declare (genvid.models.family.ModelSpec.figures)
TEMPERATURES = "temperatures"
DECODINGS = ("top_alone", "bottom_alone", "both")


@dataclass(frozen=True)
class LevelDecodings:
    """One test clip decoded from each code level alone, and from both, with the real clip."""

    run: str
    clip: int
    frames: dict[str, np.ndarray]  # DECODINGS + "real": uint8 [T, H, W, C]
    params: dict  # the run's models params the figure was made with (a stale file is an error)
    config: dict  # the model's stored config (with its defaults)
    parameters: dict[str, int]  # parameter counts the family reports ({label: count})
    codebook_size: int


@dataclass(frozen=True)
class TemperatureSweep:
    """One future per test clip at every temperature, from a generator seeded alike each time."""

    run: str
    model: str
    rows: np.ndarray
    temperatures: tuple[float, ...]
    seed: int
    context_frames: int
    real: np.ndarray  # [k, context + horizon, H, W, C]
    futures: np.ndarray  # [n, k, horizon, H, W, C]
    params: dict

    @property
    def horizon(self) -> int:
        return int(self.futures.shape[2])


@dataclass(frozen=True)
class Figures:
    levels: LevelDecodings | None = None
    temperatures: TemperatureSweep | None = None


def pick_rows(n: int, k: int) -> np.ndarray:
    """``k`` evenly spaced clip indices of ``n`` (first and last included)."""
    return np.unique(np.linspace(0, n - 1, max(1, min(k, n))).round().astype(np.int64))


def _dump(value: object) -> str:
    return json.dumps(value, sort_keys=True)


def write_figures(path: str | Path, figures: Figures) -> None:
    """Write the file atomically (nothing at ``path`` unless complete)."""
    with atomic_path(path, ".h5") as tmp, h5py.File(tmp, "w") as f:
        f.attrs["format"] = FORMAT
        if figures.levels is not None:
            lv, g = figures.levels, f.create_group(LEVELS)
            g.attrs.update(run=lv.run, clip=int(lv.clip), params=_dump(lv.params), config=_dump(lv.config),
                           parameters=_dump(lv.parameters), codebook_size=int(lv.codebook_size))
            for name in (*DECODINGS, "real"):
                g.create_dataset(name, data=np.asarray(lv.frames[name], np.uint8))
        if figures.temperatures is not None:
            t, g = figures.temperatures, f.create_group(TEMPERATURES)
            g.attrs.update(run=t.run, model=t.model, seed=int(t.seed), context_frames=int(t.context_frames),
                           params=_dump(t.params))
            g.create_dataset("rows", data=np.asarray(t.rows, np.int64))
            g.create_dataset("temperatures", data=np.asarray(t.temperatures, np.float64))
            g.create_dataset("real", data=np.asarray(t.real, np.uint8))
            g.create_dataset("futures", data=np.asarray(t.futures, np.uint8))


def _attr(g: h5py.Group, key: str, path: Path) -> object:
    if key not in g.attrs:
        raise GenvidError(f"{path}: group '{g.name.strip('/')}' has no attribute '{key}'")
    value = g.attrs[key]
    return value.item() if isinstance(value, np.generic) else value


def _array(g: h5py.Group, key: str, path: Path, ndim: int) -> np.ndarray:
    if key not in g or g[key].ndim != ndim or g[key].dtype not in (np.uint8, np.int64, np.float64):
        raise GenvidError(f"{path}: '{g.name.strip('/')}/{key}' is missing or not a {ndim}-d array")
    return g[key][()]


def read_figures(path: str | Path) -> Figures:
    """The figures file, validated (shapes agree; one GenvidError line naming the file otherwise)."""
    path = Path(path)
    with read_h5(path, "figures file") as f:
        if f.attrs.get("format") != FORMAT:
            raise GenvidError(f"{path}: format {f.attrs.get('format')!r}, expected {FORMAT} (rerun stage figures)")
        levels = temperatures = None
        if LEVELS in f:
            g = f[LEVELS]
            frames = {name: _array(g, name, path, 4) for name in (*DECODINGS, "real")}
            if len({v.shape for v in frames.values()}) != 1:
                raise GenvidError(f"{path}: the level decodings and the real clip differ in shape")
            levels = LevelDecodings(str(_attr(g, "run", path)), int(_attr(g, "clip", path)), frames,
                                    json.loads(_attr(g, "params", path)), json.loads(_attr(g, "config", path)),
                                    json.loads(_attr(g, "parameters", path)), int(_attr(g, "codebook_size", path)))
        if TEMPERATURES in f:
            g = f[TEMPERATURES]
            rows, temps = _array(g, "rows", path, 1), _array(g, "temperatures", path, 1)
            real, futures = _array(g, "real", path, 5), _array(g, "futures", path, 6)
            if futures.shape[:2] != (len(temps), len(rows)) or real.shape[0] != len(rows):
                raise GenvidError(f"{path}: 'temperatures/futures' must be [temperatures, rows, ...], got "
                                  f"{futures.shape} for {len(temps)} temperatures and {len(rows)} rows")
            temperatures = TemperatureSweep(str(_attr(g, "run", path)), str(_attr(g, "model", path)), rows,
                                            tuple(float(t) for t in temps), int(_attr(g, "seed", path)),
                                            int(_attr(g, "context_frames", path)), real, futures,
                                            json.loads(_attr(g, "params", path)))
        return Figures(levels, temperatures)

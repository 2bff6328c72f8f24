"""Load ``params.yaml`` and validate the keys a stage reads: one line naming the key on error.

Data-stage sections are described by the small schema below; model and training sections
are validated by their own config dataclasses (``VQVAEConfig.from_dict``, ``TrainConfig.from_dict``),
which raise the same ``ParamError``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import yaml

from genvid.errors import GenvidError, ParamError

PARAMS_FILE = "params.yaml"


@dataclass(frozen=True)
class Int:
    min: int | None = None
    max: int | None = None
    multiple_of: int | None = None

    def check(self, value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int):
            return f"must be an integer, got {value!r}"
        if self.multiple_of and (value <= 0 or value % self.multiple_of):
            return f"must be a positive multiple of {self.multiple_of}, got {value}"
        if self.min is not None and value < self.min:
            return f"must be >= {self.min}, got {value}"
        if self.max is not None and value > self.max:
            return f"must be <= {self.max}, got {value}"
        return None


@dataclass(frozen=True)
class Float:
    min: float | None = None
    max: float | None = None
    exclusive_min: bool = False

    def check(self, value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return f"must be a finite number, got {value!r}"
        if self.min is not None:
            if self.exclusive_min and value <= self.min:
                return f"must be > {self.min}, got {value}"
            if not self.exclusive_min and value < self.min:
                return f"must be >= {self.min}, got {value}"
        if self.max is not None and value > self.max:
            return f"must be <= {self.max}, got {value}"
        return None


@dataclass(frozen=True)
class Choice:
    options: tuple[str, ...]

    def check(self, value: Any) -> str | None:
        if value not in self.options:
            return f"must be one of {', '.join(self.options)}, got {value!r}"
        return None


SCHEMA: dict[str, dict[str, Int | Float | Choice]] = {
    "collect": {
        "source": Choice(("procedural", "carracing")),
        "seed": Int(min=0),
        "resolution": Int(multiple_of=16),
        "episodes": Int(min=1),
        "frames_per_episode": Int(min=1),
        "interval": Float(min=0.0, exclusive_min=True),
    },
    "split": {
        "train": Float(min=0.0, max=1.0, exclusive_min=True),
        "val": Float(min=0.0, max=1.0, exclusive_min=True),
        "test": Float(min=0.0, max=1.0, exclusive_min=True),
    },
    "clips": {
        "clip_len": Int(min=2),
        "train_stride": Int(min=1),
        "eval_stride": Int(min=1),
    },
    "normalize": {
        "chunk_frames": Int(min=1),
    },
    "sample": {
        "context_frames": Int(min=1),
        "num_samples": Int(min=1),
        "temperature": Float(min=0.0, exclusive_min=True),
        "top_k": Int(min=0),
        "batch_size": Int(min=1),
        "max_clips": Int(min=0),
        "seed": Int(min=0),
    },
    "evaluate": {
        "fvd_samples": Int(min=1),  # also <= sample.num_samples, checked against the samples file
    },
}


def read_params(path: str | Path = PARAMS_FILE) -> dict:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GenvidError(f"{path}: file not found") from None
    except yaml.YAMLError as err:
        raise GenvidError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise GenvidError(f"{path}: expected a mapping of stage sections at the top level")
    return data


def section(params: dict, name: str, path: str | Path = PARAMS_FILE) -> dict:
    """Return ``params[name]`` as a dict, or fail naming the missing section."""
    value = params.get(name)
    if not isinstance(value, dict):
        raise ParamError(f"{path}: section '{name}' is missing or not a mapping")
    return value


def validate_section(params: dict, name: str, path: str | Path = PARAMS_FILE) -> dict:
    """Validate one schema section: every key present, known, and within its rule."""
    values = section(params, name, path)
    rules = SCHEMA[name]
    for key in values:
        if key not in rules:
            raise ParamError(f"{path}: {name}.{key} is not a known parameter")
    for key, rule in rules.items():
        if key not in values:
            raise ParamError(f"{path}: {name}.{key} is missing")
        problem = rule.check(values[key])
        if problem:
            raise ParamError(f"{path}: {name}.{key} {problem}")
    if name == "split":
        total = values["train"] + values["val"] + values["test"]
        if abs(total - 1.0) > 1e-9:
            raise ParamError(f"{path}: split.train + split.val + split.test must sum to 1, got {total:g}")
    return dict(values)


def load(names: Sequence[str], path: str | Path = PARAMS_FILE) -> dict[str, dict]:
    """Read ``path`` and validate the schema sections ``names`` (the keys a stage declares)."""
    params = read_params(path)
    return {name: validate_section(params, name, path) for name in names}


def model_config(factory, params: dict, name: str, path: str | Path = PARAMS_FILE):
    """Build a config object from section ``name`` with ``factory`` (e.g. ``VQVAEConfig.from_dict``);
    its ParamError messages get the params file as prefix, like the schema's."""
    try:
        return factory(section(params, name, path))
    except ParamError as err:
        message = str(err)
        prefix = f"{path}: "
        raise ParamError(message if message.startswith(prefix) else prefix + message) from None

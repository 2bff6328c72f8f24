"""The one validation mechanism for params sections: typed, frozen dataclasses.

A section of params.yaml is described by a dataclass whose field annotations give the
types and whose ``rule(...)`` metadata gives the ranges and choices::

    @dataclass(frozen=True)
    class VRNNConfig:
        hidden: int = field(metadata=rule(min=1))
        beta_warmup_steps: int = field(default=0, metadata=rule(min=0))
        output: str = field(default="dmol", metadata=rule(choices=("dmol", "gaussian")))

    cfg = parse_config(VRNNConfig, params["vrnn"], "vrnn", "params.yaml")

Every problem is one ``ParamError`` line naming the file and the dotted key. A config may
define ``validate(self) -> str | None`` for cross-field checks; it returns "<field> <problem>". Sizes have no
defaults (they live in params.yaml and profiles/ only); options may.

Supported annotations: ``int``, ``float``, ``bool``, ``str``, ``tuple[int, ...]``,
``tuple[float, float]`` (YAML lists become tuples), ``X | None``, nested config dataclasses and
``dict[str, X]`` (a mapping of names to any of these).

Every integer has a range (issue 47): its rule's, and at most ``INT_LIMIT`` where the rule sets no tighter
bound (torch, numpy and HDF5 index with 32 or 64 bits; a size beyond 2³¹ − 1 is a typo, not a plan). What
several sizes imply together, memory and disk, genvid.footprint refuses before any work.
"""
from __future__ import annotations

import sys

import dataclasses
import math
import types
import typing
from dataclasses import dataclass
from typing import Any, TypeVar

from genvid.errors import ParamError

C = TypeVar("C")

INT_LIMIT = 2 ** 31 - 1  # the largest integer any param may hold (module docstring)


def rule(*, min: float | None = None, max: float | None = None, exclusive_min: bool = False,
         exclusive_max: bool = False, choices: tuple | None = None,
         multiple_of: int | None = None) -> dict[str, Any]:
    """Field metadata: the constraints ``parse_config`` checks besides the type."""
    return {"rule": _Rule(min, max, exclusive_min, exclusive_max, choices, multiple_of)}


@dataclass(frozen=True)
class _Rule:
    min: float | None = None
    max: float | None = None
    exclusive_min: bool = False
    exclusive_max: bool = False
    choices: tuple | None = None
    multiple_of: int | None = None

    def problem(self, value: Any) -> str | None:
        if self.choices is not None and value not in self.choices:
            return f"must be one of {', '.join(map(str, self.choices))}"
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return None
        if self.min is not None and (value <= self.min if self.exclusive_min else value < self.min):
            return f"must be {'>' if self.exclusive_min else '>='} {self.min:g}"
        if self.max is not None and (value >= self.max if self.exclusive_max else value > self.max):
            return f"must be {'<' if self.exclusive_max else '<='} {self.max:g}"
        if self.multiple_of and value % self.multiple_of:
            return f"must be a multiple of {self.multiple_of}"
        return None


def parse_config(cls: type[C], values: Any, section: str, source: str | None = "params.yaml") -> C:
    """Build ``cls`` from a params mapping, or raise one ParamError line naming the key."""
    where = f"{source}: " if source else ""
    if not isinstance(values, dict):
        raise ParamError(f"{where}{section} must be a mapping, got {type(values).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ParamError(f"{where}{section}.{unknown[0]} is not a known parameter "
                         f"(known: {', '.join(fields)})")
    kwargs = {}
    for name, f in fields.items():
        key = f"{section}.{name}"
        if name not in values:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ParamError(f"{where}{key} is missing")
            continue
        value = _convert(hints[name], values[name], key, where)
        check = f.metadata.get("rule")
        problem = check.problem(value) if check is not None and value is not None else None
        if problem:
            raise ParamError(f"{where}{key} {problem}, got {values[name]!r}")
        kwargs[name] = value
    config = cls(**kwargs)
    validate = getattr(config, "validate", None)
    if callable(validate):  # cross-field checks: return a problem string or None
        problem = validate()  # "<field> must ...": reported as section.field
        if problem:
            raise ParamError(f"{where}{section}.{problem}")
    return config


def to_dict(config: Any) -> dict[str, Any]:
    """Plain YAML/JSON values (tuples become lists), the inverse of ``parse_config``."""
    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v
    return plain(config)


def _convert(tp: Any, value: Any, key: str, where: str) -> Any:
    def fail(expected: str) -> ParamError:
        hint = " (YAML reads 1e-3 as a string: write 1.0e-3)" if isinstance(value, str) and _numeric(value) else ""
        return ParamError(f"{where}{key} must be {expected}, got {value!r}{hint}")

    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return _convert(inner[0], value, key, where)
        raise TypeError(f"{key}: unsupported annotation {tp}")
    if dataclasses.is_dataclass(tp):
        return parse_config(tp, value, key, where.removesuffix(": ") or None)
    if tp is bool:
        if not isinstance(value, bool):
            raise fail("true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail("an integer")
        if abs(value) > INT_LIMIT:
            raise fail(f"an integer of at most {INT_LIMIT:,} in size")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise fail("a finite number")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise fail("a string")
        return value
    if origin is dict:
        if not isinstance(value, dict):
            raise fail("a mapping")
        bad = [k for k in value if not isinstance(k, str)]
        if bad:
            raise ParamError(f"{where}{key}: keys must be names, got {bad[0]!r}")
        return {k: _convert(args[1], v, f"{key}.{k}", where) for k, v in value.items()}
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise fail("a list")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, f"{key}[{i}]", where) for i, v in enumerate(value))
        if len(value) != len(args):
            raise fail(f"a list of {len(args)} values")
        return tuple(_convert(a, v, f"{key}[{i}]", where) for i, (a, v) in enumerate(zip(args, value)))
    raise TypeError(f"{key}: unsupported annotation {tp}")


def _numeric(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def clamped(count: int, available: int, what: str) -> int:
    """``count`` of ``available`` things: genvid's rule for a count param above what exists (issue 47; docs/pipeline.md)
    is to use all there are and say so in one "note:" line on stderr naming ``what`` (the params key). A count
    at or below ``available`` is returned as it is."""
    if count > available:
        print(f"note: {what} = {count} is more than the {available} there are: using {available}", file=sys.stderr)
        return available
    return count


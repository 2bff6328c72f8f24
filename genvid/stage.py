"""The wrapper of every stage's ``main``: bad input becomes one line and exit code 2, and a CLI run
records its wall time (genvid.timings)."""
from __future__ import annotations

import functools
import sys
import time
from typing import Callable, TypeVar

from genvid.errors import EXIT_BAD_INPUT, GenvidError
from genvid.timings import record, stage_name

F = TypeVar("F", bound=Callable[..., object])


def cli_main(fn: F) -> F:
    """Wrap a stage ``main``: a GenvidError becomes one line on stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            result = fn(*args, **kwargs)
        except GenvidError as err:
            print(f"error: {err}", file=sys.stderr)
            raise SystemExit(EXIT_BAD_INPUT) from None
        spec = getattr(sys.modules.get(fn.__module__), "__spec__", None)  # "__main__" under python -m
        module = spec.name if spec is not None else fn.__module__
        if module.startswith("stages.") and not args and kwargs.get("argv") is None:  # a CLI run
            record(stage_name(module, sys.argv[1:]), time.perf_counter() - start)
        return result

    return wrapper  # type: ignore[return-value]

"""The wrapper of every stage's ``main``: bad input becomes one line and exit code 2, a CLI run records its
wall time (genvid.timings) and stops cleanly on SIGTERM; the argument parser whose usage errors do the same."""
from __future__ import annotations

import argparse
import functools
import signal
import sys
import threading
import time
from typing import Callable, NoReturn, TypeVar

from genvid.errors import EXIT_BAD_INPUT, GenvidError
from genvid.timings import record, stage_name

F = TypeVar("F", bound=Callable[..., object])


def _stop(signum: int, frame: object) -> None:
    """SIGTERM (dvc or Slurm stopping a stage, torchrun passing it on) ends the stage like an exception does:
    Python's default would end the process at once, leaving a writer's temporary file in an output folder,
    which DVC then counts as a change. The last checkpoint stays: a rerun resumes from it."""
    print(f"error: stopped by {signal.Signals(signum).name}: its temporary files removed; a rerun resumes "
          "from the last checkpoint", file=sys.stderr)
    raise SystemExit(128 + signum)


def cli_main(fn: F) -> F:
    """Wrap a stage ``main``: a GenvidError becomes one line on stderr and exit code 2; a CLI run
    (no argv) turns SIGTERM into an exit that runs every writer's clean-up, with status 128 + 15."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        if not args and kwargs.get("argv") is None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, _stop)
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


class StageArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line naming the option ("error: argument --batch-size: ...")."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {self.prog}: {message} (--help lists the options)", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)


def int_at_least(low: int) -> Callable[[str], int]:
    """An option type: an integer >= ``low``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {value}")
        return value
    parse.__name__ = f"integer >= {low}"
    return parse

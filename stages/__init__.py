"""genvid's stage CLIs. Every stage runs as ``python -m stages.<name> [--params FILE] ...``, so this
package is imported before any stage module, and before numpy or torch: it pins what would make
the stage's bytes depend on the machine (genvid.determinism.pin_environment, docs/reproducibility.md)
with the thread count of ``repro.threads`` in the params file, and it keeps freed memory for reuse
(genvid.allocator: fewer page faults, the same bytes).

When something imported numpy or torch first (a test importing a stage in-process), the pins
could no longer take effect, and the process's environment is left alone.
"""
from __future__ import annotations

import os
import sys

from genvid.allocator import keep_freed_memory
from genvid.determinism import params_path_from_argv, pin_environment, threads_from_params
from genvid.errors import EXIT_BAD_INPUT, ParamError


def _running_as_stage() -> bool:
    """True in ``python -m stages.<name>``: while -m locates the module, sys.argv[0] is '-m'."""
    orig = getattr(sys, "orig_argv", [])
    return sys.argv[:1] == ["-m"] and any(a == "-m" and b.startswith("stages.") for a, b in zip(orig, orig[1:]))


def _pin() -> None:
    if {"numpy", "torch"} & sys.modules.keys():
        return
    try:
        pin_environment(threads_from_params(params_path_from_argv(sys.argv[1:])))
    except ParamError as err:
        if not _running_as_stage():
            raise
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT) from None
    keep_freed_memory()  # large tensors reuse freed pages rather than fault in fresh ones (genvid.allocator)
    # str hashes (set iteration order) are salted per process unless PYTHONHASHSEED is fixed; it
    # is read at interpreter start, so a stage launched without it (`dvc repro` outside make)
    # starts again with it set: same command line, same pid.
    if _running_as_stage() and os.environ.get("PYTHONHASHSEED") != "0":
        os.environ["PYTHONHASHSEED"] = "0"
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(sys.executable, sys.orig_argv)


_pin()

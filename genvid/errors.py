"""One error type for bad input a user can fix, and the exit code a stage gives it (genvid.stage.cli_main)."""
from __future__ import annotations

EXIT_BAD_INPUT = 2


class GenvidError(Exception):
    """Bad input a user can fix: a message that names the file or key and the problem."""


class ParamError(GenvidError):
    """A parameter in params.yaml is missing, of the wrong type or out of range."""

"""Reading HDF5 artefacts: one place that turns a missing, truncated or corrupt file into one line."""
from __future__ import annotations

import contextlib
from pathlib import Path
from types import TracebackType
from typing import Iterator

import h5py

from genvid.errors import GenvidError


@contextlib.contextmanager
def read_h5(path: str | Path, what: str) -> Iterator[h5py.File]:
    """Open ``path`` read-only. h5py's errors, raised opening it or reading it inside the block, become
    ``GenvidError("<path>: not a readable <what> (...)")``; any other error raised inside the block (a model's, a
    metric's) passes unchanged: it is not the file's fault."""
    path = Path(path)
    if not path.is_file():
        raise GenvidError(f"{path}: file not found")
    try:
        with h5py.File(path, "r") as f:
            yield f
    except GenvidError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as err:
        if not raised_by_h5py(err.__traceback__):
            raise
        raise GenvidError(f"{path}: not a readable {what} (truncated or corrupt: "
                          f"{str(err).splitlines()[0]})") from None


def raised_by_h5py(tb: TracebackType | None) -> bool:
    """Whether a traceback passes through h5py's code (its Python modules, or a Cython frame of its .pyx files)."""
    while tb is not None:
        if "h5py" in Path(tb.tb_frame.f_code.co_filename).parts:
            return True
        tb = tb.tb_next
    return False


def plain_attrs(f: h5py.File) -> dict:
    """File attributes as python values (numpy scalars unwrapped)."""
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()}

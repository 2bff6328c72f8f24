"""Reading HDF5 artefacts: one place that turns a missing, truncated or corrupt file into one line."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

import h5py

from genvid.errors import GenvidError


@contextlib.contextmanager
def read_h5(path: str | Path, what: str) -> Iterator[h5py.File]:
    """Open ``path`` read-only. h5py's errors, raised opening it or inside the block, become
    ``GenvidError("<path>: not a readable <what> (...)")``; a GenvidError passes unchanged."""
    path = Path(path)
    if not path.is_file():
        raise GenvidError(f"{path}: file not found")
    try:
        with h5py.File(path, "r") as f:
            yield f
    except GenvidError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as err:
        raise GenvidError(f"{path}: not a readable {what} (truncated or corrupt: "
                          f"{str(err).splitlines()[0]})") from None


def plain_attrs(f: h5py.File) -> dict:
    """File attributes as python values (numpy scalars unwrapped)."""
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()}

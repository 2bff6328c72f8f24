"""The one place for writing artefacts: atomic (temp file + rename), stable bytes."""
from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

from genvid.errors import GenvidError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it into place only on success.

    A killed or failing writer leaves no file at ``path`` (a stale temp file at most,
    which is hidden and never mistaken for the artefact).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix or ".tmp")
    except OSError as err:  # a file where a folder should be, no permission, a full disk
        raise GenvidError(f"{path}: cannot be written ({err.strerror or type(err).__name__}: "
                          f"{err.filename or path.parent})") from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; artefacts get the usual mode
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _jsonable(obj: Any) -> Any:
    """Convert numpy/torch scalars and arrays; reject NaN/inf (JSON has no spelling for them)."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "tolist"):  # numpy / torch
        return _jsonable(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        raise ValueError(f"non-finite value {obj!r} cannot be written to JSON")
    return obj


def dumps_json(obj: Any) -> str:
    """Stable JSON: sorted keys, fixed indentation, trailing newline."""
    return json.dumps(_jsonable(obj), sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, dumps_json(obj))


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GenvidError(f"{path}: file not found") from None
    except OSError as err:  # a folder, no permission
        raise GenvidError(f"{path}: cannot be read ({err.strerror or type(err).__name__})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise GenvidError(f"{path}: not valid JSON ({err})") from None


def load_torch(path: str | os.PathLike, what: str) -> Any:
    """``torch.load(weights_only=True)`` to the CPU; a missing, unreadable, empty or truncated file
    is one GenvidError line naming it (``what``: "model file", "FVD reference", ...)."""
    import pickle
    import zipfile

    import torch

    path = Path(path)
    if not path.is_file():
        raise GenvidError(f"{path}: {what} not found" if not path.exists() else f"{path}: not a file ({what})")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except OSError as err:
        raise GenvidError(f"{path}: cannot be read ({err.strerror or err})") from None
    except (RuntimeError, pickle.UnpicklingError, zipfile.BadZipFile, EOFError, ValueError) as err:
        detail = str(err).splitlines()[0].split(". ")[0][:120] if str(err).strip() else type(err).__name__
        raise GenvidError(f"{path}: not a readable {what} (truncated or corrupt: {detail})") from None


_FULL_HASH_LIMIT = 64 * 2**20


def fingerprint(config: Any, files: list[str | os.PathLike] = ()) -> str:
    """Hash of a config and the input files a result depends on (resume-checkpoint identity).

    Files up to 64 MiB are hashed whole; larger ones by size plus their first and last MiB,
    which is enough to tell two recordings apart without reading tens of GB.
    """
    import hashlib

    digest = hashlib.sha256(dumps_json(config).encode())
    for file in files:
        path = Path(file)
        size = path.stat().st_size
        digest.update(f"{path.name}:{size}".encode())
        with path.open("rb") as f:
            if size <= _FULL_HASH_LIMIT:
                digest.update(f.read())
            else:
                digest.update(f.read(2**20))
                f.seek(-(2**20), os.SEEK_END)
                digest.update(f.read())
    return digest.hexdigest()


def save_torch(path: str | os.PathLike, obj: Any) -> None:
    """``torch.save`` with stable bytes, atomically.

    Saving to a path names the zip's root folder after the (random) temp file, so the bytes
    would differ on every run; saving to a buffer uses the fixed root "archive".
    """
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_yaml(text: str) -> Any:
    """``yaml.safe_load(text)``: the same values and errors (yaml.YAMLError), parsed by the libyaml that
    PyYAML's wheel ships. PyYAML's pure-Python scanner took 0.08 s a read of params.yaml and 0.9 s of
    dvc.lock, and every stage reads params.yaml at start-up, the report dvc.lock too: 8x less here."""
    import yaml

    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - a safe loader

"""Final model files: weights + the kind and config they were built from; loads with weights_only=True.

``load_model(path)`` reads the stored kind and rebuilds the model with the builder registered
for it (``register_kind``), so every model file loads through one function.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from torch import nn

from genvid.errors import GenvidError
from genvid.io import load_torch, read_json, save_torch, write_json

Builder = Callable[[dict], nn.Module]
_BUILDERS: dict[str, Builder] = {}


def register_kind(kind: str, build: Builder) -> None:
    _BUILDERS[kind] = build


def save_model(path: str | Path, kind: str, config: dict, model: nn.Module) -> None:
    if kind not in _BUILDERS:
        raise ValueError(f"model kind {kind!r} is not registered (genvid.models.store.register_kind)")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    save_torch(path, {"kind": kind, "config": config, "state_dict": state})


def load_model(path: str | Path, kind: str | None = None) -> tuple[nn.Module, dict]:
    """The model stored at ``path`` in eval mode, and its config; with ``kind``, check it is one."""
    path = Path(path)
    if not path.exists():
        raise GenvidError(f"{path}: file not found")
    blob = load_torch(path, "model file")
    found = blob.get("kind") if isinstance(blob, dict) else type(blob).__name__
    if kind is not None and found != kind:
        raise GenvidError(f"{path}: expected a {kind} model file, found {found!r}")
    if found not in _BUILDERS:
        raise GenvidError(f"{path}: unknown model kind {found!r} (known: {', '.join(sorted(_BUILDERS))})")
    config = blob["config"]
    model = _BUILDERS[found](config)
    try:
        model.load_state_dict(blob["state_dict"])
    except RuntimeError as err:
        raise GenvidError(f"{path}: weights do not fit the {found} config "
                          f"({str(err).splitlines()[0]})") from None
    return model.eval(), config



# ----------------------------------------------------------------------------- the run record

RUN_RECORD = "run.json"  # models/<run>/run.json: which run trained the folder, with which params


def write_run_record(ctx) -> None:
    """Stage train's provenance of ``ctx.model_dir`` (every run has one, with or without weights)."""
    write_json(ctx.model_dir / RUN_RECORD, {"run": ctx.run.name, "benchmark": ctx.run.benchmark,
                                            "model": ctx.run.model, "models": ctx.run.model_params,
                                            "train": ctx.run.train_params})


def check_run_record(ctx, sampling_keys: tuple[str, ...] = ("sampling",)) -> None:
    """The model folder was trained for this run with today's ``models.<model>`` section: a folder of
    another run, or params changed since training (but ``sampling_keys``, read when sampling), is one
    line naming the folder or the key, before any model loads."""
    path = ctx.model_dir / RUN_RECORD
    record = read_json(path)
    if not isinstance(record, dict) or record.get("run") != ctx.run.name:
        found = record.get("run") if isinstance(record, dict) else None
        raise GenvidError(f"{path}: the model folder of run {found!r}, not {ctx.run.name!r} (rerun train@{ctx.run.name})")
    trained, now = record.get("models"), ctx.run.model_params
    if not isinstance(trained, dict):
        raise GenvidError(f"{path}: 'models' must be the run's models section, got {trained!r}")
    for key in sorted(set(trained) | set(now)):
        if key in sampling_keys:
            continue
        where = _first_difference(trained.get(key), now.get(key), f"models.{ctx.run.model}.{key}")
        if where is not None:
            raise GenvidError(f"{ctx.params_path}: {where[0]} is {where[2]!r}, but {ctx.model_dir} was trained with "
                              f"{where[1]!r} (a stale model: rerun train@{ctx.run.name})")


def _first_difference(old, new, where: str):
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            found = _first_difference(old.get(key), new.get(key), f"{where}.{key}")
            if found is not None:
                return found
        return None
    plain = (lambda v: list(v) if isinstance(v, tuple) else v)
    return None if plain(old) == plain(new) else (where, old, new)

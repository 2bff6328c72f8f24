"""Final model files: weights + the kind and config they were built from + the run that made them
(its stamp); loads with weights_only=True.

``load_model(path)`` reads the stored kind and rebuilds the model with the builder registered
for it (``register_kind``), so every model file loads through one function. Given the run that
loads it, it checks the file's stamp first: a model file of another run, benchmark or family, or
one trained with other sizes, is one line naming the file and the run, before it is built.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from torch import nn

from genvid.data.frames import read_frames_info
from genvid.errors import GenvidError
from genvid.io import load_torch, read_json, save_torch, write_json

Builder = Callable[[dict], nn.Module]
_BUILDERS: dict[str, Builder] = {}


def register_kind(kind: str, build: Builder) -> None:
    _BUILDERS[kind] = build


def run_stamp(ctx, frame: tuple[int, int, int]) -> dict:
    """What a model file records of the run that trained it: the run, its benchmark and family, its
    ``models`` section (the sizes) and the shape [H, W, C] of the frames it was built for."""
    return {"run": ctx.run.name, "benchmark": ctx.run.benchmark, "model": ctx.run.model,
            "models": ctx.run.model_params, "frame": [int(v) for v in frame]}


def trained_stamp(ctx) -> dict:
    """``run_stamp`` of the run training now, its frame shape read from its frames file."""
    info = read_frames_info(ctx.frames)
    return run_stamp(ctx, (info.height, info.width, info.channels))


def save_model(path: str | Path, kind: str, config: dict, model: nn.Module, stamp: dict) -> None:
    """Write ``model`` with its kind, its config and ``stamp`` (``run_stamp``) atomically."""
    if kind not in _BUILDERS:
        raise ValueError(f"model kind {kind!r} is not registered (genvid.models.store.register_kind)")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    save_torch(path, {"kind": kind, "config": config, "run": stamp, "state_dict": state})


def load_model(path: str | Path, kind: str | None = None, run=None) -> tuple[nn.Module, dict]:
    """The model stored at ``path`` in eval mode, and its config; with ``kind``, check it is one; with
    ``run`` (the RunContext loading it), check the file is that run's (``check_stamp``)."""
    path = Path(path)
    if not path.exists():
        raise GenvidError(f"{path}: file not found")
    blob = load_torch(path, "model file")
    found = blob.get("kind") if isinstance(blob, dict) else type(blob).__name__
    if run is not None:
        check_stamp(path, blob, run)
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


def check_stamp(path: Path, blob, ctx, frame: tuple[int, int, int] | None = None,
                sampling_keys: tuple[str, ...] = ("sampling",)) -> None:
    """The model file ``path`` (its loaded ``blob``) was trained for run ``ctx`` with today's sizes: the
    stamp's run, benchmark and family are the run's, its models section today's (but ``sampling_keys``),
    and, given ``frame`` (the run's frames [H, W, C]), its frame shape that one."""
    stamp = blob.get("run") if isinstance(blob, dict) else None
    name = ctx.run.name
    if not isinstance(stamp, dict):
        raise GenvidError(f"{path}: a model file without the stamp of the run that trained it, loaded for run "
                          f"{name!r} (rerun train@{name})")
    for key in ("run", "benchmark", "model"):
        want = getattr(ctx.run, "name" if key == "run" else key)
        if stamp.get(key) != want:
            raise GenvidError(f"{path}: a model file of run {stamp.get('run')!r} ({stamp.get('model')} on "
                              f"{stamp.get('benchmark')}), not of run {name!r} ({ctx.run.model} on "
                              f"{ctx.run.benchmark}): rerun train@{name}")
    where = _stale(stamp.get("models"), ctx, sampling_keys)
    if where is not None:
        raise GenvidError(f"{path}: trained with {where[0]} = {where[1]!r}, but {ctx.params_path} has "
                          f"{where[2]!r} for run {name!r} (a stale model file: rerun train@{name})")
    if frame is not None and stamp.get("frame") != [int(v) for v in frame]:
        raise GenvidError(f"{path}: built for frames [H, W, C] = {stamp.get('frame')}, but the frames of run {name!r} "
                          f"(benchmark {ctx.run.benchmark}) are {[int(v) for v in frame]} (rerun train@{name})")


def check_run_record(ctx, sampling_keys: tuple[str, ...] = ("sampling",), frame: tuple[int, int, int] | None = None
                     ) -> None:
    """The model folder was trained for this run with today's ``models.<model>`` section: a folder of
    another run, or params changed since training (but ``sampling_keys``, read when sampling), is one
    line naming the folder or the key, before any model loads. Then every model file in it is checked
    the same way by its own stamp (``check_stamp``), against the run's ``frame`` [H, W, C] too where
    the caller has read it."""
    path = ctx.model_dir / RUN_RECORD
    record = read_json(path)
    if not isinstance(record, dict) or record.get("run") != ctx.run.name:
        found = record.get("run") if isinstance(record, dict) else None
        raise GenvidError(f"{path}: the model folder of run {found!r}, not {ctx.run.name!r} (rerun train@{ctx.run.name})")
    trained = record.get("models")
    if not isinstance(trained, dict):
        raise GenvidError(f"{path}: 'models' must be the run's models section, got {trained!r}")
    where = _stale(trained, ctx, sampling_keys)
    if where is not None:
        raise GenvidError(f"{ctx.params_path}: {where[0]} is {where[2]!r}, but {ctx.model_dir} was trained with "
                          f"{where[1]!r} (a stale model: rerun train@{ctx.run.name})")
    for model_file in sorted(Path(ctx.model_dir).glob("*.pt")):
        check_stamp(model_file, load_torch(model_file, "model file"), ctx, frame, sampling_keys)


def _stale(trained, ctx, sampling_keys: tuple[str, ...]):
    """The first (key, trained value, today's value) where the models section ``trained`` differs from the
    run's today, ``sampling_keys`` aside; None when they agree."""
    trained, now = trained if isinstance(trained, dict) else {}, ctx.run.model_params
    for key in sorted(set(trained) | set(now)):
        if key not in sampling_keys:
            where = _first_difference(trained.get(key), now.get(key), f"models.{ctx.run.model}.{key}")
            if where is not None:
                return where
    return None


def _first_difference(old, new, where: str):
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            found = _first_difference(old.get(key), new.get(key), f"{where}.{key}")
            if found is not None:
                return found
        return None
    plain = (lambda v: list(v) if isinstance(v, tuple) else v)
    return None if plain(old) == plain(new) else (where, old, new)

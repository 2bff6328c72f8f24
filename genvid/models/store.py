"""Final model files: weights + the kind and config they were built from; loads with weights_only=True.

``load_model(path)`` reads the stored kind and rebuilds the model with the builder registered
for it (``register_kind``), so every model file loads through one function.
"""
from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from genvid.errors import GenvidError
from genvid.io import save_torch

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
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, zipfile.BadZipFile, EOFError) as err:
        raise GenvidError(f"{path}: not a readable model file ({str(err).splitlines()[0]})") from None
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


def _vqvae(config: dict) -> nn.Module:
    from genvid.models.vq.vqvae3d import VQVAE3D, VQVAEConfig

    return VQVAE3D(VQVAEConfig.from_dict(config))


def _prior(config: dict) -> nn.Module:
    from genvid.models.vq.pixelsnail3d import PixelSNAIL3d, PixelSNAILConfig

    return PixelSNAIL3d(PixelSNAILConfig.from_dict(config))


register_kind("vqvae3d", _vqvae)
register_kind("pixelsnail3d_top", _prior)
register_kind("pixelsnail3d_bottom", _prior)

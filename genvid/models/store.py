"""Final model files: weights + the config they were built from; loads with weights_only=True."""
from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Callable, TypeVar

import torch
from torch import nn

from genvid.errors import GenvidError
from genvid.io import save_torch

M = TypeVar("M", bound=nn.Module)


def save_model(path: str | Path, kind: str, config: dict, model: nn.Module) -> None:
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    save_torch(path, {"kind": kind, "config": config, "state_dict": state})


def load_model(path: str | Path, kind: str, build: Callable[[dict], M], expected: dict | None = None,
               section: str = "", params_path: str | Path = "params.yaml") -> tuple[M, dict]:
    """Load ``path``; check it holds a ``kind`` model and (if given) was built from ``expected``."""
    path = Path(path)
    if not path.exists():
        raise GenvidError(f"{path}: file not found")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, zipfile.BadZipFile, EOFError) as err:
        raise GenvidError(f"{path}: not a readable model file ({str(err).splitlines()[0]})") from None
    if not isinstance(blob, dict) or blob.get("kind") != kind:
        found = blob.get("kind") if isinstance(blob, dict) else type(blob).__name__
        raise GenvidError(f"{path}: expected a {kind} model file, found {found!r}")
    config = blob["config"]
    if expected is not None:
        for key in sorted(set(config) | set(expected)):
            if config.get(key) != expected.get(key):
                raise GenvidError(f"{path}: trained with {section}.{key}={config.get(key)!r} but "
                                  f"{params_path} has {expected.get(key)!r}; rerun the training stage")
    model = build(config)
    try:
        model.load_state_dict(blob["state_dict"])
    except RuntimeError as err:
        raise GenvidError(f"{path}: weights do not fit the {kind} config "
                          f"({str(err).splitlines()[0]})") from None
    return model.eval(), config


def load_vqvae(path: str | Path, expected: dict | None = None, params_path: str | Path = "params.yaml"):
    """The trained VQ-VAE; with ``expected``, fail unless params' ``vqvae`` section built it."""
    from genvid.models.vqvae3d import VQVAE3D, VQVAEConfig

    return load_model(path, "vqvae3d", lambda c: VQVAE3D(VQVAEConfig.from_dict(c)), expected, "vqvae",
                      params_path)


def load_prior(path: str | Path, level: str, codebook_size: int | None = None):
    """A trained PixelSNAIL prior of ``level``; with ``codebook_size``, check it models that K."""
    from genvid.models.pixelsnail3d import PixelSNAIL3d, PixelSNAILConfig

    prior, config = load_model(path, f"pixelsnail3d_{level}",
                               lambda c: PixelSNAIL3d(PixelSNAILConfig.from_dict(c)))
    if codebook_size is not None and config["num_codes"] != codebook_size:
        raise GenvidError(f"{path}: prior has K={config['num_codes']} but the latent file has "
                          f"codebook_size={codebook_size}")
    return prior, config


def load_vqvae_for_params(path: str | Path, params: dict, params_path: str | Path = "params.yaml"):
    """The trained VQ-VAE, which must have been built from the ``vqvae`` section of ``params``."""
    from genvid.models.vqvae3d import VQVAEConfig
    from genvid.params import model_config

    expected = model_config(VQVAEConfig.from_dict, params, "vqvae", params_path).to_dict()
    return load_vqvae(path, expected, params_path)

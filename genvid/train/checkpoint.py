"""Training checkpoints: one file, written atomically, loadable with ``weights_only=True``.

Layout (plain tensors, numbers, strings, lists and dicts only — no pickled classes):

    format       int, CHECKPOINT_FORMAT
    fingerprint  str, the caller's fingerprint of config + data
    config       dict, the TrainConfig fields that change the result (see RESUME_KEYS)
    n_train      int, training-set size
    step         int, optimisation steps completed
    epoch, offset  int, data position: next sample is ``offset`` into epoch ``epoch``
    model        the model's state_dict
    optimizer, scheduler   {optimiser name: state_dict} (one per named optimiser)
    rng          genvid.determinism.rng_state() at the step boundary
    window       {"count": int, "sums": {name: float}}: the open logging window
    curves       list of row dicts (see genvid.train.curves)
    world_size   int, only when N > 1 processes trained (genvid.train.distributed): N
    rng_ranks    list of N rng_state()s in rank order (rng_ranks[0] == rng), with world_size

A single process writes neither of the last two, so its checkpoint is what it always was. Under
N processes rank 0 gathers every rank's RNG states and alone writes the file. The number of
processes is not among RESUME_KEYS: a checkpoint resumes under another N (not bit for bit).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from genvid.errors import GenvidError
from genvid.io import save_torch

CHECKPOINT_FORMAT = 2  # 2: one optimiser and scheduler state per named optimiser
CHECKPOINT_NAME = "checkpoint.pt"

# A checkpoint resumes only under the same values of these; num_workers and ckpt_every
# change neither the weights nor the curves, so a rerun may change them freely.
RESUME_KEYS = ("steps", "batch_size", "lr", "weight_decay", "betas", "eps", "warmup_steps",
               "warmup_start", "schedule", "min_lr_ratio", "grad_clip", "val_every", "val_batches",
               "log_every", "seed", "optimizers")


def save(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Write atomically: a kill mid-write leaves the previous checkpoint in place."""
    save_torch(path, state)


def load(path: str | os.PathLike, map_location: str | torch.device | None = "cpu") -> dict:
    """Load a checkpoint (weights_only); an unreadable file is a one-line GenvidError."""
    path = Path(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise GenvidError(f"{path}: checkpoint not found") from None
    except Exception as err:  # truncated zip, foreign pickle, ...
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise GenvidError(f"{path}: unreadable checkpoint ({first})") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise GenvidError(f"{path}: not a genvid training checkpoint "
                          f"(expected format {CHECKPOINT_FORMAT})")
    return state


def load_weights(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Just the model state_dict of a training checkpoint (for downstream stages)."""
    return load(path)["model"]


def resume_config(cfg_dict: dict[str, Any]) -> dict[str, Any]:
    return {k: cfg_dict.get(k) for k in RESUME_KEYS}


def mismatch(state: dict, fingerprint: str, config: dict[str, Any], n_train: int) -> str | None:
    """Why ``state`` may not be resumed under these settings, or None if it may."""
    if state.get("fingerprint") != fingerprint:
        return f"fingerprint {str(state.get('fingerprint'))[:16]} != {fingerprint[:16]}"
    if state.get("n_train") != n_train:
        return f"training set size {state.get('n_train')} != {n_train}"
    saved = state.get("config", {})
    for key, value in config.items():
        if saved.get(key) != value:
            return f"{key} {saved.get(key)!r} != {value!r}"
    return None

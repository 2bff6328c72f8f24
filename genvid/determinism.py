"""The one place for determinism: seeds, deterministic kernels, DataLoader worker seeding."""
from __future__ import annotations

import os
import random

import numpy as np
import torch


def configure_torch(threads: int | None = None) -> None:
    """Deterministic kernels everywhere (SPEC §9): no cuDNN autotune, no TF32."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    if threads is not None:
        torch.set_num_threads(threads)


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; return a CPU generator for DataLoader shuffling."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    configure_torch()
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: derive numpy/python seeds from torch's per-worker seed."""
    worker_seed = torch.initial_seed() % 2**32
    np.random.seed(worker_seed)
    random.seed(worker_seed)


def rng_state() -> dict:
    """All global RNG states, for checkpoints (plain tensors/lists: loads with weights_only)."""
    state = {
        "python": _python_state_to_tensor(random.getstate()),
        "numpy": _numpy_state_to_tensor(np.random.get_state()),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.stack(torch.cuda.get_rng_state_all())
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(_python_state_from_tensor(state["python"]))
    np.random.set_state(_numpy_state_from_tensor(state["numpy"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(list(state["cuda"]))


# The python and numpy states are tuples of ints; store them as int64 tensors so a
# checkpoint needs no pickled python objects (torch.load(weights_only=True)).
def _python_state_to_tensor(state: tuple) -> torch.Tensor:
    version, internal, gauss = state
    gauss_flag = 0 if gauss is None else 1
    gauss_bits = np.float64(gauss or 0.0).view(np.int64)
    return torch.tensor([version, *internal, gauss_flag, int(gauss_bits)], dtype=torch.int64)


def _python_state_from_tensor(t: torch.Tensor) -> tuple:
    values = t.tolist()
    version, internal, gauss_flag, gauss_bits = values[0], values[1:-2], values[-2], values[-1]
    gauss = float(np.int64(gauss_bits).view(np.float64)) if gauss_flag else None
    return (version, tuple(internal), gauss)


def _numpy_state_to_tensor(state: tuple) -> torch.Tensor:
    _name, keys, pos, has_gauss, cached = state
    cached_bits = np.float64(cached).view(np.int64)
    head = np.array([pos, has_gauss, cached_bits], dtype=np.int64)
    return torch.from_numpy(np.concatenate([keys.astype(np.int64), head]))


def _numpy_state_from_tensor(t: torch.Tensor) -> tuple:
    values = t.numpy()
    keys = values[:-3].astype(np.uint32)
    pos, has_gauss, cached_bits = (int(v) for v in values[-3:])
    cached = float(np.int64(cached_bits).view(np.float64))
    return ("MT19937", keys, pos, has_gauss, cached)

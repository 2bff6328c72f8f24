"""One training run on several processes: torchrun, a process group, and what ``fit`` exchanges.

Launch. ``distributed.nproc`` in params.yaml (or the GENVID_NPROC environment variable, which wins)
sets N. With N > 1 the train stage re-executes itself under PyTorch's own launcher,
``python -m torch.distributed.run --standalone --nproc_per_node N -m stages.train ...`` (torchrun),
so dvc.yaml's command stays ``python -m stages.train --run <run>``. Each of the N processes joins
one process group (gloo on CPU, nccl on CUDA: ``distributed.backend: auto``).

What ``genvid.train.fit`` does when a process group is up (docs/cluster.md):

- Data: the global batch is ``TrainConfig.batch_size`` whatever N; rank r takes the r-th
  contiguous slice (batch_size / N samples) of every global batch of the one deterministic data
  order (genvid.train.sampler), so the data position (epoch, offset) is global and the params mean
  the same under any N. N must divide batch_size.
- Gradients: after each backward, every parameter's gradient is summed over the ranks (one
  all_reduce per dtype) and divided by N: the mean of N per-rank means over equal shards, i.e.
  the global batch's mean gradient, which is what DistributedDataParallel computes. The DDP wrapper
  itself is not used: objectives call model methods other than ``forward`` (``loss``, a GAN's two
  losses with their own optimisers), and DDP's reducer is armed only by ``forward``.
- State kept out of gradients: buffers (BatchNorm running statistics, the VQ-VAE's EMA codebook,
  ActNorm's "initialised" flag) are broadcast from rank 0 after every step, as DDP does with
  ``broadcast_buffers=True``; parameters and buffers are broadcast once before the first step and
  once after it (a data-dependent initialisation in the first forward, e.g. ActNorm, would
  otherwise differ per rank). Every checkpoint compares a digest of the model state across ranks.
- Randomness: rank 0 draws from ``cfg.seed``'s stream (so N = 1 is the plain run), rank r >= 1
  from ``rank_seed(cfg.seed, r)``: dropout masks and noise differ between shards, as they differ
  between the samples of one batch in a single process.
- Logged scalars are means over ranks; validation batches are dealt out round-robin and their
  per-sample sums added up, so every rank sees the same numbers and stops on the same error.
"""
from __future__ import annotations

import hashlib
import os
import sys
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, Iterator, Mapping

import torch
import torch.distributed as dist
from torch import nn

from genvid.errors import GenvidError, ParamError

NPROC_ENV = "GENVID_NPROC"
BACKENDS = ("auto", "gloo", "nccl")
# Ranks wait for each other at every step; between the fits of a VQ run they evaluate and extract
# latents side by side, so one rank may reach the next collective well after another.
TIMEOUT = timedelta(hours=1)
_RANK_STREAM = 3  # genvid.train.sampler.derived_seed key (0-2 are the sampler's own streams)


# ----------------------------------------------------------------------------- launch

def nproc_setting(nproc: int, environ: Mapping[str, str] | None = None) -> int:
    """Processes per training run: GENVID_NPROC if set, else ``distributed.nproc``."""
    env = os.environ if environ is None else environ
    raw = env.get(NPROC_ENV, "").strip()
    if not raw:
        return nproc
    if not raw.isdigit() or int(raw) < 1:
        raise ParamError(f"{NPROC_ENV} must be an integer >= 1, got {raw!r}")
    return int(raw)


def under_torchrun(environ: Mapping[str, str] | None = None) -> bool:
    """True in a process that torchrun (or any launcher setting RANK and WORLD_SIZE) started."""
    env = os.environ if environ is None else environ
    return "RANK" in env and "WORLD_SIZE" in env


def env_rank(environ: Mapping[str, str] | None = None) -> int:
    """This process's rank as its launcher set it (0 outside torchrun)."""
    env = os.environ if environ is None else environ
    return int(env.get("RANK", "0")) if under_torchrun(env) else 0


def torchrun_command(nproc: int, module: str, argv: list[str]) -> list[str]:
    """``torchrun --standalone --nproc_per_node N -m module argv`` with this interpreter (this venv).

    ``--standalone`` rendezvouses on a free local port, so concurrent stages do not collide. The
    ``--`` keeps torchrun's own parser off the stage's options (``--run`` would be an ambiguous
    abbreviation of its ``--run-path``). ``--log-dir`` /dev/null: the workers print to the stage's own
    streams as ever, and torchrun leaves no ``/tmp/torchelastic_*`` folder behind after every run.
    """
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
            f"--log-dir={os.devnull}", "-m", "--", module, *argv]


def relaunch(nproc: int, module: str, argv: list[str]) -> None:
    """Replace this process by torchrun running ``python -m module argv`` in ``nproc`` processes."""
    command = torchrun_command(nproc, module, argv)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(command[0], command)


def resolve_backend(backend: str, device: str) -> str:
    """``auto`` -> gloo on CPU, nccl on CUDA; nccl on CPU is an error."""
    if backend not in BACKENDS:
        raise ParamError(f"distributed.backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "auto":
        return "nccl" if device == "cuda" else "gloo"
    if backend == "nccl" and device != "cuda":
        raise ParamError("distributed.backend nccl needs device.device cuda (use gloo or auto on cpu)")
    return backend


@contextmanager
def process_group(backend: str, device: str) -> Iterator[tuple[int, int]]:
    """Join torchrun's process group (if this process is one of its workers); yield (rank, world).

    On CUDA each process takes the GPU of its LOCAL_RANK, so ``cuda`` means that one. Outside
    torchrun nothing is set up and (0, 1) is yielded.
    """
    if not under_torchrun() or dist.is_initialized():
        yield rank_and_world()
        return
    name = resolve_backend(backend, device)
    if device == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(name, timeout=TIMEOUT)
    try:
        yield rank_and_world()
    finally:
        dist.destroy_process_group()


def rank_and_world() -> tuple[int, int]:
    """(rank, world size) of the current process group; (0, 1) without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def check_divides(batch_size: int, world: int, where: str) -> None:
    """Every rank must get the same number of samples of each global batch."""
    if batch_size % world:
        raise GenvidError(f"{where}: batch_size {batch_size} is not a multiple of the {world} training "
                          f"processes (distributed.nproc or {NPROC_ENV}); each process takes batch_size / "
                          f"nproc samples of every batch")


def batch_sizes(section: Any, prefix: str) -> list[tuple[str, int]]:
    """Every ``batch_size`` in a (nested) train section, with its dotted key."""
    found: list[tuple[str, int]] = []
    if isinstance(section, dict):
        for key, value in section.items():
            if key == "batch_size" and isinstance(value, int):
                found.append((f"{prefix}.{key}", value))
            else:
                found.extend(batch_sizes(value, f"{prefix}.{key}"))
    return found


def rank_seed(seed: int, rank: int, *keys: int) -> int:
    """The seed of rank ``rank``'s global RNG stream (rank 0 keeps ``seed`` itself unless ``keys``)."""
    from genvid.train.sampler import derived_seed

    return seed if rank == 0 and not keys else derived_seed(seed, _RANK_STREAM, rank, *keys)


# ----------------------------------------------------------------------------- what fit exchanges

def average_gradients(params: list[nn.Parameter], world: int) -> None:
    """Replace each gradient by its mean over the ranks (one all_reduce per dtype and device).

    A parameter without a gradient on some rank counts as a zero there; one without a gradient on
    every rank keeps ``grad = None`` (AdamW then skips it, as in one process).
    """
    groups: dict[tuple[torch.dtype, torch.device], list[nn.Parameter]] = {}
    for p in params:
        groups.setdefault((p.dtype, p.device), []).append(p)
    for (dtype, device), ps in groups.items():
        has = torch.tensor([p.grad is not None for p in ps], dtype=torch.float32, device=device)
        flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in ps]
                         + [has.to(dtype)])
        dist.all_reduce(flat)
        present = flat[-len(ps):].tolist()
        flat = flat[:-len(ps)].div_(world)
        offset = 0
        for p, any_rank in zip(ps, present):
            n = p.numel()
            if any_rank > 0:
                p.grad = flat[offset:offset + n].view_as(p)
            offset += n


def mean_over_ranks(values: dict[str, float], world: int, device: torch.device) -> dict[str, float]:
    """Means over ranks of scalars that every rank computed under the same names."""
    names = sorted(values)
    t = torch.tensor([values[k] for k in names], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    means = dict(zip(names, (t / world).tolist()))
    return {k: means[k] for k in values}


def broadcast_state(model: nn.Module, parameters: bool) -> None:
    """Rank 0's buffers (those in the state_dict), and its parameters if asked, on every rank."""
    tensors = [b for name, b in model.named_buffers() if _persistent(model, name)]
    if parameters:
        tensors = [p.data for p in model.parameters()] + tensors
    for t in tensors:
        dist.broadcast(t, src=0)


def _persistent(model: nn.Module, dotted: str) -> bool:
    owner, _, name = dotted.rpartition(".")
    module = model.get_submodule(owner) if owner else model
    return name not in module._non_persistent_buffers_set


def state_digest(model: nn.Module) -> str:
    """SHA-256 of the model's state_dict bytes (names, dtypes, shapes, values)."""
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        t = t.detach().cpu().contiguous().reshape(-1)
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def gather(obj: Any) -> list[Any]:
    """``obj`` of every rank, in rank order, on every rank."""
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank."""
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """``t`` summed over the ranks, in place (no-op in one process): for statistics a model
    accumulates from its batch outside the gradients (an EMA codebook's counts and sums)."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(t)
    return t

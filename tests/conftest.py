"""Shared fixtures: small synthetic frame files, and the repo root."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from genvid.allocator import keep_freed_memory  # noqa: E402

torch.set_num_threads(1)
# make test runs two workers on two cores, and a stage a test starts runs at the params' 2 threads beside the
# other worker: with libgomp's default policy its threads spin at each barrier while their partner waits for a
# core, and such a stage trains several times slower (benchmarks/shared_cores.py). Sleeping at once costs a lone
# process some speed, so the stages keep the default; where threads wait never changes the bits.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# the pytest workers reuse freed pages as every stage process does (genvid.allocator): I3D's and the VQ-VAE's
# tests allocate tensors of tens of megabytes; the bytes never depend on it
keep_freed_memory()

# The tiny profile's hvrnn lists are for SM-MNIST's 64x64 frames; these fit 32x32 frames.
TINY_AT_32 = {"hvrnn": {"encoder_widths": [8, 8, 8, 8], "decoder_widths": [8, 8, 8, 8, 8],
                        "latent_resolutions": [1, 8, 16]}}


def synthetic_episodes(lengths, resolution=16, seed=0):
    rng = np.random.default_rng(seed)
    for n in lengths:
        yield SimpleNamespace(
            frames=rng.integers(0, 256, size=(n, resolution, resolution, 3), dtype=np.uint8),
            actions=rng.uniform(-1, 1, size=(n, 3)).astype(np.float32),
            speed=rng.uniform(0, 30, size=n).astype(np.float32),
        )


def make_frames_file(path, lengths=(40, 40, 40), resolution=16, seed=0):
    from genvid.data.frames import write_frames

    write_frames(path, synthetic_episodes(lengths, resolution, seed), sum(lengths), resolution,
                 {"source": "synthetic", "resolution": resolution, "seed": seed})
    return path


@pytest.fixture
def frames_file(tmp_path):
    return make_frames_file(tmp_path / "frames.h5")


@pytest.fixture(scope="session")
def repo_root():
    return ROOT


def copy_repo(dst: Path) -> Path:
    """Copy the working tree (tracked + untracked, not ignored) into ``dst`` as a fresh git repo,
    a new project: without the committed dvc.lock, whose stages the tests' profiles rerun anyway
    and which DVC rereads at every stage (200 kB of YAML: seconds a stage)."""
    import shutil
    import subprocess

    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                           cwd=ROOT, check=True, capture_output=True).stdout.decode().split("\0")
    for rel in filter(lambda r: r and r != "dvc.lock", files):
        src = ROOT / rel
        if src.is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / rel)
            copy_bytecode(src, dst / rel)
    subprocess.run(["git", "init", "-q"], cwd=dst, check=True)
    return dst


def copy_bytecode(src: Path, dst: Path) -> None:
    """A module's cached bytecode beside its copy (the Makefile's compileall writes it): the copy keeps the
    source's size and mtime, so Python accepts it, and a copy's stages need not compile genvid each (where
    PYTHONDONTWRITEBYTECODE is set, every process would). A stale or missing file is simply recompiled."""
    import importlib.util
    import shutil

    if src.suffix != ".py" or sys.pycache_prefix is not None:  # a prefix keys the cache by absolute path
        return
    cached = Path(importlib.util.cache_from_source(str(src)))
    if cached.is_file():
        target = Path(importlib.util.cache_from_source(str(dst)))
        target.parent.mkdir(exist_ok=True)
        shutil.copy2(cached, target)


def venv_env() -> dict:
    """Environment whose PATH finds the venv's python, dvc and snakemake first."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONHASHSEED"] = "0"
    # the scratch projects some tests `dvc init` lack the project's `core.analytics = false`: DVC would spawn
    # its analytics daemon (a network call, a report file left in /tmp) after each command there
    env["DVC_NO_ANALYTICS"] = "1"
    env.pop("PYTHONPATH", None)
    return env


# -- model tests: seeded noise, random clips, the fixed-batch overfit loop -----------------------

def gen(seed: int = 0) -> torch.Generator:
    """A CPU generator seeded with ``seed``."""
    return torch.Generator().manual_seed(seed)


def rand_clip(b: int = 2, t: int = 4, c: int = 1, r: int = 16, seed: int = 1) -> torch.Tensor:
    """[B, T, C, r, r] uniform in [0, 1), from its own generator (the global RNG is left alone)."""
    return torch.rand(b, t, c, r, r, generator=gen(seed))


def overfit_losses(model: torch.nn.Module, frames: torch.Tensor, opt: torch.optim.Optimizer, steps: int = 30,
                   seed: int | None = 0) -> list[float]:
    """Train ``model.loss(frames, step)`` on one fixed batch for ``steps`` steps; the losses in order.
    ``seed`` reseeds the global RNG (the models' training noise) first; None leaves it as it is."""
    if seed is not None:
        torch.manual_seed(seed)
    losses = []
    for step in range(steps):
        loss, _ = model.loss(frames, step)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def load_benchmark(name: str):
    """benchmarks/<name>.py as a module (the benchmark scripts are not a package), registered in sys.modules
    as ``bench_<name>`` so that its dataclasses and pickles resolve."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module

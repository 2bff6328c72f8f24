"""Shared fixtures: small synthetic frame files, and the repo root."""
from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

torch.set_num_threads(1)


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
    """Copy the working tree (tracked + untracked, not ignored) into ``dst`` as a fresh git repo."""
    import shutil
    import subprocess

    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                           cwd=ROOT, check=True, capture_output=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        src = ROOT / rel
        if src.is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / rel)
    subprocess.run(["git", "init", "-q"], cwd=dst, check=True)
    return dst


def venv_env() -> dict:
    """Environment whose PATH finds the venv's python, dvc and snakemake first."""
    import os

    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONHASHSEED"] = "0"
    env.pop("PYTHONPATH", None)
    return env

"""The VQ family's inputs of the report (seed 000): a run whose train_metrics.json has the VQ-VAE
and prior fields (genvid.data.train_metrics.has_vq), its code histograms (models/<r>/latents.h5)
and its level decodings (the figures file, stage figures). The report shows the VQ chapters only
for such a run, whatever its model is called.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from genvid.data.figures import LevelDecodings
from genvid.data.latents import read_latent_info
from genvid.data.train_metrics import VQ_COMPONENTS, VQ_LEVELS
from genvid.errors import GenvidError
from genvid.report.readers import RunResult


def code_histograms(path: Path, split: str = "test", chunk: int = 256) -> dict[str, np.ndarray]:
    """Counts of every code index per level over one split of the latent file (chunked)."""
    info = read_latent_info(path)
    k = info["codebook_size"]
    counts = {}
    with h5py.File(path, "r") as f:
        for level in VQ_LEVELS:
            ds, total = f[split][level], np.zeros(k, dtype=np.int64)
            for a in range(0, ds.shape[0], chunk):
                codes = ds[a:a + chunk].astype(np.int64).ravel()
                if codes.size and (codes.min() < 0 or codes.max() >= k):
                    raise GenvidError(f"{path}: '{split}/{level}' holds an index outside [0, {k})")
                total += np.bincount(codes, minlength=k)
            counts[level] = total
    return counts


@dataclass
class VQRun:
    """What the VQ chapters show beyond the generic run: codes, the model's config and sizes, Fig. 6.1."""

    latents: Path
    code_counts: dict[str, np.ndarray]  # level -> count of each code index on the test codes
    codebook_size: int  # K, from the latent file
    levels: LevelDecodings  # the figures file's level decodings (config, parameter counts, frames)

    @property
    def config(self) -> dict:
        return self.levels.config


def read_vq_run(result: RunResult, levels: LevelDecodings | None, figures: Path) -> VQRun | None:
    """The VQ pieces of ``result`` (None: not a VQ-family run). Its level decodings must be in the
    figures file, made from this run."""
    if not all(isinstance(result.train_metrics.get(c), dict) for c in VQ_COMPONENTS):
        return None
    if levels is None or levels.run != result.name:
        raise GenvidError(f"{figures}: holds no level decodings of run '{result.name}' (made for "
                          f"{levels.run if levels else 'no run'!r}: rerun stage figures)")
    latents = result.paths.model_dir / "latents.h5"
    return VQRun(latents, code_histograms(latents), int(read_latent_info(latents)["codebook_size"]), levels)

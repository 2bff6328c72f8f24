"""Resumable data order: epoch e's permutation is a pure function of (seed, e).

The data position is (epoch, offset) with offset = samples consumed in that epoch, so a
resumed run restarts at the exact next batch without loading the skipped samples.

Under N training processes (genvid.train.distributed) the order and the position stay global:
rank r takes the r-th contiguous slice of batch_size / N samples of every global batch.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from genvid.determinism import seed_worker

# Distinct streams derived from the same seed: the permutation and the DataLoader's
# generator (which draws the workers' base seed) must not share random numbers.
_PERMUTATION, _WORKERS, _VALIDATION = 0, 1, 2

# The futures' seeds (stage sample, sample.seed): the protocol's batch from (seed, its first clip), every
# other draw from (seed, its stream, ...), so that adding one leaves the others' futures as they were.
COUNTERFACTUAL_STREAM = 1  # (seed, 1, first clip): the counterfactual clips' futures
LONG_HORIZON_STREAM = 2  # (seed, 2, first clip): the long-horizon protocol's
DIAGNOSTICS_STREAM = 3  # (seed, 3, 0): a family's diagnostics in a protocol-scored ablation (stage ablate)


def derived_seed(seed: int, *keys: int) -> int:
    """A 63-bit seed that is a pure, well-mixed function of (seed, *keys)."""
    words = np.random.SeedSequence([seed, *keys]).generate_state(2, dtype=np.uint32)
    return int((int(words[0]) << 31) ^ int(words[1]))


def epoch_permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(derived_seed(seed, _PERMUTATION, epoch))
    return torch.randperm(n, generator=g)


class EpochBatchSampler(Sampler[list[int]]):
    """One epoch's permutation in batches from ``start_batch`` on; the last partial one dropped.

    With ``world_size`` > 1 it yields rank ``rank``'s slice of each (global) batch.
    """

    def __init__(self, n: int, batch_size: int, seed: int, epoch: int, start_batch: int = 0,
                 rank: int = 0, world_size: int = 1):
        if batch_size % world_size or not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} of {world_size} cannot take an equal share of batch_size {batch_size}")
        self.n, self.batch_size, self.seed, self.epoch = n, batch_size, seed, epoch
        self.start_batch, self.rank, self.world_size = start_batch, rank, world_size

    def __len__(self) -> int:
        return max(0, self.n // self.batch_size - self.start_batch)

    def __iter__(self) -> Iterator[list[int]]:
        perm = epoch_permutation(self.n, self.seed, self.epoch)
        bs, share = self.batch_size, self.batch_size // self.world_size
        for b in range(self.start_batch, self.n // bs):
            first = b * bs + self.rank * share
            yield perm[first:first + share].tolist()


def train_loader(dataset: Dataset, batch_size: int, seed: int, epoch: int, offset: int,
                 num_workers: int, pin_memory: bool = False, rank: int = 0,
                 world_size: int = 1) -> DataLoader:
    """The loader for the rest of epoch ``epoch`` starting ``offset`` samples in (rank ``rank``'s
    share of each global batch of ``batch_size`` when ``world_size`` > 1).

    Worker seeds come from a generator derived from (seed, epoch), never from the global
    RNG (DataLoader draws its base seed from the global RNG when given no generator).
    Datasets should be deterministic per index: randomness inside ``__getitem__`` in
    worker processes is not reproduced exactly when resuming mid-epoch, because the
    batch-to-worker assignment restarts at the resume point.
    """
    assert offset % batch_size == 0, (offset, batch_size)
    sampler = EpochBatchSampler(len(dataset), batch_size, seed, epoch, offset // batch_size,
                                rank, world_size)
    # Rank r >= 1 seeds its workers from its own stream (rank 0's is the single-process one).
    workers = derived_seed(seed, _WORKERS, epoch) if rank == 0 else derived_seed(seed, _WORKERS, epoch, rank)
    return DataLoader(
        dataset, batch_sampler=sampler, num_workers=num_workers,
        worker_init_fn=seed_worker if num_workers else None,
        generator=torch.Generator().manual_seed(workers),
        persistent_workers=False, pin_memory=pin_memory)


def val_loader(dataset: Dataset, batch_size: int, seed: int, num_workers: int,
               pin_memory: bool = False) -> DataLoader:
    """Sequential, every sample once (last partial batch kept)."""
    return DataLoader(
        dataset, batch_size=batch_size, shuffle=False, drop_last=False, num_workers=num_workers,
        worker_init_fn=seed_worker if num_workers else None,
        generator=torch.Generator().manual_seed(derived_seed(seed, _VALIDATION)),
        persistent_workers=False, pin_memory=pin_memory)


def sharded_val_loader(dataset: Dataset, batch_size: int, seed: int, num_workers: int, rank: int,
                       world_size: int, max_batches: int | None = None,
                       pin_memory: bool = False) -> DataLoader:
    """Rank ``rank``'s batches of ``val_loader``'s sequence (batch i goes to rank i mod N), of the
    first ``max_batches`` (all when None)."""
    n = len(dataset)
    total = -(-n // batch_size)
    if max_batches is not None:
        total = min(total, max_batches)
    batches = [list(range(i * batch_size, min(n, (i + 1) * batch_size))) for i in range(rank, total, world_size)]
    return DataLoader(
        dataset, batch_sampler=batches, num_workers=num_workers,
        worker_init_fn=seed_worker if num_workers else None,
        generator=torch.Generator().manual_seed(derived_seed(seed, _VALIDATION, rank)),
        persistent_workers=False, pin_memory=pin_memory)

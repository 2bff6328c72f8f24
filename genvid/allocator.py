"""Keep freed memory in the process for the next tensor, rather than handing it back to the kernel.

glibc's malloc serves every block above its mmap threshold (128 kB at first, rising to at most 32 MB)
with a fresh mmap and unmaps it on free. A stage allocates and frees tensors of tens of megabytes
every step (I3D's activations, a training step's), so each one costs a page fault per 4 kB page
touched, and the kernel's zeroing of every page, again and again. With the thresholds raised, the
heap keeps those pages and reuses them. What a kernel computes never depends on where its memory
came from, so the bytes are the same: a forced run of the whole DAG reproduces dvc.lock with it.
The time it saves: benchmarks/allocator.py, rendered in docs/results.md.

The kept pages raise a stage's peak resident memory (freed blocks stay in the heap, some of them
fragmented): GENVID_KEEP_FREED_MEMORY=0 in the environment leaves glibc's defaults, for a machine
short of memory. Only glibc is tuned: elsewhere (macOS, musl) ``keep_freed_memory`` changes nothing
and says so.
"""
from __future__ import annotations

import ctypes
import os
import sys

M_TRIM_THRESHOLD = -1  # <malloc.h>: free memory at the top of the heap kept before it is returned
M_MMAP_THRESHOLD = -3  # <malloc.h>: blocks at least this large get their own mmap
KEEP_BELOW = 1 << 30   # blocks under 1 GiB come from the reusable heap
TRIM_ABOVE = 2**31 - 1  # mallopt takes an int: the heap keeps up to ~2 GiB of freed memory
SWITCH = "GENVID_KEEP_FREED_MEMORY"  # "0": glibc's defaults


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds for this process; True where both took effect."""
    if os.environ.get(SWITCH, "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this process already runs on
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return mallopt(M_MMAP_THRESHOLD, KEEP_BELOW) == 1 and mallopt(M_TRIM_THRESHOLD, TRIM_ABOVE) == 1

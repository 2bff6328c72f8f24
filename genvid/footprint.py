"""What a benchmark's params imply for this machine's memory and disk, refused before any work (issue 47).

A size param's rule bounds it alone (genvid.config); several sizes multiply: a collect stage that accepted
each of its sizes once tried to allocate 235 GiB and died with a traceback. So each stage that holds or
writes arrays its params size asks here first, and a need beyond the machine is refused in one line that
names the keys and the estimate: a non-zero exit, nothing written.

An estimate counts the largest arrays the stage holds at once (or the file it writes), not Python's or a
library's overhead: a lower bound, so a refusal is certain where it happens, and passing is no promise.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from genvid.data.benchmark import GENERATED_CHANNELS
from genvid.errors import ParamError

GIB = 2 ** 30


@dataclass(frozen=True)
class Need:
    """``bytes`` of ``resource`` ("memory" or "disk") that ``keys`` imply for ``what``."""

    resource: str
    bytes: int
    keys: str  # the params keys whose product it is, as the user would change them
    what: str


def machine_memory() -> int:
    """This machine's physical memory in bytes."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def free_disk(path: str | Path) -> int:
    """Free bytes on the file system that will hold ``path`` (its nearest existing folder)."""
    folder = Path(path).absolute()
    while not folder.exists():
        folder = folder.parent
    return shutil.disk_usage(folder).free


def gib(n: float) -> str:
    """Bytes in GiB, or MiB below one GiB."""
    return f"{n / GIB:,.1f} GiB" if n >= GIB else f"{n / 2 ** 20:,.1f} MiB"


def check(needs: list[Need], where: str, out: str | Path, memory: int | None = None, disk: int | None = None) -> None:
    """Raise one ParamError line for the first need beyond the machine (``memory``/``disk``: the machine's, by
    default measured; ``out``: where the stage writes)."""
    have = {"memory": machine_memory() if memory is None else memory,
            "disk": free_disk(out) if disk is None else disk}
    for need in needs:
        if need.bytes > have[need.resource]:
            place = "this machine's memory" if need.resource == "memory" else f"the free disk under {Path(out).parent}"
            raise ParamError(f"{where}: {need.keys} imply {gib(need.bytes)} for {need.what}, more than "
                             f"{place} ({gib(have[need.resource])}); lower them")


def collect_needs(bench, key: str) -> list[Need]:
    """Stage collect: one simulated episode in memory and the frames file on disk; a generated test set on disk
    (SM-MNIST and Dynamics-like: written in blocks); a user's videos at most ``max_frames`` an episode."""
    c = bench.collect
    at = f"benchmarks.{key}.collect"
    if c.source in GENERATED_CHANNELS:
        size = 64 * 64 * GENERATED_CHANNELS[c.source]
        return [Need("disk", c.test_sequences * c.sequence_length * size,
                     f"{at}.test_sequences x sequence_length", "the test set's frames file")]
    frame = c.resolution * c.resolution * 3
    if c.source == "video_dir":
        if c.max_frames is None:
            return []
        return [Need("memory", c.max_frames * frame, f"{at}.max_frames x resolution²", "one video's frames")]
    return [Need("memory", c.frames_per_episode * frame, f"{at}.frames_per_episode x resolution²",
                 "one episode's frames"),
            Need("disk", c.episodes * c.frames_per_episode * frame,
                 f"{at}.episodes x frames_per_episode x resolution²", "the frames file")]


def counterfactual_needs(bench, key: str, channels: int = 3) -> list[Need]:
    """Stage counterfactuals: every clip under every held action, in memory ([M, K, T, H, W, C] uint8), at most
    ``clips`` of the test clips (0: all, which the protocol's own sizes bound)."""
    cf, proto = bench.counterfactuals, bench.protocol
    if cf is None or not cf.clips or not hasattr(bench.collect, "resolution"):
        return []
    r = bench.collect.resolution
    frames = cf.clips * len(cf.actions) * (proto.context_frames + proto.horizon)
    return [Need("memory", frames * r * r * channels,
                 f"benchmarks.{key}.counterfactuals.clips x the protocol's frames x resolution²",
                 "the counterfactual clips")]


def motion_needs(bench, key: str) -> list[Need]:
    """Stage motion_classifier: the training futures in memory as float32 ([sequences, horizon, C, 64, 64])."""
    m = bench.motion_classifier
    if m is None:
        return []
    channels = GENERATED_CHANNELS.get(bench.collect.source, 3)
    return [Need("memory", m.sequences * bench.protocol.horizon * channels * 64 * 64 * 4,
                 f"benchmarks.{key}.motion_classifier.sequences x protocol.horizon",
                 "the classifier's training futures")]

"""genvid.allocator: a stage process reuses the pages of a freed large array instead of faulting in fresh
ones, and computes the same bytes either way."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import ROOT, venv_env

# Allocates, writes and frees a 64 MiB array, then does it again, and reports the minor page faults of the
# second round (16,384 pages of 4 KiB when malloc maps fresh memory) and a digest of what it computed.
PROBE = """
import hashlib, json, resource, numpy as np
def round_trip():
    a = np.empty(1 << 23)  # 64 MiB
    a[:] = np.arange(a.size) * 0.5
    digest = hashlib.sha256(np.sqrt(a).tobytes()).hexdigest()
    del a
    return digest
round_trip()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
digest = round_trip()
print(json.dumps({"faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before, "digest": digest}))
"""

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc: Linux only")


def probe(prelude: str, **env: str) -> dict:
    done = subprocess.run([sys.executable, "-c", prelude + PROBE], cwd=ROOT, env={**venv_env(), **env},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_stage_process_reuses_freed_pages_and_computes_the_same_bytes():
    plain = probe("")
    stage = probe("import stages\n")  # what every `python -m stages.<name>` runs first
    assert plain["faults"] >= 8192  # malloc mapped the second array afresh: the probe sees the faults
    assert stage["faults"] < 1024  # the heap kept the first array's pages
    assert stage["digest"] == plain["digest"]


def test_keep_freed_memory_says_whether_it_took_effect():
    out = probe("from genvid.allocator import keep_freed_memory\nassert keep_freed_memory() is True\n")
    assert out["faults"] < 1024


def test_the_switch_leaves_glibc_s_defaults():
    """GENVID_KEEP_FREED_MEMORY=0, for a machine short of memory: a stage process maps afresh again."""
    out = probe("from genvid.allocator import keep_freed_memory\nassert keep_freed_memory() is False\nimport stages\n",
                GENVID_KEEP_FREED_MEMORY="0")
    assert out["faults"] >= 8192

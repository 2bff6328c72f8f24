"""Which CPU generation this is: '<vendor> family <f> model <m>' from /proc/cpuinfo (Linux).

One model name spans generations ("AMD EPYC" is a Zen 3 and a Zen 4), and oneDNN may block a 3D
convolution otherwise on another generation (docs/reproducibility.md, the measured exception), so the
golden records (tests/test_golden.py), verify's likely causes and the benchmarks' headers name it.
"""
from __future__ import annotations

import os
from pathlib import Path

FIELDS = {"vendor_id": "vendor", "cpu family": "family", "model": "model"}


def cpu_generation(cpuinfo: str | os.PathLike = "/proc/cpuinfo") -> str:
    """'<vendor> family <f> model <m>' of the first processor listed; '?' where unknown."""
    found: dict[str, str] = {}
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        name = FIELDS.get(key.strip())  # "model name" is not "model"
        if name and name not in found:
            found[name] = value.strip()
    return f"{found.get('vendor') or 'unknown'} family {found.get('family') or '?'} model {found.get('model') or '?'}"

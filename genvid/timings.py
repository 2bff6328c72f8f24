"""Wall times of the stages: measured, so never part of a DVC-tracked (byte-identical) artefact.

Each stage CLI records its wall time in ``logs/timings/<stage>.json`` (git-ignored); the report
and the leaderboard show them in untracked companion files.
"""
from __future__ import annotations

import json
from pathlib import Path

from genvid.io import atomic_write_text

TIMINGS_DIR = Path("logs/timings")


def stage_name(module: str, argv: list[str]) -> str:
    """"stages.train" + ["--run", "driving-vq"] -> "train@driving-vq" (dvc.yaml's name)."""
    name = module.rsplit(".", 1)[-1]
    for flag in ("--run", "--benchmark"):
        if flag in argv[:-1]:
            return f"{name}@{argv[argv.index(flag) + 1]}"
    return name


def record(stage: str, seconds: float, root: str | Path = ".") -> None:
    atomic_write_text(Path(root) / TIMINGS_DIR / f"{stage}.json",
                      json.dumps({"stage": stage, "seconds": round(seconds, 3)}) + "\n")


def read_timings(root: str | Path = ".") -> dict[str, float]:
    """{stage name: wall seconds} of the stages that recorded one in this workspace."""
    out = {}
    for path in sorted((Path(root) / TIMINGS_DIR).glob("*.json")):
        try:
            data = json.loads(path.read_text())
            out[str(data["stage"])] = float(data["seconds"])
        except (ValueError, KeyError, TypeError):
            continue  # a timing is a convenience, never a reason to fail
    return out

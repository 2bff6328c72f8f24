"""Where the default DAG's minutes go: the stage times a `dvc repro` recorded (logs/timings/, genvid.timings),
summed per kind of stage, with the largest stages of each, beside the whole run's wall time.

    rm -rf checkpoints logs/timings && time dvc repro -f      # a cold run, nothing else on the machine
    python benchmarks/dag_minutes.py --wall 2530 > benchmarks/results/dag-cold-<machine>.txt

The difference between the wall time and the stages' sum is DVC's and Python's start-up per stage
(DVC hashes the dependencies and rewrites dvc.lock after each stage).
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from genvid.determinism import cpu_info  # noqa: E402
from genvid.machine import cpu_generation  # noqa: E402
from genvid.timings import read_timings  # noqa: E402


def summary(timings: dict[str, float], wall: float | None, largest: int = 3) -> list[str]:
    kinds: dict[str, list[tuple[str, float]]] = {}
    for name, seconds in timings.items():
        kinds.setdefault(name.split("@", 1)[0], []).append((name, seconds))
    total = sum(timings.values())
    lines = [f"stages: {len(timings)}, their own time {total:.0f} s ({total / 60:.1f} min)"]
    if wall is not None:
        lines.append(f"wall time of the whole run: {wall:.0f} s ({wall / 60:.1f} min); start-up and DVC: "
                     f"{wall - total:.0f} s ({(wall - total) / max(len(timings), 1):.1f} s a stage)")
    lines += ["", f"{'kind':<18}{'stages':>7}{'seconds':>9}{'minutes':>9}  largest"]
    for kind, items in sorted(kinds.items(), key=lambda kv: -sum(s for _, s in kv[1])):
        seconds = sum(s for _, s in items)
        top = ", ".join(f"{n.split('@', 1)[-1]} {s:.0f}" for n, s in sorted(items, key=lambda x: -x[1])[:largest])
        lines.append(f"{kind:<18}{len(items):>7}{seconds:>9.0f}{seconds / 60:>9.1f}  {top}")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wall", type=float, default=None, help="the whole run's wall seconds (time dvc repro -f)")
    parser.add_argument("--root", default=str(ROOT))
    args = parser.parse_args(argv)
    timings = read_timings(args.root)
    if not timings:
        raise SystemExit(f"error: {Path(args.root) / 'logs/timings'} holds no stage time: run the DAG first")
    info = cpu_info()
    cpu = f"{info['model'] or platform.processor()} ({cpu_generation()}, {os.cpu_count()} CPUs)"
    print(f"# the default DAG, cold (dvc repro -f, no checkpoints), on {cpu}")
    print("\n".join(summary(timings, args.wall)))


if __name__ == "__main__":
    main()

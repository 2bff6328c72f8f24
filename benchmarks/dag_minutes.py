"""Where the default DAG's minutes go: the stage times a `dvc repro` recorded (logs/timings/, genvid.timings),
summed per kind of stage, with the largest stages of each, beside the whole run's wall time.

    rm -rf checkpoints logs/timings && time dvc repro -f      # a cold run, nothing else on the machine
    python benchmarks/dag_minutes.py --wall 2530 > benchmarks/results/dag-cold-<machine>.txt

The difference between the wall time and the stages' sum is DVC's and Python's start-up per stage
(DVC hashes the dependencies and rewrites dvc.lock after each stage). `--overhead` splits it, side by
side in one process, best of --repeats each (nothing else on the machine): an interpreter's start, `import
torch`, one stage's command run directly, the same stage through `dvc repro -f -s` (the lock as it is), and
of DVC's part, the read and rewrite of the whole dvc.lock that follows every stage (it grows with the DAG):

    python benchmarks/dag_minutes.py --overhead leaderboard@smmnist
"""
from __future__ import annotations

import argparse
import os
import platform
import shlex
import subprocess
import sys
import time
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


def best_wall(cmd: list[str], cwd: str, repeats: int) -> float:
    """The fastest of ``repeats`` runs of ``cmd`` (wall seconds); a failing command stops the script."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
        times.append(time.perf_counter() - t0)
        if done.returncode != 0:
            raise SystemExit(f"error: {' '.join(cmd)} failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
    return min(times)


# DVC's rewrite of dvc.lock after each stage it runs, alone: dvc.dvcfile.Lockfile.dump_stages reads the whole
# lock with ruamel's round-trip loader (comments kept) and writes it back whole, through this function.
_LOCK_ROUND_TRIP = """
import shutil, sys, tempfile, time
from pathlib import Path
from dvc.utils.serialize import modify_yaml
best = None
with tempfile.TemporaryDirectory() as tmp:
    copy = Path(tmp) / "dvc.lock"
    for _ in range(int(sys.argv[2])):
        shutil.copyfile(sys.argv[1], copy)
        t0 = time.perf_counter()
        with modify_yaml(str(copy)) as data:
            data["stages"] = data.get("stages", {})
        best = min(best or 1e9, time.perf_counter() - t0)
print(best)
"""


def lock_round_trip(lock: Path, repeats: int) -> float:
    """The fastest of ``repeats`` reads and rewrites of a copy of ``lock`` as DVC makes them (seconds)."""
    done = subprocess.run([sys.executable, "-c", _LOCK_ROUND_TRIP, str(lock), str(repeats)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise SystemExit(f"error: rewriting a copy of {lock} failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
    return float(done.stdout.strip())


def overhead(stage: str, root: str, repeats: int) -> list[str]:
    """What one stage costs beyond its own work: Python, torch, DVC (module docstring)."""
    from workflow.dag import load_stages

    spec = {s.name: s for s in load_stages(root)}.get(stage)
    if spec is None:
        raise SystemExit(f"error: --overhead: no stage {stage!r} in {Path(root) / 'dvc.yaml'}")
    py = sys.executable
    direct = [py if word == "python" else word for word in shlex.split(spec.cmd)]
    lock = Path(root) / "dvc.lock"
    dvc = str(Path(py).parent / "dvc")
    rows = [("python -c pass", best_wall([py, "-c", "pass"], root, repeats)),
            ("python -c 'import torch'", best_wall([py, "-c", "import torch"], root, repeats)),
            (f"{spec.cmd} (directly)", best_wall(direct, root, repeats)),
            (f"dvc repro -f -s {stage}", best_wall([dvc, "repro", "-f", "-s", stage], root, repeats)),
            (f"dvc repro -s {stage} (up to date: nothing runs)", best_wall([dvc, "repro", "-s", stage], root, repeats))]
    (_, direct_s), (_, forced), (_, noop) = rows[2], rows[3], rows[4]
    out = [f"one stage's overhead, best of {repeats}; dvc.lock {lock.stat().st_size / 1e3:.0f} kB"
           if lock.exists() else f"one stage's overhead, best of {repeats}; no dvc.lock"]
    out += [f"  {name:<64}{seconds:7.2f} s" for name, seconds in rows]
    out += [f"  DVC's part of each stage it runs (dvc.lock rewritten, outputs hashed and cached): "
            f"{forced - noop - direct_s:.2f} s",
            f"  DVC's start and checks, once per dvc command: {noop:.2f} s"]
    if lock.exists():  # the lock grows by a stage's entry as a cold run goes: about half of this a stage on average
        out.append(f"  of DVC's part, dvc.lock read and rewritten whole (as after every stage): "
                   f"{lock_round_trip(lock, repeats):.2f} s")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wall", type=float, default=None, help="the whole run's wall seconds (time dvc repro -f)")
    parser.add_argument("--root", default=str(ROOT))
    parser.add_argument("--overhead", metavar="STAGE", help="time one stage's start-up and DVC's part instead")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if args.overhead:
        info = cpu_info()
        print(f"# per-stage overhead on {info['model'] or platform.processor()} ({cpu_generation()}, "
              f"{os.cpu_count()} CPUs)")
        print("\n".join(overhead(args.overhead, args.root, args.repeats)))
        return
    timings = read_timings(args.root)
    if not timings:
        raise SystemExit(f"error: {Path(args.root) / 'logs/timings'} holds no stage time: run the DAG first")
    info = cpu_info()
    cpu = f"{info['model'] or platform.processor()} ({cpu_generation()}, {os.cpu_count()} CPUs)"
    print(f"# the default DAG, cold (dvc repro -f, no checkpoints), on {cpu}")
    print("\n".join(summary(timings, args.wall)))


if __name__ == "__main__":
    main()

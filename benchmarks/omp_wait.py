"""Benchmark: OpenMP's wait policy when a two-thread torch process shares the cores with another one.

    python benchmarks/omp_wait.py                  # 60 training steps per process
    python benchmarks/omp_wait.py --steps 10       # quicker

``make test`` runs two pytest workers on a two-core machine, and a test that launches a stage with
``repro.threads: 2`` puts a two-thread process beside the other worker. libgomp's default lets a thread
that finished its share of a parallel region spin for the next one; beside another busy process that
spinning takes the core the other process needs. ``OMP_WAIT_POLICY=PASSIVE`` puts it to sleep instead.
This script times the same small convolutional training loop (a fresh child process each, so every
library reads its environment at load) four ways, side by side:

- alone, two threads, the default policy and PASSIVE: what a DAG stage gets on an idle machine;
- two threads beside a one-thread copy of itself, the default policy and PASSIVE: what a test's stage gets
  beside the other worker (both processes under the same policy, as ``tests/conftest.py`` sets it for both).

It prints each case's seconds and the ratios. The policy changes when threads sleep, not how the work is
split, so each thread count computes the same bytes under either policy (the script checks the final losses).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

CHILD = """
import sys, time, torch
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Conv2d(3, 32, 3, padding=1), torch.nn.ReLU(),
                          torch.nn.Conv2d(32, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(32, 3, 3, padding=1))
opt = torch.optim.Adam(net.parameters())
x = torch.randn(8, 3, 64, 64)
start = time.perf_counter()
for _ in range(int(sys.argv[1])):
    loss = (net(x) - x).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
print(f"{time.perf_counter() - start:.4f} {loss.item()!r}")
"""


def launch(steps: int, threads: int, policy: str | None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    if policy:
        env["OMP_WAIT_POLICY"] = policy
    return subprocess.Popen([sys.executable, "-c", CHILD, str(steps)], env=env, stdout=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen) -> tuple[float, str]:
    out, _ = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"error: a timing child failed with exit code {proc.returncode}")
    seconds, loss = out.split()
    return float(seconds), loss


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=60, help="training steps of each child")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error("--steps must be >= 1")
    rows: dict[tuple[str, str], float] = {}
    losses: dict[int, set[str]] = {1: set(), 2: set()}  # by thread count: the count, unlike the policy, changes bytes
    for policy, name in ((None, "spin (default)"), ("PASSIVE", "PASSIVE")):
        seconds, loss = finish(launch(args.steps, 2, policy))
        rows[("alone", name)] = seconds
        losses[2].add(loss)
        start = time.perf_counter()
        pair = launch(args.steps, 2, policy), launch(args.steps, 1, policy)
        (two, loss2), (one, loss1) = finish(pair[0]), finish(pair[1])
        rows[("beside", name)] = two
        rows[("beside, the one-thread copy", name)] = one
        rows[("beside, both done", name)] = time.perf_counter() - start
        losses[2].add(loss2)
        losses[1].add(loss1)
    print(f"omp_wait: {args.steps} steps of a small conv net per process, torch threads 2 (and 1 beside)")
    print(f"{'case':<32} {'spin (default)':>15} {'PASSIVE':>10} {'spin / PASSIVE':>15}")
    for case in ("alone", "beside", "beside, the one-thread copy", "beside, both done"):
        spin, passive = rows[(case, "spin (default)")], rows[(case, "PASSIVE")]
        print(f"{case:<32} {spin:>14.2f}s {passive:>9.2f}s {spin / passive:>14.2f}x")
    print(f"same final loss under either policy: {all(len(v) == 1 for v in losses.values())}")


if __name__ == "__main__":
    main()

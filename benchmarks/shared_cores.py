"""Benchmark: two training processes sharing the machine's cores, under OpenMP's wait policies.

    python benchmarks/shared_cores.py                    # SVG-LP with actions, driving's 64x64 clips, batch 16
    python benchmarks/shared_cores.py --model feature_flow --batch 8 --steps 10

Each process trains a registered model's network (params.yaml's sizes; random 64x64 clips of driving's
shape) for --steps steps at params `repro.threads` threads, in the stages' pinned environment
(genvid.determinism.pin_environment), and reports its steps per second. Measured: one process alone,
then two at once, first under libgomp's default wait policy (a thread that reaches a barrier first
spins before it sleeps), with a shorter spin (GOMP_SPINCOUNT=10000), and under OMP_WAIT_POLICY=PASSIVE
(it sleeps at once).

Why it matters: `make test` runs two pytest workers on two cores, and a stage a test starts runs at
the params' 2 threads beside the other worker. With more busy threads than cores, a spinning thread
burns the time slice its partner needs to reach the barrier. The wait policy decides where threads
wait, not how the work is split, so the bits do not depend on it (tests/test_repro_pins.py); the tests
run under PASSIVE (tests/conftest.py). Printed, never asserted; machines differ.
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from genvid.determinism import cpu_info, pin_environment, threads_from_params  # noqa: E402
from genvid.machine import cpu_generation  # noqa: E402

# a label, and the variables it sets (none: libgomp's default, threads spin about 300,000 rounds at a barrier)
POLICIES = {"default": {}, "spin 10000": {"GOMP_SPINCOUNT": "10000"}, "PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE"}}


def child(model_name: str, batch: int, steps: int, params_path: str) -> None:
    """Train ``steps`` steps (after two untimed ones) and print the steps per second."""
    pin_environment(threads_from_params(params_path))
    import torch

    from models import step  # benchmarks/models.py: the same training step it times

    from genvid import params as P
    from genvid.data.frames import CONDITIONING
    from genvid.models.registry import MODELS

    if model_name not in MODELS or MODELS[model_name].network is None:
        known = ", ".join(name for name, spec in MODELS.items() if spec.network is not None)
        raise SystemExit(f"error: --model: {model_name!r} is not a registered one-network model (known: {known})")
    params = P.read_params(params_path)
    torch.manual_seed(0)
    spec = MODELS[model_name]
    model = spec.network(params["models"][model_name], 3, 64, 8)
    opt = torch.optim.Adam(model.parameters(), 1e-4)
    clips = torch.rand(batch, 16, 3, 64, 64).mul(255).round().div(255)
    given = {"cond": torch.zeros(batch, 16, len(CONDITIONING[spec.conditioning]))} if spec.conditioning else {}

    model.train()
    for _ in range(2):
        step(model, opt, clips, given)
    t0 = time.perf_counter()
    for _ in range(steps):
        step(model, opt, clips, given)
    print(f"{steps / (time.perf_counter() - t0):.4f}", flush=True)


def run_together(count: int, policy: str, args: argparse.Namespace) -> list[float]:
    """Steps per second of each of ``count`` processes started at once under ``policy``."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update(POLICIES[policy])
    cmd = [sys.executable, __file__, "--child", "--model", args.model, "--batch", str(args.batch),
           "--steps", str(args.steps), "--params", args.params]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(count)]
    rates = []
    for proc in procs:
        out, err = proc.communicate()
        if proc.returncode != 0:  # its last line: its own one-line error, or a traceback's last
            last = err.strip().splitlines()[-1] if err.strip() else f"exit {proc.returncode}"
            raise SystemExit(last if last.startswith("error: ") else f"error: a training process failed: {last}")
        rates.append(float(out.split()[-1]))
    return rates


def table(results: dict[tuple[str, int], list[float]]) -> list[str]:
    """One row per (policy, processes): each process's rate, their total, and the total against the
    first policy's lone process."""
    first = next(iter(results))[0]
    alone = sum(results[(first, 1)])
    lines = [f"{'wait policy':12s} {'processes':>9s}  {'steps/s of each':>18s}  {'total':>6s}  "
             f"{'total / ' + first + ' alone':>21s}"]
    for (policy, count), rates in results.items():
        each = ", ".join(f"{r:.2f}" for r in rates)
        lines.append(f"{policy:12s} {count:9d}  {each:>18s}  {sum(rates):6.2f}  {sum(rates) / alone:21.2f}")
    return lines


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="svg_lp_action", help="a registered one-network model")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--params", default=str(ROOT / "params.yaml"))
    ap.add_argument("--policies", default=",".join(POLICIES), help=f"of {', '.join(POLICIES)} (comma-separated)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.batch < 1 or args.steps < 1:
        raise SystemExit("error: --batch and --steps must be at least 1")
    if args.child:
        child(args.model, args.batch, args.steps, args.params)
        return
    policies = args.policies.split(",")
    if not set(policies) <= set(POLICIES):
        raise SystemExit(f"error: --policies {args.policies!r}: each must be one of {', '.join(POLICIES)}")
    threads = threads_from_params(args.params)
    info = cpu_info()
    print(f"# two training processes sharing the cores: {args.model}, driving-shaped 64x64 clips, batch {args.batch}, "
          f"{args.steps} steps, {threads} threads each (repro.threads), on {info['model'] or platform.processor()} "
          f"({cpu_generation()}, {os.cpu_count()} CPUs)", flush=True)
    results = {}
    for policy in policies:
        for count in (1, 2):
            results[(policy, count)] = run_together(count, policy, args)
    print("\n".join(table(results)))


if __name__ == "__main__":
    main()

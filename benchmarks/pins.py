"""Benchmark: what bit-for-bit reproducibility costs in speed (issue 10; docs/reproducibility.md).

    python benchmarks/pins.py                    # both workloads, 3 interleaved processes per variant
    python benchmarks/pins.py --only vqvae --steps 8 --repeats 2

Two workloads, each side by side in fresh subprocesses (the pins act when numpy/torch load):

- ``vqvae``: one training step (forward, backward, AdamW) of the default profile's 3D VQ-VAE on a
  batch of its clips, with the stages' pins (genvid.determinism.pin_environment at repro.threads)
  against none (each library's own choice: ISA, MKL branch, threads = this machine's cores), and
  with each pin alone, to attribute the cost; and genvid's AdamW (genvid.numerics: a correctly
  rounded square root, the same on Intel and AMD) against torch's, both with every pin.
- ``simulator``: frames per second of the procedural simulator with its exact maths
  (genvid/data/sim_math.py) against numpy's and libm's functions patched back in.

Times are medians per step (per frame) over the processes, each of which runs --steps timed steps
after two warm-up steps: wall time, and CPU time of all the process's threads (steadier when the
machine is shared; variants alternate for the same reason). The ISA pins are compared with the
same thread count without them ("threads pinned"); ratios above 1 are slower. Printed, never
asserted.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from genvid.determinism import DEFAULT_THREADS, pin_environment, threads_from_params  # noqa: E402

THREADS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_DYNAMIC", "MKL_DYNAMIC", "OPENBLAS_NUM_THREADS")
# name -> the pin_environment variables the variant sets (None: all of them). The thread count is a
# param, not a cost: the ISA pins are measured against the same thread count without them.
VQVAE_VARIANTS = {
    "library defaults": (),
    "threads pinned": THREADS,
    "+ MKL COMPATIBLE": (*THREADS, "MKL_CBWR"),
    "+ ATen/oneDNN AVX2": (*THREADS, "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"),
    "all pins": None,
}
BASELINE = "threads pinned"
TORCH_ADAMW = "all pins, torch AdamW"  # the stages' optimiser before issue 19, against "all pins"


def default_vqvae() -> dict:
    """The default profile's VQ-VAE sizes, batch size and clip shape from params.yaml."""
    p = yaml.safe_load((ROOT / "params.yaml").read_text())
    if "models" in p:  # benchmarks / models / train / runs layout
        run = next(iter(p["runs"].values()))
        bench = p["benchmarks"][run["benchmark"]]
        return {"vqvae": p["models"]["vq"]["vqvae"], "batch": p["train"]["vq"]["vqvae"]["batch_size"],
                "clip_len": bench["clips"]["clip_len"], "res": bench["collect"]["resolution"]}
    return {"vqvae": p["vqvae"], "batch": p["train_vqvae"]["batch_size"],  # flat layout
            "clip_len": p["clips"]["clip_len"], "res": p["collect"]["resolution"]}


# ----------------------------------------------------------------------------- workers (subprocesses)

def work_vqvae(steps: int, torch_adamw: bool = False) -> list[tuple[float, float]]:
    import dataclasses

    import torch

    from genvid.determinism import configure_torch, seed_everything
    from genvid.models.vq.vqvae3d import VQVAE3D, VQVAEConfig
    from genvid.numerics import AdamW

    setup = default_vqvae()
    known = {f.name for f in dataclasses.fields(VQVAEConfig)}
    cfg = {k: tuple(v) if isinstance(v, list) else v for k, v in setup["vqvae"].items() if k in known}
    seed_everything(0)
    configure_torch()
    model = VQVAE3D(VQVAEConfig(**cfg))
    opt = (torch.optim.AdamW if torch_adamw else AdamW)(model.parameters(), lr=1e-3)
    x = torch.rand(setup["batch"], 3, setup["clip_len"], setup["res"], setup["res"]) * 2 - 1
    times = []
    for i in range(steps + 2):
        start = (time.perf_counter(), time.process_time())
        loss, _ = model.loss(x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i >= 2:
            times.append((time.perf_counter() - start[0], time.process_time() - start[1]))
    return times


def _numpy_maths() -> None:
    """Put numpy's/libm's functions back where the simulator calls its exact ones."""
    import math

    import numpy as np

    from genvid.data import sim_math as sm

    def either(scalar, array):
        return lambda x: scalar(x) if isinstance(x, float) else array(x)

    sm.sin, sm.cos, sm.tan = either(math.sin, np.sin), either(math.cos, np.cos), either(math.tan, np.tan)
    sm.arctan = either(math.atan, np.arctan)
    sm.arctan2 = lambda y, x: math.atan2(y, x) if isinstance(x, float) and isinstance(y, float) else np.arctan2(y, x)
    sm.sincos = lambda x: (sm.sin(x), sm.cos(x))
    sm.exp, sm.log, sm.power, sm.hypot = np.exp, np.log, np.power, np.hypot
    sm.wrap_angle = lambda a: np.angle(np.exp(1j * a))


def work_simulator(frames: int) -> list[tuple[float, float]]:
    from genvid.data.sources import generate_episode

    times = []
    for seed in range(2):
        start = (time.perf_counter(), time.process_time())
        generate_episode("procedural", 1000 + seed, frames, 64, 0.2)
        times.append(((time.perf_counter() - start[0]) / frames, (time.process_time() - start[1]) / frames))
    return times


def worker(args: argparse.Namespace) -> None:
    if args.keep is not None:  # before numpy/torch load
        pins = pin_environment(args.threads, {})
        os.environ.update({k: v for k, v in pins.items() if args.keep == ["all"] or k in args.keep})
    if args.worker == "vqvae":
        times = work_vqvae(args.steps, args.torch_adamw)
    else:
        if args.numpy_maths:
            _numpy_maths()
        times = work_simulator(args.steps * 10)
    print(json.dumps(times))


# ----------------------------------------------------------------------------- driver

def launch(workload: str, steps: int, threads: int, keep: tuple[str, ...] | None,
           numpy_maths: bool = False, torch_adamw: bool = False) -> list[tuple[float, float]]:
    env = dict(os.environ)
    for key in pin_environment(threads, {}):
        env.pop(key, None)
    cmd = [sys.executable, __file__, "--worker", workload, "--steps", str(steps), "--threads", str(threads)]
    if keep is None:
        cmd += ["--keep", "all"]
    elif keep:
        cmd += ["--keep", *keep]
    if numpy_maths:
        cmd.append("--numpy-maths")
    if torch_adamw:
        cmd.append("--torch-adamw")
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def summarise(name: str, times: list[tuple[float, float]], base: list[tuple[float, float]] | None,
              unit: str, scale: float) -> str:
    """Median wall and CPU time (all threads) per step, and their ratios to ``base``'s."""
    wall, cpu = (statistics.median(t[i] for t in times) for i in (0, 1))
    line = f"  {name:<20} wall {wall * scale:8.1f} {unit}  cpu {cpu * scale:8.1f} {unit}"
    if base:
        b_wall, b_cpu = (statistics.median(t[i] for t in base) for i in (0, 1))
        line += f"   x{wall / b_wall:.2f} wall, x{cpu / b_cpu:.2f} cpu"
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("vqvae", "simulator"))
    parser.add_argument("--steps", type=int, default=5, help="timed VQ-VAE steps per process (x10 frames)")
    parser.add_argument("--repeats", type=int, default=3, help="processes per variant")
    parser.add_argument("--worker", choices=("vqvae", "simulator"), help=argparse.SUPPRESS)
    parser.add_argument("--keep", nargs="*", help=argparse.SUPPRESS)
    parser.add_argument("--numpy-maths", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--torch-adamw", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=None, help="repro.threads (default: params.yaml's)")
    args = parser.parse_args()
    if args.threads is None:
        args.threads = threads_from_params(ROOT / "params.yaml") if (ROOT / "params.yaml").exists() else DEFAULT_THREADS
    if args.worker:
        return worker(args)

    import platform

    from genvid.determinism import cpu_info, x86_level
    cpu = cpu_info()
    print(f"{cpu['model']} ({x86_level(cpu['flags'])}, {len(os.sched_getaffinity(0))} cores), "
          f"repro.threads {args.threads}, python {platform.python_version()}")
    if args.only in (None, "vqvae"):
        s = default_vqvae()
        print(f"VQ-VAE training step (default profile: batch {s['batch']} x {s['clip_len']}x{s['res']}x{s['res']}), "
              f"{args.repeats} processes x {args.steps} steps:")
        runs: dict[str, list[float]] = {name: [] for name in (*VQVAE_VARIANTS, TORCH_ADAMW)}
        for _ in range(args.repeats):
            for name, keep in VQVAE_VARIANTS.items():
                runs[name] += launch("vqvae", args.steps, args.threads, keep)
            runs[TORCH_ADAMW] += launch("vqvae", args.steps, args.threads, None, torch_adamw=True)
        for name, times in runs.items():
            if name == TORCH_ADAMW:
                continue
            print(summarise(name, times, runs[BASELINE] if name not in ("library defaults", BASELINE) else None,
                            "ms", 1e3))
        print("genvid's AdamW (every variant above) against torch's, every pin:")
        print(summarise("genvid AdamW", runs["all pins"], runs[TORCH_ADAMW], "ms", 1e3))
    if args.only in (None, "simulator"):
        print(f"procedural simulator, 64x64 frames, {args.repeats} processes x 2 episodes x {args.steps * 10} frames:")
        exact, numpy_maths = [], []
        for _ in range(args.repeats):
            numpy_maths += launch("simulator", args.steps, args.threads, None, numpy_maths=True)
            exact += launch("simulator", args.steps, args.threads, None)
        print(summarise("numpy/libm maths", numpy_maths, None, "ms/frame", 1e3))
        print(summarise("exact (sim_math)", exact, numpy_maths, "ms/frame", 1e3))


if __name__ == "__main__":
    main()

"""Benchmark: ATen ops of one training step of the VQ family's PixelSNAIL priors, eager and compiled.

    python benchmarks/prior_ops.py                      # the thesis profile's driving-vq priors
    python benchmarks/prior_ops.py --profile tiny       # a smoke test

Issue 25 item 2: on a GPU every ATen op is at least one kernel launch, and the thesis priors' steps
were launch-bound. This counts, on the CPU, the computing ATen ops (views left out, composites by the
ops they call: gpu_estimates.aten_ops) of one forward and backward pass of each prior at one clip,
side by side in one run:

- eager, as params device.compile: false trains it;
- compiled, as device.compile: true trains it (genvid.device.compile_units: the stems, each SNAIL block and the
  conditioning stack through Inductor), whose generated kernels are not ATen ops; the first compiled
  step (compilation) is not counted.

With ``--against REV`` (default 1eb4953, the code issue 25's counts, 3,937 and 7,600, were taken on)
the eager step of that revision's genvid/models/vq/pixelsnail3d.py (read with git, built at the same
structure) is counted in the same run, and the fall from it to today's compiled step printed:
issue 25 asks for five-fold. ``--against none`` skips it.

The count follows the layer structure (blocks, layers, attention, conditioning, checkpointing),
not the widths or the grid, so the priors are built with the profile's structure at --channels
channels on a small grid; the eager count of the profile's own sizes, on the meta device, is
printed beside it as the check (equal for the top prior; for the bottom prior 3 ops apart, the
backward's buffers being made otherwise on the meta device). Compilation time is this CPU's.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import subprocess
import sys
import time
from dataclasses import replace
from types import ModuleType
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import gpu_estimates  # noqa: E402
from genvid.determinism import configure_torch, seed_everything  # noqa: E402
from genvid.device import compile_units  # noqa: E402
from genvid.models.vq.pixelsnail3d import PixelSNAILConfig  # noqa: E402


def narrow(cfg: PixelSNAILConfig, channels: int) -> PixelSNAILConfig:
    """``cfg``'s structure at ``channels`` channels on a small grid (2 code steps of 2x2 top codes,
    the bottom grid the same multiple of it as in ``cfg``)."""
    small = {"channels": channels, "key_channels": min(cfg.key_channels, channels),
             "value_channels": min(cfg.value_channels, channels), "cond_channels": channels if cfg.cond_channels else 0}
    if cfg.cond_shape is None:
        return replace(cfg, **small, shape=(2, 4, 4))
    cond = (2, 2, 2)
    return replace(cfg, **small, cond_shape=cond, shape=tuple(c * (s // t) for c, s, t in zip(cond, cfg.shape, cfg.cond_shape)))


def count(setup: dict, level: str, compiled: bool, channels: int,
          module: ModuleType | None = None) -> tuple[int, float | None]:
    """ATen ops of one training step of the narrowed prior; the seconds its first (compiling) step took.
    ``module``: another revision's pixelsnail3d (module_at), its prior built at the same structure."""
    cfg = narrow(setup["priors"][level], channels)
    seed_everything(0)
    model, inputs = gpu_estimates.build({**setup, "priors": {**setup["priors"], level: cfg}}, f"prior_{level}", 1, "cpu")
    if module is not None:
        names = {f.name for f in dataclasses.fields(module.PixelSNAILConfig)}
        model = module.PixelSNAIL3d(module.PixelSNAILConfig(**{k: v for k, v in vars(cfg).items() if k in names})).train()
    if compiled:
        compile_units(model)

    def step() -> None:
        model.zero_grad(set_to_none=True)  # as the loop does: a first gradient is written, not added
        gpu_estimates.objective(model, f"prior_{level}", inputs).backward()

    start = time.perf_counter()
    step()
    first = time.perf_counter() - start
    return gpu_estimates.aten_ops(step), first if compiled else None


def module_at(rev: str) -> ModuleType:
    """genvid/models/vq/pixelsnail3d.py as it was at git revision ``rev``, imported on its own."""
    source = subprocess.run(["git", "show", f"{rev}:genvid/models/vq/pixelsnail3d.py"], cwd=ROOT,
                            capture_output=True, text=True)
    if source.returncode != 0:
        raise SystemExit(f"prior_ops.py: --against {rev}: git cannot show that revision's pixelsnail3d.py "
                         f"({source.stderr.strip() or 'no git'}); give another revision or --against none")
    spec = importlib.util.spec_from_loader(f"pixelsnail3d_at_{rev}", loader=None)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    exec(compile(source.stdout, f"{rev}:genvid/models/vq/pixelsnail3d.py", "exec"), module.__dict__)
    return module


def at_full_size(setup: dict, level: str) -> int:
    """The eager count at the profile's own sizes, on the meta device (no memory, no arithmetic)."""
    model, inputs = gpu_estimates.build(setup, f"prior_{level}", 1, "meta")
    return gpu_estimates.aten_ops(lambda: gpu_estimates.objective(model, f"prior_{level}", inputs).backward())


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="thesis", help="the profile the priors' structure comes from (default thesis)")
    ap.add_argument("--channels", type=int, default=16, help="channels of the narrowed priors (default 16)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    ap.add_argument("--against", default="1eb4953",
                    help="git revision whose eager priors to count beside (default 1eb4953, issue 25's; none: skip)")
    args = ap.parse_args(argv)
    configure_torch(args.threads)
    before = None if args.against == "none" else module_at(args.against)
    setup = gpu_estimates.thesis_setup(profile=args.profile)
    print(f"PixelSNAIL priors of driving-vq, profiles/{args.profile}.yaml's structure at {args.channels} channels, "
          f"one clip; MEASURED: computing ATen ops of one forward + backward pass (torch {torch.__version__}, CPU)")
    for level in ("top", "bottom"):
        cfg = setup["priors"][level]
        eager, _ = count(setup, level, False, args.channels)
        compiled, seconds = count(setup, level, True, args.channels)
        full = at_full_size(setup, level)
        print(f"prior_{level}: {cfg.snail_blocks} SNAIL blocks x {cfg.res_blocks} layers"
              f"{', attention' if cfg.attention else ''}{f', {cfg.cond_res_blocks} conditioning blocks' if cfg.cond_shape else ''}"
              f"{', blocks recomputed' if cfg.checkpoint else ''} | eager {eager:,} ATen ops "
              f"(at the profile's {cfg.channels} channels on {'x'.join(map(str, cfg.shape))}, meta device: {full:,}) | "
              f"compiled {compiled:,} (x{eager / compiled:.2f} fewer; compiling took {seconds:.0f} s here)", flush=True)
        if before is not None:
            old, _ = count(setup, level, False, args.channels, module=before)
            print(f"prior_{level} at {args.against} (eager, the same structure): {old:,} ATen ops | "
                  f"compiled today: x{old / compiled:.2f} fewer", flush=True)


if __name__ == "__main__":
    main()

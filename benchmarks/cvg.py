"""Benchmark: the cascaded video GAN (seed 004 Ch. 6) level by level: training step time, the hours a
profile's steps imply, and peak memory against the total video length (the cascade's point, Fig. 6.3).

    python benchmarks/cvg.py                                   # params.yaml sizes, CPU, driving 8 -> 8
    python benchmarks/cvg.py --profile paper --device cuda     # the paper profile's three levels
    python benchmarks/cvg.py --lengths 8,16,32,64 --window 2   # memory only at these future lengths

Part 1 times one optimisation step of each level as the one loop runs it (the level's generator and
discriminator losses, a backward of each; an upsampling level also samples the frozen earlier
levels), at the run's batch size on the benchmark's clip shape, and multiplies by the profile's
``train.cvg.level<l>.steps``, and counts its FLOPs (torch.utils.flop_counter, at batch 1 times the
batch) for an H100 projection printed as an estimate. Part 2 measures the peak memory of one training step of each level as the
future grows: the first level trains on the whole future at its low size and rate, an upsampling
level on crops of ``--window`` coarse frames (the thesis: 6), so its peak should not move with the
length; a single full-size level trained on the whole future (no cascade) is the comparison. Peak
memory is ``torch.cuda.max_memory_allocated`` on a GPU; on the CPU (Linux), each measurement runs in a
fresh process and reports how far its peak resident set (VmHWM, restarted just before the step) rose
above the resident set at the start of the step: allocator caching makes it a coarser measure.
Printed, never asserted.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from genvid import params as P  # noqa: E402
from genvid.config import parse_config  # noqa: E402
from genvid.models.cvg.family import _Objective  # noqa: E402
from genvid.models.cvg.model import Cascade, CVGConfig, CVGLevel  # noqa: E402
from genvid.profiles import apply, load_profile  # noqa: E402
from genvid.train.config import TrainConfig  # noqa: E402

H100_FP32 = 67e12  # FLOP/s, float32 without tensor cores (H100 SXM datasheet)
H100_EFFICIENCY = 0.3  # an assumed fraction of it: an estimate until measured on one (--device cuda prints s/step)


def config(params: dict, benchmark: str, channels: int, resolution: int) -> CVGConfig:
    context = P.benchmark(params, benchmark).protocol.context_frames
    values = {**params["models"]["cvg"], "channels": channels, "resolution": resolution, "context_frames": context}
    return parse_config(CVGConfig, values, "models.cvg")


def step(level: CVGLevel, earlier: Cascade | None, clips: torch.Tensor) -> None:
    """One training step's work: both losses, both backward passes (the optimiser updates are negligible)."""
    losses, _ = _Objective(level.cfg, earlier)(level, clips, 0)
    level.zero_grad(set_to_none=True)
    losses["g"].backward(retain_graph=True)
    losses["d"].backward()


def build(cfg: CVGConfig, device: torch.device) -> list[CVGLevel]:
    torch.manual_seed(0)
    return [CVGLevel(cfg, level).to(device).train() for level in range(1, cfg.levels + 1)]


def step_flops(level: CVGLevel, earlier: Cascade | None, clips: torch.Tensor) -> int:
    """FLOPs of one training step (matrix products and convolutions, forward and backward)."""
    with FlopCounterMode(display=False) as counter:
        step(level, earlier, clips)
    return counter.get_total_flops()


def timing(cfg: CVGConfig, params: dict, clip_len: int, device: torch.device, repeats: int) -> None:
    levels = build(cfg, device)
    print(f"H100 hours: an ESTIMATE, FLOPs x steps at {H100_EFFICIENCY:.0%} of the float32 peak "
          f"({H100_FP32 / 1e12:.0f} TFLOP/s, SXM datasheet), not a measurement")
    print(f"{'level':>6} {'size':>10} {'batch':>6} {'s/step':>8} {'steps':>7} {'hours':>7} {'GFLOP/step':>11} "
          f"{'H100 h (est.)':>14}")
    for k, level in enumerate(levels, start=1):
        train = TrainConfig.from_dict(params["train"]["cvg"][f"level{k}"], f"train.cvg.level{k}")
        clips = torch.rand(train.batch_size, clip_len, cfg.channels, cfg.resolution, cfg.resolution,
                           generator=torch.Generator().manual_seed(k)).to(device)
        earlier = Cascade([lv.generator for lv in levels[:k - 1]]).eval() if k > 1 else None
        times = []
        for _ in range(repeats + 1):  # the first call warms up
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            t0 = time.perf_counter()
            step(level, earlier, clips)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            times.append(time.perf_counter() - t0)
        best = min(times[1:])
        flops = step_flops(level, earlier, clips[:1].cpu() if device.type == "cpu" else clips[:1]) * train.batch_size
        size = f"{cfg.level_resolution(k)}^2/{cfg.factor(k)}"
        h100 = flops * train.steps / (H100_EFFICIENCY * H100_FP32) / 3600
        print(f"{k:>6} {size:>10} {train.batch_size:>6} {best:>8.3f} {train.steps:>7} {best * train.steps / 3600:>7.2f} "
              f"{flops / 1e9:>11.1f} {h100:>14.2f}")


def peak_of_step(cfg: dict, level: int, future: int, batch: int, device: str) -> float:
    """MB of peak memory one training step of ``level`` adds, for a clip with ``future`` predicted frames."""
    cfg_ = CVGConfig(**cfg)
    dev = torch.device(device)
    levels = build(cfg_, dev)
    clips = torch.rand(batch, cfg_.context_frames + future, cfg_.channels, cfg_.resolution, cfg_.resolution).to(dev)
    earlier = Cascade([lv.generator for lv in levels[:level - 1]]).eval() if level > 1 else None
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
        base = torch.cuda.memory_allocated(dev)
        step(levels[level - 1], earlier, clips)
        torch.cuda.synchronize(dev)
        return (torch.cuda.max_memory_allocated(dev) - base) / 2 ** 20
    Path("/proc/self/clear_refs").write_text("5")  # Linux: the peak resident set (VmHWM) restarts from now
    before = _status_kb("VmRSS")
    step(levels[level - 1], earlier, clips)
    return (_status_kb("VmHWM") - before) / 1024


def _status_kb(key: str) -> int:
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith(key + ":"))
    return int(line.split()[1])


def memory(cfg: CVGConfig, lengths: list[int], window: int, batch: int, device: str) -> None:
    cascade = replace(cfg, window=window)
    single = replace(cfg, levels=1, window=0)  # one level at full size and rate: no cascade
    print(f"\npeak MB of one training step (batch {batch}; upsampling levels on {window}-frame coarse windows)")
    header = [f"L{k}" for k in range(1, cfg.levels + 1)] + ["no cascade"]
    print(f"{'future':>7} " + " ".join(f"{h:>11}" for h in header))
    for future in lengths:
        cells = [_isolated(vars(cascade), k, future, batch, device) for k in range(1, cfg.levels + 1)]
        cells.append(_isolated(vars(single), 1, future, batch, device))
        print(f"{future:>7} " + " ".join(f"{c:>11.1f}" for c in cells))


def _isolated(cfg: dict, level: int, future: int, batch: int, device: str) -> float:
    """``peak_of_step`` in a fresh process: an earlier measurement's peak cannot hide this one's."""
    code = (f"import json, sys; sys.path.insert(0, {str(ROOT)!r}); sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); "
            f"import cvg; print(cvg.peak_of_step(json.loads({json.dumps(json.dumps(cfg))}), {level}, {future}, "
            f"{batch}, {device!r}))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default=None, help="a profile of profiles/ (default: params.yaml as it is)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--benchmark", default="driving")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--lengths", default="8,16,32,64", help="future lengths (frames) of the memory table")
    ap.add_argument("--window", type=int, default=2, help="coarse frames per upsampling-level crop (memory table)")
    ap.add_argument("--batch", type=int, default=4, help="clips per step of the memory table")
    ap.add_argument("--skip-timing", action="store_true")
    args = ap.parse_args()
    params = P.read_params(ROOT / "params.yaml")
    if args.profile:
        params = apply(params, load_profile(args.profile, ROOT / "profiles"))
    bench = P.benchmark(params, args.benchmark)
    channels = 1 if bench.collect.source == "smmnist" else 3
    resolution = getattr(bench.collect, "resolution", 64)
    cfg = config(params, args.benchmark, channels, resolution)
    device = torch.device(args.device)
    torch.set_num_threads(int(params.get("repro", {}).get("threads", 2)) if device.type == "cpu" else torch.get_num_threads())
    print(f"cvg on {args.benchmark} ({channels}x{resolution}^2, {bench.protocol.context_frames} -> "
          f"{bench.clips.clip_len - bench.protocol.context_frames}), {cfg.levels} levels, profile "
          f"{args.profile or 'default'}, {args.device}, torch {torch.__version__}")
    if not args.skip_timing:
        timing(cfg, params, bench.clips.clip_len, device, args.repeats)
    memory(cfg, [int(x) for x in args.lengths.split(",")], args.window, args.batch, args.device)


if __name__ == "__main__":
    main()

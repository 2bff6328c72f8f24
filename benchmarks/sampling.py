"""Sampling speed of the PixelSNAIL priors: naive (full forward per position, the seed 000
code) vs fast (prefill + cached chunk per position), measured side by side in one run.

Generates the last half of the clip (the first half of the frames is context, as 8 of 16
frames are in seed 000 §4.3.3). The naive sampler's cost per position is one full forward
whatever the position, so where timing all of it would take too long it is timed on the last
few positions and its positions/s extrapolated (printed as such). Priors are randomly
initialised: speed does not depend on the weights.

    .venv/bin/python benchmarks/sampling.py [--batch N] [--threads 1] [--skip-thesis]
"""
from __future__ import annotations

import argparse
import time

import torch
import yaml

from genvid.models.pixelsnail3d import PROFILES, PixelSNAIL3d, PixelSNAILConfig, count_parameters
from genvid.models.sampling import sample_fast, sample_naive


def setup(profile: str, batch: int, seed: int = 0):
    torch.manual_seed(seed)
    cfg = PixelSNAILConfig.from_dict(PROFILES[profile])
    model = PixelSNAIL3d(cfg).eval()
    codes = torch.randint(0, cfg.num_codes, (batch, *cfg.shape))
    cond = None if cfg.cond_shape is None else torch.randint(0, cfg.cond_codes, (batch, *cfg.cond_shape))
    return model, codes, cond


def timed(fn) -> tuple[float, torch.Tensor]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def run(model, codes, cond, sampler, start: int) -> tuple[float, torch.Tensor]:
    return timed(lambda: sampler(model, codes, start, torch.Generator().manual_seed(1), cond=cond))


def default_profile(profile: str, batch: int, naive_positions: int, repeats: int = 2) -> None:
    model, codes, cond = setup(profile, batch)
    n = model.config.length
    half, naive_start = n // 2, n - min(naive_positions, n // 2)
    fast_s, naive_s, same = [], [], True
    for _ in range(repeats):  # alternate so both see the same machine load
        fast_s.append(run(model, codes, cond, sample_fast, half)[0])
        t, naive = run(model, codes, cond, sample_naive, naive_start)
        naive_s.append(t)
        same &= torch.equal(naive, run(model, codes, cond, sample_fast, naive_start)[1])
    fast_rate = (n - half) / min(fast_s)
    naive_rate = (n - naive_start) / min(naive_s)
    note = "" if naive_start == half else f" (timed on the last {n - naive_start} positions, extrapolated)"
    print(f"{profile}: grid {model.config.shape}, batch {batch}, {count_parameters(model.config) / 1e6:.2f}M params, "
          f"generating positions {half}..{n - 1}")
    print(f"  naive {naive_rate:8.2f} positions/s{note}")
    print(f"  fast  {fast_rate:8.2f} positions/s (prefill included)")
    print(f"  speed-up {fast_rate / naive_rate:.1f}x; samples identical to naive: {same}")


def thesis_top(batch: int, naive_positions: int = 2, fast_positions: int = 33) -> None:
    model, codes, cond = setup("top_thesis", batch)
    n = model.config.length
    half = n // 2
    naive_t, naive = run(model, codes, cond, sample_naive, n - naive_positions)
    short_t, short = run(model, codes, cond, sample_fast, n - naive_positions)  # prefill + a step
    long_t, _ = run(model, codes, cond, sample_fast, n - fast_positions)
    step = (long_t - short_t) / (fast_positions - naive_positions)
    prefill_t = short_t - (naive_positions - 1) * step
    same = torch.equal(short, naive)
    naive_rate = naive_positions / naive_t
    fast_rate = (n - half) / (prefill_t + (n - half - 1) * step)
    print(f"top_thesis: grid {model.config.shape}, batch {batch}, {count_parameters(model.config) / 1e6:.1f}M params, "
          f"generating positions {half}..{n - 1}")
    print(f"  naive {naive_rate:8.3f} positions/s (timed on {naive_positions} positions, extrapolated)")
    print(f"  fast  {fast_rate:8.3f} positions/s (prefill {prefill_t:.1f} s + {1e3 * step:.0f} ms per position "
          f"timed on {fast_positions - 1} positions, extrapolated to {n - half})")
    print(f"  speed-up {fast_rate / naive_rate:.1f}x; samples identical to naive: {same}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=None,
                        help="rows sampled at once (default profile; default: params.yaml sample.batch_size)")
    parser.add_argument("--thesis-batch", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--skip-thesis", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), float32 CPU")
    if args.batch is None:  # what the sample stage does
        args.batch = yaml.safe_load(open("params.yaml"))["sample"]["batch_size"]
    default_profile("top_default", args.batch, naive_positions=128)
    default_profile("bottom_default", args.batch, naive_positions=24)
    if not args.skip_thesis:
        thesis_top(args.thesis_batch)


if __name__ == "__main__":
    main()

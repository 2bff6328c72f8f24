"""Sampling speed of the PixelSNAIL priors: naive (full forward per position, the seed 000
code) vs fast (prefill, then the frame stack per frame, the rows stack per row, the row stack
and attention per position), measured side by side in one run.

Generates the last half of the clip (the first half of the frames is context, as 8 of 16
frames are in seed 000 §4.3.3). The naive sampler's cost per position is one full forward
whatever the position, so where timing all of it would take too long it is timed on the last
few positions and its positions/s extrapolated (printed as such). Priors are randomly
initialised: speed does not depend on the weights. Sizes and code grids are driving-vq's, built
as its train stage builds them, from params.yaml (or --profile) and profiles/thesis.yaml (seed
000's sizes), nowhere else.

    .venv/bin/python benchmarks/sampling.py [--batch N] [--threads 1] [--skip-thesis] [--profile tiny]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from genvid import params as P
from genvid.models.vq.pixelsnail3d import PixelSNAIL3d, PixelSNAILConfig, count_parameters
from genvid.models.vq.priors import LEVELS, prior_config
from genvid.models.vq.sampling import sample_fast, sample_naive
from genvid.models.vq.vqvae3d import VQVAE3D, VQVAEConfig
from genvid.profiles import apply, load_profile

ROOT = Path(__file__).resolve().parents[1]
RUN = "driving-vq"


def prior_configs(params: dict, run: str = RUN) -> dict[str, PixelSNAILConfig]:
    """The run's top and bottom prior configs, built as its train stage builds them
    (genvid.models.vq.priors.prior_config) from the code grids its VQ-VAE makes of the benchmark's clips."""
    r = P.run(params, run)
    vq = VQVAEConfig.from_dict(r.model_params["vqvae"], f"models.{r.model}.vqvae")
    size, window = P.benchmark(params, r.benchmark).collect.resolution, r.model_params["clip_len"]
    with torch.device("meta"):
        top, bottom = VQVAE3D(vq).code_shapes(window, size, size)
    info = {"shapes": {"top": top, "bottom": bottom}, "codebook_size": vq.codebook_size,
            "attrs": {"clip_len": window}}
    return {level: prior_config(r.model_params[f"prior_{level}"], level, info, f"models.{r.model}.prior_{level}")
            for level in LEVELS}


def profile_params(params_path: Path, profile: str | None) -> dict:
    params = P.read_params(params_path)
    return params if profile is None else apply(params, load_profile(profile, ROOT / "profiles"))


def setup(cfg: PixelSNAILConfig, batch: int, seed: int = 0):
    torch.manual_seed(seed)
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


def default_profile(name: str, cfg: PixelSNAILConfig, batch: int, naive_positions: int, repeats: int = 2) -> None:
    model, codes, cond = setup(cfg, batch)
    n = cfg.length
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
    print(f"{name}: grid {cfg.shape}, batch {batch}, {count_parameters(cfg) / 1e6:.2f}M params, "
          f"generating positions {half}..{n - 1}")
    print(f"  naive {naive_rate:8.2f} positions/s{note}")
    print(f"  fast  {fast_rate:8.2f} positions/s (prefill included)")
    print(f"  speed-up {fast_rate / naive_rate:.1f}x; samples identical to naive: {same}")


def thesis_top(cfg: PixelSNAILConfig, batch: int, naive_positions: int = 2, fast_positions: int = 33) -> None:
    model, codes, cond = setup(cfg, batch)
    n = cfg.length
    half = n // 2
    naive_t, naive = run(model, codes, cond, sample_naive, n - naive_positions)
    short_t, short = run(model, codes, cond, sample_fast, n - naive_positions)  # prefill + a step
    long_t, _ = run(model, codes, cond, sample_fast, n - fast_positions)
    step = (long_t - short_t) / (fast_positions - naive_positions)
    prefill_t = short_t - (naive_positions - 1) * step
    same = torch.equal(short, naive)
    naive_rate = naive_positions / naive_t
    fast_rate = (n - half) / (prefill_t + (n - half - 1) * step)
    print(f"top_thesis: grid {cfg.shape}, batch {batch}, {count_parameters(cfg) / 1e6:.1f}M params, "
          f"generating positions {half}..{n - 1}")
    print(f"  naive {naive_rate:8.3f} positions/s (timed on {naive_positions} positions, extrapolated)")
    print(f"  fast  {fast_rate:8.3f} positions/s (prefill {prefill_t:.1f} s + {1e3 * step:.0f} ms per position "
          f"timed on {fast_positions - 1} positions, extrapolated to {n - half})")
    print(f"  speed-up {fast_rate / naive_rate:.1f}x; samples identical to naive: {same}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=None,
                        help="rows sampled at once (default profile; default: the params' sampling batch size)")
    parser.add_argument("--thesis-batch", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--skip-thesis", action="store_true")
    parser.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    parser.add_argument("--profile", default=None, help="a profile of profiles/ for the default rows (e.g. tiny)")
    parser.add_argument("--naive-positions", type=int, nargs=2, default=(128, 24), metavar=("TOP", "BOTTOM"),
                        help="positions the naive sampler is timed on (at most half the grid)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), float32 CPU")
    params = profile_params(args.params, args.profile)
    if args.batch is None:  # what the sample stage does
        args.batch = int(P.run(params, RUN).model_params["sampling"]["batch_size"])
    default = prior_configs(params)
    default_profile("top_default", default["top"], args.batch, naive_positions=args.naive_positions[0])
    default_profile("bottom_default", default["bottom"], args.batch, naive_positions=args.naive_positions[1])
    if not args.skip_thesis:
        thesis_top(prior_configs(profile_params(args.params, "thesis"))["top"], args.thesis_batch)


if __name__ == "__main__":
    main()

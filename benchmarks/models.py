"""Benchmark: training throughput, sampling time per video and IWAE time of every registered pixel model.

    python benchmarks/models.py                                # params.yaml sizes, CPU, both benchmarks
    python benchmarks/models.py --profile paper --device cuda  # the papers' sizes (profiles/paper.yaml)
    python benchmarks/models.py --models rfn,srnn --batch 4

Each model is built through the registry's own config parsing, at the shapes of the two
benchmarks (SM-MNIST: 1 channel, 15-frame training clips, 5 -> 20; driving: 3 channels,
16 frames, 8 -> 8; 64x64). Wall times are the best of --repeats (the machine may be shared);
process CPU seconds are printed beside them, being less sensitive to other jobs. Printed,
never asserted. The VQ family has its own scripts (vqvae.py, sampling.py).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from genvid import params as P  # noqa: E402
from genvid.data.frames import CONDITIONING  # noqa: E402
from genvid.models.registry import MODELS  # noqa: E402
from genvid.profiles import apply, load_profile  # noqa: E402

# The registry is the one table of models: every family with one network (ModelSpec.network) is timed.
PIXEL_MODELS = tuple(name for name, spec in MODELS.items() if spec.network is not None)
SHAPES = (("smmnist", 1, 15, 5, 20), ("driving", 3, 16, 8, 8))  # benchmark, channels, clip, context, horizon


def best_time(fn, repeats: int, device: torch.device) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of the fastest of ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append((time.perf_counter() - t0, time.process_time() - c0))
    return min(times)


def step(model: torch.nn.Module, opt: torch.optim.Optimizer, clips: torch.Tensor, given: dict) -> None:
    """One training step of ``model``'s own loss (``given``: its conditioning, if steered)."""
    loss, _ = model.loss(clips, 10 ** 6, **given)
    opt.zero_grad(set_to_none=True)
    # a GAN's {"g", "d"} losses: one backward of their sum costs what the loop's two do
    (sum(loss.values()) if isinstance(loss, dict) else loss).backward()
    opt.step()


def build(name: str, section: dict, channels: int, context: int) -> torch.nn.Module:
    """The registered family's network at 64x64 (the registry parses and checks the section)."""
    if name not in PIXEL_MODELS:
        raise SystemExit(f"error: --models: {name!r} is not a registered one-network model "
                         f"(known: {', '.join(PIXEL_MODELS)})")
    return MODELS[name].network(section, channels, 64, context)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default=None, help="a profile of profiles/ (default: params.yaml as it is)")
    ap.add_argument("--models", default=",".join(PIXEL_MODELS))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--iwae-k", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    params = P.read_params(ROOT / "params.yaml")
    if args.profile:
        params = apply(params, load_profile(args.profile, ROOT / "profiles"))
    print(f"device {device}, torch threads {torch.get_num_threads()}, batch {args.batch}, "
          f"sizes: {args.profile or 'params.yaml'}")
    for name in args.models.split(","):
        for bench, channels, clip_len, context, horizon in SHAPES:
            torch.manual_seed(0)
            model = build(name, params["models"][name], channels, context).to(device)
            n_params = sum(p.numel() for p in model.parameters())
            opt = torch.optim.Adam(model.parameters(), 1e-4)
            clips = torch.rand(args.batch, clip_len, channels, 64, 64, device=device).mul(255).round().div(255)
            kind = MODELS[name].conditioning  # a steered model also reads per-frame inputs (zeros here)
            cond = (torch.zeros(args.batch, max(clip_len, context + horizon), len(CONDITIONING[kind]), device=device)
                    if kind else None)
            given = {} if cond is None else {"cond": cond[:, :clip_len]}

            def train_step() -> None:
                step(model, opt, clips, given)

            model.train()
            train_step()  # warm-up (and data-dependent initialisation, e.g. ActNorm)
            t_train, c_train = best_time(train_step, args.repeats, device)
            model.eval()
            gen = torch.Generator().manual_seed(0)
            with torch.no_grad():
                steer = {} if cond is None else {"cond": cond[:1, :context + horizon]}
                t_sample, c_sample = best_time(lambda: model.generate(clips[:1, :context], horizon, 1, gen, **steer),
                                               args.repeats, device)
            line = (f"{name:7s} {bench:8s} {n_params / 1e6:7.3f}M | train {args.batch / t_train:6.2f} seq/s "
                    f"({c_train:6.2f} CPU s/step) | sample {t_sample * 1e3:7.1f} ms/video ({context}->{horizon})")
            if hasattr(model, "log_weights"):
                t_iwae, _ = best_time(lambda: model.log_weights(clips[:1], args.iwae_k, gen), 1, device)
                line += f" | IWAE K={args.iwae_k} {t_iwae:5.2f} s/sequence"
            print(line, flush=True)


if __name__ == "__main__":
    main()

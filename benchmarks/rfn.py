"""Benchmark: Recurrent Flow Network training throughput, sampling time per video, IWAE time.

    python benchmarks/rfn.py                              # small config, CPU, both benchmarks' shapes
    python benchmarks/rfn.py --size paper --device cuda   # seed 001 Table A.2 sizes

Sizes: params.yaml's ``models.rfn`` section when it exists (small), otherwise SMALL below
(trainable in a few CPU minutes); PAPER is Table A.2 (L 4, K 10, coupling 256, base distribution
512, h and a 256, z 3 on SM-MNIST) with a VGG base width of 32: Table 8.1's 8 is called an
example, and 32 reproduces the thesis's parameter counts best (Table 9.2, BAIR, K 5: L 3/4/5 =
22/36/61M; here 18.6/30.2/58.0M; SM-MNIST at L 4, K 10: 35.1M). Shapes: SM-MNIST (1 channel, 15-frame training clips,
5 context -> 20 predicted) and driving (3 channels, 16-frame clips, 8 -> 8), 64×64. Wall times
are the best of --repeats (the machine may be shared); CPU seconds (process time, all threads)
are printed beside them because they are less sensitive to other jobs. Printed, never asserted.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from genvid.config import parse_config  # noqa: E402
from genvid.models.rfn import RFN, RFNConfig  # noqa: E402

SMALL = {"levels": 4, "flow_steps": 3, "coupling_channels": 24, "base_distribution_channels": 32,
         "base_channels": 8, "hidden_channels": 32, "smoothing_channels": 32, "latent_channels": 3,
         "beta_warmup_steps": 150}
PAPER = {"levels": 4, "flow_steps": 10, "coupling_channels": 256, "base_distribution_channels": 512,
         "base_channels": 32, "hidden_channels": 256, "smoothing_channels": 256, "latent_channels": 3,
         "beta_warmup_steps": 10000}
# (name, channels, training clip length, context, horizon)
SHAPES = [("smmnist", 1, 15, 5, 20), ("driving", 3, 16, 8, 8)]


def model_section(size: str) -> dict:
    if size == "small" and (ROOT / "params.yaml").exists():
        models = (yaml.safe_load((ROOT / "params.yaml").read_text()) or {}).get("models") or {}
        if "rfn" in models:
            return dict(models["rfn"])
    return dict(SMALL if size == "small" else PAPER)


def best_time(fn, repeats: int, device: torch.device) -> tuple[float, float]:
    """(best wall seconds, CPU seconds of that run) over ``repeats`` calls."""
    best = (float("inf"), 0.0)
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, (time.perf_counter() - t0, time.process_time() - c0))
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=("small", "paper"), default="small")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--k", type=int, default=20, help="importance samples for the bits-per-pixel bound")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch CPU threads (on a loaded 2-core machine 1 thread was ~20x faster in wall time "
                         "than 2: 1.3 s vs 32 s per small SM-MNIST step)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    section = model_section(args.size)
    print(f"device {device}, torch threads {torch.get_num_threads()}, batch {args.batch}, size {args.size}")
    for name, channels, clip_len, context, horizon in SHAPES:
        values = {**section, "channels": channels}
        cfg = parse_config(RFNConfig, values, "models.rfn", None)
        model = RFN(cfg).to(device)
        n_params = sum(p.numel() for p in model.parameters())
        opt = torch.optim.Adam(model.parameters(), 3e-4)
        clips = torch.randint(0, 256, (args.batch, clip_len, channels, 64, 64), device=device).float() / 255

        def train_step() -> None:
            loss, _ = model.loss(clips, 10 ** 6)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        model.train()
        train_step()  # warm-up, and the ActNorm data-dependent init
        t_train, c_train = best_time(train_step, args.repeats, device)
        model.eval()
        gen = torch.Generator().manual_seed(0)
        ctx = clips[:1, :context]
        t_sample, c_sample = best_time(lambda: model.generate(ctx, horizon, 1, gen), args.repeats, device)
        t_iwae, _ = best_time(lambda: model.log_weights(clips[:1], args.k, gen), 1, device)
        print(f"rfn {name:8s} {n_params / 1e6:6.3f}M params | train {args.batch / t_train:6.2f} seq/s "
              f"({t_train * 1e3:7.1f} ms/step, {c_train:5.2f} CPU-s) | sample {t_sample * 1e3:7.1f} ms/video "
              f"({context}->{horizon}, {c_sample:5.2f} CPU-s) | IWAE K={args.k} {t_iwae:6.2f} s/sequence")


if __name__ == "__main__":
    main()

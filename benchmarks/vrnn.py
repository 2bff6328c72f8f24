"""Benchmark: convolutional VRNN / SRNN training throughput, sampling time per video, IWAE time.

    python benchmarks/vrnn.py                              # small configs, CPU, both benchmarks' shapes
    python benchmarks/vrnn.py --size paper --device cuda   # Table A.3 sizes

Sizes: params.yaml's ``models.vrnn`` / ``models.srnn`` sections when they exist, otherwise the
recommended ones below (SMALL: trainable in a few CPU minutes; PAPER: seed 001 Table A.3).
Shapes: SM-MNIST (1 channel, 15-frame training clips, 5 context -> 20 predicted) and driving
(3 channels, 16-frame clips, 8 -> 8), 64×64. Times are the best of --repeats (the machine may be
shared), printed, never asserted.
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
from genvid.models.vrnn import VRNN, SRNNConfig, VRNNConfig  # noqa: E402

SMALL = {"levels": 3, "base_channels": 4, "hidden_channels": 32, "latent_channels": 4, "components": 3,
         "beta_warmup_steps": 100}
PAPER = {"levels": 4, "base_channels": 32, "hidden_channels": 256, "latent_channels": 15, "components": 10,
         "beta_warmup_steps": 10000}
# (name, channels, training clip length, context, horizon)
SHAPES = [("smmnist", 1, 15, 5, 20), ("driving", 3, 16, 8, 8)]


def model_sections(size: str) -> dict[str, dict]:
    """Per kind, the model section: params.yaml's (small, when present) or the built-in sizes."""
    models = {}
    if size == "small" and (ROOT / "params.yaml").exists():
        models = (yaml.safe_load((ROOT / "params.yaml").read_text()) or {}).get("models") or {}
    base = SMALL if size == "small" else PAPER
    return {kind: dict(models.get(kind, base)) for kind in ("vrnn", "srnn")}


def best_time(fn, repeats: int, device: torch.device) -> float:
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=("small", "paper"), default="small")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--k", type=int, default=20, help="importance samples for the bits-per-pixel bound")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    print(f"device {device}, torch threads {torch.get_num_threads()}, batch {args.batch}")
    for kind, section in model_sections(args.size).items():
        for name, channels, clip_len, context, horizon in SHAPES:
            config = {"vrnn": VRNNConfig, "srnn": SRNNConfig}[kind]
            cfg = parse_config(config, {**section, "channels": channels}, f"models.{kind}", None)
            model = VRNN(cfg).to(device)
            n_params = sum(p.numel() for p in model.parameters())
            opt = torch.optim.Adam(model.parameters(), 3e-4)
            clips = torch.rand(args.batch, clip_len, channels, 64, 64, device=device)

            def train_step() -> None:
                loss, _ = model.loss(clips, 10 ** 6)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()

            model.train()
            train_step()  # warm-up
            t_train = best_time(train_step, args.repeats, device)
            model.eval()
            gen = torch.Generator().manual_seed(0)
            ctx = clips[:1, :context]
            t_sample = best_time(lambda: model.generate(ctx, horizon, 1, gen), args.repeats, device)
            t_iwae = best_time(lambda: model.log_weights(clips[:1], args.k, gen), 1, device)
            print(f"{kind:4s} {name:8s} {n_params / 1e6:6.3f}M params | train {args.batch / t_train:7.2f} seq/s "
                  f"({t_train * 1e3:7.1f} ms/step) | sample {t_sample * 1e3:7.1f} ms/video ({context}->{horizon}) | "
                  f"IWAE K={args.k} {t_iwae:6.2f} s/sequence")


if __name__ == "__main__":
    main()

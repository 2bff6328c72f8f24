"""Benchmark: hierarchical VRNN and SVG-LP training throughput and sampling time per video.

    python benchmarks/hvrnn.py                              # params.yaml's sizes, CPU, both benchmarks' shapes
    python benchmarks/hvrnn.py --size small --threads 1     # the recommended small sizes below
    python benchmarks/hvrnn.py --size paper --device cuda   # seed 004 Tables 4.4-4.7 / SVG's sizes

Sizes: ``params`` reads params.yaml's ``models.hvrnn`` / ``models.svg_lp`` sections (the built-in
small ones where a section is absent); SMALL: trainable in a few CPU minutes; PAPER: the thesis / paper.
Models: ``hvrnn`` (levels 1-8-32), ``hvrnn-1`` (one 1×1 level, "Ours w/o Hier") and ``svg_lp``.
Shapes: SM-MNIST (1 channel, 15-frame training clips, 5 context -> 20 predicted) and driving
(3 channels, 16-frame clips, 8 -> 8), 64×64. Times are the best of --repeats, in wall-clock and in
this process's CPU seconds (the machine may be shared), printed, never asserted.
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
from genvid.models.hvrnn import HVRNN, HVRNNConfig  # noqa: E402
from genvid.models.svg_lp import SVGLP, SVGLPConfig  # noqa: E402

HVRNN_SMALL = {"resolution": 64, "encoder_widths": [4, 8, 16, 32, 32], "decoder_widths": [32, 32, 16, 8, 8, 4],
               "decoder_lstm_layers": 6, "latent_resolutions": [1, 8, 32], "latent_channels": [8, 4, 2],
               "latent_widths": [16, 16, 4], "beta_warmup_steps": 100, "dense": True, "norm_groups": 2}
HVRNN_PAPER = {"resolution": 64, "encoder_widths": [64, 128, 256, 512, 512],
               "decoder_widths": [512, 512, 512, 256, 128, 64], "decoder_lstm_layers": 6,
               "latent_resolutions": [1, 8, 32], "latent_channels": [128, 512, 512], "latent_widths": [128, 512, 512],
               "beta_warmup_steps": 10000, "dense": True, "norm_groups": 16}
SVG_SMALL = {"resolution": 64, "nf": 16, "g_dim": 64, "rnn_size": 64, "z_dim": 10,
             "prior_layers": 1, "posterior_layers": 1, "predictor_layers": 2}
SVG_PAPER = {"resolution": 64, "nf": 64, "g_dim": 128, "rnn_size": 256, "z_dim": 10,
             "prior_layers": 1, "posterior_layers": 1, "predictor_layers": 2}
# (name, channels, training clip length, context, horizon)
SHAPES = [("smmnist", 1, 15, 5, 20), ("driving", 3, 16, 8, 8)]


def sections(size: str) -> dict[str, tuple[type, type, dict]]:
    models = {}
    if size == "params" and (ROOT / "params.yaml").exists():
        models = (yaml.safe_load((ROOT / "params.yaml").read_text()) or {}).get("models") or {}
    hv = models.get("hvrnn", HVRNN_PAPER if size == "paper" else HVRNN_SMALL)
    one = {**hv, "latent_resolutions": [1], "latent_channels": hv["latent_channels"][:1],
           "latent_widths": hv["latent_widths"][:1]}
    svg = models.get("svg_lp", SVG_PAPER if size == "paper" else SVG_SMALL)
    return {"hvrnn": (HVRNN, HVRNNConfig, hv), "hvrnn-1": (HVRNN, HVRNNConfig, one), "svg_lp": (SVGLP, SVGLPConfig, svg)}


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=("params", "small", "paper"), default="params")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--models", default="hvrnn,hvrnn-1,svg_lp")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"device {device}, torch threads {torch.get_num_threads()}, batch {args.batch}")
    for name, (cls, cfg_cls, section) in sections(args.size).items():
        if name not in args.models.split(","):
            continue
        for bench, channels, clip_len, context, horizon in SHAPES:
            cfg = parse_config(cfg_cls, {"resolution": 64, **section, "channels": channels, "context_frames": context}, name, None)
            torch.manual_seed(0)
            model = cls(cfg).to(device)
            n_params = sum(p.numel() for p in model.parameters())
            opt = torch.optim.Adam(model.parameters(), 1e-4, betas=(0.5, 0.9))
            clips = torch.rand(args.batch, clip_len, channels, 64, 64, device=device)

            def train_step() -> None:
                loss, _ = model.loss(clips, 10 ** 6)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()

            model.train()
            train_step()  # warm-up
            t_train, c_train = best_time(train_step, args.repeats, device)
            model.eval()
            gen = torch.Generator().manual_seed(0)
            ctx = clips[:1, :context]
            t_sample, c_sample = best_time(lambda: model.generate(ctx, horizon, 1, gen), args.repeats, device)
            print(f"{name:8s} {bench:8s} {n_params / 1e6:8.3f}M params | train {args.batch / t_train:7.2f} seq/s "
                  f"({t_train * 1e3:8.1f} ms/step, {c_train:6.2f} CPU s) | sample {t_sample * 1e3:8.1f} ms/video "
                  f"({c_sample:5.2f} CPU s, {context}->{horizon})")


if __name__ == "__main__":
    main()

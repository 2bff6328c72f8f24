"""Seed 002 §4.7's speed claim, measured here: the GAN prior over VQ codes (one generator pass per
tier) against seed 000's PixelSNAIL (one position at a time, the cached sampler), side by side in
one run, on the same code grids, at the default profile's sizes (params.yaml: models.vq and
models.gan_prior, the driving benchmark's 64 x 64 clips of 16 frames).

Per tier: the median seconds of a training step (forward, backward, optimiser step; the GAN's
generator and critic step on the losses of one forward pass, at its finest scale) and of
sampling the second half of a batch of code grids given the first half (the 8 -> 8 protocol).
Networks are randomly initialised: speed does not depend on the weights. Prints the ratios.

    .venv/bin/python benchmarks/code_priors.py [--batch 16] [--repeats 5] [--threads 2] [--profile tiny]
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from genvid import params as P
from genvid.models.gan_prior.family import GANCodePrior, gan_config
from genvid.models.gan_prior.model import GANPrior
from genvid.models.vq.pixelsnail3d import PixelSNAIL3d, code_cross_entropy
from genvid.models.vq.priors import PixelSNAILPrior, prior_config
from genvid.models.vq.vqvae3d import VQVAE3D, VQVAEConfig
from genvid.profiles import apply, load_profile
from genvid.numerics import AdamW

ROOT = Path(__file__).resolve().parents[1]


def median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--profile", default=None, help="a profile of profiles/ (default: params.yaml as it is)")
    ap.add_argument("--resolution", type=int, default=None, help="frame size (default: the driving benchmark's)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    params = P.read_params(ROOT / "params.yaml")
    if args.profile is not None:
        params = apply(params, load_profile(args.profile, ROOT / "profiles"))
    vq, gan = params["models"]["vq"], params["models"]["gan_prior"]
    size = args.resolution or params["benchmarks"]["driving"]["collect"]["resolution"]
    clip_len = vq["clip_len"]
    cfg = VQVAEConfig.from_dict(vq["vqvae"])
    with torch.device("meta"):
        top, bottom = VQVAE3D(cfg).code_shapes(clip_len, size, size)
    info = {"shapes": {"top": top, "bottom": bottom}, "codebook_size": cfg.codebook_size,
            "attrs": {"clip_len": clip_len}}
    k, b = cfg.codebook_size, args.batch
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {b}, K = {k}, "
          f"code grids top {list(top)}, bottom {list(bottom)}")
    g = torch.Generator().manual_seed(0)
    codes = {"top": torch.randint(0, k, (b, *top), generator=g), "bottom": torch.randint(0, k, (b, *bottom), generator=g)}
    rows = []
    for tier in ("top", "bottom"):
        torch.manual_seed(0)
        snail = PixelSNAIL3d(prior_config(vq[f"prior_{tier}"], tier, info, f"prior_{tier}"))
        net = GANPrior(gan_config(gan[f"gan_{tier}"], tier, info, f"gan_{tier}"))
        x, cond = codes[tier], (None if tier == "top" else codes["top"])
        snail_opt = AdamW(snail.parameters(), lr=1e-3)
        opts = {name: AdamW(ps, lr=1e-4) for name, ps in net.optimizers().items()}
        finest = sum(net.cfg.grow_steps)  # a step at the finest scale, faded in

        def snail_step():
            snail_opt.zero_grad(set_to_none=True)
            code_cross_entropy(snail(x, cond), x).backward()
            snail_opt.step()

        def gan_step():
            losses, _ = net.losses(x, cond, finest)
            for i, name in enumerate(("g", "d")):
                opts[name].zero_grad(set_to_none=True)
                losses[name].backward(retain_graph=i == 0)
                opts[name].step()

        start = (x.shape[1] // 2) * x.shape[2] * x.shape[3]  # the first half of the code steps is context
        snail_prior, gan_prior = PixelSNAILPrior(snail.eval()), GANCodePrior(net.eval())

        def snail_sample():
            with torch.no_grad():
                snail_prior.sample(x, start, torch.Generator().manual_seed(1), 1.0, None, cond)

        def gan_sample():
            gan_prior.sample(x, start, torch.Generator().manual_seed(1), 1.0, None, cond)

        snail.train(), net.train()
        train = (median_seconds(snail_step, args.repeats), median_seconds(gan_step, args.repeats))
        snail.eval(), net.eval()
        sample = (median_seconds(snail_sample, args.repeats), median_seconds(gan_sample, args.repeats))
        rows.append((tier, train, sample))
    print(f"{'tier':8}{'train step s (PixelSNAIL / GAN)':>36}{'ratio':>8}{'sample s (PixelSNAIL / GAN)':>34}{'ratio':>9}")
    for tier, (ts, tg), (ss, sg) in rows:
        print(f"{tier:8}{ts:>22.4f} / {tg:<11.4f}{ts / tg:>8.2f}{ss:>20.4f} / {sg:<11.4f}{ss / sg:>9.1f}")
    total_s, total_g = sum(r[2][0] for r in rows), sum(r[2][1] for r in rows)
    print(f"sampling both tiers of {b} clips: PixelSNAIL {total_s:.3f} s, GAN {total_g:.4f} s "
          f"({total_s / total_g:.0f}x faster in one pass)")


if __name__ == "__main__":
    main()

"""Stage eval_vqvae: reconstruction quality and codebook use of the trained VQ-VAE (Table 6.1)."""
from __future__ import annotations

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from genvid import params as P
from genvid.cli import stage_parser
from genvid.data.clips import ClipDataset, denormalize
from genvid.data.split import SPLITS
from genvid.determinism import configure_torch
from genvid.errors import cli_main
from genvid.io import write_json
from genvid.metrics.codebook import code_histogram, usage_stats
from genvid.metrics.image import psnr, ssim
from genvid.models.store import load_vqvae_for_params
from genvid.models.vqvae3d import VQVAE3D


@torch.no_grad()
def evaluate_split(model: VQVAE3D, dataset: ClipDataset, batch_size: int, desc: str) -> dict:
    K = model.cfg.codebook_size
    sums = {"mse_normalized": 0.0, "psnr": 0.0, "ssim": 0.0}
    hist = {"top": torch.zeros(K, dtype=torch.int64), "bottom": torch.zeros(K, dtype=torch.int64)}
    for x in tqdm(DataLoader(dataset, batch_size=batch_size), desc=desc, mininterval=5):
        out = model(x)
        sums["mse_normalized"] += float(((out.recon - x) ** 2).mean(dim=(1, 2, 3, 4)).sum())
        # [B,3,T,H,W] normalised -> [B,T,3,H,W] pixels in [0,1]
        pred = denormalize(out.recon, dataset.mean, dataset.std).transpose(1, 2)
        real = denormalize(x, dataset.mean, dataset.std).transpose(1, 2)
        sums["psnr"] += float(psnr(pred, real).mean(dim=1).sum())
        sums["ssim"] += float(ssim(pred, real).mean(dim=1).sum())
        hist["top"] += code_histogram(out.top_indices, K)
        hist["bottom"] += code_histogram(out.bottom_indices, K)
    result = {k: v / len(dataset) for k, v in sums.items()}
    result["clips"] = len(dataset)
    for level, counts in hist.items():
        for key, value in usage_stats(counts).items():
            result[f"{level}_{key}"] = value
    return result


@cli_main
def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__, "frames", "split", "stats", "model")
    parser.add_argument("--out", default="reports/vqvae_metrics.json")
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args(argv)
    raw = P.read_params(args.params)
    clips = P.validate_section(raw, "clips", args.params)
    configure_torch()
    model, _ = load_vqvae_for_params(args.model, raw, args.params)

    metrics = {}
    for split in SPLITS:
        # Every split at the evaluation stride: train clips at stride 1 overlap 15/16 and
        # would only repeat the same frames (seed 000 §4.1.3 uses stride 8 for evaluation).
        dataset = ClipDataset(args.frames, args.split, args.stats, split, clips["clip_len"], clips["eval_stride"])
        metrics[split] = evaluate_split(model, dataset, args.batch_size, f"eval_vqvae {split}")
    h, w = dataset.raw(0).shape[1:3]
    metrics["bits_reduction"] = model.bits_reduction(clips["clip_len"], h, w)
    top, bottom = model.code_shapes(clips["clip_len"], h, w)
    metrics["code_shapes"] = {"top": list(top), "bottom": list(bottom)}
    write_json(args.out, metrics)
    test = metrics["test"]
    print(f"eval_vqvae: test PSNR {test['psnr']:.2f} dB, SSIM {test['ssim']:.3f}, "
          f"usage top {test['top_usage']:.0%} bottom {test['bottom_usage']:.0%}, "
          f"bit reduction {metrics['bits_reduction']:.1%}")


if __name__ == "__main__":
    main()

"""Stage sample: generate the future of every test clip from its first context frames."""
from __future__ import annotations

import h5py
import numpy as np
import torch
from tqdm import tqdm

from genvid import params as P
from genvid.cli import stage_parser
from genvid.data.clips import denormalize
from genvid.data.latents import LatentDataset, read_latent_info
from genvid.data.stats import load_stats
from genvid.determinism import configure_torch
from genvid.errors import GenvidError, cli_main
from genvid.generate import VARIANTS, SampleSettings, context_start, generate
from genvid.io import atomic_path, read_json
from genvid.models.store import load_prior, load_vqvae


def to_uint8(video: torch.Tensor, mean, std) -> np.ndarray:
    """Normalised [B,3,T,H,W] -> uint8 [B,T,H,W,3]."""
    pixels = denormalize(video, mean, std).permute(0, 2, 3, 4, 1)
    return (pixels * 255.0).round_().to(torch.uint8).numpy()


@cli_main
def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__, "frames", "stats", "latents")
    parser.add_argument("--vqvae", default="models/vqvae.pt")
    parser.add_argument("--prior-top", default="models/prior_top.pt")
    parser.add_argument("--prior-bottom", default="models/prior_bottom.pt")
    parser.add_argument("--out", default="data/samples/samples.h5")
    args = parser.parse_args(argv)
    cfg = P.load(["sample", "clips"], args.params)
    s, clip_len = cfg["sample"], cfg["clips"]["clip_len"]
    configure_torch()

    test = LatentDataset(args.latents, "test")
    latent_clip_len = read_latent_info(args.latents)["attrs"].get("clip_len")
    if latent_clip_len != clip_len:
        raise GenvidError(f"{args.latents}: codes of {latent_clip_len}-frame clips but "
                          f"{args.params} has clips.clip_len={clip_len}")
    mean, std = load_stats(read_json(args.stats), args.stats)
    vqvae, _ = load_vqvae(args.vqvae)
    top_prior, _ = load_prior(args.prior_top, "top", test.codebook_size)
    bottom_prior, _ = load_prior(args.prior_bottom, "bottom", test.codebook_size)
    for path, prior, codes in ((args.prior_top, top_prior, test.top),
                               (args.prior_bottom, bottom_prior, test.bottom)):
        if tuple(prior.config.shape) != tuple(codes.shape[1:]):
            raise GenvidError(f"{path}: prior models code grids {list(prior.config.shape)} but "
                              f"{args.latents} has {list(codes.shape[1:])}")
    settings = SampleSettings(s["context_frames"], float(s["temperature"]), s["top_k"])
    for level, codes in (("top", test.top), ("bottom", test.bottom)):  # fail before writing anything
        context_start(clip_len, settings.context_frames, tuple(codes.shape[1:]), level)
    n = len(test) if s["max_clips"] == 0 else min(s["max_clips"], len(test))
    S, clips_per_batch = s["num_samples"], max(1, s["batch_size"] // s["num_samples"])

    with h5py.File(args.frames, "r") as f:
        real = np.stack([f["frames"][int(a):int(a) + clip_len] for a in test.start[:n]])
    _, T, H, W, _ = real.shape
    with atomic_path(args.out, suffix=".h5") as tmp, h5py.File(tmp, "w") as out:
        out.create_dataset("real", data=real, track_times=False)
        recon = out.create_dataset("recon", (n, T, H, W, 3), np.uint8, track_times=False)
        videos = {v: out.create_dataset(v, (n, S, T, H, W, 3), np.uint8, track_times=False) for v in VARIANTS}
        for first in tqdm(range(0, n, clips_per_batch), desc="sample", unit="batch"):
            rows = range(first, min(first + clips_per_batch, n))
            top = test.top[list(rows)].repeat_interleave(S, dim=0)
            bottom = test.bottom[list(rows)].repeat_interleave(S, dim=0)
            generator = torch.Generator().manual_seed(s["seed"] * 1_000_003 + first)
            decoded = generate(vqvae, top_prior, bottom_prior, top, bottom, clip_len, settings, generator)
            recon[rows.start:rows.stop] = to_uint8(decoded["recon"][::S], mean, std)
            for v in VARIANTS:
                videos[v][rows.start:rows.stop] = to_uint8(decoded[v], mean, std).reshape(len(rows), S, T, H, W, 3)
        out.create_dataset("clip_index", data=np.arange(n, dtype=np.int64), track_times=False)
        out.create_dataset("start", data=test.start[:n].astype(np.int64), track_times=False)
        attrs = {"context_frames": s["context_frames"], "num_samples": S, "temperature": float(s["temperature"]),
                 "top_k": s["top_k"], "clip_len": clip_len, "seed": s["seed"]}
        for key, value in sorted(attrs.items()):
            out.attrs[key] = value
    print(f"sample: {n} test clips x {S} samples, {s['context_frames']} context frames -> {args.out}")


if __name__ == "__main__":
    main()

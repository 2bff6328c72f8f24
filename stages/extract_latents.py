"""Stage extract_latents: encode every clip of every split to int16 code indices (seed 000 §4.1.4)."""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from genvid import params as P
from genvid.cli import stage_parser
from genvid.data.clips import ClipDataset
from genvid.data.latents import write_latents
from genvid.data.split import SPLITS
from genvid.determinism import configure_torch
from genvid.errors import cli_main
from genvid.models.store import load_vqvae_for_params
from genvid.models.vqvae3d import VQVAE3D


def encoded_batches(model: VQVAE3D, dataset: ClipDataset, batch_size: int, desc: str):
    loader = DataLoader(dataset, batch_size=batch_size)
    for i, x in enumerate(tqdm(loader, desc=desc, mininterval=5)):
        top, bottom = model.encode(x)
        starts = dataset.starts[i * batch_size:i * batch_size + len(x)]
        yield starts, top.numpy().astype(np.int16), bottom.numpy().astype(np.int16)


@cli_main
def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__, "frames", "split", "stats", "model")
    parser.add_argument("--out", default="data/latents/latents.h5")
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args(argv)
    raw = P.read_params(args.params)
    clips = P.validate_section(raw, "clips", args.params)
    configure_torch()
    model, cfg = load_vqvae_for_params(args.model, raw, args.params)

    strides = {s: clips["train_stride"] if s == "train" else clips["eval_stride"] for s in SPLITS}
    datasets = {s: ClipDataset(args.frames, args.split, args.stats, s, clips["clip_len"], strides[s])
                for s in SPLITS}
    h, w = datasets["train"].raw(0).shape[1:3]
    top_shape, bottom_shape = model.code_shapes(clips["clip_len"], h, w)
    attrs = {"codebook_size": cfg["codebook_size"], "clip_len": clips["clip_len"],
             **{f"stride_{s}": strides[s] for s in SPLITS}}
    with torch.no_grad():
        write_latents(args.out,
                      {s: encoded_batches(model, d, args.batch_size, f"extract {s}") for s, d in datasets.items()},
                      {s: len(d) for s, d in datasets.items()},
                      {"top": top_shape, "bottom": bottom_shape}, attrs)
    print(f"extract_latents: {', '.join(f'{s} {len(d)}' for s, d in datasets.items())} clips; "
          f"codes top {top_shape} bottom {bottom_shape}")


if __name__ == "__main__":
    main()

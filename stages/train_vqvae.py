"""Stage train_vqvae: the 3D hierarchical VQ-VAE (seed 000 §4.2, §5.2) on normalised clips."""
from __future__ import annotations

from genvid import params as P
from genvid.cli import stage_parser
from genvid.data.clips import ClipDataset
from genvid.determinism import seed_everything
from genvid.errors import cli_main
from genvid.io import fingerprint
from genvid.models.store import save_model
from genvid.models.vqvae3d import VQVAE3D, VQVAEConfig
from genvid.train import TrainConfig, fit, write_curves_tsv


def vqvae_objective(model: VQVAE3D, clips):
    return model.loss(clips)  # eq. 5.3: MSE + β·commitment; EMA updates the codebooks


@cli_main
def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__, "frames", "split", "stats")
    parser.add_argument("--out", default="models/vqvae.pt")
    parser.add_argument("--curves", default="reports/train_vqvae")
    parser.add_argument("--workdir", default="checkpoints/train_vqvae")
    args = parser.parse_args(argv)
    raw = P.read_params(args.params)
    clips = P.validate_section(raw, "clips", args.params)
    model_cfg = P.model_config(VQVAEConfig.from_dict, raw, "vqvae", args.params)
    train_cfg = TrainConfig.from_dict(P.section(raw, "train_vqvae", args.params), prefix="train_vqvae",
                                      source=args.params)

    def dataset(split: str, stride: int) -> ClipDataset:
        return ClipDataset(args.frames, args.split, args.stats, split, clips["clip_len"], stride)

    train_set, val_set = dataset("train", clips["train_stride"]), dataset("val", clips["eval_stride"])
    seed_everything(train_cfg.seed)  # before construction: the initial weights and codebooks
    model = VQVAE3D(model_cfg)
    model.code_shapes(clips["clip_len"], *train_set.raw(0).shape[1:3])  # fail early on a bad size
    # Model config + data identify a resumable checkpoint; the loop itself also checks the
    # result-changing training settings (so num_workers or ckpt_every may change on resume).
    key = fingerprint({"vqvae": model_cfg.to_dict(), "clips": clips}, [args.frames, args.split, args.stats])
    result = fit(model, vqvae_objective, train_set, val_set, train_cfg, args.workdir, key,
                 desc="train_vqvae")
    save_model(args.out, "vqvae3d", model_cfg.to_dict(), model)
    write_curves_tsv(result.curves, f"{args.curves}/train.tsv", f"{args.curves}/val.tsv")
    print(f"train_vqvae: {result.step} steps; val {result.val}")


if __name__ == "__main__":
    main()

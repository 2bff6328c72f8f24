"""Stages train_prior_top / train_prior_bottom: 3D PixelSNAIL priors over the VQ-VAE codes."""
from __future__ import annotations

import math

from genvid import params as P
from genvid.cli import stage_parser
from genvid.data.latents import LatentDataset, read_latent_info
from genvid.data.split import SPLITS
from genvid.determinism import seed_everything
from genvid.errors import cli_main
from genvid.io import fingerprint, write_json
from genvid.models.pixelsnail3d import PixelSNAIL3d, count_parameters
from genvid.models.store import save_model
from genvid.priors import LEVELS, evaluate_prior, prior_config, prior_objective, unigram_bits
from genvid.train import TrainConfig, fit, write_curves_tsv


@cli_main
def main(argv: list[str] | None = None) -> None:
    parser = stage_parser(__doc__, "latents")
    parser.add_argument("--level", choices=LEVELS, required=True)
    parser.add_argument("--out", help="default: models/prior_<level>.pt")
    parser.add_argument("--metrics", help="default: reports/prior_<level>_metrics.json")
    parser.add_argument("--curves", help="default: reports/train_prior_<level>")
    parser.add_argument("--workdir", help="default: checkpoints/train_prior_<level>")
    parser.add_argument("--eval-batch-size", type=int, default=16)
    args = parser.parse_args(argv)
    level, name = args.level, f"prior_{args.level}"
    raw = P.read_params(args.params)
    info = read_latent_info(args.latents)
    model_cfg = P.model_config(lambda section: prior_config(section, level, info, name), raw, name, args.params)
    train_cfg = TrainConfig.from_dict(P.section(raw, f"train_{name}", args.params), prefix=f"train_{name}",
                                      source=args.params)

    data = {split: LatentDataset(args.latents, split) for split in SPLITS}
    seed_everything(train_cfg.seed)  # before construction: reproducible initial weights
    model = PixelSNAIL3d(model_cfg)
    key = fingerprint({"model": dict(vars(model_cfg))}, [args.latents])
    result = fit(model, prior_objective(level), data["train"], data["val"], train_cfg,
                 args.workdir or f"checkpoints/train_{name}", key, desc=f"train_{name}")
    save_model(args.out or f"models/{name}.pt", f"pixelsnail3d_{level}", dict(vars(model_cfg)), model)
    curves = args.curves or f"reports/train_{name}"
    write_curves_tsv(result.curves, f"{curves}/train.tsv", f"{curves}/val.tsv")

    metrics = {split: evaluate_prior(model, data[split], level, args.eval_batch_size, f"{name} {split}")
               for split in SPLITS}
    train_codes = getattr(data["train"], level)
    metrics["baselines"] = {
        "uniform_bits": math.log2(info["codebook_size"]),
        "unigram_bits": unigram_bits(train_codes, getattr(data["test"], level), info["codebook_size"]),
    }
    metrics["parameters"] = count_parameters(model_cfg)
    write_json(args.metrics or f"reports/{name}_metrics.json", metrics)
    print(f"train_{name}: test {metrics['test']['bits_per_code']:.3f} bits/code "
          f"(uniform {metrics['baselines']['uniform_bits']:.3f}, unigram {metrics['baselines']['unigram_bits']:.3f})")


if __name__ == "__main__":
    main()

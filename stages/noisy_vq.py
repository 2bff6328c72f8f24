"""Stage noisy_vq: the noisy-VQ study of a VQ run (seed 002 §4; genvid.models.vq.noisy_study).

``params.yaml: noisy_vq.<run>`` lists index-noise levels (``sigmas``, standard deviations) and train
seeds; the run's VQ-VAE (its own sizes and training, with the study's ``overrides``) is trained once
per (sigma, seed) through the one training loop, resumably in checkpoints/<run>~noisy_vq-.../, and
measured with the noise off. Output: reports/noisy_vq/<run>/study.json (schema:
genvid.data.noisy_vq) and each pair's training curves beside it.
"""
from __future__ import annotations

from dataclasses import replace
from functools import partial

from genvid import params as P
from genvid.cli import run_parser
from genvid.codegraph import code_digest
from genvid.context import RunContext, check_data, run_context
from genvid.data.noisy_vq import STUDY_FILE, NoisyVQConfig, study_entry
from genvid.data.probe import probe_data
from genvid.data.stats import load_stats
from genvid.errors import ParamError
from genvid.io import read_json, write_json
from genvid.layout import noisy_vq_dir
from genvid.models.registry import get
from genvid.models.vq.family import fit_vqvae, window_length
from genvid.models.vq.noisy_study import study
from genvid.models.vq.vqvae3d import VQVAE3D, VQVAEConfig
from genvid.stage import cli_main
from genvid.train.config import TrainConfig
from genvid.train.run import fit_component


def study_config(raw: dict, run: P.Run, path: str) -> tuple[NoisyVQConfig, P.Run]:
    """``noisy_vq.<run>`` parsed, and the run with the study's overrides applied."""
    cfg, overrides = study_entry(raw, run, path)
    where = f"noisy_vq.{run.name}"
    if not isinstance(run.model_params.get("vqvae"), dict):
        raise ParamError(f"{path}: {where}: run {run.name}'s model '{run.model}' has no VQ-VAE (models.{run.model}.vqvae)")
    return cfg, replace(run, model_params=P.merge(run.model_params, overrides.get("models") or {},
                                                   f"{where}.overrides.models", path),
                        train_params=P.merge(run.train_params, overrides.get("train") or {},
                                             f"{where}.overrides.train", path))


def variant(ctx: RunContext, sigma: float, seed: int, out) -> RunContext:
    """The run's context with the tokenizer's noise and train seed set, writing under ``out``."""
    name = f"sigma{sigma:g}_seed{seed}"
    run = ctx.run
    models = {**run.model_params, "vqvae": {**run.model_params["vqvae"], "noisy_sigma": sigma}}
    train = {**run.train_params, "vqvae": {**(run.train_params.get("vqvae") or {}), "seed": seed}}
    run = replace(run, name=f"{run.name}~noisy_vq-{name}", model_params=models, train_params=train)
    workdir = ctx.workdir.with_name(run.name)
    return replace(ctx, run=run, model_dir=workdir / "model_out", report_dir=out / name, workdir=workdir)


@cli_main
def main(argv: list[str] | None = None) -> None:
    args = run_parser(__doc__).parse_args(argv)
    ctx, raw = run_context(args.params, args.run, args.root)
    spec = get(ctx.run.model, f"runs.{ctx.run.name}.model")
    ctx = replace(ctx, code=code_digest("noisy_vq", spec))  # no checkpoint of other code is resumed
    cfg, run = study_config(raw, ctx.run, args.params)
    ctx = replace(ctx, run=run)
    window, out = window_length(ctx), noisy_vq_dir(run.name, args.root)
    first = variant(ctx, cfg.sigmas[0], cfg.seeds[0], out)  # the sections every pair trains with: checked first
    VQVAEConfig.from_dict(first.run.model_params["vqvae"], f"models.{run.model}.vqvae", args.params)
    TrainConfig.from_dict(first.run.train_params.get("vqvae"), f"train.{run.model}.vqvae", args.params)
    check_data(ctx)
    probe = probe_data(ctx.bench, ctx.frames, ctx.split, ctx.stats, window, cfg.fit_clips, cfg.held_out_clips)
    mean, std = load_stats(read_json(ctx.stats), str(ctx.stats))

    def train_one(sigma: float, seed: int) -> VQVAE3D:
        vctx = variant(ctx, sigma, seed, out)
        vqvae = fit_vqvae(vctx, partial(fit_component, vctx))
        print(f"noisy_vq {run.name}: sigma {sigma:g}, seed {seed} trained; measuring", flush=True)
        return vqvae

    rows = study(list(cfg.sigmas), list(cfg.seeds), train_one, probe, mean, std)
    write_json(out / STUDY_FILE, {"run": run.name, "benchmark": run.benchmark, "task": probe.task,
                                  "sigmas": list(cfg.sigmas), "seeds": list(cfg.seeds), "fit_clips": len(probe.fit.clips),
                                  "held_out_clips": len(probe.held_out.clips), "rows": rows})


if __name__ == "__main__":
    main()

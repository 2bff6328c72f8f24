"""Stage ablate: a run's model retrained with some of its params changed (seed 004 Table 4.2,
seed 003 §6.3.3).

``params.yaml: ablations.<run>.variants.<name>`` holds overrides (``models``/``train``, as a
run's) applied on top of the run's own; every variant trains on the run's benchmark through
the same registry train function, and its training metrics (for hvrnn: the test ELBO and the
KL per latent channel) go into reports/<benchmark>/ablations/<run>/ablation.json. The run
itself is the ablation's reference row; its metrics stay in its own train_metrics.json.
With ``score: protocol`` (seed 003's findings are about samples) the run's trained model and every
variant also predict the protocol's test clips and are scored on them (genvid.ablation): the
run's under ``reference``, each variant's under its ``protocol``.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

import torch

from genvid import ablation as A
from genvid import evaluation as E
from genvid import params as P
from genvid.cli import run_parser
from genvid.codegraph import code_digest
from genvid.errors import ParamError
from genvid.stage import cli_main
from genvid.io import write_json
from genvid.data.benchmark import protocol_clips
from genvid.device import autocast as precision_autocast
from genvid.layout import METRIC_WEIGHTS, ablation_dir, benchmark_paths
from genvid.metrics.weights import load_i3d, load_lpips
from genvid.models.store import check_run_record
from genvid.context import check_data, run_context
from genvid.models.predictor import clips_per_call
from genvid.models.registry import get
from genvid.train.run import train_run
from genvid.train.sampler import DIAGNOSTICS_STREAM, LONG_HORIZON_STREAM, derived_seed

SCORES = ("training", "protocol")  # ablations.<run>.score: training metrics only, or also the test protocol


def variants(raw: dict, run: P.Run, path: str) -> dict[str, P.Run]:
    """Each variant of ``ablations.<run>`` as a Run (the run's params with the variant's overrides)."""
    where = f"ablations.{run.name}"
    entry = P.section(raw, where, path)
    unknown = sorted(set(entry) - {"benchmark", "model", "variants", "score"})
    if unknown:
        raise ParamError(f"{path}: {where}.{unknown[0]} is not a known key (known: benchmark, model, variants, score)")
    if entry.get("score", "training") not in SCORES:
        raise ParamError(f"{path}: {where}.score must be one of {', '.join(SCORES)}, got {entry.get('score')!r}")
    for key, value in (("benchmark", run.benchmark), ("model", run.model)):
        if entry.get(key) != value:
            raise ParamError(f"{path}: {where}.{key} must be the run's {key} '{value}', got {entry.get(key)!r}")
    out = {}
    for name, overrides in P.nonempty(raw, f"{where}.variants", path, "variant").items():
        P.checked_name(name, f"{where}.variants.{name}", path)  # its folder: reports/<b>/ablations/<run>/<name>
        if not isinstance(overrides, dict) or not overrides or set(overrides) - {"models", "train"}:
            raise ParamError(f"{path}: {where}.variants.{name} must hold 'models' and/or 'train' overrides")
        out[name] = replace(run, name=f"{run.name}~{name}",
                            model_params=P.merge(run.model_params, overrides.get("models") or {},
                                                 f"{where}.variants.{name}.models", path),
                            train_params=P.merge(run.train_params, overrides.get("train") or {},
                                                 f"{where}.variants.{name}.train", path))
    return out


@cli_main
def main(argv: list[str] | None = None) -> None:
    args = run_parser(__doc__).parse_args(argv)
    ctx, raw = run_context(args.params, args.run, args.root)
    spec = get(ctx.run.model, f"runs.{ctx.run.name}.model")
    ctx = replace(ctx, code=code_digest("ablate", spec))  # no checkpoint of other code is resumed
    P.top_level(raw, "likelihood", args.params)  # the test bound reads it after training
    for section in ("sample", "evaluate"):  # score: protocol's seeds; checked for every ablation (dvc.yaml lists them)
        P.top_level(raw, section, args.params)
    runs = variants(raw, ctx.run, args.params)
    info = check_data(ctx)  # the params first, then the files
    protocol = raw["ablations"][ctx.run.name].get("score") == "protocol"
    score = scorer(ctx, raw, args, (info.height, info.width, info.channels)) if protocol else None
    reference = {} if score is None else {"reference": {"protocol": score(spec.predictor(ctx))}}
    out = ablation_dir(ctx.run.name, ctx.run.benchmark, args.root)
    results = {}
    for name, run in runs.items():
        # reuse_dir: a family may load the run's trained components that the variant leaves alone
        # (the cascade's first level when only an upsampling level changes; genvid.models.cvg)
        vctx = replace(ctx, run=run, model_dir=ctx.workdir.with_name(run.name) / "model_out",
                       report_dir=out / name, workdir=ctx.workdir.with_name(run.name), reuse_dir=ctx.model_dir)
        results[name] = {"models": run.model_params, "train": run.train_params, "metrics": train_run(vctx, spec)}
        if score is not None:
            results[name]["overrides"] = raw["ablations"][ctx.run.name]["variants"][name]
            results[name]["protocol"] = score(spec.predictor(vctx))
        print(f"ablate {run.name}: {results[name]['metrics'].get('parameters', 0):,} parameters")
    write_json(out / "ablation.json", {"run": ctx.run.name, "benchmark": ctx.run.benchmark,
                                       "model": ctx.run.model, **reference, "variants": results})


def scorer(ctx, raw: dict, args, frame: tuple[int, int, int]) -> Callable[[Any], dict]:
    """predictor -> its protocol scores on the run's benchmark (genvid.ablation), on its long horizon too where it
    has one, and the family's diagnostics; every input checked first (``frame``: the run's frames [H, W, C])."""
    check_run_record(ctx, frame=frame)  # the reference row is the run's own trained model
    proto = ctx.bench.protocol
    seed = P.top_level(raw, "sample", args.params).seed
    fvd_seed = P.top_level(raw, "evaluate", args.params).seed
    starts, _, _ = protocol_clips(proto, ctx.frames, ctx.split)
    lpips = load_lpips(args.root + "/" + str(METRIC_WEIGHTS["lpips"]))
    features = E.i3d_features(load_i3d(args.root + "/" + str(METRIC_WEIGHTS["i3d"])))
    reference = E.load_reference(benchmark_paths(ctx.run.benchmark, args.root).fvd_reference)
    per_call = clips_per_call(ctx.run.model_params, proto.num_samples)  # the sample stage's batches, so its seeds
    # the sample stage's conditioning and precision too: the one protocol loop (genvid.sampling)
    drawn = {"conditioning": get(ctx.run.model).conditioning, "autocast": precision_autocast(ctx.device, ctx.precision)}

    diagnostics = get(ctx.run.model).diagnostics
    long = ctx.bench.long_horizon  # the full rollout, where the cascade's findings are
    if long is not None:
        long_starts, _, _ = protocol_clips(long, ctx.frames, ctx.split)
        long_reference = E.load_reference(benchmark_paths(ctx.run.benchmark, args.root).fvd_reference, long_horizon=True)
        long_per_call = clips_per_call(ctx.run.model_params, long.num_samples)

    def score(predictor) -> dict:
        real, futures = A.protocol_futures(predictor, ctx.frames, starts, proto.context_frames, proto.horizon,
                                           proto.num_samples, seed, per_call, **drawn)
        scores = A.ablation_scores(real, futures, proto.context_frames, lpips, features, reference, fvd_seed)
        if long is not None:  # the sample stage's long-horizon futures, scored alike: fvd_long, lpips_long, ssim_long
            real, futures = A.protocol_futures(predictor, ctx.frames, long_starts, long.context_frames, long.horizon,
                                               long.num_samples, seed, long_per_call, (LONG_HORIZON_STREAM,), **drawn)
            more = A.ablation_scores(real, futures, long.context_frames, lpips, features, long_reference, fvd_seed)
            scores.update({f"{key}_long": more[key] for key in ("fvd", "lpips", "ssim")})
        if diagnostics is not None:  # the family's own measures, on the same test contexts
            generator = torch.Generator().manual_seed(derived_seed(seed, DIAGNOSTICS_STREAM, 0))
            scores.update(diagnostics(predictor, torch.from_numpy(real[:, :proto.context_frames]), proto.horizon,
                                      generator))
        return scores

    return score


if __name__ == "__main__":
    main()

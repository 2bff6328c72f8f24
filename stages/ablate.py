"""Stage ablate: a run's model retrained with some of its params changed (seed 004 Table 4.2).

``params.yaml: ablations.<run>.variants.<name>`` holds overrides (``models``/``train``, as a
run's) applied on top of the run's own; every variant trains on the run's benchmark through
the same registry train function, and its training metrics (for hvrnn: the test ELBO and the
KL per latent channel) go into reports/<benchmark>/ablations/<run>/ablation.json. The run
itself is the ablation's reference row; its metrics stay in its own train_metrics.json.
"""
from __future__ import annotations

from dataclasses import replace

from genvid import params as P
from genvid.cli import run_parser
from genvid.errors import ParamError
from genvid.stage import cli_main
from genvid.io import write_json
from genvid.layout import ablation_dir
from genvid.context import check_data, run_context
from genvid.models.registry import get
from genvid.train.run import train_run


def variants(raw: dict, run: P.Run, path: str) -> dict[str, P.Run]:
    """Each variant of ``ablations.<run>`` as a Run (the run's params with the variant's overrides)."""
    where = f"ablations.{run.name}"
    entry = P.section(raw, where, path)
    unknown = sorted(set(entry) - {"benchmark", "model", "variants"})
    if unknown:
        raise ParamError(f"{path}: {where}.{unknown[0]} is not a known key (known: benchmark, model, variants)")
    for key, value in (("benchmark", run.benchmark), ("model", run.model)):
        if entry.get(key) != value:
            raise ParamError(f"{path}: {where}.{key} must be the run's {key} '{value}', got {entry.get(key)!r}")
    out = {}
    for name, overrides in P.section(raw, f"{where}.variants", path).items():
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
    P.top_level(raw, "likelihood", args.params)  # the test bound reads it after training
    runs = variants(raw, ctx.run, args.params)
    check_data(ctx)  # the params first, then the files
    out = ablation_dir(ctx.run.name, ctx.run.benchmark, args.root)
    results = {}
    for name, run in runs.items():
        vctx = replace(ctx, run=run, model_dir=ctx.workdir.with_name(run.name) / "model_out",
                       report_dir=out / name, workdir=ctx.workdir.with_name(run.name))
        results[name] = {"models": run.model_params, "train": run.train_params, "metrics": train_run(vctx, spec)}
        print(f"ablate {run.name}: {results[name]['metrics'].get('parameters', 0):,} parameters")
    write_json(out / "ablation.json", {"run": ctx.run.name, "benchmark": ctx.run.benchmark,
                                       "model": ctx.run.model, "variants": results})


if __name__ == "__main__":
    main()

"""Stage train: train every component of one run's model (genvid.models.registry) on its benchmark."""
from __future__ import annotations

from genvid.cli import run_parser
from genvid.errors import cli_main
from genvid.io import write_json
from genvid.models.registry import get, run_context
from genvid.train.curves import write_curves_tsv


@cli_main
def main(argv: list[str] | None = None) -> None:
    args = run_parser(__doc__).parse_args(argv)
    ctx, _ = run_context(args.params, args.run, args.root)
    spec = get(ctx.run.model, f"runs.{ctx.run.name}.model")
    metrics = spec.train(ctx)
    # Every run owns the same outputs, whether or not its model trains: provenance and curves.
    write_json(ctx.model_dir / "run.json", {"run": ctx.run.name, "benchmark": ctx.run.benchmark,
                                            "model": ctx.run.model, "models": ctx.run.model_params,
                                            "train": ctx.run.train_params})
    if not (ctx.report_dir / "curves").exists():
        write_curves_tsv([], ctx.report_dir / "curves" / "none" / "train.tsv",
                         ctx.report_dir / "curves" / "none" / "val.tsv")
    write_json(ctx.report_dir / "train_metrics.json", metrics)
    print(f"train {ctx.run.name}: {metrics.get('parameters', 0):,} parameters")


if __name__ == "__main__":
    main()

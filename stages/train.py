"""Stage train: train every component of one run's model (genvid.models.registry) on its benchmark.

With ``distributed.nproc`` (or GENVID_NPROC) N > 1 the stage runs itself again under
``torchrun --standalone --nproc_per_node N`` (genvid.train.distributed); every process trains its
share of each batch, and rank 0 alone writes the run's outputs (models/, reports/, the timing):
the other ranks compute the same post-training evaluation into a scratch folder that is deleted.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from genvid import params as P
from genvid.codegraph import code_digest
from genvid.cli import run_parser
from genvid.errors import ParamError
from genvid.stage import cli_main
from genvid.io import write_json
from genvid.context import check_data, run_context
from genvid.models.registry import get
from genvid.models.store import write_run_record
from genvid.train.run import train_run
from genvid.train import distributed as D
from genvid.train.curves import write_curves_tsv

MODULE = "stages.train"


@cli_main
def main(argv: list[str] | None = None) -> None:
    args = run_parser(__doc__).parse_args(argv)
    ctx, raw = run_context(args.params, args.run, args.root)
    spec = get(ctx.run.model, f"runs.{ctx.run.name}.model")
    ctx = replace(ctx, code=code_digest("train", spec))  # no checkpoint of other code is resumed
    dcfg = P.top_level(raw, "distributed", args.params)
    P.top_level(raw, "likelihood", args.params)  # the pixel models' test bound reads it after training
    nproc = D.nproc_setting(dcfg.nproc)
    if nproc > 1 and not D.under_torchrun():
        D.resolve_backend(dcfg.backend, ctx.device)
        for key, size in D.batch_sizes(ctx.run.train_params, f"train.{ctx.run.model}"):
            if size % nproc:
                raise ParamError(f"{args.params}: {key} {size} is not a multiple of the {nproc} training processes "
                                 f"(distributed.nproc or {D.NPROC_ENV}); each takes batch_size / nproc samples")
        if argv is None:  # a CLI run: become torchrun (signals from dvc or a scheduler reach it)
            D.relaunch(nproc, MODULE, sys.argv[1:])
        done = subprocess.run(D.torchrun_command(nproc, MODULE, argv))
        if done.returncode:
            raise SystemExit(done.returncode)
        return
    check_data(ctx)  # every process: the params first (above), then the files
    with D.process_group(dcfg.backend, ctx.device) as (rank, _world):
        scratch = None
        if rank > 0:  # the same code path, writing where nothing reads
            ctx.workdir.mkdir(parents=True, exist_ok=True)
            scratch = tempfile.mkdtemp(prefix=f".rank{rank}-", dir=ctx.workdir)
            ctx = replace(ctx, model_dir=Path(scratch) / "models", report_dir=Path(scratch) / "reports")
        try:
            train(ctx, spec, quiet=rank > 0)
        finally:
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)


def train(ctx, spec, quiet: bool = False, on_checkpoint=None) -> None:
    metrics = train_run(ctx, spec, on_checkpoint)
    # Every run owns the same outputs, whether or not its model trains: provenance and curves.
    write_run_record(ctx)
    if not (ctx.report_dir / "curves").exists():
        write_curves_tsv([], ctx.report_dir / "curves" / "none" / "train.tsv",
                         ctx.report_dir / "curves" / "none" / "val.tsv")
    write_json(ctx.report_dir / "train_metrics.json", {"run": ctx.run.name, **metrics})  # genvid.data.train_metrics
    if not quiet:
        print(f"train {ctx.run.name}: {metrics.get('parameters', 0):,} parameters")


if __name__ == "__main__":
    # Under torchrun only rank 0 runs as "the CLI" (which records the stage's wall time).
    main() if D.env_rank() == 0 else main(sys.argv[1:])

"""A run resolved from params.yaml: its validated params and the paths of its artefacts.

Every stage that works on one run (train, ablate, sample) builds a RunContext first; the model
families (genvid.models) and the training loop (genvid.train) receive it and read nothing else
of params.yaml.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from genvid import params as P
from genvid.data.benchmark import check_inputs
from genvid.data.frames import FramesInfo
from genvid.layout import benchmark_paths, run_paths


@dataclass(frozen=True)
class RunContext:
    """Everything a run's train and sample stages need, resolved from params.yaml."""

    run: P.Run
    bench: P.BenchmarkConfig
    frames: Path
    split: Path
    stats: Path
    model_dir: Path  # models/<run>/
    report_dir: Path  # reports/<benchmark>/runs/<run>/
    workdir: Path  # checkpoints/<run>/ (resumable state, git-ignored)
    device: str = "cpu"
    precision: str = "fp32"
    channels_last: bool = False
    compile: bool = False
    params_path: str = "params.yaml"
    # a trained model folder whose components a family may load instead of training them again when
    # their fingerprints match (stage ablate: the run's own, for its variants; genvid.models.cvg)
    reuse_dir: Path | None = None
    # the digest of the code the training stage runs (genvid.codegraph.code_digest), part of every checkpoint's
    # identity, so that a stage rerun after a code change starts afresh instead of resuming the old code's
    # checkpoint; "" outside the DAG's training stages (a checkpoint is then config + data alone)
    code: str = ""


def run_context(params_path: str | Path, run_name: str, root: str | Path = ".") -> tuple[RunContext, dict]:
    """The RunContext of a run (validated params, artefact paths under ``root``) and the raw params."""
    raw = P.read_params(params_path)
    run = P.run(raw, run_name, params_path)
    bench = P.benchmark(raw, run.benchmark, params_path)
    device = P.top_level(raw, "device", params_path)
    data, paths = benchmark_paths(run.benchmark, root), run_paths(run.name, run.benchmark, root)
    return RunContext(run, bench, data.frames, data.split, data.stats, paths.model_dir, paths.report_dir,
                      paths.workdir, device.device, device.precision, device.channels_last, device.compile,
                      str(params_path)), raw


def check_data(ctx: RunContext) -> FramesInfo:
    """The run's benchmark files (frames, split, statistics) checked against each other and the params
    before the stage does any work (genvid.data.benchmark.check_inputs); the frames file's facts."""
    return check_inputs(ctx.bench, ctx.run.benchmark, ctx.frames, ctx.split, ctx.stats, ctx.params_path)[0]

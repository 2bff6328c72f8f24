"""Shared command-line pieces of the stage CLIs: ``--params`` and ``--benchmark`` / ``--run``."""
from __future__ import annotations

import argparse
from pathlib import Path

from genvid import params as P
from genvid.layout import benchmark_paths, run_paths
from genvid.params import PARAMS_FILE


def stage_parser(description: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--params", default=PARAMS_FILE, help="parameter file (default: %(default)s)")
    return parser


def benchmark_parser(description: str | None) -> argparse.ArgumentParser:
    parser = stage_parser(description)
    parser.add_argument("--benchmark", required=True, help="a key of params.yaml: benchmarks")
    parser.add_argument("--root", default=".", help="folder the artefact paths are relative to")
    return parser


def run_parser(description: str | None) -> argparse.ArgumentParser:
    parser = stage_parser(description)
    parser.add_argument("--run", required=True, help="a key of params.yaml: runs")
    parser.add_argument("--root", default=".", help="folder the artefact paths are relative to")
    return parser


def run_context(args: argparse.Namespace):
    """The RunContext of ``--run`` (validated params, artefact paths)."""
    from genvid.models.registry import RunContext

    raw = P.read_params(args.params)
    run = P.run(raw, args.run, args.params)
    bench = P.benchmark(raw, run.benchmark, args.params)
    device = P.top_level(raw, "device", args.params)
    data, paths = benchmark_paths(run.benchmark, args.root), run_paths(run.name, run.benchmark, args.root)
    return RunContext(run, bench, data.frames, data.split, data.stats, paths.model_dir, paths.report_dir,
                      paths.workdir, device.device, device.precision, str(args.params)), raw


def root_path(args: argparse.Namespace, path: str | Path) -> Path:
    return Path(args.root) / path

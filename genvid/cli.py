"""Shared command-line pieces of the stage CLIs: ``--params`` and ``--benchmark`` / ``--run`` (usage
errors are one line with exit code 2, like every bad input: genvid.stage.StageArgumentParser)."""
from __future__ import annotations

import argparse
from pathlib import Path

from genvid.params import PARAMS_FILE
from genvid.stage import StageArgumentParser


def stage_parser(description: str | None) -> StageArgumentParser:
    parser = StageArgumentParser(description=description)
    parser.add_argument("--params", default=PARAMS_FILE, help="parameter file (default: %(default)s)")
    return parser


def benchmark_parser(description: str | None) -> StageArgumentParser:
    parser = stage_parser(description)
    parser.add_argument("--benchmark", required=True, help="a key of params.yaml: benchmarks")
    parser.add_argument("--root", default=".", help="folder the artefact paths are relative to")
    return parser


def run_parser(description: str | None) -> StageArgumentParser:
    parser = stage_parser(description)
    parser.add_argument("--run", required=True, help="a key of params.yaml: runs")
    parser.add_argument("--root", default=".", help="folder the artefact paths are relative to")
    return parser


def root_path(args: argparse.Namespace, path: str | Path) -> Path:
    return Path(args.root) / path

"""Shared command-line pieces of the stage CLIs: the standard artefact paths as defaults."""
from __future__ import annotations

import argparse

from genvid.params import PARAMS_FILE

# Where each pipeline artefact lives by default (dvc.yaml passes them explicitly).
ARTEFACTS = {
    "frames": "data/raw/frames.h5",
    "split": "data/splits/split.json",
    "stats": "data/stats/normalization.json",
    "latents": "data/latents/latents.h5",
    "model": "models/vqvae.pt",
}


def stage_parser(description: str | None, *inputs: str) -> argparse.ArgumentParser:
    """A parser with ``--params`` and ``--<name>`` for each standard input artefact named."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--params", default=PARAMS_FILE, help="parameter file (default: %(default)s)")
    for name in inputs:
        parser.add_argument(f"--{name}", default=ARTEFACTS[name], help="default: %(default)s")
    return parser

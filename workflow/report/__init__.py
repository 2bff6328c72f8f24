"""Which outputs `snakemake --report` shows, with which caption: read from captions.yaml.

The Snakefile wraps each output of the rules it builds from dvc.yaml as
``report(out, **report_spec(out))`` when ``report_spec(out)`` is not None.
"""
from __future__ import annotations

import fnmatch
from functools import lru_cache
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
WORKFLOW_RST = "workflow/report/workflow.rst"  # the Snakefile's global `report:` description


@lru_cache(maxsize=None)
def _captions() -> tuple[tuple[str, dict], ...]:
    data = yaml.safe_load((HERE / "captions.yaml").read_text(encoding="utf-8")) or {}
    return tuple(data.items())


def report_spec(output: str) -> dict | None:
    """report() keyword arguments for an output path (caption relative to the repo root), or None."""
    for pattern, entry in _captions():
        if fnmatch.fnmatchcase(output, pattern):
            spec = {"caption": f"workflow/report/{entry['caption']}", "category": entry["category"]}
            if "subcategory" in entry:
                spec["subcategory"] = entry["subcategory"]
            return spec
    return None

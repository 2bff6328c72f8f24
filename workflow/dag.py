"""Read the stage graph from dvc.yaml, resolved by DVC itself, for the Snakefile and the tests.

dvc.yaml is the single definition of the DAG. Using DVC's own resolver (templating, ``vars``,
``foreach`` included) guarantees that Snakemake sees exactly the stages DVC runs.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from genvid.io import load_yaml

if TYPE_CHECKING:
    from genvid.params import ResourcesConfig


@dataclass(frozen=True)
class StageSpec:
    name: str
    cmd: str
    deps: tuple[str, ...]                 # file dependencies (code and data), repo-relative
    outs: tuple[str, ...]                 # outputs, metrics and plots files, repo-relative
    params: dict[str, tuple[str, ...]] = field(default_factory=dict)  # params file -> keys


def load_stages(root: str | Path = ".") -> list[StageSpec]:
    from dvc.repo import Repo

    root = Path(root).resolve()
    stages = []
    with Repo(str(root)) as repo:
        for stage in repo.index.stages:
            if not getattr(stage, "name", None):  # .dvc files are data, not pipeline stages
                continue
            deps, params = [], {}
            for dep in stage.deps:
                if hasattr(dep, "params"):
                    params[str(dep.def_path)] = tuple(dep.params)
                else:
                    deps.append(_relative(root, stage.wdir, dep.def_path))
            outs = [_relative(root, stage.wdir, out.def_path) for out in stage.outs]
            cmd = stage.cmd if isinstance(stage.cmd, str) else " && ".join(stage.cmd)
            stages.append(StageSpec(stage.name, cmd, tuple(deps), tuple(outs), params))
    return stages


def _relative(root: Path, wdir: str, path: str) -> str:
    return str((Path(wdir) / path).resolve().relative_to(root))


@lru_cache(maxsize=8)
def _parsed(text: str) -> dict:
    """A params file's contents, parsed once per distinct text: the Snakefile asks for every stage's
    values, and parsing params.yaml anew for each of them took most of a dry run (8 of 11 s, 78 stages).
    Keyed by the text, so an edited file is parsed again; callers only read the result."""
    return load_yaml(text) or {}


def param_values(stage: StageSpec, root: str | Path = ".") -> str:
    """The stage's parameter values as stable JSON: Snakemake reruns a rule when it changes."""
    values = {}
    for file, keys in sorted(stage.params.items()):
        data = _parsed((Path(root) / file).read_text())
        for key in keys:
            node = data
            for part in key.split("."):
                node = node.get(part) if isinstance(node, dict) else None
            values[f"{file}:{key}"] = node
    return json.dumps(values, sort_keys=True)


def rule_name(stage: str) -> str:
    """A Snakemake rule name for a DVC stage name: "train@driving-vq" -> "train__driving_vq"."""
    return stage.replace("@", "__").replace("-", "_")


def is_directory(path: str) -> bool:
    """Outputs without a file suffix are folders (models/<run>, .../curves): Snakemake's directory()."""
    return "." not in Path(path).name


def inputs(stage: StageSpec, stages: list[StageSpec], every: tuple[list[str], list[str]] | None = None) -> list[str]:
    """The stage's deps as Snakemake inputs: a folder dep that holds other stages' outputs (DVC
    links it to those stages) becomes those outputs, so Snakemake sees the same edges."""
    outs, folders = every or all_outs(stages)  # all_outs(stages): passed in by callers that ask for every stage
    result = []
    for dep in stage.deps:
        inside = [out for out in outs if out != dep and out.startswith(dep.rstrip("/") + "/")]
        # a file inside another stage's folder output (deps/stages/<stage>.json, deps/models/<model>.json of stage
        # code): DVC hashes the file itself; Snakemake takes no input inside a directory() output, so the rule
        # reads the folder
        holder = [out for out in folders if dep.startswith(out.rstrip("/") + "/")]
        result.extend(inside if inside and dep not in outs else holder[:1] or [dep])
    return result


def all_outs(stages: list[StageSpec]) -> tuple[list[str], list[str]]:
    """Every stage's outputs, and those of them that are folders (in order)."""
    outs = [out for other in stages for out in other.outs]
    return outs, [out for out in outs if is_directory(out)]


def edges(stages: list[StageSpec]) -> set[tuple[str, str]]:
    """(upstream, downstream) stage pairs: downstream depends on an output of upstream."""
    producer = {out: stage.name for stage in stages for out in stage.outs}
    outs = all_outs(stages)  # once, not once a stage: the dry run of a 78-stage DAG spent seconds here
    return {(producer[dep], stage.name) for stage in stages for dep in inputs(stage, stages, outs) if dep in producer}


def stage_resources(stages: list[StageSpec], root: str | Path = ".") -> dict[str, ResourcesConfig]:
    """Each stage's cluster resources from params.yaml's ``resources`` section: the entry for its
    name before '@' (``train`` for ``train@driving-vq``) over ``resources.default``. A key that
    names no stage of dvc.yaml is an error (a typo would otherwise silently fall back to the default); a
    stage dvc.yaml defines over entries params.yaml leaves empty (``noisy_vq: {}``) keeps its key."""
    from genvid.config import parse_config
    from genvid.errors import ParamError
    from genvid.params import ResourcesConfig, read_params, section

    path = Path(root) / "params.yaml"
    entries = section(read_params(path), "resources", path)
    dag = Path(root) / "dvc.yaml"
    defined = (_parsed(dag.read_text(encoding="utf-8")).get("stages") or {}) if dag.exists() else {}
    bases = {stage.name.split("@")[0] for stage in stages} | set(defined)
    unknown = sorted(set(entries) - bases - {"default"})
    if unknown:
        raise ParamError(f"{path}: resources.{unknown[0]} is not a stage "
                         f"(known: default, {', '.join(sorted(bases))})")
    for name, entry in entries.items():
        if not isinstance(entry, dict):
            raise ParamError(f"{path}: resources.{name} must be a mapping, got {type(entry).__name__}")
    if "default" in entries:  # complete by itself, so a bad default is reported as such
        parse_config(ResourcesConfig, entries["default"], "resources.default", str(path))
    for name in sorted(entries.keys() - {"default"}):  # each entry, whether or not this profile expands its stage
        parse_config(ResourcesConfig, {**entries.get("default", {}), **entries[name]}, f"resources.{name}", str(path))
    result = {}
    for stage in stages:
        base = stage.name.split("@")[0]
        key = f"resources.{base}" if base in entries else "resources.default"
        merged = {**entries.get("default", {}), **entries.get(base, {})}
        result[stage.name] = parse_config(ResourcesConfig, merged, key, str(path))
    return result

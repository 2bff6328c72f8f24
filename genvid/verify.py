"""Check that the committed ``dvc.lock`` regenerates bit for bit here (docs/reproducibility.md).

    python -m genvid.verify                 # auto: the workspace if it holds every output, else a scratch copy
    python -m genvid.verify --workspace     # after `make repro`: hash the workspace's outputs
    python -m genvid.verify --scratch       # regenerate the DAG (dvc repro) in a scratch copy of HEAD
    python -m genvid.verify train@driving-vq          # only this stage and what it depends on
    python -m genvid.verify --record        # write repro-env.json: this machine, its pins, its versions
                                            # (a GPU run: repro-platforms/<platform>.json, its output hashes)

Every output hash of every stage is compared with the committed lock (``git show HEAD:dvc.lock``),
one line per stage, in the order the DAG runs them. At the first stage that differs, the likely
cause is named: an input that is not the committed one (code, params: not the machine), else
what differs between this machine and the one that wrote the lock as ``repro-env.json`` records
it: GPU, ISA, threads, package versions, C library. A run on a GPU (params ``device: cuda``) cannot
match a CPU-written lock: it is compared with its platform's own record (GPU model, CUDA, cuDNN,
driver, torch) under ``repro-platforms/`` when one is committed. Exit status 0 when every stage is the same, 1 when
one differs or is missing, 2 on bad input. Works for any DVC project (foreach names included).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from genvid.determinism import cpu_info, pin_environment, threads_from_params, x86_level
from genvid.machine import cpu_generation
from genvid.errors import GenvidError
from genvid.io import load_yaml
from genvid.stage import cli_main

RECORD_FILE = "repro-env.json"
LOCK_FILE = "dvc.lock"
PLATFORMS_DIR = "repro-platforms"  # a GPU platform's own output hashes (a CPU-written lock never matches them)
GUARANTEED_LEVELS = ("x86-64-v3", "x86-64-v4")
CAUSES = ("GPU", "ISA", "threads", "package versions", "C library", "CPU generation", "CPU model")  # most likely first
THREAD_PINS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "CUBLAS_WORKSPACE_CONFIG")


# ----------------------------------------------------------------------------- the lock

@dataclass
class Entry:
    """One dep or out of a lock stage: its path and DVC's md5 (``...dir`` for a directory)."""
    path: str
    md5: str | None


@dataclass
class Stage:
    name: str
    cmd: str
    deps: list[Entry] = field(default_factory=list)
    outs: list[Entry] = field(default_factory=list)
    params: dict[str, dict[str, Any]] = field(default_factory=dict)  # file -> {key: value}


class Yaml12Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2's floats. DVC writes dvc.lock with ruamel.yaml (YAML 1.2),
    which writes params.yaml's 1.0e-5 as 1e-05: a float in YAML 1.2, a string to PyYAML's YAML 1.1
    resolver, which made every stage with such a param look changed (issue 19)."""


Yaml12Loader.yaml_implicit_resolvers = {k: [r for r in v if r[0] != "tag:yaml.org,2002:float"]
                                        for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)
                |[-+]?(?:[0-9][0-9_]*)\.[0-9_]*
                |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
                |[-+]?\.(?:inf|Inf|INF)
                |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."))


def load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=Yaml12Loader)


def parse_lock(text: str, source: str) -> dict[str, Stage]:
    """The stages of a dvc.lock (schema 2.0), in file order."""
    try:
        data = load_yaml(text)
    except yaml.YAMLError as err:
        raise GenvidError(f"{source}: not valid YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(data, dict) or not isinstance(data.get("stages"), dict):
        raise GenvidError(f"{source}: not a dvc.lock (no 'stages' mapping)")
    stages = {}
    for name, body in data["stages"].items():
        body = body or {}
        cmd = body.get("cmd", "")
        stages[name] = Stage(
            name, " && ".join(cmd) if isinstance(cmd, list) else str(cmd),
            [Entry(d["path"], d.get("md5")) for d in body.get("deps") or []],
            [Entry(o["path"], o.get("md5")) for o in body.get("outs") or []],
            {f: dict(v or {}) for f, v in (body.get("params") or {}).items()},
        )
    return stages


def committed_lock(root: Path, lock: str | None) -> tuple[dict[str, Stage], str]:
    """The lock to compare with: ``lock`` if given, else HEAD's dvc.lock, else the file on disk."""
    if lock is not None:
        path = Path(lock)
        if not path.is_file():
            raise GenvidError(f"{lock}: file not found")
        return parse_lock(path.read_text(encoding="utf-8"), lock), lock
    shown = subprocess.run(["git", "show", f"HEAD:{LOCK_FILE}"], cwd=root, capture_output=True, text=True)
    if shown.returncode == 0:
        return parse_lock(shown.stdout, f"HEAD:{LOCK_FILE}"), f"{LOCK_FILE} as committed (HEAD)"
    path = root / LOCK_FILE
    if not path.is_file():
        raise GenvidError(f"{path}: file not found (nothing to verify: run `make repro` and commit it)")
    return parse_lock(path.read_text(encoding="utf-8"), str(path)), f"{path} (not in git)"


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def producers(stages: dict[str, Stage]) -> dict[str, str]:
    """Output path -> the stage that writes it."""
    return {o.path: s.name for s in stages.values() for o in s.outs}


def upstream(stages: dict[str, Stage], name: str) -> list[str]:
    """Stages whose outputs ``name`` reads (directly)."""
    found = []
    for dep in stages[name].deps:
        for other in stages.values():
            if other.name != name and any(_inside(dep.path, o.path) or _inside(o.path, dep.path) for o in other.outs):
                found.append(other.name)
    return list(dict.fromkeys(found))


def run_order(stages: dict[str, Stage]) -> list[str]:
    """Stages in an order the DAG can run them (lock order among independent ones)."""
    ups = {name: upstream(stages, name) for name in stages}
    done: list[str] = []
    pending = list(stages)
    while pending:
        ready = [n for n in pending if all(u in done for u in ups[n])]
        if not ready:  # a cycle cannot come from DVC; keep the rest in file order
            ready = pending[:1]
        done.append(ready[0])
        pending.remove(ready[0])
    return done


def closure(stages: dict[str, Stage], targets: list[str]) -> list[str]:
    """``targets`` and every stage they depend on, in run order."""
    unknown = [t for t in targets if t not in stages]
    if unknown:
        raise GenvidError(f"stage '{unknown[0]}' is not in the committed dvc.lock (known: {', '.join(stages)})")
    keep, todo = set(), list(targets)
    while todo:
        name = todo.pop()
        if name not in keep:
            keep.add(name)
            todo.extend(upstream(stages, name))
    return [n for n in run_order(stages) if n in keep]


# ----------------------------------------------------------------------------- hashing as DVC does

def file_md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def dvc_md5(path: Path) -> str | None:
    """DVC 3's md5 of a file (of its bytes) or directory (of the sorted JSON list of its files'
    md5 and relative paths, plus ".dir"); None when the path does not exist."""
    if path.is_file():
        return file_md5(path)
    if path.is_dir():
        entries = sorted(({"md5": file_md5(p), "relpath": p.relative_to(path).as_posix()}
                          for p in path.rglob("*") if p.is_file()), key=lambda e: e["relpath"])
        return hashlib.md5(json.dumps(entries, sort_keys=True).encode("utf-8")).hexdigest() + ".dir"
    return None


# ----------------------------------------------------------------------------- comparing

@dataclass
class Result:
    stage: str
    status: str                        # same | differs | missing | stale (a platform record of other inputs)
    differing: list[tuple[str, str | None, str | None]] = field(default_factory=list)  # path, here, lock


def compare_outputs(stages: dict[str, Stage], names: list[str], root: Path,
                    platform: dict[str, Any] | None = None) -> list[Result]:
    """Each stage's outputs here against the lock's hashes, or against a GPU ``platform`` record's
    (a stage whose lock inputs are not the record's is "stale": record the platform again)."""
    results = []
    for name in names:
        expected = {o.path: o.md5 for o in stages[name].outs}
        if platform is not None:
            entry = platform["stages"].get(name)
            if entry is None or entry["inputs"] != stage_inputs(stages[name]):
                results.append(Result(name, "stale"))
                continue
            expected = entry["outs"]
        differing = [(o.path, here, expected.get(o.path)) for o in stages[name].outs
                     if (here := dvc_md5(root / o.path)) != expected.get(o.path)]
        status = "same" if not differing else "missing" if all(h is None for _, h, _ in differing) else "differs"
        results.append(Result(name, status, differing))
    return results


def changed_inputs(stage: Stage, stages: dict[str, Stage], root: Path) -> list[str]:
    """Inputs of ``stage`` that are not what the lock recorded: code/data files and params."""
    made = producers(stages)
    found = []
    for dep in stage.deps:
        if any(_inside(dep.path, out) for out in made):
            continue  # an upstream stage's output: compared on its own line
        here = dvc_md5(root / dep.path)
        if here != dep.md5:
            found.append(f"{dep.path} {'is missing' if here is None else 'is not the committed version'}")
    for file, values in stage.params.items():
        try:
            current = load_yaml((root / file).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            found.append(f"{file} cannot be read")
            continue
        for key, value in values.items():
            node: Any = current
            for part in key.split("."):
                node = node.get(part) if isinstance(node, dict) else None
            if node != value:
                found.append(f"param {key} in {file} is not the committed value")
    return found


# ----------------------------------------------------------------------------- GPU platforms

def platform_name(env: dict[str, Any]) -> str | None:
    """The file name of a GPU platform's record: GPU model, CUDA, cuDNN, driver and torch (the
    bytes are guaranteed on that combination alone); None on the CPU."""
    gpu = env.get("gpu")
    if not gpu:
        return None
    raw = (f"{gpu['model']}-cuda{gpu['cuda']}-cudnn{gpu['cudnn']}-driver{gpu['driver'] or 'unknown'}"
           f"-torch{env['packages'].get('torch', '?')}")
    return re.sub(r"[^a-z0-9.]+", "-", raw.lower()).strip("-") + ".json"


def stage_inputs(stage: Stage) -> str:
    """One hash of a lock stage's command, deps and params: a platform record holds for these only."""
    inputs = {"cmd": stage.cmd, "deps": sorted((d.path, d.md5 or "") for d in stage.deps), "params": stage.params}
    return hashlib.md5(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()


def write_platform_record(root: Path, stages: dict[str, Stage], here: dict[str, Any], lock_name: str) -> Path:
    """``repro-platforms/<platform>.json``: this platform's hash of every output in the workspace,
    with the inputs each stage had in the lock (a later verify on the same platform compares with it)."""
    missing = [o.path for s in stages.values() for o in s.outs if not (root / o.path).exists()]
    if missing:
        raise GenvidError(f"{root / missing[0]}: not in the workspace ({len(missing)} outputs missing): run "
                          "`make repro` on this platform before recording it")
    record = {"note": f"outputs of {lock_name}'s stages as computed on this GPU platform (python -m genvid.verify "
                      "--record); verify compares a run on the same platform with these, not with dvc.lock",
              "environment": here,
              "stages": {s.name: {"inputs": stage_inputs(s), "outs": {o.path: dvc_md5(root / o.path) for o in s.outs}}
                         for s in stages.values()}}
    path = root / PLATFORMS_DIR / platform_name(here)
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(record, indent=1) + "\n")
    return path


def read_platform_record(root: Path, here: dict[str, Any]) -> tuple[dict[str, Any] | None, Path | None]:
    name = platform_name(here)
    if name is None:
        return None, None
    path = root / PLATFORMS_DIR / name
    if not path.is_file():
        return None, path
    try:
        return json.loads(path.read_text(encoding="utf-8")), path
    except json.JSONDecodeError as err:
        raise GenvidError(f"{path}: not valid JSON ({err})") from None


# ----------------------------------------------------------------------------- the environment

def device_from_params(path: Path) -> str:
    """params ``device.device`` (cpu unless it says cuda), read without validating the file."""
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return "cpu"
    section = data.get("device") if isinstance(data, dict) else None
    return "cuda" if isinstance(section, dict) and section.get("device") == "cuda" else "cpu"


def gpu_info(device: str) -> dict[str, Any] | None:
    """The GPU a ``device: cuda`` run computes on: model, compute capability, driver, CUDA and
    cuDNN versions (each decides kernels and so bytes); None for a CPU run."""
    import torch

    if device != "cuda" or not torch.cuda.is_available():
        return None
    driver = ""
    try:  # the NVIDIA kernel module's version line ("... Kernel Module  580.65.06 ...")
        found = re.search(r"Kernel Module\s+(?:for \S+\s+)?([\d.]+)", Path("/proc/driver/nvidia/version").read_text())
        driver = found.group(1) if found else ""
    except OSError:
        pass
    return {"model": torch.cuda.get_device_name(0),
            "capability": ".".join(map(str, torch.cuda.get_device_capability(0))),
            "driver": driver, "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version()}


def environment(threads: int, device: str = "cpu") -> dict[str, Any]:
    """What decides the bytes besides the code: CPU (or GPU), pins in effect, thread counts,
    versions. Imports numpy and torch (after the pins, when called from main)."""
    from importlib.metadata import distributions

    import numpy as np
    import torch

    cpu = cpu_info()
    mod = np._core._multiarray_umath
    packages = {}
    for dist in distributions():
        name = (dist.metadata["Name"] or "").lower().replace("_", "-")
        if name:
            packages[name] = dist.version
    return {
        "cpu": {"vendor": cpu["vendor"], "model": cpu["model"], "generation": cpu_generation(),
                "level": x86_level(cpu["flags"]),
                "avx2": "avx2" in cpu["flags"], "fma": "fma" in cpu["flags"],
                "avx512f": "avx512f" in cpu["flags"]},
        "threads": threads,
        "gpu": gpu_info(device),
        "pins": {k: os.environ.get(k) for k in sorted(pin_environment(threads, dict(os.environ)))},
        "effective": {"numpy_simd": [k for k in mod.__cpu_dispatch__ if mod.__cpu_features__.get(k)],
                      "torch_capability": torch.backends.cpu.get_cpu_capability(),
                      "torch_threads": torch.get_num_threads()},
        "libc": " ".join(platform.libc_ver()),
        "python": platform.python_version(),
        "packages": dict(sorted(packages.items())),
    }


def describe(env: dict[str, Any]) -> str:
    cpu, eff, pk, gpu = env["cpu"], env["effective"], env["packages"], env.get("gpu")
    avx512 = "yes (not used: pinned to AVX2)" if cpu["avx512f"] else "no"
    on_gpu = (f"GPU {gpu['model']} (sm {gpu['capability']}), driver {gpu['driver'] or '?'}, CUDA {gpu['cuda']}, "
              f"cuDNN {gpu['cudnn']}; " if gpu else "")
    return (f"{on_gpu}{cpu['model'] or 'unknown CPU'} ({cpu['vendor']}), {cpu['level']}: AVX2 "
            f"{'yes' if cpu['avx2'] else 'no'}, FMA {'yes' if cpu['fma'] else 'no'}, AVX-512 {avx512}; "
            f"repro.threads {env['threads']} (torch {eff['torch_threads']}); numpy {pk.get('numpy', '?')} "
            f"SIMD {'+'.join(eff['numpy_simd']) or 'baseline'}; torch {pk.get('torch', '?')} "
            f"{eff['torch_capability']}; {env['libc']}; python {env['python']}")


def environment_differences(here: dict[str, Any], recorded: dict[str, Any] | None) -> list[tuple[str, str]]:
    """(cause, detail) pairs, most likely cause first: ISA, threads, package versions, C library."""
    found: list[tuple[str, str]] = []
    cpu = here["cpu"]
    gpu, rec_gpu = here.get("gpu"), (recorded or {}).get("gpu")
    if recorded and gpu != rec_gpu:
        if gpu and not rec_gpu:
            found.append(("GPU", f"this run computes on a GPU ({gpu['model']}) and the lock was written on a CPU: "
                                 "GPU bytes never match a CPU-written lock (docs/reproducibility.md)"))
        elif rec_gpu and not gpu:
            found.append(("GPU", f"the lock was written on a GPU ({rec_gpu['model']}), this run computes on the CPU"))
        else:
            found += [("GPU", f"GPU {key} {gpu.get(key)} here, {rec_gpu.get(key)} in the record")
                      for key in ("model", "capability", "driver", "cuda", "cudnn") if gpu.get(key) != rec_gpu.get(key)]
    if cpu["level"] not in GUARANTEED_LEVELS:
        found.append(("ISA", f"this CPU is {cpu['level']} (no AVX2+FMA): torch and libm results are only "
                             f"guaranteed from x86-64-v3 up"))
    # pins someone lowered through the environment (pin_environment keeps lower levels)
    standard = pin_environment(here["threads"], {})
    for key, value in here["pins"].items():
        if value != standard.get(key) and key not in THREAD_PINS:
            found.append(("ISA", f"{key}={value} is set in the environment (the pin is {standard.get(key)})"))
    if recorded:
        if recorded.get("threads") != here["threads"]:
            found.append(("threads", f"repro.threads {here['threads']} here, {recorded.get('threads')} in the record"))
        if recorded.get("effective", {}).get("torch_threads") not in (None, here["effective"]["torch_threads"]):
            found.append(("threads", f"torch uses {here['effective']['torch_threads']} threads here, "
                                     f"{recorded['effective']['torch_threads']} in the record"))
        rec_eff, eff = recorded.get("effective", {}), here["effective"]
        for key in ("torch_capability", "numpy_simd"):
            if key in rec_eff and rec_eff[key] != eff[key]:
                found.append(("ISA", f"{key} {eff[key]} here, {rec_eff[key]} in the record"))
        old, new = recorded.get("packages", {}), here["packages"]
        versions = [f"{n} {new.get(n, 'missing')} here, {old.get(n, 'missing')} in the record"
                    for n in sorted(set(old) | set(new)) if old.get(n) != new.get(n)]
        if recorded.get("python") != here["python"]:
            versions.insert(0, f"python {here['python']} here, {recorded.get('python')} in the record")
        if len(versions) > 12:
            versions[12:] = [f"and {len(versions) - 12} more (compare {RECORD_FILE} with pip freeze)"]
        found.extend(("package versions", v) for v in versions)
        if recorded.get("libc") != here["libc"]:
            found.append(("C library", f"{here['libc']} here, {recorded.get('libc')} in the record (libm)"))
        rec_cpu = recorded.get("cpu", {})
        if (rec_cpu.get("vendor"), rec_cpu.get("model")) != (cpu["vendor"], cpu["model"]):
            found.append(("CPU model", f"{cpu['model']} ({cpu['vendor']}) here, {rec_cpu.get('model')} "
                                       f"({rec_cpu.get('vendor')}) in the record"))
        elif (rec_cpu.get("generation"), rec_cpu.get("level")) != (cpu.get("generation"), cpu["level"]):
            # one model name ("AMD EPYC") spans generations that block some 3D convolutions otherwise
            found.append(("CPU generation", f"{cpu.get('generation')} ({cpu['level']}) here, "
                                            f"{rec_cpu.get('generation') or 'a generation not recorded'} "
                                            f"({rec_cpu.get('level')}) in the record: AMD generations are measured to "
                                            f"compute some 3D convolutions otherwise at some shapes (the VQ-VAE's: "
                                            f"docs/reproducibility.md)"))
    return found


def lock_differences(root: Path, installed: dict[str, str]) -> list[str]:
    """Installed versions that are not requirements.lock's (name==version lines), if there is one."""
    path = root / "requirements.lock"
    if not path.is_file():
        return []
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        name, sep, version = line.split("#")[0].split(";")[0].strip().partition("==")
        if sep:
            key, version = name.strip().lower().replace("_", "-"), version.strip()
            have = installed.get(key, "")
            if have != version and ("+" in version or have.split("+")[0] != version):  # 2.13.0+cpu is ==2.13.0
                found.append(f"{name.strip()} {have or 'missing'} installed, {version} in requirements.lock")
    return found


def read_record(root: Path) -> dict[str, Any] | None:
    path = root / RECORD_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise GenvidError(f"{path}: not valid JSON ({err})") from None


def diagnose(result: Result, stages: dict[str, Stage], root: Path, here: dict[str, Any],
             recorded: dict[str, Any] | None) -> list[str]:
    """Lines naming the likely cause of the first difference."""
    stage = stages[result.stage]
    lines = [f"first difference: {result.stage} "
             f"({', '.join(p for p, _, _ in result.differing)} {result.status})"]
    inputs = changed_inputs(stage, stages, root)
    if inputs:
        lines.append("likely cause: its inputs are not those of the committed lock (a change of code or "
                     "params, not of the machine):")
        return lines + [f"  - {i}" for i in inputs]
    if result.status == "missing":
        return lines + ["likely cause: the stage did not run (see dvc's output above)"]
    lines.append("its inputs (code, params, upstream outputs) match the committed lock, so the machine or "
                 "the environment made the difference")
    fonts = pdf_font_lines(root, [p for p, _, _ in result.differing if p.endswith(".pdf")])
    if fonts:  # a PDF's bytes follow its fonts, not the CPU (issue 47)
        return lines + fonts
    diffs = environment_differences(here, recorded)
    diffs += [("package versions", d) for d in lock_differences(root, here["packages"])]
    diffs.sort(key=lambda d: CAUSES.index(d[0]))
    if recorded is None:
        lines.append(f"no {RECORD_FILE} records the machine that wrote the lock; compare with this one:")
        lines.append(f"  {describe(here)}")
    if diffs:
        lines.append(f"likely cause: {diffs[0][0]}")
        lines += [f"  - {cause}: {detail}" for cause, detail in diffs]
    elif recorded is None:
        checked = "this CPU is inside the guarantee and no pin is lowered"
        if (root / "requirements.lock").is_file():
            checked += ", the installed packages are requirements.lock's"
        lines.append(f"likely cause: not known without the record ({checked}; threads are a param the lock "
                     "holds): left are the C library and the CPU model; please report it with `lscpu`")
    else:
        lines.append("likely cause: none of ISA, threads or package versions differs from the record: a "
                     "kernel the pins do not cover (please report it with this output and `lscpu`)")
        lines.append(f"  here:     {describe(here)}")
        lines.append(f"  recorded: {describe(recorded)}")
    return lines


def pdf_font_lines(root: Path, pdfs: list[str]) -> list[str]:
    """For differing PDFs: the fonts each embeds, and the cause where one is not a font genvid ships
    (genvid.report.fonts); empty where there is no PDF to read."""
    from genvid.report.fonts import foreign_fonts, pdf_fonts

    lines: list[str] = []
    for rel in pdfs:
        path = root / rel
        if not path.is_file():
            continue
        data = path.read_bytes()
        foreign = foreign_fonts(data)
        lines.append(f"{rel} embeds the fonts: {', '.join(pdf_fonts(data)) or 'none'}")
        if foreign:
            lines.append(f"likely cause: fonts: {rel} embeds {', '.join(foreign)}, which genvid does not ship (the "
                         "machine's fonts reached the renderer; genvid.report.fonts keeps them out)")
    if lines and not any(line.startswith("likely cause") for line in lines):
        lines.append("likely cause: fonts or the PDF renderer: every embedded font is one genvid ships, so compare "
                     "these names and the installed weasyprint, pydyf and fontTools with the lock's machine")
    return lines


# ----------------------------------------------------------------------------- regenerating

def scratch_copy(root: Path, dest: Path, worktree: bool) -> None:
    """HEAD's files (what a fresh clone gets), or the working tree's, in a fresh git repo at dest."""
    if worktree:
        listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                                cwd=root, check=True, capture_output=True).stdout.decode().split("\0")
        for rel in filter(None, listed):
            if (root / rel).is_file():
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(root / rel, dest / rel)
    else:
        archive = subprocess.run(["git", "archive", "--format=tar", "HEAD"], cwd=root, capture_output=True)
        if archive.returncode != 0:
            raise GenvidError(f"{root}: cannot read HEAD ({archive.stderr.decode().strip()}); use --worktree")
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)


def repro(dest: Path, targets: list[str]) -> int:
    """`dvc repro` in dest with this interpreter's environment first on PATH (stages call python)."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONHASHSEED"] = "0"
    # DVC's analytics daemon outlives `dvc repro` and opens the repo in its cwd: in a scratch copy it
    # wrote into .dvc/ while verify removed the folder, which left the folder behind (a CI failure).
    env["DVC_NO_ANALYTICS"] = "1"
    return subprocess.run([sys.executable, "-m", "dvc", "repro", *targets], cwd=dest, env=env).returncode


def remove_scratch(where: Path) -> None:
    """Remove a scratch copy after a clean pass, or say where it stays and why."""
    try:
        shutil.rmtree(where)
    except OSError as exc:
        print(f"could not remove the scratch copy at {where}: {exc}")


# ----------------------------------------------------------------------------- CLI

def report(results: list[Result], against: str = "the lock") -> list[str]:
    width = max(len(r.stage) for r in results)
    lines = []
    for r in results:
        detail = "; ".join(f"{p}: {(h or 'missing')[:12]} here, {(m or '?')[:12]} in {against}"
                           for p, h, m in r.differing)
        if r.status == "stale":
            detail = "the platform record was written for other inputs of this stage: record it again"
        lines.append(f"  {r.stage:<{width}}  {r.status}{'  (' + detail + ')' if detail else ''}")
    return lines


@cli_main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m genvid.verify", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("targets", nargs="*", help="stages to check (default: all), with their upstream")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--workspace", action="store_true", help="hash the outputs in the workspace")
    mode.add_argument("--scratch", action="store_true", help="dvc repro in a scratch copy, then hash")
    mode.add_argument("--record", action="store_true", help=f"write {RECORD_FILE} for this machine and exit (on a "
                      f"GPU platform: {PLATFORMS_DIR}/<platform>.json, its hashes of the workspace's outputs)")
    parser.add_argument("--worktree", action="store_true", help="scratch copy of the working tree, not HEAD")
    parser.add_argument("--scratch-dir", help="where to make the scratch copy (default: a new temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch copy")
    parser.add_argument("--lock", help="lock to compare with (default: dvc.lock as committed)")
    parser.add_argument("--params", default="params.yaml", help="for repro.threads (default: %(default)s)")
    parser.add_argument("--root", default=".", help="the project (default: the current folder)")
    args = parser.parse_args(argv)
    root = Path(args.root).resolve()

    # the same pins as every stage, before numpy/torch load (they are only read here)
    threads = threads_from_params(root / args.params)
    if not {"numpy", "torch"} & sys.modules.keys():
        pin_environment(threads)
    here = environment(threads, device_from_params(root / args.params))
    if args.record and here["gpu"]:
        stages, lock_name = committed_lock(root, args.lock)
        path = write_platform_record(root, stages, here, lock_name)
        print(f"wrote {path}: {len(stages)} stages as computed on {describe(here)}")
        return
    if args.record:
        path = root / RECORD_FILE
        path.write_text(json.dumps({"note": "machine and environment that wrote dvc.lock "
                                            "(python -m genvid.verify --record)", **here}, indent=1) + "\n")
        print(f"wrote {path}: {describe(here)}")
        return

    stages, lock_name = committed_lock(root, args.lock)
    names = closure(stages, args.targets) if args.targets else run_order(stages)
    if not names:
        raise GenvidError(f"{lock_name}: no stages")
    outputs_here = all((root / o.path).exists() for n in names for o in stages[n].outs)
    scratch = args.scratch or (not args.workspace and not outputs_here)
    print(f"genvid verify: {len(names)} stages of {lock_name}")
    print(f"this machine: {describe(here)}")
    where = root
    if scratch:
        if not args.scratch and not args.workspace:
            print("some outputs are not in the workspace: regenerating them in a scratch copy "
                  "(--workspace to check the workspace instead)")
        where = Path(args.scratch_dir or tempfile.mkdtemp(prefix="genvid-verify-")).resolve()
        where.mkdir(parents=True, exist_ok=True)
        if any(where.iterdir()):
            raise GenvidError(f"{where}: scratch folder is not empty")
        scratch_copy(root, where, args.worktree)
        print(f"dvc repro in {where} ...", flush=True)
        code = repro(where, args.targets)
        if code != 0:
            print(f"dvc repro failed (exit {code}); the scratch copy is kept at {where}")
    else:
        print("outputs: the workspace's")
    platform, platform_path = read_platform_record(root, here)
    if platform is not None:
        print(f"this GPU platform's outputs: {platform_path.relative_to(root)} (a CPU-written lock cannot match them)")
        results = compare_outputs(stages, names, where, platform)
    else:
        if platform_path is not None:
            print(f"this run computes on a GPU, and {LOCK_FILE} was written on "
                  f"{'a GPU' if (read_record(root) or {}).get('gpu') else 'a CPU'}: no record of this platform "
                  f"({platform_path.relative_to(root)}); after `make repro` here, `python -m genvid.verify --record` "
                  "writes one to commit. Comparing with the lock:")
        results = compare_outputs(stages, names, where)
    print("\n".join(report(results, f"{platform_path.name}" if platform is not None else "the lock")))
    bad = [r for r in results if r.status != "same"]
    if bad and bad[0].status == "stale":
        print(f"first stale stage: {bad[0].stage}: {LOCK_FILE} changed since this platform was recorded; after "
              "`make repro`, `python -m genvid.verify --record` records it again")
    elif bad:
        recorded = platform["environment"] if platform is not None else read_record(root)
        print("\n".join(diagnose(bad[0], stages, where, here, recorded)))
    else:
        print(f"every stage is the same: {platform_path.name if platform is not None else lock_name} "
              "regenerates bit for bit on this machine")
    if scratch and not args.keep and not bad:
        remove_scratch(where)
    elif scratch:
        print(f"scratch copy kept at {where}")
    if bad:
        raise SystemExit(1)


if __name__ == "__main__":
    main()

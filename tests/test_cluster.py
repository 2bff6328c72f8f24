"""The DAG on a Slurm cluster through Snakemake (issue 13): each rule's resources come from
params.yaml's ``resources`` section, and the tiny-profile DAG run with
``snakemake --profile workflow/profiles/slurm`` (snakemake-executor-plugin-slurm) on a real
single-node cluster writes the same bytes as ``dvc repro``.

The cluster test needs slurmctld/slurmd up (``make test-cluster`` installs Debian's slurm-wlm and
munge and starts them with workflow/slurm/start-cluster.sh); it is skipped, with the reason,
where they are absent. The resources tests always run.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, copy_repo, venv_env
from genvid.errors import ParamError
from workflow.dag import load_stages, rule_name, stage_resources


def run(path: Path, *cmd: str) -> str:
    result = subprocess.run(cmd, cwd=path, env=venv_env(), capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} exited {result.returncode}:\n{(result.stdout + result.stderr)[-4000:]}")
    return result.stdout + result.stderr


def set_resources(path: Path, resources: dict) -> None:
    params = yaml.safe_load((path / "params.yaml").read_text())
    params["resources"] = resources
    (path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.fixture(scope="module")
def stages():
    return load_stages(ROOT)


# ----------------------------------------------------------------------------- resources from params

def test_resources_are_the_stage_entry_over_the_default(tmp_path, stages):
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    set_resources(tmp_path, {"default": {"cpus": 1, "mem_mb": 1000, "runtime": 10, "gpus": 0},
                             "train": {"mem_mb": 12345, "gpus": 1},
                             "report": {"cpus": 3, "runtime": 7}})
    got = stage_resources(stages, tmp_path)
    assert set(got) == {stage.name for stage in stages}
    train = [name for name in got if name.startswith("train@")]
    assert train
    for name in train:  # only what the stage entry names changes; the rest is the default
        assert (got[name].cpus, got[name].mem_mb, got[name].runtime, got[name].gpus) == (1, 12345, 10, 1)
    assert (got["report"].cpus, got["report"].mem_mb, got["report"].runtime) == (3, 1000, 7)
    assert (got["collect@driving"].cpus, got["collect@driving"].mem_mb) == (1, 1000)


@pytest.mark.parametrize("resources, message", [
    ({"default": {"cpus": 1, "mem_mb": 1, "runtime": 1}, "trian": {"cpus": 2}},
     "resources.trian is not a stage (known: default, "),
    ({"default": {"cpus": 0, "mem_mb": 1, "runtime": 1}}, "resources.default.cpus must be >= 1, got 0"),
    ({"default": {"cpus": 1, "mem_mb": 1, "runtime": 1}, "train": {"gpus": -1}},
     "resources.train.gpus must be >= 0, got -1"),
    ({"default": {"cpus": 1, "mem_mb": 1, "runtime": 1}, "train": 4}, "resources.train must be a mapping"),
    ({"train": {"cpus": 1, "mem_mb": 1, "runtime": 1}}, "resources.default.cpus is missing"),
])
def test_bad_resources_name_the_key(tmp_path, stages, resources, message):
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    set_resources(tmp_path, resources)
    with pytest.raises(ParamError, match=re.escape(message)):
        stage_resources(stages, tmp_path)


def test_snakemake_rules_get_the_params_resources(tmp_path):
    """The Snakefile hands each rule its params resources: change one, Snakemake's plan shows it."""
    copy_repo(tmp_path)
    set_resources(tmp_path, {"default": {"cpus": 2, "mem_mb": 1111, "runtime": 11, "gpus": 0},
                             "train": {"cpus": 3, "mem_mb": 23456, "runtime": 99, "gpus": 0}})
    dry = run(tmp_path, "snakemake", "-n", "-F", "--cores", "4")
    planned = {}
    for block in re.split(r"\n(?=rule \w+:)", dry):
        head = re.match(r"rule (\w+):", block)
        if head and head.group(1) != "all":
            shown = re.search(r"^\s+threads: (\d+)$", block, flags=re.M)  # not shown when 1
            threads = int(shown.group(1)) if shown else 1
            resources = dict(re.findall(r"(\w+)=([^,\s]+)", re.search(r"^\s+resources: (.*)$", block,
                                                                         flags=re.M).group(1)))
            planned[head.group(1)] = (threads, resources)
    stages = load_stages(tmp_path)
    assert set(planned) == {rule_name(stage.name) for stage in stages}
    for stage in stages:
        threads, resources = planned[rule_name(stage.name)]
        cpus, mem_mb, runtime = (3, 23456, 99) if stage.name.startswith("train@") else (2, 1111, 11)
        assert threads == cpus, stage.name
        assert {key: resources[key] for key in ("cpus_per_task", "mem_mb", "runtime", "gpu")} == {
            "cpus_per_task": str(cpus), "mem_mb": str(mem_mb), "runtime": str(runtime), "gpu": "0"}, stage.name


# ----------------------------------------------------------------------------- a real Slurm cluster

def slurm_missing() -> str | None:
    """Why the cluster test cannot run here, or None."""
    absent = [tool for tool in ("sinfo", "sbatch", "squeue", "scontrol") if shutil.which(tool) is None]
    if absent:
        return (f"Slurm client commands not installed ({', '.join(absent)}); "
                "`make test-cluster` installs and starts a single-node cluster")
    try:
        info = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return "no Slurm cluster up (sinfo timed out); start one with workflow/slurm/start-cluster.sh"
    if info.returncode != 0:
        said = info.stderr.strip().splitlines()[-1] if info.stderr.strip() else f"exit {info.returncode}"
        return f"no Slurm cluster up (sinfo: {said}); start one with workflow/slurm/start-cluster.sh"
    if not any(state.startswith(("idle", "mix", "alloc")) for state in info.stdout.split()):
        return f"no Slurm node accepts jobs (sinfo states: {' '.join(info.stdout.split()) or 'none'})"
    return None


SNAKEMAKE_MARKER = ".snakemake_timestamp"  # Snakemake's own empty marker in a directory() output
# The report's appendix tabulates dvc.lock (hashes, and whether each file still matches them). Only
# DVC writes dvc.lock, so after a Snakemake run that table is the checkout's, and the report says
# so ("differs"). The report is checked to exist; every other stage is compared byte for byte.
DVC_LOCK_READERS = ("report",)


def tree_digests(root: Path, outs) -> dict[str, str]:
    """sha256 of every file of the given outputs (a folder output: each file inside it)."""
    found = {}
    for out in outs:
        path = root / out
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.name != SNAKEMAKE_MARKER) \
            if path.is_dir() else [path]
        assert files and all(p.is_file() for p in files), f"{out} missing under {root}"
        for file in files:
            found[str(file.relative_to(root))] = hashlib.sha256(file.read_bytes()).hexdigest()
    return found


@pytest.fixture(scope="module")
def dvc_and_slurm(tmp_path_factory):
    reason = slurm_missing()
    if reason and os.environ.get("GENVID_REQUIRE_SLURM"):  # `make test-cluster`: a skip would hide it
        pytest.fail(reason)
    if reason:
        pytest.skip(reason)
    runs = {}
    for name in ("dvc", "slurm"):
        path = tmp_path_factory.mktemp(name)
        copy_repo(path)
        run(path, "python", "-m", "genvid.profiles", "tiny")
        runs[name] = path
    # Both at once: the Slurm run mostly waits (job start, status polls) while dvc computes.
    slurm = subprocess.Popen(["nice", "snakemake", "--profile", "workflow/profiles/slurm"], cwd=runs["slurm"],
                             env=venv_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        run(runs["dvc"], "nice", "dvc", "repro")
    finally:
        log, _ = slurm.communicate()
    if slurm.returncode != 0:
        pytest.fail(f"snakemake --profile workflow/profiles/slurm exited {slurm.returncode}:\n{log[-4000:]}")
    return runs["dvc"], runs["slurm"], log


@pytest.mark.slurm
@pytest.mark.slow
def test_slurm_dag_writes_the_bytes_of_dvc_repro(dvc_and_slurm):
    dvc, slurm, log = dvc_and_slurm
    stages = load_stages(slurm)
    submitted = dict(re.findall(r"SLURM jobid (\d+) \(log: \S*/rule_(\w+)/", log))
    assert set(submitted.values()) == {rule_name(stage.name) for stage in stages}  # every rule was an sbatch job
    compared = [stage for stage in stages if stage.name not in DVC_LOCK_READERS]
    outs = [out for stage in compared for out in stage.outs]
    assert len(tree_digests(slurm, outs)) > len(compared)  # folder outputs count file by file
    assert tree_digests(slurm, outs) == tree_digests(dvc, outs)
    tree_digests(slurm, [out for stage in stages if stage.name in DVC_LOCK_READERS for out in stage.outs])
    # DVC agrees: with dvc repro's lock file (and without Snakemake's markers, which DVC would hash
    # as part of the folders), those stages of the Slurm run are up to date.
    for marker in slurm.rglob(SNAKEMAKE_MARKER):
        marker.unlink()
    shutil.copy(dvc / "dvc.lock", slurm / "dvc.lock")
    run(slurm, "dvc", "cache", "dir", str(dvc / ".dvc" / "cache"))  # folder manifests (.dir) live there
    status = run(slurm, "dvc", "status", *(stage.name for stage in compared))
    assert "Data and pipelines are up to date" in status, status


@pytest.mark.slurm
@pytest.mark.slow
def test_slurm_jobs_got_the_params_resources(dvc_and_slurm):
    """Slurm granted each job what params.yaml's resources section asks (scontrol keeps finished
    jobs for MinJobAge = 600 s, so the last jobs of the run are checked)."""
    _, slurm, log = dvc_and_slurm
    stages = load_stages(slurm)
    wanted = {rule_name(name): res for name, res in stage_resources(stages, slurm).items()}
    jobs = re.findall(r"SLURM jobid (\d+) \(log: \S*/rule_(\w+)/", log)
    checked = 0
    for jobid, rule in jobs[-4:]:
        shown = subprocess.run(["scontrol", "show", "job", jobid], capture_output=True, text=True).stdout
        if "JobState=" not in shown:
            continue  # already purged
        assert "JobState=COMPLETED" in shown, shown
        assert re.search(rf"\bNumCPUs={wanted[rule].cpus}\b", shown), shown
        assert re.search(rf"\bmem={wanted[rule].mem_mb}M\b", shown), shown
        hours, minutes = divmod(wanted[rule].runtime, 60)
        assert f"TimeLimit={hours:02d}:{minutes:02d}:00" in shown, shown
        checked += 1
    assert checked, "no job of the run was still known to slurmctld"

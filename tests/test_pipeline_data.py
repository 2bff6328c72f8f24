"""The data stages through `dvc repro` and `snakemake` on a tiny config: same bytes, no-op reruns."""
import hashlib
import subprocess

import pytest
import yaml

from conftest import ROOT, copy_repo, venv_env
from genvid.profiles import apply, load_profile

TINY = load_profile("tiny", ROOT / "profiles")
OUTPUTS = ("data/driving/frames.h5", "data/driving/split.json", "data/driving/stats.json",
           "data/smmnist/frames.h5", "data/smmnist/split.json", "data/smmnist/stats.json")
DATA_STAGES = ("normalize@driving", "normalize@smmnist")

pytestmark = pytest.mark.slow


def prepare(path, overrides=TINY):
    path.mkdir()
    copy_repo(path)
    # a fresh project: the tiny params rerun every data stage anyway, and DVC rereads the lock
    # file at every stage (the default profile's, 200 kB of YAML, costs seconds a stage)
    (path / "dvc.lock").unlink(missing_ok=True)
    params = yaml.safe_load((path / "params.yaml").read_text())
    (path / "params.yaml").write_text(yaml.safe_dump(apply(params, overrides), sort_keys=False))
    return path


def run(path, *cmd):
    result = subprocess.run(cmd, cwd=path, env=venv_env(), capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def digests(path):
    return {out: hashlib.sha256((path / out).read_bytes()).hexdigest() for out in OUTPUTS}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Two tiny roots, each built from scratch: the data stages by `dvc repro` (a) and by snakemake
    (c). The tests below share them, in file order: each later test only adds reruns to a root."""
    base = tmp_path_factory.mktemp("data")
    a, c = prepare(base / "a"), prepare(base / "c")
    run(a, "dvc", "repro", *DATA_STAGES)
    run(c, "snakemake", "--cores", "2", "data/driving/stats.json", "data/smmnist/stats.json")
    return a, c


def test_dvc_and_snakemake_give_identical_bytes(built):
    """Two independent builds (so also a rerun's determinism), by each workflow engine."""
    a, c = built
    assert digests(a) == digests(c)


def test_noop_repro_and_seed_change_reruns_downstream(built):
    a = built[0]
    before = {out: (a / out).stat().st_mtime_ns for out in OUTPUTS}
    again = run(a, "dvc", "repro", *DATA_STAGES)
    assert "Running stage" not in again
    assert {out: (a / out).stat().st_mtime_ns for out in OUTPUTS} == before

    params = yaml.safe_load((a / "params.yaml").read_text())
    params["benchmarks"]["driving"]["collect"]["seed"] += 1
    (a / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    old = digests(a)
    rerun = run(a, "dvc", "repro", *DATA_STAGES)
    for stage in ("collect@driving", "split@driving", "normalize@driving"):
        assert f"Running stage '{stage}'" in rerun
    assert "Running stage 'collect@smmnist'" not in rerun  # the other benchmark is untouched
    new = digests(a)
    assert new["data/driving/frames.h5"] != old["data/driving/frames.h5"]
    assert new["data/driving/stats.json"] != old["data/driving/stats.json"]
    assert new["data/smmnist/frames.h5"] == old["data/smmnist/frames.h5"]


def test_snakemake_reruns_a_rule_when_its_params_change(built):
    c = built[1]
    target = "data/driving/stats.json"
    assert "Nothing to be done" in run(c, "snakemake", "-n", "--cores", "1", target)
    params = yaml.safe_load((c / "params.yaml").read_text())
    params["benchmarks"]["driving"]["normalize"]["chunk_frames"] = 7
    (c / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    dry = run(c, "snakemake", "-n", "--cores", "1", target)
    assert "rule normalize__driving:" in dry and "rule collect__driving:" not in dry

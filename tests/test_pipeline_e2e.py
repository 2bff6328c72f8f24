"""The whole DAG on the tiny profile, end to end: built by snakemake on both cores (two one-thread stages at
once: the tiny profile's resources) and recorded by `dvc commit`, after which `dvc repro` has nothing to do,
`dvc metrics`/`plots` read it, and both engines rerun what a params change touches; the data stages and a
training run built by `dvc repro` give the same bytes as snakemake's. DVC itself running every stage of the
tiny DAG is tests/test_cluster.py's (`make test-cluster`, against the Slurm build) and the cold runs'
(docs/reproducibility.md): here it would cost a `dvc.lock` rewrite a stage, minutes of make test's ten.

Snakemake's stages start as forks of one interpreter that has imported PyTorch (tests/_stage_server.py): the
same pins, the same code and the same bytes as a fresh `python -m stages.<name>` (the `dvc repro` project
below starts each afresh), without 70 imports of PyTorch, most of the tiny stages' CPU time."""
import hashlib
import json
import subprocess

import pytest
import yaml

import _bad_inputs as bad
from _stage_server import serving
from conftest import copy_repo, venv_env
from workflow.dag import load_stages

pytestmark = pytest.mark.slow
DATA = ("data/driving/frames.h5", "data/driving/split.json", "data/driving/stats.json",
        "data/smmnist/frames.h5", "data/smmnist/split.json", "data/smmnist/stats.json")
TRAINED = "smmnist-svg_lp"  # a run the `dvc repro` project trains too: PyTorch's bytes, forked or fresh


def run(path, *cmd, env=None):
    result = subprocess.run(cmd, cwd=path, env=env or venv_env(), capture_output=True, text=True)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A new project on the tiny profile, every stage built by snakemake (each a fork of the stage server)
    and recorded in dvc.lock; and the server's log."""
    path = tmp_path_factory.mktemp("e2e")
    copy_repo(path)
    run(path, "python", "-m", "genvid.profiles", "tiny")
    with serving(path, venv_env()) as (env, log):
        run(path, "snakemake", "--cores", "2", env=env)
        with open(log) as f:
            served = f.read().splitlines()
    run(path, "dvc", "commit", "--force")
    return path, served


@pytest.fixture(scope="module")
def pipeline(served):
    return served[0]


def digests(path):
    files = [*DATA, *(str(p.relative_to(path)) for p in sorted((path / "models" / TRAINED).rglob("*"))
                      if p.is_file() and p.name != ".snakemake_timestamp")]  # snakemake's mark on a folder output
    return {out: hashlib.sha256((path / out).read_bytes()).hexdigest() for out in files}


@pytest.fixture(scope="module")
def dvc_data(tmp_path_factory):
    """Another new project on the tiny profile, its data stages and one training run run by `dvc repro`,
    each stage a fresh interpreter."""
    path = tmp_path_factory.mktemp("dvc")
    copy_repo(path)
    run(path, "python", "-m", "genvid.profiles", "tiny")
    out = run(path, "dvc", "repro", "normalize@driving", f"train@{TRAINED}")
    assert all(f"Running stage '{kind}@{bench}'" in out
               for kind in ("collect", "split", "normalize") for bench in ("driving", "smmnist")), out[-2000:]
    assert f"Running stage 'train@{TRAINED}'" in out, out[-2000:]
    return path


def test_the_stage_server_forked_every_stage_of_the_build(served):
    """Every stage of the build was a fork (none fell back to a fresh interpreter, which the log would say
    with the variables that differed): what keeps the build's CPU seconds down."""
    path, lines = served
    assert [line for line in lines if not line.startswith("forked ")] == []
    assert len(lines) == len(load_stages(path))


def test_every_stage_output_exists(pipeline):
    for stage in load_stages(pipeline):
        for out in stage.outs:
            path = pipeline / out  # a file, or a folder output (models/<run>, curves)
            assert path.is_file() or (path.is_dir() and any(path.iterdir())), f"{stage.name}: {out} missing"


def test_metrics_are_listed_and_sane(pipeline):
    shown = run(pipeline, "dvc", "metrics", "show", "--json")
    for run_name, bench in (("driving-vq", "driving"), ("smmnist-vq", "smmnist")):
        assert f"reports/{bench}/runs/{run_name}/metrics.json" in shown
        metrics = json.loads((pipeline / f"reports/{bench}/runs/{run_name}/metrics.json").read_text())
        control = {"cf_ssim", "sensitivity", "direction"} if bench == "driving" else set()  # issue 24
        long = {"long_fvd"} if bench == "driving" else set()  # issue 23: driving's long horizon
        assert set(metrics) == {"psnr", "ssim", "lpips", "fvd", "diversity"} | control | long  # flat headline keys (vq: no bits_per_dim)
        scores = json.loads((pipeline / f"reports/{bench}/runs/{run_name}/scores.json").read_text())
        psnr = {rule: v["average"]["mean"] for rule, v in scores["series"]["predictions"]["psnr"].items()}
        assert 0 < psnr["mean"] <= psnr["best_seq"] <= psnr["best_step"] <= 100
        assert metrics["psnr"] == round(psnr["best_seq"], 2) and metrics["fvd"] >= 0
    table = run(pipeline, "dvc", "metrics", "show").splitlines()
    assert table and max(map(len, table)) <= 200  # issues 18 and 45: one screen
    train = json.loads((pipeline / "reports/driving/runs/driving-vq/train_metrics.json").read_text())
    assert train["prior_top"]["baselines"]["uniform_bits"] == pytest.approx(4.0)  # K = 16 in the tiny profile
    tuned = train["decoder"]  # models.vq.finetune is on in the tiny profile: scored before and after, same draws
    for split in ("val", "test"):
        assert tuned[split]["before"]["changed_bottom"] == tuned[split]["after"]["changed_bottom"]
        assert tuned[split]["before"]["mse_prior_codes"] != tuned[split]["after"]["mse_prior_codes"]
    assert (pipeline / "reports/driving/runs/driving-vq/curves/decoder/train.tsv").exists()
    runs = yaml.safe_load((pipeline / "params.yaml").read_text())["runs"]
    for bench in ("driving", "smmnist"):
        board = json.loads((pipeline / f"reports/{bench}/leaderboard/leaderboard.json").read_text())
        assert set(board) == {name for name, r in runs.items() if r["benchmark"] == bench}  # measured runs only
        assert {f"{bench}-vq", f"{bench}-copy_last"} <= set(board)
    assert {"smmnist-vrnn", "smmnist-rfn", "smmnist-svg_lp", "smmnist-hvrnn"} <= set(runs)  # one run per model


def test_the_image_levels_rescore_copy_last_as_the_evaluate_stage_did(pipeline):
    """benchmarks/image_levels.py on the tiny DAG: its copy-last, scored by the protocol's code, equals the
    committed metrics.json (exit 0), and a black future scores one row more (issue 48's reference levels); its
    context median equals the registered reference's run."""
    out = run(pipeline, "python", str(pipeline / "benchmarks" / "image_levels.py"), "--benchmark", "smmnist",
              "--root", str(pipeline))
    assert "equals the DAG's reports/smmnist/runs/smmnist-copy_last/metrics.json: yes" in out
    assert "the context median equals the DAG's reports/smmnist/runs/smmnist-context_median/metrics.json: yes" in out
    rows = [line.split() for line in out.splitlines() if line.startswith(("black", "context median"))]
    assert len(rows) == 2 and all(len(r) >= 5 for r in rows)


def test_dvc_and_snakemake_give_identical_bytes(pipeline, dvc_data):
    """Two independent builds of the data stages and a training run (so also a rerun's determinism), one by
    each engine: snakemake's stages forked from the stage server, DVC's fresh interpreters."""
    assert digests(pipeline) == digests(dvc_data)


def test_snakemake_reruns_a_rule_when_its_params_change(pipeline):
    target = "data/driving/stats.json"
    assert "Nothing to be done" in run(pipeline, "snakemake", "-n", "--cores", "1", target)
    original = (pipeline / "params.yaml").read_text()
    params = yaml.safe_load(original)
    params["benchmarks"]["driving"]["normalize"]["chunk_frames"] = 7
    try:
        (pipeline / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        dry = run(pipeline, "snakemake", "-n", "--cores", "1", target)
    finally:  # a dry run writes nothing: the project is as built again
        (pipeline / "params.yaml").write_text(original)
    assert "rule normalize__driving:" in dry and "rule collect__driving:" not in dry


def test_rerun_does_nothing(pipeline):
    before = {out: (pipeline / out).stat().st_mtime_ns for out in DATA}
    out = run(pipeline, "dvc", "repro")
    assert "Running stage" not in out
    assert {out: (pipeline / out).stat().st_mtime_ns for out in DATA} == before
    assert "Data and pipelines are up to date" in run(pipeline, "dvc", "status")


def test_plots_render(pipeline):
    out = run(pipeline, "dvc", "plots", "show", "--json")
    assert "reports/driving/runs/driving-vq/psnr.tsv" in out


@pytest.fixture(scope="module")
def stages(pipeline):
    return {stage.name: stage for stage in load_stages(pipeline)}


def test_the_bad_input_matrix_covers_every_stage_kind(stages):
    assert {name.partition("@")[0] for name in stages} == {name.partition("@")[0] for name in bad.MATRIX}


@pytest.mark.parametrize("name", bad.MATRIX)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(pipeline, stages, name, tmp_path, capsys):
    """Issue 26's matrix (tests/_bad_inputs.py): every input of the stage broken in every way, one
    case at a time, each on its own scratch copy of the built project's files."""
    stage = bad.stage_inputs(stages[name])
    failures = []
    for i, case in enumerate(bad.cases(stage, pipeline)):
        problem = bad.run_case(case, stage, pipeline, tmp_path / str(i), capsys)
        if problem:
            failures.append(f"{case.what}: {problem}")
    assert not failures, f"{len(failures)} cases of {name}:\n" + "\n".join(failures)


def test_a_seed_change_reruns_its_benchmark_only(pipeline):
    """Last (it changes the project): a new driving seed makes every driving stage stale and no
    SM-MNIST one; `dvc repro` then reruns driving's data stages, and its frames differ."""
    params = yaml.safe_load((pipeline / "params.yaml").read_text())
    params["benchmarks"]["driving"]["collect"]["seed"] += 1
    (pipeline / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    stale = run(pipeline, "dvc", "status")
    for stage in ("collect@driving", "split@driving", "normalize@driving", "train@driving-vq", "report"):
        assert f"{stage}:" in stale
    assert "@smmnist" not in stale
    old = digests(pipeline)
    out = run(pipeline, "dvc", "repro", "normalize@driving")  # DVC runs the stale data stages it recorded
    assert all(f"Running stage '{stage}'" in out for stage in ("collect@driving", "split@driving", "normalize@driving"))
    new = digests(pipeline)
    assert new["data/driving/frames.h5"] != old["data/driving/frames.h5"]
    assert new["data/smmnist/frames.h5"] == old["data/smmnist/frames.h5"]
    assert "normalize@driving:" not in run(pipeline, "dvc", "status", "normalize@driving")

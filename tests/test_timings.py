"""Stage wall times: recorded by every stage CLI, outside every DVC-tracked artefact."""
import json
import subprocess
import sys

import pytest
import yaml

from conftest import ROOT, venv_env
from genvid.timings import read_timings, record, stage_name
from workflow.dag import load_stages


def test_stage_names_match_dvc_yaml():
    assert stage_name("stages.train", ["--params", "p.yaml", "--run", "driving-vq"]) == "train@driving-vq"
    assert stage_name("stages.collect", ["--benchmark", "smmnist"]) == "collect@smmnist"
    assert stage_name("stages.metric_weights", ["--out-dir", "x"]) == "metric_weights"
    names = {s.name for s in load_stages(ROOT)}
    assert "train@driving-vq" in names and "collect@smmnist" in names


def test_a_cli_run_records_its_wall_time_and_no_output_holds_it(tmp_path):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["benchmarks"]["smmnist"]["collect"]["test_sequences"] = 2
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    result = subprocess.run([sys.executable, "-m", "stages.collect", "--params", "params.yaml", "--benchmark",
                             "smmnist"], cwd=tmp_path, env=venv_env(), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    timings = read_timings(tmp_path)
    assert set(timings) == {"collect@smmnist"} and timings["collect@smmnist"] > 0
    for stage in load_stages(ROOT):
        assert not any(out.startswith("logs/") for out in stage.outs), stage.name


def test_unreadable_timing_files_are_skipped(tmp_path):
    record("a", 1.5, tmp_path)
    (tmp_path / "logs/timings/b.json").write_text("not json")
    assert read_timings(tmp_path) == {"a": 1.5}
    assert json.loads((tmp_path / "logs/timings/a.json").read_text())["seconds"] == 1.5


def test_dag_minutes_sums_each_kind_of_stage_and_names_the_largest():
    from conftest import load_benchmark

    lines = load_benchmark("dag_minutes").summary(
        {"train@a": 100.0, "train@b": 20.0, "evaluate@a": 30.0, "report": 10.0}, wall=200.0, largest=1)
    assert lines[0] == "stages: 4, their own time 160 s (2.7 min)"
    assert lines[1] == "wall time of the whole run: 200 s (3.3 min); start-up and DVC: 40 s (10.0 s a stage)"
    kinds = [line.split()[0] for line in lines[3:]]
    assert kinds == ["kind", "train", "evaluate", "report"]  # most time first
    assert lines[4].split()[1:4] == ["2", "120", "2.0"] and lines[4].endswith("a 100")


def test_dag_minutes_overhead_splits_dvc_s_part_from_the_stage_s_own_run(monkeypatch):
    """--overhead: DVC's part of a stage = the forced `dvc repro -s` less the up-to-date one less the direct
    run; an unknown stage is refused, naming it, before anything runs."""
    from conftest import load_benchmark

    from workflow.dag import StageSpec

    dm = load_benchmark("dag_minutes")
    stage = StageSpec("leaderboard@x", "python -m stages.leaderboard --benchmark x", (), ())
    monkeypatch.setattr("workflow.dag.load_stages", lambda root: [stage])
    walls = {"pass": 0.05, "import torch": 2.0, "stages.leaderboard": 0.5, "-f": 5.0}
    ran = []

    def fake(cmd, cwd, repeats):
        ran.append(cmd)
        return next((v for k, v in walls.items() if k in cmd), 1.5)  # the up-to-date `dvc repro -s`: 1.5

    monkeypatch.setattr(dm, "best_wall", fake)
    monkeypatch.setattr(dm, "lock_round_trip", lambda lock, repeats: 2.5 if lock == ROOT / "dvc.lock" else None)
    lines = dm.overhead("leaderboard@x", str(ROOT), 3)
    assert ran[2][0] == sys.executable and ran[2][1:] == ["-m", "stages.leaderboard", "--benchmark", "x"]
    assert lines[-3].endswith(": 3.00 s") and lines[-2].endswith(": 1.50 s")  # 5.0 - 1.5 - 0.5; 1.5
    assert "dvc.lock read and rewritten whole" in lines[-1] and lines[-1].endswith(": 2.50 s")
    with pytest.raises(SystemExit, match="no stage 'train@y'"):
        dm.overhead("train@y", str(ROOT), 3)


def test_the_lock_round_trip_rewrites_a_copy_as_dvc_does(tmp_path):
    """--overhead's lock row: DVC's own read-and-rewrite of a lock (dvc.utils.serialize.modify_yaml), timed on a
    copy, so the lock itself is never touched; a lock DVC cannot read stops the script naming it."""
    from conftest import load_benchmark

    dm = load_benchmark("dag_minutes")
    lock = tmp_path / "dvc.lock"
    text = "schema: '2.0'\nstages:\n  a:  # kept\n    cmd: python -m stages.a\n    outs:\n    - path: x\n"
    lock.write_text(text)
    seconds = dm.lock_round_trip(lock, 2)
    assert 0.0 < seconds < 5.0 and lock.read_text() == text
    lock.write_text("stages: [unclosed\n")
    with pytest.raises(SystemExit, match=f"rewriting a copy of {lock} failed"):
        dm.lock_round_trip(lock, 1)

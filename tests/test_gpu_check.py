"""benchmarks/gpu_check.py (issue 44): its arithmetic and bookkeeping by hand, and its CPU smoke mode
run as CI runs it, in a copy of the project: prepared, stopped after one part, resumed to the end."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, venv_env

sys.path.insert(0, str(ROOT / "benchmarks"))
import gpu_check  # noqa: E402


def test_versus_copy_last_takes_the_best_learned_run_per_metric_by_hand():
    board = {"s-copy_last": {"psnr": 11.0, "ssim": 0.54, "lpips": 0.23, "fvd": 272.0},
             "s-a": {"psnr": 13.5, "ssim": 0.45, "lpips": 0.36, "fvd": 548.0},
             "s-b": {"psnr": 12.0, "ssim": 0.50, "lpips": 0.20, "fvd": 300.0}}
    runs = {"s-copy_last": {"model": "copy_last"}, "s-a": {"model": "svg_lp"}, "s-b": {"model": "vq"}}
    out = gpu_check.versus_copy_last(board, runs)
    assert out["psnr"] == {"run": "s-a", "value": 13.5, "copy_last": 11.0, "margin": 2.5, "beats": True}
    assert out["ssim"]["run"] == "s-b" and out["ssim"]["margin"] == pytest.approx(-0.04) and not out["ssim"]["beats"]
    assert out["lpips"]["run"] == "s-b" and out["lpips"]["margin"] == pytest.approx(0.03) and out["lpips"]["beats"]
    assert out["fvd"] == {"run": "s-b", "value": 300.0, "copy_last": 272.0, "margin": -28.0, "beats": False}
    assert gpu_check.versus_copy_last(board, {}) == {}  # no copy-last run: nothing to compare with
    median = {**board, "s-context_median": {"psnr": 14.0, "ssim": 0.6, "lpips": 0.3, "fvd": 400.0}}
    runs["s-context_median"] = {"model": "context_median"}
    assert gpu_check.versus_copy_last(median, runs, frozenset({"s-context_median"})) == out  # a reference: never the best
    assert gpu_check.versus_copy_last(median, runs)["psnr"]["run"] == "s-context_median"


def test_a_part_past_the_budget_is_retried_once_then_recorded_as_failed(tmp_path, monkeypatch, capsys):
    calls = []

    def slow(check, left):
        calls.append(left)
        raise subprocess.TimeoutExpired("x", left)

    def quick(check, left):
        return {"status": "ok", "summary": "fine"}

    monkeypatch.setattr(gpu_check, "SMOKE", True)
    monkeypatch.setattr(gpu_check, "environment", lambda root: {"smoke": True})
    monkeypatch.setattr(gpu_check, "parts", lambda: [gpu_check.Part("a", quick), gpu_check.Part("b", slow),
                                                     gpu_check.Part("c", quick)])
    assert gpu_check.run_check(tmp_path, 100, None) == 3
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("gpu-check: a ok") and lines[1].startswith("gpu-check: b cut")
    assert lines[-1] == "gpu-check: 2 part(s) left (b next): run it again"
    assert gpu_check.run_check(tmp_path, 100, None) == 0  # cut twice: failed, and the check goes on
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("gpu-check: b failed") and "past the budget 2 time(s)" in lines[0]
    assert lines[1].startswith("gpu-check: c ok") and lines[-1].startswith("gpu-check: done, 1 not ok: b -> ")
    folder = tmp_path / gpu_check.WORK / (tmp_path / gpu_check.CURRENT).read_text()
    state = json.loads((folder / "state.json").read_text())["parts"]
    assert [state[n]["status"] for n in "abc"] == ["ok", "failed", "ok"] and len(calls) == 2
    assert gpu_check.run_check(tmp_path, 100, None) == 0 and len(calls) == 2  # done: nothing runs again


def _project_copy(dest):
    for folder in ("genvid", "stages", "workflow", "benchmarks", "profiles"):
        shutil.copytree(ROOT / folder, dest / folder, ignore=shutil.ignore_patterns(
            "__pycache__", "results", ".learning*", "*.egg-info"))
    (dest / "tests").mkdir()
    for name in ("_golden_cases.py", "conftest.py"):
        shutil.copyfile(ROOT / "tests" / name, dest / "tests" / name)
    for name in ("params.yaml", "dvc.yaml"):
        shutil.copyfile(ROOT / name, dest / name)


def test_the_smoke_mode_stops_after_a_part_and_resumes_to_done(tmp_path):
    root, out = tmp_path / "project", tmp_path / "out"
    _project_copy(root)
    env = {**venv_env(), "GPU_CHECK_DEVICE": "cpu"}

    def check(*args):
        return subprocess.run([sys.executable, str(root / "benchmarks" / "gpu_check.py"), *args, "--root", str(root)],
                               cwd=root, env=env, capture_output=True, text=True, timeout=600)

    unprepared = check()
    assert unprepared.returncode == 2 and "run `make gpu-check-prepare` where DVC is" in unprepared.stderr
    assert not (root / gpu_check.WORK).exists()  # refused before any folder or part
    prepared = check("prepare")
    assert prepared.returncode == 0, prepared.stderr[-3000:]
    plan = (root / gpu_check.PREPARED / "plan.sh").read_text()
    assert "step normalize@smmnist " in plan and "train@" not in plan  # the smoke plan: SM-MNIST's data stages
    first = check("--stop-after", "1", "--copy-to", str(out))
    assert first.returncode == 3, first.stderr[-3000:]
    assert first.stdout.splitlines()[0].startswith("gpu-check: identity ok")
    assert first.stdout.splitlines()[-1] == "gpu-check: 3 part(s) left (identity-compiled next): run it again"
    name = (root / gpu_check.CURRENT).read_text()
    assert re.fullmatch(r"gpu-cpu-smoke-\d{4}-\d\d-\d\d-([0-9a-f]{7}|unknown)", name), name  # the commit in it (none in a copy without .git)
    folder = root / gpu_check.WORK / name
    assert set(json.loads((folder / "state.json").read_text())["parts"]) == {"identity"}
    assert [p.name for p in out.iterdir()] == [f"{name}.tar.gz"]  # one tarball after every part
    second = check("--copy-to", str(out))
    assert second.returncode == 0, second.stdout + second.stderr[-3000:]
    lines = second.stdout.splitlines()
    assert [line.split()[1] for line in lines[:-1]] == ["identity-compiled", "bench:svg_lp", "smmnist"]
    assert lines[-1] == f"gpu-check: done, 0 not ok -> .gpu-run/{name}"
    state = json.loads((folder / "state.json").read_text())["parts"]
    assert state["identity"]["differ"] == [] and set(state["identity"]["cases"]) == {"train:svg_lp"}
    env_record = json.loads((folder / "environment.json").read_text())
    assert env_record["smoke"] is True and {"torch", "cuda", "cudnn", "commit"} <= set(env_record)
    assert {p.name for p in folder.iterdir()} == {"environment.json", "state.json", "bench-svg_lp.json", "dag.log"}
    assert (root / "data" / "smmnist" / "frames.h5").exists()
    collected = check("collect", str(out / f"{name}.tar.gz"))
    assert collected.returncode == 0 and collected.stdout.strip() == f"gpu-check: collected benchmarks/results/{name}"
    for f in folder.iterdir():  # the last part's tarball holds the whole folder, byte for byte
        assert (root / "benchmarks" / "results" / name / f.name).read_bytes() == f.read_bytes()
    assert sorted(p.name for p in (root / "benchmarks" / "results" / name).iterdir()) == sorted(
        p.name for p in folder.iterdir())
    again = check()
    assert again.returncode == 0 and again.stdout.splitlines() == [lines[-1]]  # nothing left to run
    assert (root / "params.yaml").read_bytes() == (ROOT / "params.yaml").read_bytes()  # the project's own again
    bare = subprocess.run([sys.executable, str(root / "benchmarks" / "gpu_check.py")], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120)
    assert bare.returncode == 2 and "run it on a copy (--root DIR)" in bare.stderr  # never in a checkout by default


def test_collect_refuses_a_tarball_that_is_not_a_results_folder(tmp_path):
    import tarfile
    (tmp_path / "gpu-x").mkdir()
    (tmp_path / "gpu-x" / "state.json").write_text("{}")
    (tmp_path / "evil.txt").write_text("x")
    good, bad, nostate = tmp_path / "good.tar.gz", tmp_path / "bad.tar.gz", tmp_path / "nostate.tar.gz"
    with tarfile.open(good, "w:gz") as tar:
        tar.add(tmp_path / "gpu-x" / "state.json", arcname="gpu-x/state.json")
    with tarfile.open(bad, "w:gz") as tar:
        tar.add(tmp_path / "gpu-x" / "state.json", arcname="gpu-x/state.json")
        tar.add(tmp_path / "evil.txt", arcname="gpu-x/../../evil.txt")
    with tarfile.open(nostate, "w:gz") as tar:
        tar.add(tmp_path / "evil.txt", arcname="gpu-y/evil.txt")
    root = tmp_path / "root"
    (root / "benchmarks" / "results").mkdir(parents=True)
    assert gpu_check.collect(root, good) == root / "benchmarks" / "results" / "gpu-x"
    assert (root / "benchmarks" / "results" / "gpu-x" / "state.json").read_text() == "{}"
    with pytest.raises(SystemExit, match=r"bad.tar.gz: not a GPU check's results"):
        gpu_check.collect(root, bad)
    with pytest.raises(SystemExit, match=r"nostate.tar.gz: gpu-y/state.json is missing"):
        gpu_check.collect(root, nostate)
    assert sorted(p.name for p in (root / "benchmarks" / "results").iterdir()) == ["gpu-x"]  # nothing half-written


def test_collect_replaces_its_own_check_and_refuses_to_overwrite_another(tmp_path):
    """Two checks of one device on one day: the second must not replace the committed first."""
    import tarfile

    def tarball(env: str, state: str, name: str = "gpu-h200-2026-11-30") -> Path:
        folder = tmp_path / "src" / env / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "environment.json").write_text(env)
        (folder / "state.json").write_text(state)
        out = tmp_path / f"{env}-{state}.tar.gz"
        with tarfile.open(out, "w:gz") as tar:
            for f in ("environment.json", "state.json"):
                tar.add(folder / f, arcname=f"{name}/{f}")
        return out

    root = tmp_path / "root"
    results = root / "benchmarks" / "results"
    results.mkdir(parents=True)
    gpu_check.collect(root, tarball("first", "1"))
    gpu_check.collect(root, tarball("first", "2"))  # a later tarball of the same check: replaced
    assert (results / "gpu-h200-2026-11-30" / "state.json").read_text() == "2"
    with pytest.raises(SystemExit, match=r"gpu-h200-2026-11-30 holds another GPU check .*--name"):
        gpu_check.collect(root, tarball("second", "1"))
    assert (results / "gpu-h200-2026-11-30" / "environment.json").read_text() == "first"
    assert gpu_check.collect(root, tarball("second", "1"), "gpu-h200-2026-11-30-b") == results / "gpu-h200-2026-11-30-b"
    assert (results / "gpu-h200-2026-11-30-b" / "environment.json").read_text() == "second"
    with pytest.raises(SystemExit, match=r"--name 'x/y'"):
        gpu_check.collect(root, tarball("second", "1"), "x/y")


def test_the_metric_weights_travel_packed_and_unpack_to_their_bytes(tmp_path):
    weights = tmp_path / "w.pt"
    weights.write_bytes(bytes(range(256)) * 5000)
    gpu_check._pack(weights)
    assert not weights.exists() and (tmp_path / "w.pt.xz").stat().st_size < 256 * 5000
    gpu_check._unpack(tmp_path / "w.pt.xz")
    assert weights.read_bytes() == bytes(range(256)) * 5000 and not (tmp_path / "w.pt.xz").exists()


def test_identity_names_the_networks_that_failed_and_still_compares_the_rest(monkeypatch):
    outputs = iter([{"train:a": "ab12", "train:b": "error: RuntimeError: no deterministic kernel", "train:c": "cd34"},
                    {"train:a": "ab12", "train:b": "error: RuntimeError: no deterministic kernel", "train:c": "ff00"}])

    class FakeCheck:
        def python(self, args, timeout):
            assert "--keep-going" in args
            return subprocess.CompletedProcess(args, 0, json.dumps(next(outputs)), "")

    record = gpu_check._identity(("--device", "cuda"), None)(FakeCheck(), 100.0)
    assert record["status"] == "failed" and record["failed"] == ["train:b"] and record["differ"] == ["train:c"]
    assert record["summary"] == "3 networks, 1 differ, 1 failed; train:b: error: RuntimeError: no deterministic kernel"


def test_a_plan_cut_by_the_budget_says_how_far_it_got(tmp_path, monkeypatch, capsys):
    assert gpu_check.plan_progress("") == {"stages_done": 0}
    printed = ("== code (done)\n== collect@smmnist (done)\n== split@smmnist\nsplit: 3 files\n"
               "-- split@smmnist finished (2 s)\n== train@smmnist-vq\n")
    assert gpu_check.plan_progress(printed) == {"stages_done": 3, "stage_running": "train@smmnist-vq"}
    assert gpu_check.plan_progress(printed.replace("-- split@smmnist finished (2 s)\n", "")) == {
        "stages_done": 2, "stage_running": "split@smmnist, train@smmnist-vq"}
    in_parallel = "== train@a\n== train@b\n-- train@b finished (5 s)\n== train@c\n"  # PLAN_JOBS > 1
    assert gpu_check.plan_progress(in_parallel) == {"stages_done": 1, "stage_running": "train@a, train@c"}

    # the real part on a plan that prints three stages, then outlasts its budget inside the third
    plan = tmp_path / gpu_check.PREPARED / "plan.sh"
    plan.parent.mkdir(parents=True)
    plan.write_text("".join(f"echo '{line}'\n" for line in printed.splitlines())  # a stage started in the background
                    + "sleep 60 & echo $! > sleeper.pid\nwait\n")
    (plan.parent / "params.yaml").write_text("runs: {}\n")
    (tmp_path / "params.yaml").write_text("project: own\n")
    monkeypatch.setattr(gpu_check, "SMOKE", True)
    monkeypatch.setattr(gpu_check, "environment", lambda root: {"smoke": True})
    monkeypatch.setattr(gpu_check, "parts", lambda: [gpu_check.Part("dag", gpu_check._dag)])
    assert gpu_check.run_check(tmp_path, 6, None) == 3  # parts start with more than 5 s left
    assert capsys.readouterr().out.splitlines()[0].endswith(
        "past the budget 1 time(s): 3 stage(s) done, train@smmnist-vq running")
    assert (tmp_path / "params.yaml").read_text() == "project: own\n"  # the project's own params again
    folder = tmp_path / gpu_check.WORK / (tmp_path / gpu_check.CURRENT).read_text()
    entry = json.loads((folder / "state.json").read_text())["parts"]["dag"]
    assert entry["status"] == "cut" and entry["stages_done"] == 3 and entry["stage_running"] == "train@smmnist-vq"
    assert (folder / "dag.log").read_text().startswith(printed)  # what the plan printed before the cut, kept
    sleeper = Path(f"/proc/{(tmp_path / 'sleeper.pid').read_text().strip()}/stat")
    for _ in range(50):  # the cut killed the plan's whole process group, not just bash
        if not sleeper.exists() or sleeper.read_text().split(")")[-1].split()[0] in "ZX":
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the cut plan's background stage is still running")


def test_parts_runs_only_the_parts_it_names_and_refuses_one_that_names_none(tmp_path, monkeypatch, capsys):
    ran = []

    def part(name):
        return gpu_check.Part(name, lambda check, left: ran.append(name) or {"status": "ok"})

    monkeypatch.setattr(gpu_check, "SMOKE", True)
    monkeypatch.setattr(gpu_check, "environment", lambda root: {"smoke": True})
    monkeypatch.setattr(gpu_check, "parts", lambda: [part("identity"), part("bench:a"), part("smmnist"),
                                                     part("learning:x")])
    for bad, says in (("bench", "matches no part; the parts: identity, bench:a, smmnist, learning:x"),
                      ("(", "is not a regular expression")):
        with pytest.raises(SystemExit, match=re.escape(says)):
            gpu_check.run_check(tmp_path, 100, None, only=bad)  # a whole-name match: "bench" names no part
    assert not (tmp_path / gpu_check.WORK).exists()  # refused before any folder
    assert gpu_check.run_check(tmp_path, 100, None, only="smmnist|learning:.*") == 0
    assert ran == ["smmnist", "learning:x"] and capsys.readouterr().out.splitlines()[-1].startswith("gpu-check: done, 0 not ok")
    assert gpu_check.run_check(tmp_path, 100, None) == 0 and ran[2:] == ["identity", "bench:a"]  # the rest, later

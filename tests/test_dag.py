"""DVC and Snakemake see the same DAG: stage names, inputs, outputs, commands and edges.

Each side is read from the tool itself: DVC's resolved index and `dvc dag --dot`, Snakemake's
dry run (`-n -F -p`) and `--rulegraph`.
"""
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, venv_env
from workflow.dag import edges, inputs, load_stages, rule_name


def run(*cmd):
    return subprocess.run(cmd, cwd=ROOT, env=venv_env(), check=True, capture_output=True, text=True).stdout


def dot_edges(dot: str, names: dict[str, str] | None = None) -> set[tuple[str, str]]:
    found = set()
    for a, b in re.findall(r'^\s*"?([\w.@\-]+)"?\s*->\s*"?([\w.@\-]+)"?', dot, flags=re.M):
        if names is not None:
            a, b = names[a], names[b]
        found.add((a, b))
    return found


@pytest.fixture(scope="module")
def snakemake_view():
    dry = run("snakemake", "-n", "-F", "-p", "--cores", "1")
    rules = {}
    for block in re.split(r"\n(?=rule \w+:)", dry):
        head = re.match(r"rule (\w+):", block)
        if not head or head.group(1) == "all":
            continue
        field = lambda key: re.search(rf"^\s+{key}: (.*)$", block, flags=re.M)
        shell = re.search(r"^Shell command: (.*)$", block, flags=re.M).group(1)
        inputs = field("input")
        rules[head.group(1)] = {
            "input": set(inputs.group(1).split(", ")) if inputs else set(),
            "output": set(field("output").group(1).split(", ")),
            "shell": shell,
        }
    graph = run("snakemake", "--rulegraph", "--cores", "1")
    labels = dict(re.findall(r'^\s*(\d+)\[label = "(\w+)"', graph, flags=re.M))
    stage_of = {rule_name(s.name): s.name for s in load_stages(ROOT)}
    rule_edges = {(stage_of[a], stage_of[b]) for a, b in dot_edges(graph, labels) if b != "all"}
    return rules, rule_edges


def test_same_stages_inputs_outputs_and_commands(snakemake_view):
    rules, _ = snakemake_view
    all_stages = load_stages(ROOT)
    stages = {rule_name(s.name): s for s in all_stages}
    assert set(rules) == set(stages)
    assert any("@" in s.name for s in all_stages)  # foreach-expanded stages are covered
    for name, stage in stages.items():
        assert rules[name]["input"] == set(inputs(stage, all_stages)), name
        assert rules[name]["output"] == set(stage.outs), name
        assert rules[name]["shell"] == stage.cmd, name


def test_same_edges(snakemake_view):
    _, rule_edges = snakemake_view
    dvc_edges = dot_edges(run("dvc", "dag", "--dot"))
    assert rule_edges == dvc_edges
    assert edges(load_stages(ROOT)) == dvc_edges
    assert ("collect@driving", "split@driving") in dvc_edges and ("split@driving", "normalize@driving") in dvc_edges
    assert ("train@driving-vq", "sample@driving-vq") in dvc_edges


WHOLE_CODE = ("stages", "genvid")  # stage code hashes them; the report names the commit that last changed them


def test_every_stage_depends_on_its_own_code():
    """On its code's file (deps/stages/<stage>.json) or on all of genvid and stages, and on no code path by
    itself: one lock entry for a stage's code (genvid.codegraph)."""
    for stage in load_stages(ROOT):
        module = re.search(r"python -m stages\.(\w+)", stage.cmd).group(1)
        assert f"deps/stages/{module}.json" in stage.deps or set(WHOLE_CODE) <= set(stage.deps), stage.name
        loose = [d for d in stage.deps if d.startswith(("stages/", "genvid/")) and d != "genvid/models"]
        assert not loose, f"{stage.name}: {loose} (its code file, deps/stages/{module}.json, holds them)"


def test_dvc_ignores_the_bytecode_python_writes_beside_the_code():
    """Without PYTHONDONTWRITEBYTECODE the first import writes __pycache__ into genvid/models, a folder
    dep of most stages: hashed, it would make every one of them look changed (.dvcignore)."""
    targets = ["genvid/models/__pycache__/registry.cpython-311.pyc", "stages/__pycache__/train.cpython-311.pyc",
               "genvid/models/registry.py", "stages/train.py"]
    out = subprocess.run(["dvc", "check-ignore", *targets], cwd=ROOT, env=venv_env(), capture_output=True, text=True)
    assert out.stdout.split() == targets[:2], out.stdout + out.stderr


def test_metrics_outputs_are_json_files():
    """`dvc metrics show` reads every metrics output; curves (TSV) belong to plots, not metrics."""
    from dvc.repo import Repo

    with Repo(str(ROOT)) as repo:
        metrics = [str(out.def_path) for stage in repo.index.stages for out in stage.outs if out.metric]
    assert metrics and all(path.endswith(".json") for path in metrics), metrics
    assert "reports/driving/runs/driving-vq/metrics.json" in metrics
    assert not any(path.endswith("train_metrics.json") for path in metrics)  # a plain output since issue 18


# -- code dependencies (issue 8 item 7): a stage reruns when a genvid module it imports changes --

def test_stage_deps_cover_every_module_the_stage_imports():
    """Every genvid/stages module a stage imports is in its code's file or under a folder it depends on. A run's
    stages depend on their model's code (deps/models/<model>.json) in place of genvid/models: every module of
    genvid/models they reach other than through the registry (which imports every family for its names) must be
    that model's code."""
    from genvid.codegraph import DECLARED, REGISTRY, imported_modules, model_code, module_file, stage_code
    from genvid.models.registry import MODELS

    for stage in load_stages(ROOT):
        short = re.search(r"python -m stages\.(\w+)", stage.cmd).group(1)
        module = "stages." + short
        code = [d for d in stage.deps if d.startswith("deps/models/")]
        own = {p.as_posix() for d in code for p in model_code(MODELS[Path(d).stem])}
        hashed = {p.as_posix() for p in stage_code(short)} if f"deps/stages/{short}.json" in stage.deps else set()
        direct = imported_modules(module, skip=frozenset({REGISTRY}))
        for name in sorted(imported_modules(module) | {"stages"}):
            path = module_file(name).relative_to(ROOT).as_posix()
            if code and path.startswith("genvid/models/"):
                declared = path.endswith("/" + DECLARED)  # the report's text (genvid.codegraph): no run executes it
                names_only = name == REGISTRY  # imports and register lines only (tests/test_registry.py)
                assert name not in direct or path in own or declared or names_only, \
                    f"{stage.name}: runs {name} ({path}) outside its model's code"
                continue
            covered = path in hashed or any(path.startswith(dep.rstrip("/") + "/") for dep in stage.deps)
            assert covered, f"{stage.name}: imports {name} ({path}) but neither its code file nor dvc.yaml lists it"


def test_a_stages_code_is_what_its_module_reaches_outside_the_models():
    """deps/stages/<stage>.json: the stage's module, its package, what it imports and those packages' other files
    (the report's templates); genvid/models is never in it (the model's file or the folder dep holds it)."""
    from genvid.codegraph import stage_code, stage_modules

    assert "stages.code" in stage_modules() and "stages.__init__" not in stage_modules()
    collect = {p.as_posix() for p in stage_code("collect")}
    assert {"stages/__init__.py", "stages/collect.py", "genvid/__init__.py", "genvid/data/simulator.py"} <= collect
    assert "genvid/leaderboard.py" not in collect and "stages/train.py" not in collect
    report = {p.as_posix() for p in stage_code("report")}
    assert {"genvid/report/templates/report.html.j2", "genvid/report/templates/report.css"} <= report
    train = {p.as_posix() for p in stage_code("train")}
    assert "genvid/train/loop.py" in train
    assert not any(p.startswith("genvid/models/") for name in ("train", "figures", "report")
                   for p in map(Path.as_posix, stage_code(name)))


def test_a_change_reruns_only_the_stages_that_reach_it(tmp_path):
    """A change in a module only the leaderboard imports changes deps/stages/leaderboard.json and no data stage's;
    a change in genvid/errors.py (every stage's) changes every stage's file."""
    import shutil

    from genvid.codegraph import stage_manifest, stage_modules

    copy = tmp_path / "repo"
    for folder in ("genvid", "stages"):
        shutil.copytree(ROOT / folder, copy / folder, ignore=shutil.ignore_patterns("__pycache__"))
    names = [m.rsplit(".", 1)[1] for m in stage_modules()]
    before = {n: stage_manifest(n, copy) for n in names}
    with (copy / "genvid/leaderboard.py").open("a") as f:
        f.write("\n# touched\n")
    after = {n: stage_manifest(n, copy) for n in names}
    changed = {n for n in names if after[n] != before[n]}
    assert "leaderboard" in changed and not changed & {"collect", "split", "normalize", "train", "sample"}
    with (copy / "genvid/errors.py").open("a") as f:
        f.write("\n# touched\n")
    assert all(stage_manifest(n, copy) != after[n] for n in names)


def test_the_import_scan_finds_what_it_must():
    """The scanner sees function-level imports; through the registry, a stage reaches every family."""
    from genvid.codegraph import imported_modules

    found = imported_modules("stages.train")
    assert {"genvid.models.registry", "genvid.models.vq.family", "genvid.models.hvrnn.model"} <= found


def test_a_models_code_is_the_core_and_the_family_folders_it_reaches():
    """Issue 45: the cascade's code is its folder and the core, not the VQ family's; the GAN prior samples the VQ
    family's tokenizer, so its code holds both folders; copy-last's, the core and its own folder; no model's, the
    registry."""
    from genvid.codegraph import model_code
    from genvid.models.registry import MODELS

    def folders(model: str) -> set[str]:
        return {p.parts[2] for p in model_code(MODELS[model]) if len(p.parts) > 3}

    assert folders("cvg") == {"cvg"}
    assert folders("svg_lp_action") == {"svg_lp"} and folders("feature_flow") == {"feature_flow"}
    assert folders("gan_prior") == {"gan_prior", "vq"} and folders("vq") == {"vq"}
    assert folders("vrnn") == folders("srnn") == {"recurrent"}
    core = {p for p in model_code(MODELS["copy_last"]) if len(p.parts) == 3}
    assert core == {p.relative_to(ROOT) for p in (ROOT / "genvid/models").glob("*.py")} - {Path("genvid/models/registry.py")}
    assert all(core <= set(model_code(s)) for s in MODELS.values())
    assert folders("context_median") == {"context_median"} and folders("copy_last") == {"copy_last"}


def test_a_change_in_one_family_reruns_only_its_runs(tmp_path):
    """Issue 45's acceptance, at the level DVC decides it: after a change inside genvid/models/cvg/, stage
    stage code's file of every model but the cascade keeps its bytes, so only the cascade's runs (whose stages
    depend on deps/models/cvg.json, dvc.yaml) and what reads them are out of date; a line added to the registry
    changes no model's file; a change in the core changes every model's file."""
    import shutil

    from genvid.codegraph import manifest
    from genvid.models.registry import MODELS

    copy = tmp_path / "repo"
    shutil.copytree(ROOT / "genvid", copy / "genvid", ignore=shutil.ignore_patterns("__pycache__"))
    before = {n: manifest(s, copy) for n, s in MODELS.items()}
    with (copy / "genvid/models/cvg/model.py").open("a") as f:
        f.write("\n# touched\n")
    after = {n: manifest(s, copy) for n, s in MODELS.items()}
    assert {n for n in MODELS if after[n] != before[n]} == {"cvg"}
    with (copy / "genvid/models/registry.py").open("a") as f:  # a family registered: no other run reruns
        f.write("register(copy_last.SPEC)\n")
    assert {n: manifest(s, copy) for n, s in MODELS.items()} == after
    with (copy / "genvid/models/layers.py").open("a") as f:
        f.write("\n# touched\n")
    assert all(manifest(s, copy) != after[n] for n, s in MODELS.items())
    for stage in load_stages(ROOT):  # no run's stage depends on every family any more
        if any(d.startswith("deps/models/") for d in stage.deps):
            assert "genvid/models" not in stage.deps, stage.name


def test_a_plan_run_again_skips_the_stages_it_finished_and_stops_at_a_failure(tmp_path):
    """The script on a machine without DVC, stopped by a device call's time limit and run again."""
    from workflow.dag import StageSpec
    from workflow.plan import script

    def stage(name: str, cmd: str) -> StageSpec:
        return StageSpec(name, cmd, (), ())

    def run(*stages: StageSpec) -> subprocess.CompletedProcess:
        (tmp_path / "plan.sh").write_text(script(list(stages)))
        return subprocess.run(["bash", "plan.sh"], cwd=tmp_path, capture_output=True, text=True)

    a, b = stage("collect@x", "echo a >> log"), stage("train@x-y", "echo \"b 'quoted'\" >> log")
    assert run(a, b).returncode == 0 and (tmp_path / "log").read_text() == "a\nb 'quoted'\n"
    again = run(a, b)
    assert again.returncode == 0 and (tmp_path / "log").read_text() == "a\nb 'quoted'\n"  # nothing reran
    assert "== collect@x (done)" in again.stdout and "== train@x-y (done)" in again.stdout
    changed = stage("train@x-y", "echo c >> log")
    assert run(a, changed).returncode == 0 and (tmp_path / "log").read_text().endswith("b 'quoted'\nc\n")
    failing = stage("sample@x-y", "echo d >> log; exit 3")
    after = stage("evaluate@x-y", "echo e >> log")
    done = run(a, changed, failing, after)
    assert done.returncode == 3 and (tmp_path / "log").read_text().endswith("c\nd\n")  # stopped there
    assert not (tmp_path / ".plan" / "sample@x-y").exists()  # a failed stage runs again next time
    assert sorted(p.name for p in (tmp_path / ".plan").iterdir()) == ["collect@x", "train@x-y"]


def test_a_plan_with_plan_jobs_runs_a_wave_at_once_and_still_waits_for_what_a_stage_needs(tmp_path):
    """PLAN_JOBS=2: the two stages of a wave run together (each waits for the other's file, so only a
    concurrent run passes), the stage needing both starts after them, each logs to .plan/logs, and a
    failure stops the plan with its log's end shown and no marker, so the next run retries only it."""
    from workflow.dag import StageSpec
    from workflow.plan import script, waves

    meet = "touch {me}; for i in $(seq 60); do [ -f {other} ] && break; sleep 0.05; done; [ -f {other} ]"
    a = StageSpec("train@a", meet.format(me="a", other="b") + " && echo trained a", ("data",), ("out_a",))
    b = StageSpec("train@b", meet.format(me="b", other="a"), ("data",), ("out_b",))
    c = StageSpec("leaderboard@x", "[ -f a ] && [ -f b ] && echo c >> log", ("out_a", "out_b"), ("board",))
    assert [[s.name for s in w] for w in waves([a, b, c])] == [["train@a", "train@b"], ["leaderboard@x"]]
    (tmp_path / "plan.sh").write_text(script([a, b, c]))

    def run(jobs: int) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", "plan.sh"], cwd=tmp_path, capture_output=True, text=True,
                              env={**os.environ, "PLAN_JOBS": str(jobs)}, timeout=60)

    done = run(2)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "log").read_text() == "c\n"
    assert (tmp_path / ".plan" / "logs" / "train@a.log").read_text() == "trained a\n"
    lines = done.stdout.splitlines()
    assert lines.index("== leaderboard@x") > max(i for i, line in enumerate(lines) if line.startswith("-- train@"))
    assert run(2).stdout.count("(done)") == 3  # nothing reruns
    for f in ("a", "b", "log"):
        (tmp_path / f).unlink()
    shutil.rmtree(tmp_path / ".plan")
    alone = run(1)  # one at a time: a waits for b in vain
    assert alone.returncode == 1 and not (tmp_path / ".plan" / "train@a").exists()
    shutil.rmtree(tmp_path / ".plan", ignore_errors=True)
    (tmp_path / "a").unlink()
    failing = StageSpec("train@b", "echo broke; exit 4", ("data",), ("out_b",))
    (tmp_path / "plan.sh").write_text(script([a.__class__(a.name, "echo a", a.deps, a.outs), failing, c]))
    stopped = run(2)
    assert stopped.returncode == 1 and "-- train@b failed (exit 4)" in stopped.stdout and "broke" in stopped.stdout
    assert sorted(p.name for p in (tmp_path / ".plan").iterdir()) == ["logs", "train@a"]  # c never started
    assert not (tmp_path / "log").exists()


def test_the_plan_runs_each_stage_after_every_stage_it_needs_and_only_what_is_asked():
    """workflow.plan (a DVC-less machine's script): a topological order of dvc.yaml's stages, and
    --only's closure: the asked stage and exactly the stages upstream of it."""
    from workflow.plan import plan, script

    stages = load_stages(ROOT)
    order = [s.name for s in plan(stages)]
    assert sorted(order) == sorted(s.name for s in stages)
    position = {name: i for i, name in enumerate(order)}
    pairs = edges(stages)
    assert all(position[a] < position[b] for a, b in pairs)
    some = [s.name for s in plan(stages, "sample@smmnist-vq")]
    upstream, todo = set(), ["sample@smmnist-vq"]
    while todo:
        name = todo.pop()
        upstream.add(name)
        todo.extend(a for a, b in pairs if b == name and a not in upstream)
    assert set(some) == upstream and some[-1] == "sample@smmnist-vq" and "collect@driving" not in some
    text = script(plan(stages, "split@smmnist"))
    assert text.splitlines()[-2:] == ["step collect@smmnist 'python -m stages.collect --benchmark smmnist'",
                                      "step split@smmnist 'python -m stages.split --benchmark smmnist'"]
    with pytest.raises(SystemExit, match="matches no stage"):
        plan(stages, "train@nowhere")


def test_the_committed_lock_holds_only_stages_dvc_yaml_defines():
    """DVC keeps a stage's lock entry after the stage leaves dvc.yaml (an ablation moved to another profile):
    a stale entry would describe outputs nobody builds. Every dvc.lock stage is one of the DAG's."""
    import yaml

    locked = set(yaml.safe_load((ROOT / "dvc.lock").read_text())["stages"])
    defined = {stage.name for stage in load_stages(ROOT)}
    assert locked <= defined, sorted(locked - defined)


PROFILES = ("default", "tiny", "paper", "thesis", "gpu")


def profile_stages(tmp_path: Path, name: str):
    """The DAG dvc.yaml expands to under a profile: a bare DVC project holding the two files."""
    from genvid.profiles import apply

    folder = tmp_path / name
    (folder / ".dvc").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(folder)], check=True)
    shutil.copy(ROOT / "dvc.yaml", folder / "dvc.yaml")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    if name != "default":
        params = apply(params, yaml.safe_load((ROOT / "profiles" / f"{name}.yaml").read_text()))
    (folder / "params.yaml").write_text(yaml.safe_dump(params))
    return load_stages(folder)


@pytest.fixture(scope="module")
def profile_dag(tmp_path_factory):
    """``profile_stages`` of a profile, built once for every test below that reads it (DVC resolves each)."""
    built = {}

    def get(name: str):
        if name not in built:
            built[name] = profile_stages(tmp_path_factory.mktemp("profiles"), name)
        return built[name]
    return get


@pytest.mark.parametrize("name", PROFILES)
def test_under_every_profile_every_stage_feeds_the_report(profile_dag, name):
    """The report reads every stage's outputs, directly or through the stages after it: under the paper
    profile the driving ablations once ran beside the report, which did not depend on them (a report
    built before them, or never rebuilt after them). A stage outside the report's ancestry is that bug."""
    stages = profile_dag(name)
    upstream, links = {"report"}, edges(stages)
    grew = True
    while grew:
        before = len(upstream)
        upstream |= {a for a, b in links if b in upstream}
        grew = len(upstream) > before
    assert [s.name for s in stages if s.name not in upstream] == []


@pytest.mark.parametrize("name", PROFILES)
def test_every_report_dep_is_a_stage_s_output_or_in_git(profile_dag, name):
    """A folder the report depends on that no stage writes into under a profile (driving's ablations in the
    default profile) must still exist in a fresh clone: git holds it (its README), or DVC stops the DAG."""
    stages = profile_dag(name)
    outs = [out for s in stages for out in s.outs]
    report = next(s for s in stages if s.name == "report")
    tracked = set(run("git", "ls-files").splitlines())
    for dep in report.deps:
        made = any(dep == o or dep.startswith(o.rstrip("/") + "/") or o.startswith(dep.rstrip("/") + "/")
                   for o in outs)
        in_git = dep in tracked or any(t.startswith(dep.rstrip("/") + "/") for t in tracked)
        assert made or in_git, f"{name}: report dep {dep} is neither a stage's output nor in git"


def test_the_report_refuses_a_dag_without_a_benchmark_s_block(tmp_path):
    """A benchmark added to params.yaml without its block in the report's and the figures' deps: one line
    naming dvc.yaml, the stage, the benchmark and what is missing; its ablations folder likewise."""
    from genvid.errors import GenvidError
    from genvid.report.repro import benchmark_block, check_benchmark_blocks

    check_benchmark_blocks(ROOT, ["driving", "smmnist", "dynamics"])
    with pytest.raises(GenvidError, match=r"dvc.yaml: stage report does not depend on benchmark mine's "
                                          r"data/mine/frames.h5, .*reports/mine/ablations \(add its block"):
        check_benchmark_blocks(ROOT, ["driving", "mine"])

    def dag(drop: tuple[str, str] | None = None) -> None:  # the repo's DAG with mine's block in both stages, less one dep
        spec = yaml.safe_load((ROOT / "dvc.yaml").read_text())
        for stage in ("report", "figures"):
            spec["stages"][stage]["deps"] += [d for d in benchmark_block(stage, "mine") if (stage, d) != drop]
        (tmp_path / "dvc.yaml").write_text(yaml.safe_dump(spec))

    dag()
    for bench in ("driving", "mine"):
        (tmp_path / "reports" / bench).mkdir(parents=True)
    (tmp_path / "reports/driving/ablations").mkdir()
    with pytest.raises(GenvidError, match=r"reports/mine/ablations: missing; stage report depends on it"):
        check_benchmark_blocks(tmp_path, ["driving", "mine"])
    (tmp_path / "reports/mine/ablations").mkdir()
    check_benchmark_blocks(tmp_path, ["driving", "mine"])
    dag(drop=("figures", "data/mine/samples"))
    with pytest.raises(GenvidError, match=r"stage figures does not depend on benchmark mine's data/mine/samples "):
        check_benchmark_blocks(tmp_path, ["driving", "mine"])

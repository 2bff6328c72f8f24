"""DVC and Snakemake see the same DAG: stage names, inputs, outputs, commands and edges.

Each side is read from the tool itself: DVC's resolved index and `dvc dag --dot`, Snakemake's
dry run (`-n -F -p`) and `--rulegraph`.
"""
import re
import subprocess

import pytest

from conftest import ROOT, venv_env
from workflow.dag import edges, load_stages


def run(*cmd):
    return subprocess.run(cmd, cwd=ROOT, env=venv_env(), check=True, capture_output=True, text=True).stdout


def dot_edges(dot: str, names: dict[str, str] | None = None) -> set[tuple[str, str]]:
    found = set()
    for a, b in re.findall(r'^\s*"?([\w.\-]+)"?\s*->\s*"?([\w.\-]+)"?', dot, flags=re.M):
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
    rule_edges = {(a, b) for a, b in dot_edges(graph, labels) if b != "all"}
    return rules, rule_edges


def test_same_stages_inputs_outputs_and_commands(snakemake_view):
    rules, _ = snakemake_view
    stages = {s.name: s for s in load_stages(ROOT)}
    assert set(rules) == set(stages)
    for name, stage in stages.items():
        assert rules[name]["input"] == set(stage.deps), name
        assert rules[name]["output"] == set(stage.outs), name
        assert rules[name]["shell"] == stage.cmd, name


def test_same_edges(snakemake_view):
    _, rule_edges = snakemake_view
    dvc_edges = dot_edges(run("dvc", "dag", "--dot"))
    assert rule_edges == dvc_edges
    assert edges(load_stages(ROOT)) == dvc_edges
    assert ("collect", "split") in dvc_edges and ("split", "normalize") in dvc_edges


def test_every_stage_depends_on_its_own_code():
    for stage in load_stages(ROOT):
        module = re.search(r"python -m stages\.(\w+)", stage.cmd).group(1)
        assert f"stages/{module}.py" in stage.deps, stage.name


def test_metrics_outputs_are_json_files():
    """`dvc metrics show` reads every metrics output; curves (TSV) belong to plots, not metrics."""
    from dvc.repo import Repo

    with Repo(str(ROOT)) as repo:
        metrics = [str(out.def_path) for stage in repo.index.stages for out in stage.outs if out.metric]
    assert metrics and all(path.endswith(".json") for path in metrics), metrics
    assert "reports/metrics.json" in metrics and "reports/vqvae_metrics.json" in metrics

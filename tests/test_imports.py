"""The import graph of genvid and the stage CLIs: no cycles, and no layer imports a higher one.

Layers, lowest first (docs/development.md); a module may import its own layer and lower ones:

    base     errors, io, config, determinism, allocator, numerics, timings, layout, stage
    data     genvid.data
    metrics  genvid.metrics
    params   params, context (a run resolved from params), cli, profiles, footprint
    models   genvid.models (every family, the registry, the family protocol)
    train    genvid.train (the one loop, a run's training), sampling (the protocol's one sampling loop)
    top      evaluation, ablation, leaderboard, published, verify, genvid.report, genvid.drive, stages

Every import statement counts, also those inside functions, and so does a "genvid.x.y" string
(a module imported by name).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = {
    "base": ("genvid.errors", "genvid.io", "genvid.config", "genvid.determinism", "genvid.allocator", "genvid.numerics",
             "genvid.timings", "genvid.layout", "genvid.stage", "genvid"),
    "data": ("genvid.data",),
    "metrics": ("genvid.metrics",),
    "params": ("genvid.params", "genvid.context", "genvid.cli", "genvid.profiles", "genvid.footprint"),
    "models": ("genvid.models",),
    "train": ("genvid.train", "genvid.sampling"),
    "top": ("genvid.evaluation", "genvid.ablation", "genvid.controllability", "genvid.leaderboard", "genvid.published", "genvid.verify", "genvid.report",
            "genvid.drive", "stages"),
}
ORDER = list(LAYERS)


def modules() -> dict[str, Path]:
    out = {}
    for package in ("genvid", "stages"):
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def layer(module: str) -> str:
    """The layer of ``module``: the longest prefix listed in LAYERS."""
    best = None
    for name, prefixes in LAYERS.items():
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > len(best[1])):
                best = (name, prefix)
    assert best is not None, f"{module} is in no layer of tests/test_imports.py"
    return best[0]


def imports_of(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The genvid/stages modules ``module`` imports (the most specific known module of each name)."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            names.update(f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names)
    out = set()
    for name in names:
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name and name != module and name != "genvid":
            out.add(name)
    return out


def graph() -> dict[str, set[str]]:
    known = modules()
    return {m: imports_of(m, p, known) for m, p in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles():
    assert cycles(graph()) == []


def test_no_module_imports_a_higher_layer():
    upward = [f"{m} ({layer(m)}) imports {d} ({layer(d)})" for m, deps in sorted(graph().items())
              for d in sorted(deps) if ORDER.index(layer(d)) > ORDER.index(layer(m))]
    assert upward == []


def test_the_cycle_finder_finds_a_cycle_and_the_layer_check_an_upward_import():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
    assert ORDER.index(layer("genvid.train.loop")) > ORDER.index(layer("genvid.models.registry"))
    assert layer("genvid.report.build") == "top" and layer("genvid.errors") == "base"


@pytest.mark.parametrize("module", ["genvid.report.build", "stages.report"])
def test_the_report_imports_no_model_or_training_code(module):
    edges, seen, todo = graph(), set(), [module]
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo.extend(edges.get(m, ()))
    assert sorted(m for m in seen if layer(m) in ("models", "train")) == []


@pytest.mark.parametrize("stage", ["collect", "split", "normalize", "counterfactuals", "leaderboard", "report"])
def test_stages_without_a_network_never_load_torch(stage):
    """Importing torch costs ~3 s of a stage process; the data stages, the leaderboard and the
    report compute with numpy alone, so a torch import creeping in (a Dataset beside a contract's
    reader, a package __init__ re-exporting the metrics) shows here."""
    import subprocess
    import sys

    probe = f"import sys, stages.{stage}; print(sorted(m for m in ('torch', 'torchvision') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", f"stages.{stage} loads {out.stdout.strip()}"


def test_no_module_is_imported_by_name():
    """Issue 45: every genvid module is imported by a statement the scan above sees (the registry imports its
    families normally); a module loaded from a string (importlib.import_module, __import__) would be an edge
    no test sees."""
    found = [f"{p.relative_to(ROOT)}: {node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id}"
             for p in sorted([*(ROOT / "genvid").rglob("*.py"), *(ROOT / "stages").rglob("*.py")])
             for node in ast.walk(ast.parse(p.read_text())) if isinstance(node, ast.Call)
             and ((isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                  or (isinstance(node.func, ast.Name) and node.func.id in ("import_module", "__import__")))]
    assert found == []


"""The registry is the one table of models: benchmarks and the train stage read it, each family
declares its components, and every declared train section parses before anything trains."""
from __future__ import annotations

import json

import pytest

from conftest import ROOT, load_benchmark
from genvid import params as P
from genvid.context import RunContext
from genvid.errors import ParamError
from genvid.models import registry
from genvid.models.family import Fitted, train_sections
from genvid.profiles import apply, load_profile
from genvid.train.run import train_run


def load_benchmark_script():
    return load_benchmark("models")


@pytest.fixture(scope="module")
def tiny():
    return apply(P.read_params(ROOT / "params.yaml"), load_profile("tiny", ROOT / "profiles"))


def test_benchmarks_time_exactly_the_registered_one_network_models(tiny):
    bench = load_benchmark_script()
    one_network = {n for n, s in registry.MODELS.items() if s.network is not None}  # the registry, not a list here
    assert one_network and set(bench.PIXEL_MODELS) == one_network
    source = (ROOT / "benchmarks" / "models.py").read_text()
    assert "genvid.models.recurrent" not in source and "Config\"" not in source  # no second table
    net = bench.build("srnn", tiny["models"]["srnn"], 1, 5)
    assert sum(p.numel() for p in net.parameters()) > 0
    with pytest.raises(SystemExit, match="'copy_last' is not a registered one-network model"):
        bench.build("copy_last", {}, 1, 5)


def test_every_family_declares_its_components():
    assert registry.get("vq").components == ("vqvae", "prior_top", "prior_bottom", "decoder")
    one_network = [n for n, s in registry.MODELS.items() if s.network is not None]
    assert one_network and all(registry.get(n).components[-1] == "model" for n in one_network)
    assert registry.get("feature_flow").components == ("warp", "model")  # its context warp trains first
    assert registry.get("copy_last").components == ()


def run_of(tiny, model: str, train: dict) -> P.Run:
    return P.Run(f"driving-{model}", "driving", model, tiny["models"].get(model, {}), train)


def test_train_sections_follow_the_component_count(tiny):
    vq = run_of(tiny, "vq", tiny["train"]["vq"])
    assert train_sections(registry.get("vq"), vq) == {
        c: (f"train.vq.{c}", tiny["train"]["vq"][c]) for c in ("vqvae", "prior_top", "prior_bottom", "decoder")}
    rfn = run_of(tiny, "rfn", tiny["train"]["rfn"])
    assert train_sections(registry.get("rfn"), rfn) == {"model": ("train.rfn", tiny["train"]["rfn"])}
    flow = run_of(tiny, "feature_flow", tiny["train"]["feature_flow"])
    assert train_sections(registry.get("feature_flow"), flow) == {
        c: (f"train.feature_flow.{c}", tiny["train"]["feature_flow"][c]) for c in ("warp", "model")}


def test_a_bad_later_component_fails_before_the_first_trains(tiny, tmp_path):
    """A typo in the bottom prior's train section is one line before the VQ-VAE trains for minutes."""
    train = json.loads(json.dumps(tiny["train"]["vq"]))
    train["prior_bottom"]["lr"] = "fast"
    ctx = RunContext(run_of(tiny, "vq", train), P.benchmark(tiny, "driving"), tmp_path / "f.h5", tmp_path / "s.json",
                     tmp_path / "stats.json", tmp_path / "m", tmp_path / "r", tmp_path / "w")
    calls = []
    spec = registry.get("vq")
    fake = type(spec)(spec.name, lambda c, fit: calls.append(c) or {}, spec.predictor, components=spec.components)
    with pytest.raises(ParamError, match=r"train\.vq\.prior_bottom\.lr must be a finite number, got 'fast'"):
        train_run(ctx, fake)
    assert calls == []


def test_train_run_hands_the_family_the_one_loop(tiny, tmp_path):
    """The family gets a fit that trains a component resumably and returns it trained, in eval mode."""
    import torch
    from torch.utils.data import TensorDataset

    from genvid.models.family import Component, ModelSpec

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Linear(2, 1)

        def loss(self, batch):
            x, y = batch
            return ((self.w(x) - y) ** 2).mean(), {}

    data = TensorDataset(torch.randn(16, 2), torch.randn(16, 1))
    train = {"steps": 3, "batch_size": 4, "lr": 0.1, "log_every": 1}
    seen: list[Fitted] = []

    def family_train(ctx, fit):
        seen.append(fit(Component("net", Net, lambda m, b, s: m.loss(b), data, None, "fp", train, "train.toy")))
        return {"parameters": 3}

    spec = ModelSpec("toy", family_train, lambda ctx: None, components=("net",))
    ctx = RunContext(P.Run("driving-toy", "driving", "toy", {}, train), P.benchmark(tiny, "driving"),
                     tmp_path / "f.h5", tmp_path / "s.json", tmp_path / "st.json", tmp_path / "m", tmp_path / "r",
                     tmp_path / "w")
    assert train_run(ctx, spec) == {"parameters": 3}
    fitted = seen[0]
    assert not fitted.model.training and len([r for r in fitted.curves if r["split"] == "train"]) == 3
    assert (tmp_path / "w" / "net" / "checkpoint.pt").exists()
    assert (tmp_path / "r" / "curves" / "net" / "train.tsv").read_text().startswith("step")


def test_the_report_never_names_a_registered_model():
    """Issue 45: the report renders files and the registry's declarations (labels, citations, choice rows,
    claims, ablation tables); it never keys on a model's name. No file of genvid/report quotes a registered
    name ("cvg", 'vq') or shows one as code (<code>rfn</code>); a name there would be a family's knowledge
    outside its folder. (Identifiers such as ``MainRun.vq`` name what the run's files hold, not a model.)"""
    import re

    names = "|".join(sorted(map(re.escape, registry.MODELS), key=len, reverse=True))
    quoted = re.compile(rf"""(["'])({names})\1|<code>({names})</code>""")
    found = [f"{path.relative_to(ROOT)}:{i}: {m.group(0)}"
             for path in sorted((ROOT / "genvid" / "report").rglob("*")) if path.suffix in (".py", ".j2", ".html", ".css")
             for i, line in enumerate(path.read_text().splitlines(), 1) for m in quoted.finditer(line)]
    assert found == []


def test_every_declaration_is_well_formed():
    """Each family's report declarations: claims against registered models, ablation findings on declared
    columns' keys or the protocol's, labels and citations as plain strings."""
    from genvid.data.declared import CLAIM_MEASURES

    for name, spec in registry.MODELS.items():
        for claim in spec.claims:
            assert claim.measure in CLAIM_MEASURES and set(claim.against) <= set(registry.MODELS), name
        if spec.ablation_table is not None:
            keys = {c.key for c in spec.ablation_table.columns}
            assert all(f.measure in keys for f in spec.ablation_table.findings), name
        assert len(set(spec.choices)) == len(spec.choices), name  # a row once per family
    assert registry.get("rfn").citation.startswith("seed 001") and registry.get("svg_lp").label == "SVG-LP"


def test_a_familys_declarations_are_text_alone():
    """A family's declared.py is left out of its model's code (genvid.codegraph: editing a choice row reruns the
    report, not the family's training), so it may hold declarations only: it imports nothing but them."""
    import ast

    for path in sorted((ROOT / "genvid" / "models").glob("*/declared.py")):
        tree = ast.parse(path.read_text())
        imports = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
        assert all(isinstance(n, ast.ImportFrom) and n.module in ("genvid.data.declared", "genvid.models.family")
                   for n in imports), path
        assert not any(isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.Lambda)) for n in ast.walk(tree)), path


def test_a_new_family_reaches_the_model_benchmark_from_its_registry_line(monkeypatch):
    """Issue 45: a family outside genvid (tests/_steer_model.py: a folder of its own, one registry line) is
    timed by benchmarks/models.py with nothing else edited, and its code is what genvid.codegraph finds."""
    import _steer_model as steer

    from genvid.codegraph import spec_modules

    monkeypatch.setitem(registry.MODELS, steer.NAME, steer.spec())
    bench = load_benchmark_script()  # a fresh load reads the registry as it is now
    assert steer.NAME in bench.PIXEL_MODELS
    net = bench.build(steer.NAME, {"gain": 2.0}, 3, 4)
    assert isinstance(net, steer.SteerShift) and net.cfg.gain == 2.0
    assert steer.__name__ in spec_modules(registry.MODELS[steer.NAME])


def test_the_registry_names_the_families_and_holds_nothing_a_model_runs():
    """No model's code holds the registry (genvid.codegraph: it imports every family), so it may only name them:
    its docstring, imports of genvid.errors, genvid.models.family and each family's ``family`` module, the
    table with its register and get, and one ``register(<family>.<SPEC>)`` line per model; every spec it
    registers is built in that family's folder, whose files are the model's code."""
    import ast
    import importlib

    from genvid.codegraph import model_code

    tree = ast.parse((ROOT / "genvid" / "models" / "registry.py").read_text())
    families, registered = {}, []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            if node.module in ("__future__", "genvid.errors", "genvid.models.family"):
                continue
            assert node.module.startswith("genvid.models.") and [a.name for a in node.names] == ["family"], \
                ast.unparse(node)
            families[node.names[0].asname] = node.module + ".family"
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            call = node.value
            assert ast.unparse(call.func) == "register" and len(call.args) == 1 and not call.keywords, ast.unparse(node)
            arg = call.args[0]
            assert isinstance(arg, ast.Attribute) and isinstance(arg.value, ast.Name) and arg.value.id in families, \
                ast.unparse(node)
            registered.append((families[arg.value.id], arg.attr))
        else:
            allowed = (ast.FunctionDef, ast.AnnAssign) if not isinstance(node, ast.Expr) else (ast.Expr,)
            assert isinstance(node, allowed), ast.unparse(node)
            if isinstance(node, ast.FunctionDef):
                assert node.name in ("register", "get"), node.name
            if isinstance(node, ast.AnnAssign):
                assert ast.unparse(node.target) == "MODELS", ast.unparse(node)
    assert len(registered) == len(registry.MODELS)
    for (module, attr), (name, spec) in zip(registered, registry.MODELS.items()):
        assert getattr(importlib.import_module(module), attr) is spec, name
        folder = "/".join(module.split(".")[:3])
        assert f"{module.replace('.', '/')}.py" in {p.as_posix() for p in model_code(spec)}, name
        assert all(not p.as_posix().endswith("registry.py") for p in model_code(spec)), name
        assert any(p.as_posix().startswith(folder + "/") for p in model_code(spec)), name

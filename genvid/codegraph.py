"""What code a stage runs, read statically: genvid's import graph, each stage's code and each registered model's.

A module's imports are every ``import`` statement in it, also inside functions, followed transitively through
genvid's and stages' modules (no module is loaded by name: tests/test_imports.py).

A model's code (issue 45: a run's stages depend on it, not on every family) is the shared core of
genvid/models, its top-level modules but the registry, and every family folder that the model's own modules
reach: the modules of its spec's functions and classes (``ModelSpec.modules``), followed through their
imports, but not through the registry, which imports every family so that names resolve. A family's spec is
built in its own folder (``family.py``), so the registry only names them, and no model's code holds it: a
change inside one family's folder changes the code of the models built from it and of no other, and
registering a new family changes none. Stage ``code`` writes each model's files with their hashes
(``deps/models/<model>.json``), and a run's stages depend on its model's file.

A stage's code is every file of genvid and stages that its module reaches, outside genvid/models (a run's
stages read that part from their model's file, the stages that need every family list the folder), with the
non-Python files of each package it reaches (templates, static pages). Stage ``code`` writes each stage's
(``deps/stages/<stage>.json``) and each stage depends on its own file. One hashed file per stage in place of a
dozen code paths keeps dvc.lock small: DVC parses and rewrites the whole lock after every stage, which was
most of its cost per stage (1.3 s of 3.2 s for a lock of 360 KB, ruamel's round trip).
"""
from __future__ import annotations

import ast
import functools
import hashlib
from pathlib import Path

from genvid.io import dumps_json

ROOT = Path(__file__).resolve().parents[1]
MODELS_PACKAGE = "genvid.models"
REGISTRY = MODELS_PACKAGE + ".registry"  # imports every family: the model-code walk does not follow it
CODE_DIR = Path("deps") / "models"  # stage code's output: one file per registered model
STAGE_CODE_DIR = Path("deps") / "stages"  # stage code's output: one file per stage module
STAGES_PACKAGE = "stages"
DECLARED = "declared.py"  # a family's report declarations (genvid.data.declared): text no stage but figures runs


def module_file(name: str, root: Path = ROOT) -> Path | None:
    """The file of module ``name`` under ``root`` (a module or a package's __init__), or None."""
    parts = name.split(".")
    for candidate in (root.joinpath(*parts).with_suffix(".py"), root.joinpath(*parts, "__init__.py")):
        if candidate.is_file():
            return candidate
    return None


def direct_imports(name: str, root: Path = ROOT) -> tuple[str, ...]:
    """The genvid and stages modules (and their parent packages) that module ``name`` imports."""
    path = module_file(name, root)
    if path is None:
        return ()
    parent = name.rsplit(".", 1)[0] if path.name != "__init__.py" else name
    return tuple(m for m in _named_imports(path.read_text(), parent) if module_file(m, root) is not None)


@functools.cache
def _named_imports(source: str, parent: str) -> tuple[str, ...]:
    """The genvid and stages module names (and their parent packages) that the import statements of
    ``source``, a module of package ``parent``, name. Keyed by the text: the code stage and the tests
    follow the same modules from every stage, and parsing each file once, not once a stage, saves most
    of their time; an edited file is parsed again."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        found: list[str] = []
        if isinstance(node, ast.Import):
            found = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                keep = parent.split(".")[:len(parent.split(".")) - node.level + 1]
                base = ".".join(keep + ([base] if base else []))
            found = [base] + [f"{base}.{a.name}" for a in node.names]
        for f in found:
            parts = f.split(".")
            if parts[0] in ("genvid", "stages"):
                out.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return tuple(sorted(out))


def imported_modules(module: str, root: Path = ROOT, skip: frozenset[str] = frozenset()) -> frozenset[str]:
    """``module`` and every genvid/stages module it imports, transitively; ``skip``: modules whose own
    imports are not followed (they are still listed)."""
    return _closure((module,), root, skip)


@functools.cache
def _closure(modules: tuple[str, ...], root: Path, skip: frozenset[str]) -> frozenset[str]:
    seen: set[str] = set()
    todo = list(modules)
    while todo:
        name = todo.pop()
        if name in seen or module_file(name, root) is None:
            continue
        seen.add(name)
        if name not in skip:
            todo.extend(direct_imports(name, root))
    return frozenset(seen)


def spec_modules(spec) -> tuple[str, ...]:
    """The modules that define a registered model: its spec's functions and its declared ``modules``."""
    out = set(getattr(spec, "modules", ()))
    for fn in (spec.train, spec.predictor, spec.init, spec.network, spec.diagnostics):
        fn = getattr(fn, "func", fn)  # functools.partial
        module = getattr(fn, "__module__", None)
        if module and module.startswith("genvid."):
            out.add(module)
    return tuple(sorted(out))


def model_code(spec, root: Path = ROOT) -> list[Path]:
    """The files of ``spec``'s code, repo-relative and sorted: genvid/models' top-level modules but the registry,
    and every file of each family folder its modules reach (not following the registry), but its ``declared.py``:
    the report's text (stage figures, which depends on all of genvid/models, hands it to the report), which no
    run executes."""
    models_dir = root / "genvid" / "models"
    files = {p for p in models_dir.glob("*.py") if p != module_file(REGISTRY, root)}
    reached = _closure(spec_modules(spec), root, frozenset({REGISTRY}))
    for name in reached:
        parts = name.split(".")
        if len(parts) > 2 and ".".join(parts[:2]) == MODELS_PACKAGE and (models_dir / parts[2]).is_dir():
            files.update(p for p in (models_dir / parts[2]).rglob("*")
                         if p.is_file() and "__pycache__" not in p.parts and p.name != DECLARED)
    return sorted(p.relative_to(root) for p in files)


def manifest(spec, root: Path = ROOT) -> dict:
    """{"model": its name, "files": {path: md5}}: what stage code writes for a registered model."""
    return {"model": spec.name, "files": _hashes(model_code(spec, root), root)}


def stage_modules(root: Path = ROOT) -> list[str]:
    """The stage modules (``stages.<name>``, run as ``python -m stages.<name>``): every module of stages/."""
    return sorted(f"{STAGES_PACKAGE}.{p.stem}" for p in (root / STAGES_PACKAGE).glob("*.py") if p.stem != "__init__")


def stage_code(stage: str, root: Path = ROOT) -> list[Path]:
    """The files of stage module ``stages.<stage>``'s code, repo-relative and sorted: every module it reaches
    (through the registry too) and its packages' other files, but none of genvid/models (module docstring)."""
    reached = _closure((f"{STAGES_PACKAGE}.{stage}", STAGES_PACKAGE), root, frozenset())
    models_dir = root / "genvid" / "models"
    files: set[Path] = set()
    for name in reached:
        path = module_file(name, root)
        if path is None or path.is_relative_to(models_dir):
            continue
        files.add(path)
        if path.name == "__init__.py":  # a package: its data files (not its subpackages')
            files.update(p for p in path.parent.rglob("*") if p.is_file() and p.suffix != ".py"
                         and "__pycache__" not in p.parts and _package_of(p) == path.parent)
    return sorted(p.relative_to(root) for p in files)


def _package_of(path: Path) -> Path:
    """The nearest folder above ``path`` that is a package (has an __init__.py)."""
    folder = path.parent
    while not (folder / "__init__.py").is_file():
        folder = folder.parent
    return folder


def stage_manifest(stage: str, root: Path = ROOT) -> dict:
    """{"stage": its name, "files": {path: md5}}: what stage code writes for stage module ``stages.<stage>``."""
    return {"stage": stage, "files": _hashes(stage_code(stage, root), root)}


def code_digest(stage: str, spec, root: Path = ROOT) -> str:
    """The sha256 of the code a run's training ``stage`` runs: the stage's manifest and its model's (``spec``), as
    stage code wrote them in the checkout ``root`` (``deps/stages/<stage>.json``, ``deps/models/<model>.json``;
    DVC runs stage code before any stage that reads them, so under DVC they describe the code that runs), or
    made here, in the same bytes, where it wrote none (a model registered since, a test's)."""
    digest = hashlib.sha256()
    for path, make in ((root / STAGE_CODE_DIR / f"{stage}.json", lambda: stage_manifest(stage, root)),
                       (root / CODE_DIR / f"{spec.name}.json", lambda: manifest(spec, root))):
        text = path.read_bytes() if path.is_file() else dumps_json(make()).encode()
        digest.update(path.name.encode() + b"\0" + text + b"\0")
    return digest.hexdigest()


def _hashes(paths: list[Path], root: Path) -> dict[str, str]:
    return {p.as_posix(): hashlib.md5((root / p).read_bytes()).hexdigest() for p in paths}

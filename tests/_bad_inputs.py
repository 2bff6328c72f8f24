"""The bad-input matrix (issue 26), generated from the DAG a project runs.

For one stage of each kind (``MATRIX``), on a scratch copy of the inputs dvc.yaml gives it:
- every data file it reads missing, empty, truncated, a folder, a file of another contract, and
  the same file of the other benchmark or of another run (``file_cases``);
- every params section it reads missing, mistyped, and its first value mistyped and out of range
  (``params_cases``; ``repro`` is read before any stage code, at ``python -m`` startup:
  tests/test_repro_pins.py);
- the hand-made cases files cannot generate: inputs that contradict each other or the params,
  CLI options out of range, names that are not plain (``SPECIAL``).

Each case runs the stage's ``main(argv)`` in this process and must end with exit code 2, exactly one
stderr line that starts "error:" and names the file or key, no traceback, and the scratch folder
as it was (nothing written, nothing half-written). A stage added to dvc.yaml joins the matrix when
it is added to ``MATRIX`` (tests/test_pipeline_e2e.py checks that every stage kind is there).
"""
from __future__ import annotations

import importlib
import os
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

from genvid.io import load_yaml

# One stage of each kind, on the tiny profile. Both benchmarks for the data stages (a recorded and
# a generated source); a VQ run and a pixel-model run for the per-run stages.
MATRIX = ("collect@driving", "collect@smmnist", "split@driving", "split@smmnist", "normalize@driving",
          "normalize@smmnist", "counterfactuals@driving", "counterfactuals@smmnist", "metric_weights",
          "fvd_reference@driving", "train@smmnist-vq",
          "train@smmnist-rfn", "ablate@smmnist-hvrnn", "noisy_vq@smmnist-vq", "sample@smmnist-vq", "sample@smmnist-rfn",
          "evaluate@smmnist-vq", "leaderboard@smmnist", "motion_classifier@dynamics", "figures", "report",
          "code")
OTHER_BENCHMARK = {"driving": "smmnist", "smmnist": "driving", "dynamics": "smmnist"}
# code, not data: each stage depends on deps/stages/<stage>.json and a run's also on deps/models/<model>.json, the
# code hashed by stage code for DVC to decide what reruns; no stage reads them
CODE = ("genvid/", "stages/", "requirements-weights.txt", "deps/models/", "deps/stages/")
MISSING = object()


@dataclass(frozen=True)
class Case:
    stage: str
    what: str                          # "data/smmnist/split.json: truncated"
    names: tuple[str, ...]             # the error line names one of these
    apply: Callable[[Path, Path], None]  # breaks the scratch root (scratch, the built project)
    argv: tuple[str, ...] = ()         # extra CLI options (they come last: argparse keeps the last)


# ----------------------------------------------------------------------------- files

def _replace_with(rel: str, src_rel: str) -> Callable[[Path, Path], None]:
    """``rel`` in the scratch copy becomes the built project's ``src_rel``."""
    def apply(scratch: Path, built: Path) -> None:
        _remove(scratch / rel)
        src = built / src_rel
        if src.is_dir():
            shutil.copytree(src, scratch / rel, copy_function=os.link)
        else:
            os.link(src, scratch / rel)
    return apply


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _write(rel: str, data: Callable[[bytes], bytes]) -> Callable[[Path, Path], None]:
    def apply(scratch: Path, _built: Path) -> None:
        old = (scratch / rel).read_bytes()
        (scratch / rel).unlink()  # a new file: the built project's (hard-linked) one stays whole
        (scratch / rel).write_bytes(data(old))
    return apply


def _as_folder(rel: str) -> Callable[[Path, Path], None]:
    def apply(scratch: Path, _built: Path) -> None:
        _remove(scratch / rel)
        (scratch / rel).mkdir()
    return apply


def _other_contract(rel: str, bench: str) -> str | None:
    """A real file of another contract with the same kind of name: what a wrong path points at."""
    if rel.endswith(".h5"):
        return f"data/{bench}/frames.h5" if "/samples/" in rel or rel.startswith("reports/") else \
            f"data/{bench}/samples/{bench}-copy_last.h5"
    if rel.endswith("stats.json"):
        return f"data/{bench}/split.json"
    if rel.endswith(".json"):
        return f"data/{bench}/stats.json"
    if rel.endswith("fvd_reference.pt") or rel.endswith("i3d_kinetics400.pt"):
        return "models/metrics/lpips_alexnet.pt"
    if rel.endswith(".pt"):
        return "models/metrics/i3d_kinetics400.pt"
    return None


def _of_another(rel: str, stage: str, built: Path) -> list[tuple[str, str]]:
    """(label, source) pairs: the same file of the other benchmark, and of another run."""
    item = stage.partition("@")[2]
    bench = item.split("-")[0] if item else ""
    out = []
    if item and "-" in item:  # a run: the same model on the other benchmark, and copy-last here
        other_run = item.replace(bench, OTHER_BENCHMARK[bench], 1)
        base = f"{bench}-copy_last"
        if item in rel:
            if (built / rel.replace(item, other_run).replace(f"/{bench}/", f"/{OTHER_BENCHMARK[bench]}/")).exists():
                out.append(("of the other benchmark's run",
                            rel.replace(item, other_run).replace(f"/{bench}/", f"/{OTHER_BENCHMARK[bench]}/")))
            if item != base and (built / rel.replace(item, base)).exists():
                out.append(("of another run", rel.replace(item, base)))
            return out
    if bench and f"/{bench}/" in rel and (built / rel.replace(f"/{bench}/", f"/{OTHER_BENCHMARK[bench]}/")).exists():
        out.append(("of the other benchmark", rel.replace(f"/{bench}/", f"/{OTHER_BENCHMARK[bench]}/")))
    return out


def _not_read_files(stage: str, built: Path) -> set[str]:
    """Files dvc.yaml gives a stage that it does not read: the report reads the frames, split and
    statistics of its main run's benchmark only, stage figures its statistics (dvc.yaml cannot say
    which benchmark, so it lists them all), and the report no benchmark's ablations folder where params
    ablates none of its runs (nor the noisy-VQ folder without a study)."""
    names = {"report": ("frames.h5", "split.json", "stats.json"), "figures": ("stats.json",)}.get(stage, ())
    params = load_yaml((built / "params.yaml").read_text())
    main = params["runs"][params["report"]["main_run"]]["benchmark"]
    unread = {f"data/{b}/{name}" for b in params["benchmarks"] if b != main for name in names}
    if stage == "figures":  # the samples of the benchmarks of its runs (main and temperature) only
        drawn = {params["runs"][r]["benchmark"] for r in (params["report"]["main_run"],
                                                          params["report"].get("temperature_run")) if r in params["runs"]}
        unread |= {f"data/{b}/samples" for b in params["benchmarks"] if b not in drawn}
    name, _, key = stage.partition("@")
    if name == "collect" and params["benchmarks"][key]["collect"].get("source") != "video_dir":
        unread.add("videos")  # every collect depends on the folder (dvc.yaml's foreach); only video_dir reads it
    if name == "report":
        unread.add("videos")  # a source its commit stamp names (genvid.report.repro.dag_sources), not read
        # a benchmark's ablations folder, kept by its README, where params ablates none of its runs
        ablated = {params["runs"][run]["benchmark"] for run in params.get("ablations") or {}}
        unread |= {f"reports/{b}/ablations" for b in params["benchmarks"] if b not in ablated}
        if not params.get("noisy_vq"):
            unread.add("reports/noisy_vq")
    if name == "ablate" and (params["ablations"][key] or {}).get("score") != "protocol":
        run = params["runs"][key]  # the protocol's inputs, read only with score: protocol
        unread |= {f"data/{run['benchmark']}/fvd_reference.pt", "models/metrics", f"models/{key}"}
    return unread


def file_cases(stage: str, deps: list[str], built: Path) -> list[Case]:
    bench = (stage.partition("@")[2] or "driving").split("-")[0]
    cases, unread = [], _not_read_files(stage, built)
    for rel in (d for d in deps if d not in unread):
        names = (rel,)
        cases.append(Case(stage, f"{rel}: missing", names, lambda s, b, rel=rel: _remove(s / rel)))
        if (built / rel).is_dir():
            cases.append(Case(stage, f"{rel}: an empty folder", names, _as_folder(rel)))
        else:
            cases += [Case(stage, f"{rel}: empty", names, _write(rel, lambda b: b"")),
                      Case(stage, f"{rel}: truncated", names, _write(rel, lambda b: b[: len(b) // 2])),
                      Case(stage, f"{rel}: a folder", names, _as_folder(rel))]
            other = _other_contract(rel, bench)
            if other is not None and other != rel and (built / other).exists():
                cases.append(Case(stage, f"{rel}: {other} in its place", names, _replace_with(rel, other)))
        for label, src in _of_another(rel, stage, built):
            cases.append(Case(stage, f"{rel}: {label} ({src})", names, _replace_with(rel, src)))
    return cases


# ----------------------------------------------------------------------------- params

def _edit_params(edit: Callable[[dict], None]) -> Callable[[Path, Path], None]:
    def apply(scratch: Path, _built: Path) -> None:
        path = scratch / "params.yaml"
        data = load_yaml(path.read_text())
        edit(data)
        path.unlink()
        path.write_text(yaml.dump(data, Dumper=yaml.CSafeDumper, sort_keys=False))  # libyaml: the matrix writes it often
    return apply


def _node(data: dict, dotted: str) -> tuple[dict, str]:
    *parents, last = dotted.split(".")
    for part in parents:
        data = data[part]
    return data, last


def _set(dotted: str, value: Any) -> Callable[[dict], None]:
    def edit(data: dict) -> None:
        parent, key = _node(data, dotted)
        if value is MISSING:
            del parent[key]
        else:
            parent[key] = value
    return edit


def _first_leaf(node: Any, dotted: str, skip: Callable[[str], bool]) -> tuple[str, Any] | None:
    """The first scalar value under a section, depth first (booleans, nulls and ``skip`` left out)."""
    if isinstance(node, dict):
        for key, value in node.items():
            found = _first_leaf(value, f"{dotted}.{key}", skip)
            if found is not None:
                return found
        return None
    if isinstance(node, (int, float, str)) and not isinstance(node, bool) and not skip(dotted):
        return dotted, node
    return None


def _overridden(params: dict, stage: str) -> Callable[[str], bool]:
    """Is ``models.<m>.a.b`` (or train.) overridden by the stage's run? Then the run never reads it."""
    run = params.get("runs", {}).get(stage.partition("@")[2], {})
    overrides = run.get("overrides") or {}

    def skip(dotted: str) -> bool:
        section, _, rest = dotted.partition(".")
        node = overrides.get(section)
        for part in rest.split(".")[1:]:
            if not isinstance(node, dict) or part not in node:
                return False
            node = node[part]
        return node is not None and section in ("models", "train")
    return skip


# Values a stage is given but does not use: the report shows the models and train sections as tables;
# the train stages that ran on them validated them (a bad one stops `dvc repro` there).
NOT_READ = {"report": ("models.", "train.")}


def params_cases(stage: str, keys: tuple[str, ...], params: dict) -> list[Case]:
    overridden, shown = _overridden(params, stage), NOT_READ.get(stage.partition("@")[0], ())
    cases, skip = [], (lambda dotted: overridden(dotted) or dotted.startswith(shown))
    for key in keys:
        if key == "repro":
            continue
        cases += [Case(stage, f"params {key}: missing", (key,), _edit_params(_set(key, MISSING))),
                  Case(stage, f"params {key}: a string", (key,), _edit_params(_set(key, "oops")))]
        parent, last = _node(params, key)
        leaf = _first_leaf(parent[last], key, skip)
        if leaf is None:
            continue
        where, value = leaf
        wrong = 3 if isinstance(value, str) else "oops"
        outside = "no-such-name" if isinstance(value, str) else -1
        cases += [Case(stage, f"params {where}: {wrong!r}", (where,), _edit_params(_set(where, wrong))),
                  Case(stage, f"params {where}: {outside!r}", (where,), _edit_params(_set(where, outside)))]
    return cases


# ----------------------------------------------------------------------------- hand-made cases

def _edit_json(rel: str, edit: Callable[[Any], None]) -> Callable[[Path, Path], None]:
    def apply(scratch: Path, _built: Path) -> None:
        import json

        data = json.loads((scratch / rel).read_text())
        edit(data)
        (scratch / rel).unlink()
        (scratch / rel).write_text(json.dumps(data))
    return apply


def _split_past_end(data: dict) -> None:
    data["splits"]["train"]["ranges"][-1][1] += 1000


def _split_overlap(data: dict) -> None:
    data["splits"]["test"]["ranges"] = [list(r) for r in data["splits"]["train"]["ranges"]]


def _plain_name_run(run: str) -> Callable[[dict], None]:
    def edit(data: dict) -> None:
        data["runs"]["../escape"] = data["runs"][run]
    return edit


SPLIT = "data/driving/split.json"
SPECIAL: dict[str, list[tuple[str, tuple[str, ...], Callable[[Path, Path], None], tuple[str, ...]]]] = {
    "normalize@driving": [
        ("split.json runs past the end of frames.h5", (SPLIT,), _edit_json(SPLIT, _split_past_end), ()),
        ("split.json's train and test ranges overlap", (SPLIT,), _edit_json(SPLIT, _split_overlap), ()),
    ],
    "fvd_reference@driving": [
        ("--batch-size 0", ("--batch-size",), lambda s, b: None, ("--batch-size", "0")),
        ("--benchmark not in params", ("no-such",), lambda s, b: None, ("--benchmark", "no-such")),
        ("split.json's train and test ranges overlap", (SPLIT,), _edit_json(SPLIT, _split_overlap), ()),
    ],
    "train@smmnist-vq": [
        ("a run name that is not a plain name", ("../escape",), _edit_params(_plain_name_run("smmnist-vq")),
         ("--run", "../escape")),
    ],
    "sample@smmnist-vq": [
        ("models.vq.sampling.top_k larger than K", ("models.vq.sampling.top_k",),
         _edit_params(_set("models.vq.sampling.top_k", 100000)), ()),
        ("models.vq.vqvae.channels other than the model file's", ("models/smmnist-vq",),
         _edit_params(_set("models.vq.vqvae.channels", 24)), ()),
        ("--batch-clips -1", ("--batch-clips",), lambda s, b: None, ("--batch-clips", "-1")),
        ("--run not in params", ("no-such",), lambda s, b: None, ("--run", "no-such")),
    ],
    "sample@smmnist-rfn": [
        ("models.rfn.hidden_channels other than the model file's", ("models/smmnist-rfn",),
         _edit_params(_set("models.rfn.hidden_channels", 24)), ()),
    ],
    "evaluate@smmnist-vq": [
        ("--batch-size -1", ("--batch-size",), lambda s, b: None, ("--batch-size", "-1")),
    ],
    "metric_weights": [
        ("--out-dir is a file", ("params.yaml",), lambda s, b: None, ("--out-dir", "{root}/params.yaml")),
    ],
}


def special_cases(stage: str) -> list[Case]:
    return [Case(stage, what, names, apply, argv) for what, names, apply, argv in SPECIAL.get(stage, [])]


# ----------------------------------------------------------------------------- running

@dataclass(frozen=True)
class StageInputs:
    name: str
    module: str
    argv: tuple[str, ...]
    deps: tuple[str, ...]       # data files and folders (not code) the stage reads, root-relative
    params: tuple[str, ...]     # params.yaml keys dvc.yaml lists for it


def stage_inputs(stage) -> StageInputs:
    """A workflow.dag.StageSpec as the matrix needs it."""
    words = shlex.split(stage.cmd)
    assert words[:3] == ["python", "-m", words[2]] and words[2].startswith("stages."), stage.cmd
    # code (folders too: the report depends on all of genvid and stages), profiles, and params.yaml
    # as a file (the report's commit stamp reads it; the params cases break it)
    deps = tuple(d for d in stage.deps if not d.startswith(CODE) and d not in ("genvid", "stages", "profiles", "params.yaml"))
    return StageInputs(stage.name, words[2], tuple(words[3:]), deps, stage.params.get("params.yaml", ()))


def cases(stage: StageInputs, built: Path) -> list[Case]:
    params = load_yaml((built / "params.yaml").read_text())
    return file_cases(stage.name, list(stage.deps), built) + params_cases(stage.name, stage.params, params) \
        + special_cases(stage.name)


def scratch_copy(stage: StageInputs, built: Path, scratch: Path) -> None:
    """The stage's inputs, hard-linked (breaking one replaces it: the built project stays whole)."""
    for rel in (*stage.deps, "params.yaml", "profiles", "dvc.lock"):
        src, dst = built / rel, scratch / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, copy_function=os.link)
        elif src.exists():
            os.link(src, dst)


def snapshot(root: Path) -> dict[str, tuple]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            out[str(path.relative_to(root))] = (path.is_dir(), st.st_size, st.st_mtime_ns, st.st_ino)
    return out


def run_case(case: Case, stage: StageInputs, built: Path, scratch: Path, capsys) -> str | None:
    """None if the stage failed as promised, else what went wrong."""
    scratch_copy(stage, built, scratch)
    case.apply(scratch, built)
    before = snapshot(scratch)
    if stage.module == "stages.metric_weights":
        argv = ["--out-dir", str(scratch / "models/metrics")]
    else:
        argv = [*stage.argv, "--params", str(scratch / "params.yaml"), "--root", str(scratch)]
    argv += [a.format(root=scratch) for a in case.argv]
    main = importlib.import_module(stage.module).main
    capsys.readouterr()
    try:
        main(argv)
        code: Any = 0
    except SystemExit as exit_:
        code = exit_.code
    except Exception as err:  # noqa: BLE001 - the finding: a traceback instead of one line
        capsys.readouterr()
        return f"traceback {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"[:300]
    err = capsys.readouterr().err.strip()
    lines = [line for line in err.splitlines() if line.strip()]
    problems = []
    if code != 2:
        problems.append(f"exit {code}")
    if len(lines) != 1 or not lines[0].startswith("error: "):
        problems.append(f"stderr of {len(lines)} lines: {err[-300:]!r}")
    elif not any(name in lines[0] for name in case.names):
        problems.append(f"names none of {case.names}: {lines[0][:300]!r}")
    after = snapshot(scratch)
    if after != before:
        changed = sorted(k for k in after.keys() | before.keys() if after.get(k) != before.get(k))
        problems.append(f"left or changed {changed[:4]}")
    return "; ".join(problems) or None

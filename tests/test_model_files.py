"""Issue 47, item 3's second class: every model file is checked against the run that loads it.

Each model file carries the stamp of the run that trained it (genvid.models.store.run_stamp): its run,
benchmark, family, models section and frame shape. The matrix below is generated from the default
profile's runs at the tiny profile's sizes (and a driving run of each family they have none of): every model file of every run is replaced, one at a time, by a model file of each run
of another benchmark or another family, and the run's family must refuse to load it in one line that
names the file and the run, before it builds anything. The run's own files load (the control)."""
import dataclasses
import json
import shutil

import pytest
import torch

from conftest import ROOT, TINY_AT_32
from genvid import params as P
from genvid.context import RunContext
from genvid.data.benchmark import GENERATED_CHANNELS
from genvid.errors import GenvidError
from genvid.io import load_torch, save_torch
from genvid.models import registry
from genvid.models.store import check_run_record, write_run_record
from genvid.profiles import apply, load_profile

SIZE = 32  # every run's untrained model is built for 32 x 32 frames (conftest.TINY_AT_32)


@pytest.fixture(scope="module")
def tiny():
    """The tiny profile's sizes over the default profile's runs, and a driving run of each registered
    family those have none of."""
    default = P.read_params(ROOT / "params.yaml")
    params = apply(default, load_profile("tiny", ROOT / "profiles"))
    runs = {name: {"benchmark": r["benchmark"], "model": r["model"]} for name, r in default["runs"].items()}
    present = {r["model"] for r in runs.values()}
    extra = {f"driving-{m}": {"benchmark": "driving", "model": m} for m in sorted(set(registry.MODELS) - present)}
    return {**params, "runs": {**runs, **extra}}


def frame(ctx: RunContext) -> tuple[int, int, int]:
    """The run's frames [H, W, C]: its benchmark's channels at SIZE."""
    return SIZE, SIZE, GENERATED_CHANNELS.get(ctx.bench.collect.source, 3)


def context(root, tiny, name: str) -> RunContext:
    run = P.run(tiny, name)
    run = P.Run(run.name, run.benchmark, run.model, {**run.model_params, **TINY_AT_32.get(run.model, {})},
                run.train_params)
    bench = P.benchmark(tiny, run.benchmark)
    stats = root / f"stats-{run.benchmark}.json"
    channels = GENERATED_CHANNELS.get(bench.collect.source, 3)
    stats.write_text(json.dumps({"mean": [0.5] * channels, "std": [0.25] * channels, "frames": 10}))
    return RunContext(run, bench, root / "frames.h5", root / "split.json", stats, root / "models" / name,
                      root / "reports", root / "work")


@pytest.fixture(scope="module")
def folders(tiny, tmp_path_factory):
    """{run: its context}, each run's folder holding its untrained model files and its run record."""
    root = tmp_path_factory.mktemp("model-files")
    out = {}
    for name in sorted(tiny["runs"]):
        ctx = context(root, tiny, name)
        torch.manual_seed(0)
        registry.get(ctx.run.model).init(ctx, *frame(ctx))
        ctx.model_dir.mkdir(parents=True, exist_ok=True)
        write_run_record(ctx)
        out[name] = ctx
    return out


def model_files(ctx: RunContext) -> list:
    return sorted(ctx.model_dir.glob("*.pt"))


def foreign_cases(folders) -> list[tuple[str, str, str]]:
    """(run, its file's name, the other run whose first model file replaces it): every model file of every
    run against every run of another benchmark or family that has model files."""
    cases = []
    for name, ctx in folders.items():
        for own in model_files(ctx):
            for other, octx in folders.items():
                differs = (octx.run.benchmark, octx.run.model) != (ctx.run.benchmark, ctx.run.model)
                if differs and model_files(octx):
                    cases.append((name, own.name, other))
    return cases


def test_the_matrix_covers_every_family_and_benchmark(tiny, folders):
    cases = foreign_cases(folders)
    with_files = {name for name, ctx in folders.items() if model_files(ctx)}
    assert {c[0] for c in cases} == with_files == {c[2] for c in cases}
    assert {folders[n].run.model for n in with_files} == set(registry.MODELS) - {"copy_last", "context_median"}  # no weights
    assert {folders[n].run.benchmark for n in with_files} == {r["benchmark"] for r in tiny["runs"].values()}
    assert len(cases) > 100


def test_each_run_loads_its_own_files(folders):
    for name, ctx in folders.items():
        check_run_record(ctx, frame=frame(ctx))
        registry.get(ctx.run.model).predictor(ctx)


def refusal(load, path, name: str) -> str | None:
    """None when ``load()`` raises one GenvidError line naming ``path`` and run ``name``, else what it did."""
    try:
        load()
    except GenvidError as err:
        message = str(err)
        return None if "\n" not in message and str(path) in message and repr(name) in message else message
    return "loaded"


def test_a_model_file_of_another_run_is_refused_naming_the_file_and_the_run(folders):
    """The family's own load (its predictor) for every case of the matrix; the folder check (stage sample's,
    the page's, before any load) for every run, with each of its files replaced by the next run's."""
    failures, checked = [], set()
    for name, filename, other in foreign_cases(folders):
        ctx = folders[name]
        path = ctx.model_dir / filename
        original = path.read_bytes()
        shutil.copyfile(model_files(folders[other])[0], path)
        try:
            problem = refusal(lambda: registry.get(ctx.run.model).predictor(ctx), path, name)
            if problem is None and (name, filename) not in checked:
                checked.add((name, filename))
                problem = refusal(lambda: check_run_record(ctx, frame=frame(ctx)), path, name)
        finally:
            path.write_bytes(original)
        if problem is not None:
            failures.append(f"{name}/{filename} <- {other}: {problem}")
    assert not failures, f"{len(failures)} cases:\n" + "\n".join(failures[:20])


def restamp(path, stamp: dict | None) -> None:
    blob = load_torch(path, "model file")
    save_torch(path, {**blob, "run": stamp})


def test_a_stale_or_unstamped_file_of_the_same_run_is_refused(folders):
    """One file of a run's folder: trained with other sizes, for other frames, without a stamp, or by
    an ablation variant of the run; refused naming the file and what differs."""
    ctx = folders["driving-vq"]
    path = ctx.model_dir / "vqvae.pt"
    original = path.read_bytes()
    stamp = load_torch(path, "model file")["run"]
    cases = [
        ({**stamp, "models": {**stamp["models"], "vqvae": {**stamp["models"]["vqvae"], "code_dim": 5}}},
         "trained with models.vq.vqvae.code_dim = 5"),
        ({**stamp, "frame": [16, 16, 3]}, "built for frames [H, W, C] = [16, 16, 3]"),
        (None, "without the stamp of the run that trained it"),
        ({**stamp, "run": "driving-vq~variant"}, "a model file of run 'driving-vq~variant'"),
    ]
    try:
        for changed, needle in cases:
            restamp(path, changed)
            with pytest.raises(GenvidError) as err:
                check_run_record(ctx, frame=frame(ctx))
            assert needle in str(err.value) and str(path) in str(err.value)
            if changed is None or changed["frame"] == stamp["frame"]:  # frames: checked where they are read
                with pytest.raises(GenvidError) as err:
                    registry.get("vq").predictor(ctx)
                assert needle in str(err.value)
    finally:
        path.write_bytes(original)
    check_run_record(ctx, frame=frame(ctx))


def test_sampling_keys_may_change_after_training(folders):
    ctx = folders["driving-vq"]
    models = {**ctx.run.model_params, "sampling": {**ctx.run.model_params["sampling"], "temperature": 0.5}}
    later = dataclasses.replace(ctx, run=dataclasses.replace(ctx.run, model_params=models))
    check_run_record(later, frame=frame(later))
    registry.get("vq").predictor(later)

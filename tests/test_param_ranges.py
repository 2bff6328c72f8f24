"""Issue 47 item 4: the bad-input matrix by class, generated from params.yaml, not written case by case.

Every integer of params.yaml (a size, a count, a seed, a step) is set below its range (-1) and above any
range (genvid.config.INT_LIMIT + 1), one at a time, and handed to the code that reads its section; each
must be refused with one ParamError naming its key. A param added tomorrow joins the matrix by being in
params.yaml. (What several sizes imply together is genvid.footprint's: tests/test_footprint.py.)
"""
from __future__ import annotations

import copy
import functools
import shutil
import tempfile
from pathlib import Path

import pytest
import yaml

from genvid import params as P
from genvid.config import INT_LIMIT
from genvid.errors import ParamError
from genvid.models.vq.vqvae3d import VQVAEConfig
from conftest import ROOT
from test_profiles import _build

ROOT_PARAMS = str(ROOT / "params.yaml")


def int_leaves(node, path=()):
    """(path, value) of every integer under ``node`` (booleans are not sizes), lists indexed."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from int_leaves(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from int_leaves(value, (*path, i))
    elif isinstance(node, int) and not isinstance(node, bool):
        yield path, node


@functools.lru_cache(maxsize=None)
def params() -> dict:
    """params.yaml with the paper profile's ablations and noisy-VQ studies, which the default profile no longer
    runs (issue 48), so their integers stay in the matrix."""
    from genvid.profiles import apply, load_profile

    raw = P.read_params(ROOT_PARAMS)
    paper = apply(raw, load_profile("paper", ROOT / "profiles"))
    return {**raw, "ablations": paper["ablations"], "noisy_vq": paper["noisy_vq"]}


def _runs_of(raw: dict, model: str) -> list[str]:
    return [name for name, entry in raw["runs"].items() if entry["model"] == model]


def validate(raw: dict, path: tuple) -> None:
    """Read ``path``'s section as the stages do (every section's reader, then the run's networks built on the
    meta device, as stage train builds them first)."""
    from stages.noisy_vq import study_config
    from workflow.dag import stage_resources

    top = path[0]
    if top == "benchmarks":
        P.benchmark(raw, path[1], ROOT_PARAMS)
    elif top in P.TOP_LEVEL:
        P.top_level(raw, top, ROOT_PARAMS)
    elif top in ("models", "train"):  # the section as it stands, whether or not a run of this profile reads it
        raw = {**raw, "runs": {**raw["runs"], "probe": {"benchmark": "driving", "model": path[1]}}}
        _check_run(raw, "probe")
    elif top in ("runs", "ablations"):
        _check_run(raw, path[1], ablations=top == "ablations")
    elif top == "noisy_vq":
        run = P.run(raw, path[1], ROOT_PARAMS)
        _, studied = study_config(raw, run, ROOT_PARAMS)
        _build(studied, P.benchmark(raw, run.benchmark, ROOT_PARAMS))  # what the study trains
    elif top == "resources":  # read from a params file, as workflow/dag.py reads it for the cluster profile
        with tempfile.TemporaryDirectory() as folder:
            Path(folder, "params.yaml").write_text(yaml.safe_dump(raw))
            shutil.copy(ROOT / "dvc.yaml", folder)  # the stages it defines, whether or not params expands them
            stage_resources(_stage_specs(), folder)
    else:
        raise AssertionError(f"no reader for {'.'.join(map(str, path))}: add one to tests/test_param_ranges.py")


def _check_run(raw: dict, name: str, ablations: bool = False) -> None:
    """What stage train reads of a run first: its sections, then its networks on the meta device; with
    ``ablations``, every variant's too; a VQ family's sampling section as stage sample reads it."""
    from stages.ablate import variants
    from genvid.models.predictor import clips_per_call
    from genvid.models.vq.family import sampling_config

    run = P.run(raw, name, ROOT_PARAMS)
    bench = P.benchmark(raw, run.benchmark, ROOT_PARAMS)
    runs = [run, *(variants(raw, run, ROOT_PARAMS).values() if ablations else ())]
    for r in runs:
        if "vqvae" in r.model_params:  # the test's build sets in_channels from the frames: read it as train does
            VQVAEConfig.from_dict(r.model_params["vqvae"], f"models.{r.model}.vqvae", ROOT_PARAMS)
        if "sampling" in r.model_params:  # stage sample's clips per call
            clips_per_call(r.model_params, 1)
        if "prior_top" in r.model_params:  # the PixelSNAIL priors' sampling (the GAN prior's has its batch only)
            sampling_config(r.model_params["sampling"], f"models.{r.model}.sampling", ROOT_PARAMS)
        _build(r, bench)


@functools.lru_cache(maxsize=None)
def _stage_specs():
    from workflow.dag import load_stages
    return load_stages(ROOT)


def _dotted(path: tuple) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _with(path: tuple, value: int) -> dict:
    raw = copy.deepcopy(params())
    node = raw
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return raw


CASES = [path for path, _ in int_leaves(params())]


def test_the_matrix_covers_every_integer_of_params():
    assert len(CASES) > 400 and any(p[0] == "benchmarks" for p in CASES) and any(p[0] == "train" for p in CASES)
    for path in CASES[:3]:
        validate(params(), path)  # the file itself is accepted by each reader


@pytest.mark.parametrize("value", [-1, INT_LIMIT + 1], ids=["negative", "above"])
def test_every_integer_param_out_of_range_is_refused_naming_its_key(value):
    """One test per bound, looping over the cases: ~900 cases in a few seconds, reported together."""
    wrong = []
    for path in CASES:
        key = _dotted(path)
        try:
            validate(_with(path, value), path)
        except ParamError as err:
            if str(path[-2] if isinstance(path[-1], int) else path[-1]) not in str(err):  # a list: its key
                wrong.append(f"{key} = {value}: refused without naming the key: {err}")
        except Exception as err:  # noqa: BLE001  (the point: anything but a ParamError is a failure)
            wrong.append(f"{key} = {value}: {type(err).__name__}: {err}")
        else:
            wrong.append(f"{key} = {value}: accepted")
    assert not wrong, "\n".join(wrong)

"""The tests' stage server (tests/_stage_server.py): a stage it forks answers as a fresh ``python -m`` does,
and a caller it cannot serve exactly gets a fresh interpreter. The tiny DAG's bytes, forked against fresh, are
tests/test_pipeline_e2e.py's."""
from __future__ import annotations

import subprocess

import pytest
import yaml

from _stage_server import serving
from conftest import ROOT, venv_env

BAD = ("python", "-m", "stages.train", "--run", "nosuch")  # bad input: one line, exit status 2


def _run(env, *cmd):
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def server():
    with serving(ROOT, venv_env()) as (env, log):
        yield env, log


def test_a_stage_is_forked_exactly_when_its_pins_match_and_answers_as_a_fresh_one(server, tmp_path):
    """A params file of the server's thread count is served; one of another count, or another
    environment, starts afresh, naming the variables that differ after the stage's pins; either way the
    caller sees what a fresh ``python -m`` prints, and its exit status."""
    env, log = server
    same, other = tmp_path / "same.yaml", tmp_path / "other.yaml"
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    same.write_text(yaml.safe_dump(params))
    other.write_text(yaml.safe_dump({**params, "repro": {**params["repro"], "threads": params["repro"]["threads"] + 1}}))
    answers = set()
    for caller, args, last_line in (
            (env, (), "forked -m stages.train --run nosuch"),
            (env, ("--params", str(same)), f"forked -m stages.train --run nosuch --params {same}"),
            ({**env, "ATEN_CPU_CAPABILITY": "default"}, (), "fresh -m stages.train --run nosuch: environment "
                                                             "differs in ['ATEN_CPU_CAPABILITY']"),
            (env, ("--params", str(other)), f"fresh -m stages.train --run nosuch --params {other}: environment "
                                             "differs in ['MKL_NUM_THREADS', 'OMP_NUM_THREADS']")):
        out = _run(caller, *BAD, *args)
        answers.add((out.returncode, out.stdout, out.stderr.replace(args[-1] if args else "params.yaml", "PARAMS")))
        with open(log) as f:
            assert f.read().splitlines()[-1] == last_line
    assert answers == {(2, "", "error: PARAMS: section 'runs.nosuch' is missing or not a mapping\n")}
    other = _run(env, "python", "-c", "import sys; print(sys.argv[1:])", "-m", "stages.train")  # not a stage
    assert other.returncode == 0 and other.stdout == "['-m', 'stages.train']\n"

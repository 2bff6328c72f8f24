"""The tests' stage server (tests/_stage_server.py): a stage it forks answers as a fresh ``python -m`` does,
and a caller it cannot serve exactly gets a fresh interpreter. The tiny DAG's bytes, forked against fresh, are
tests/test_pipeline_e2e.py's."""
from __future__ import annotations

import subprocess

import pytest

from _stage_server import serving
from conftest import ROOT, venv_env

BAD = ("python", "-m", "stages.train", "--run", "nosuch")  # bad input: one line, exit status 2


def _run(env, *cmd):
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def server():
    with serving(ROOT, venv_env()) as (env, log):
        yield env, log


def test_a_forked_stage_answers_as_a_fresh_one(server):
    env, log = server
    fresh, forked = _run(venv_env(), *BAD), _run(env, *BAD)
    assert (forked.returncode, forked.stdout, forked.stderr) == (fresh.returncode, fresh.stdout, fresh.stderr)
    assert fresh.returncode == 2 and fresh.stderr.startswith("error: params.yaml: section 'runs.nosuch'")
    with open(log) as f:
        assert f.read().splitlines()[-1] == "forked -m stages.train --run nosuch"
    other = _run(env, "python", "-c", "import sys; print(sys.argv[1:])", "-m", "stages.train")  # not a stage
    assert other.returncode == 0 and other.stdout == "['-m', 'stages.train']\n"


def test_another_environment_or_params_file_gets_a_fresh_interpreter(server, tmp_path):
    env, log = server
    params = tmp_path / "params.yaml"
    params.write_text((ROOT / "params.yaml").read_text())
    for caller, args, why in (({**env, "ATEN_CPU_CAPABILITY": "default"}, (), "environment differs in "
                                                                             "['ATEN_CPU_CAPABILITY']"),
                              (env, ("--params", str(params)), "another params file")):
        out = _run(caller, *BAD, *args)
        assert out.returncode == 2 and out.stderr.startswith("error: "), out.stderr
        with open(log) as f:
            last = f.read().splitlines()[-1]
        assert last.startswith("fresh -m stages.train --run nosuch") and last.endswith(f": {why}"), last

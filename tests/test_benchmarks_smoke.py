"""Every script in benchmarks/ runs, at tiny sizes, as a user runs it (issue 25: benchmarks/sampling.py
died on a prior config that had changed, and nothing noticed). Each row is a real command line whose
output must hold the line its figures come in; a script added to benchmarks/ without a row fails here.
Speed is never asserted: the figures are the scripts' business (docs/results.md).

Each row's script runs as ``__main__`` in a fork of an interpreter that has imported PyTorch (the scripts
server of tests/_stage_server.py), not in a fresh one: a few CPU seconds a row. The processes a script
starts itself (its side-by-side pairs, its isolated measurements) are fresh, as ever."""
from __future__ import annotations

import subprocess
import sys

import pytest

from _stage_server import command, serving
from conftest import ROOT, venv_env

# script: (arguments at tiny sizes, a piece of the line that carries its figures); None: another test runs it
SMOKE = {
    # one workload: the i3d one is the same child and pair code around I3D's forward (tests/test_fvd.py's), and its
    # two fresh processes, each importing torch and embedding a video at 224 pixels, were most of this row's seconds
    "allocator.py": (["--workloads", "train:svg_lp", "--pairs", "1", "--steps", "1", "--batch", "1"],
                     "same bytes: True"),
    "clips.py": (["--frames", "160", "--resolutions", "64", "--workers", "0", "--batch", "2", "--batches", "2"],
                 "procedural simulator"),
    "code_priors.py": (["--profile", "tiny", "--resolution", "32", "--batch", "2", "--repeats", "1"], "sampling both tiers of 2 clips"),
    "collect.py": (["--frames", "4", "--seeds", "0", "--resolutions", "64", "--sources", "procedural"], "procedural"),
    "cvg.py": (["--profile", "tiny", "--benchmark", "smmnist", "--repeats", "1", "--lengths", "4", "--batch", "1"],
               "no cascade"),
    "drive.py": None,  # tests/test_drive.py::test_the_latency_benchmark_runs_at_a_smoke_scale
    "drive_soak.py": None,  # tests/test_drive.py::test_the_soak_benchmark_drives_the_real_server_under_load_and_faults
    "gpu_check.py": None,  # tests/test_gpu_check.py: the smoke mode, prepared, stopped and resumed in a project copy
    "dag_minutes.py": None,  # needs a DAG run's logs/timings: tests/test_timings.py tests its summary
    # a curve needs the data stages and trains a run: tests/test_learning_benchmark.py tests its parts
    "learning.py": None,
    "learning_table.py": (["--check"], "is its render"),
    "sampling_options.py": None,  # needs a trained run's model folder: tests/test_sampling_options.py makes one
    "warp_oracle.py": None,  # needs a benchmark's counterfactual clips: tests/test_svg_lp.py tests its oracle
    # the first training sequences of Dynamics, two steps; the motion columns say "-" without the DAG's classifier
    "memorise.py": (["--run", "dynamics-feature_flow", "--clips", "2,3", "--steps", "2", "--every", "1",
                     "--score-clips", "2", "--batch", "2", "--set", "models.object_weight=5"],
                    "dynamics-feature_flow --set models.object_weight=5: "),
    "motion_levels.py": None,  # needs the DAG's Dynamics files and classifier: tests/test_motion_levels.py
    # needs a motion classifier: tests/test_motion_probe.py runs it with an untrained one in a project folder of its own
    "motion_probe.py": None,
    # needs a DAG's copy-last samples and weights: tests/test_image_levels.py, and on the tiny DAG tests/test_pipeline_e2e.py
    "image_levels.py": None,
    "docs_tables.py": (["--check"], "is its render"),
    "op_fingerprints.py": ([], "conv3d 3x3x3"),
    # the VQ components at the tiny profile's sizes too; --json relative: into the test's own folder (its cwd)
    "gpu.py": (["--device", "cpu", "--threads", "1", "--profile", "tiny", "--vq-profile", "tiny",
                "--only", "vqvae,prior_top,svg_lp_action,feature_flow", "--batch", "1", "--steps", "2",
                "--warmup", "1", "--identity-steps", "2", "--json", "gpu.json"],
               "bit-identical over two runs of 2 steps: True"),
    "gpu_estimates.py": (["--profile", "tiny"], "bottom"),  # the thesis sizes: docs/gpu.md
    "models.py": (["--profile", "tiny", "--models", "svg_lp_action", "--repeats", "1", "--batch", "1", "--iwae-k", "2"],
                  "svg_lp_action driving"),
    # --against HEAD: a shallow clone has no older revision; the default's figures are docs/results.md's
    "prior_ops.py": (["--profile", "tiny", "--against", "HEAD"], "prior_bottom at HEAD (eager, the same structure)"),
    "pins.py": (["--only", "simulator", "--steps", "1", "--repeats", "1"], "exact (sim_math)"),  # VQ-VAE: below
    "sampling.py": (["--profile", "tiny", "--skip-thesis", "--batch", "2", "--naive-positions", "4", "4"],
                    "samples identical to naive: True"),
    "shared_cores.py": (["--model", "svg_lp", "--batch", "1", "--steps", "1", "--policies", "PASSIVE"], "PASSIVE              2  "),
    "smmnist.py": (["--batches", "2", "--workers", "0", "--batch", "2", "--test-sequences", "4"], "test file"),
    "vqvae.py": (["--configs", "default", "--steps", "1", "--warmup", "0"], "default"),
}


def test_every_benchmark_script_has_a_smoke_row():
    scripts = {p.name for p in (ROOT / "benchmarks").glob("*.py")}
    assert scripts - set(SMOKE) == set(), "benchmarks without a smoke row"
    assert set(SMOKE) - scripts == set(), "smoke rows without a script"


@pytest.fixture(scope="module")
def scripts_env():
    with serving(ROOT, venv_env(), scripts=True) as (env, _log):
        yield env


@pytest.mark.parametrize("script", sorted(name for name, row in SMOKE.items() if row is not None))
def test_the_benchmark_runs_at_tiny_sizes(script, tmp_path, scripts_env):
    args, expected = SMOKE[script]
    out = subprocess.run(command(ROOT / "benchmarks" / script, *args), cwd=tmp_path, env=scripts_env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"{script} {' '.join(args)} failed:\n{out.stderr[-3000:]}"
    assert expected in out.stdout, f"{script}: no '{expected}' in its output:\n{out.stdout[-2000:]}"


def test_the_pins_benchmark_times_the_default_profile_s_vq_vae():
    """pins.py's VQ-VAE rows take a minute of processes; what a config change breaks is their config."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import pins

    from genvid import params as P
    from genvid.models.vq.vqvae3d import VQVAEConfig

    run = P.run(P.read_params(ROOT / "params.yaml"), "driving-vq")
    config = pins.default_vqvae()
    assert VQVAEConfig.from_dict(config["vqvae"]) == VQVAEConfig.from_dict(run.model_params["vqvae"])
    assert config["batch"] == run.train_params["vqvae"]["batch_size"]


def test_prior_ops_names_a_revision_git_cannot_show():
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "prior_ops.py"), "--profile", "tiny", "--against",
                          "no-such-revision"], cwd=ROOT, env=venv_env(), capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and out.stdout == ""
    assert "prior_ops.py: --against no-such-revision: git cannot show that revision's pixelsnail3d.py" in out.stderr

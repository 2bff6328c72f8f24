"""The whole DAG on the tiny profile: `dvc repro` end to end, metrics listed, no-op rerun."""
import json
import subprocess

import pytest

from conftest import copy_repo, venv_env
from workflow.dag import load_stages

pytestmark = pytest.mark.slow


def run(path, *cmd):
    result = subprocess.run(cmd, cwd=path, env=venv_env(), capture_output=True, text=True)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    path = tmp_path_factory.mktemp("e2e")
    copy_repo(path)
    run(path, "python", "-m", "genvid.profiles", "tiny")
    run(path, "dvc", "repro")
    return path


def test_every_stage_output_exists(pipeline):
    for stage in load_stages(pipeline):
        for out in stage.outs:
            assert (pipeline / out).is_file(), f"{stage.name}: {out} missing"


def test_metrics_are_listed_and_sane(pipeline):
    shown = run(pipeline, "dvc", "metrics", "show", "--json")
    assert "reports/metrics.json" in shown and "reports/vqvae_metrics.json" in shown
    metrics = json.loads((pipeline / "reports/metrics.json").read_text())
    copy_last = metrics["copy_last"]["psnr"]["mean"]
    assert 0 < metrics["full"]["psnr"]["best_of_n"]["mean"] <= 100 and 0 < copy_last <= 100
    assert metrics["full"]["psnr"]["best_of_n"]["mean"] >= metrics["full"]["psnr"]["mean_of_n"]["mean"]
    assert metrics["fvd"]["full"] is not None and metrics["fvd"]["full"] >= 0
    prior = json.loads((pipeline / "reports/prior_top_metrics.json").read_text())
    assert prior["baselines"]["uniform_bits"] == pytest.approx(4.0)  # K = 16 in the tiny profile


def test_rerun_does_nothing(pipeline):
    out = run(pipeline, "dvc", "repro")
    assert "Running stage" not in out
    assert "is up to date" in run(pipeline, "dvc", "status") or "Data and pipelines are up to date" in run(
        pipeline, "dvc", "status")


def test_plots_render(pipeline):
    out = run(pipeline, "dvc", "plots", "show", "--json")
    for name in ("reports/train_vqvae/loss.json", "reports/eval/psnr.json"):
        assert name in out

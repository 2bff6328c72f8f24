"""benchmarks/gpu.py: its arithmetic against hand computation, and the JSON of a tiny CPU run
(tests/test_benchmarks_smoke.py runs it as a user would; here its record is read back)."""
import json
import subprocess
import sys

import pytest

from conftest import ROOT, venv_env

sys.path.insert(0, str(ROOT / "benchmarks"))
import gpu  # noqa: E402


def test_achieved_tflops_fraction_and_implied_hours_by_hand():
    # 2.61 TFLOP in 35.6 ms: 2.61e12 / 0.0356 = 73.31 TFLOP/s, 7.41 % of an H100 SXM's 989.4
    assert gpu.achieved_tflops(2_610_000_000_000, 0.0356) == pytest.approx(73.3146, rel=1e-5)
    assert gpu.achieved_tflops(2_610_000_000_000, 0.0356) / gpu.bf16_peak_tflops("NVIDIA H100 80GB HBM3") \
        == pytest.approx(0.074100, rel=1e-4)
    # the VQ-VAE's 166,500 steps at 35.6 ms: 5,927.4 s = 1.6465 h
    assert gpu.implied_hours(0.0356, 166_500, 8, 8) == pytest.approx(1.6465, rel=1e-6)
    # measured at batch 2, the profile's batch 8: four times the steps' time, 1,000 x 0.02 s x 4 = 80 s
    assert gpu.implied_hours(0.02, 1000, 2, 8) == pytest.approx(80 / 3600)


@pytest.mark.parametrize("name, peak", [("NVIDIA H100 80GB HBM3", 989.4), ("NVIDIA H100 PCIe", 756.0),
                                        ("NVIDIA H200", 989.4), ("NVIDIA A100-SXM4-80GB", 312.0),
                                        ("NVIDIA A100 80GB PCIe", 312.0), ("Tesla V100-SXM2-32GB", None)])
def test_the_bf16_peak_comes_from_the_device_name(name, peak):
    assert gpu.bf16_peak_tflops(name) == peak


def test_a_cpu_run_records_its_figures_and_two_equal_digests(tmp_path):
    out = tmp_path / "x.json"
    args = ["--device", "cpu", "--threads", "1", "--profile", "tiny", "--vq-profile", "tiny",
            "--only", "prior_bottom,svg_lp", "--batch", "1", "--steps", "2", "--warmup", "1",
            "--identity-steps", "2", "--json", str(out)]
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu.py"), *args], cwd=tmp_path,
                          env=venv_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "deterministic settings on" in proc.stdout
    record = json.loads(out.read_text())
    assert set(record) >= {"environment", "options", "date", "git", "components", "bf16_peak_tflops"}
    env = record["environment"]
    assert env["device"] == "cpu" and env["capability"] is None and env["deterministic"]["algorithms"] is True
    assert {"device_name", "torch", "cuda", "cudnn"} <= set(env)
    assert record["options"]["only"] == ["prior_bottom", "svg_lp"] and record["options"]["precision"] == "fp32"
    assert set(record["components"]) == {"prior_bottom", "svg_lp"}
    for name, r in record["components"].items():
        assert r["peak_memory_bytes"] is None and r["fraction_of_bf16_peak"] is None  # the CPU: not invented
        assert r["batch"] == 1 and len(r["step_seconds_all"]) == 2 and r["flops_step"] > 0 and r["aten_ops_step"] > 0
        assert r["achieved_tflops"] == pytest.approx(r["flops_step"] / r["step_seconds"] / 1e12)
        assert r["implied_hours"] == pytest.approx(r["profile_steps"] * r["step_seconds"] * r["profile_batch"] / 3600)
        digests = r["identity"]["sha256"]
        assert len(digests) == 2 and len(digests[0]) == 64
        assert digests[0] == digests[1] and r["identity"]["identical"] is True, name
        assert digests[0] in proc.stdout


def test_out_of_memory_halves_the_batch_and_scales_the_implied_hours(monkeypatch):
    """On a GPU the thesis's bottom prior may not fit at batch 8: the step is measured at the largest
    batch that fits, and the profile's hours scaled from it (and said so)."""
    from argparse import Namespace

    import torch

    def measure(component, batch, args, device):
        if batch > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 40.00 GiB")
        return {"params": 10, "step_seconds": 0.5, "step_seconds_all": [0.5], "sequences_per_s": batch / 0.5,
                "peak_memory_bytes": 2**30, "flops_step": 10**12, "aten_ops_step": 100}

    monkeypatch.setattr(gpu, "measure", measure)
    identical = {"steps": 1, "sha256": ["a", "a"], "identical": True}
    monkeypatch.setattr(gpu, "identity", lambda component, batch, args, device: identical)
    train = gpu.TrainConfig(steps=7200, batch_size=8, lr=1e-3)
    component = gpu.Component("prior_bottom", "vq", "thesis", train, None, None, lambda b: f"{b}x8x64x64")
    r = gpu.benchmark(component, Namespace(batch=None), torch.device("cpu"), 989.4)
    assert r["out_of_memory_at"] == [8, 4] and r["batch"] == 2 and r["shape"] == "2x8x64x64"
    assert r["achieved_tflops"] == pytest.approx(2.0) and r["fraction_of_bf16_peak"] == pytest.approx(2.0 / 989.4)
    assert r["implied_hours"] == pytest.approx(7200 * 0.5 * 4 / 3600)  # 4 h: four steps of 2 per step of 8
    assert "scaled linearly to the profile's batch 8" in r["implied_hours_basis"]
    printed = gpu.line("prior_bottom", r)
    assert "(scaled from batch 2)" in printed and "out of memory at batch 8, 4" in printed

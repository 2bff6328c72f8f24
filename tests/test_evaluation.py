"""Evaluation of one samples file (docs/design.md §7): per-timestep metrics against a hand computation, both
best-of-N rules, FVD with the real context in both sets and its repeats, extras, intervals under
clusters, the stage's outputs and its one-line errors."""
from __future__ import annotations

from types import SimpleNamespace

import subprocess
import sys

import h5py
import numpy as np
import pytest
import torch
import yaml

from conftest import ROOT, venv_env
from genvid import evaluation as E
from genvid.data.counterfactuals import write_counterfactuals
from genvid.data.samples import Cond, Extra, read_cond, read_samples_info, write_samples
from genvid.errors import GenvidError
from genvid.metrics import stats
from genvid.metrics.fvd import frechet_distance_features
from genvid.metrics.weights import convert_all, load_i3d, load_lpips
from genvid.params import EvaluateConfig

torch.set_num_threads(1)

N, S, C, H, SIZE = 4, 3, 4, 6, 32  # clips, samples, context, horizon, frame size
CFG = EvaluateConfig(fvd_repeats=3, bootstrap=200, seed=0)


@pytest.fixture(scope="session")
def weights(tmp_path_factory):
    return convert_all(tmp_path_factory.mktemp("metric_weights"))


@pytest.fixture(scope="session")
def lpips(weights):
    return load_lpips(weights["lpips"])


def grey_clips(values: np.ndarray, channels: int = 3) -> np.ndarray:
    """values [n, t] -> uint8 frames [n, t, SIZE, SIZE, channels] of uniform grey."""
    return np.broadcast_to(values[:, :, None, None, None], (*values.shape, SIZE, SIZE, channels)).astype(np.uint8).copy()


def write(path, real, predictions, extras=None, cluster=None, channels=3):
    n = real.shape[0]
    specs = {k: Extra(v.shape[1], f"label {k}", k in ("recon", "top_only")) for k, v in (extras or {}).items()}
    with write_samples(path, n, (SIZE, SIZE, channels), C, H, predictions.shape[1], {"run": "t"}, specs) as w:
        w.write(slice(0, n), real, predictions, extras or {}, episode=np.zeros(n, np.int64),
                start=np.arange(n, dtype=np.int64) * (C + H),
                cluster=np.arange(n, dtype=np.int64) if cluster is None else cluster)
    return read_samples_info(path)


def stand_in_features(videos: torch.Tensor) -> torch.Tensor:
    """A cheap deterministic video embedding (per-frame mean and std) standing in for I3D."""
    return torch.cat([videos.mean(dim=(2, 3, 4)), videos.std(dim=(2, 3, 4))], dim=1).double()


def test_per_timestep_psnr_matches_a_hand_computation(tmp_path, lpips):
    rng = np.random.default_rng(0)
    values = rng.integers(0, 256, (N, C + H))
    real = grey_clips(values)
    preds = np.stack([grey_clips(np.clip(values[:, C:] + d, 0, 255)) for d in (3, 10, 40)], axis=1)
    info = write(tmp_path / "s.h5", real, preds)
    metrics, scores, proto, tables = E.evaluate(info, lpips, None, CFG, progress=False)
    series = scores["series"]["predictions"]["psnr"]
    diffs = np.abs(np.clip(values[:, C:, None] + np.array([3, 10, 40]), 0, 255) - values[:, C:, None]) / 255.0
    psnr = np.where(diffs == 0, 100.0, -20 * np.log10(np.maximum(diffs, 1e-300)))  # [N, H, S]
    psnr = np.minimum(psnr, 100.0)
    by_seq = psnr[np.arange(N), :, psnr.mean(axis=1).argmax(axis=1)]  # SRVP: best time-average
    assert series["best_seq"]["per_timestep"]["mean"] == pytest.approx(by_seq.mean(axis=0), rel=1e-6)
    assert series["best_step"]["per_timestep"]["mean"] == pytest.approx(psnr.max(axis=2).mean(axis=0), rel=1e-6)
    assert series["mean"]["per_timestep"]["mean"] == pytest.approx(psnr.mean(axis=2).mean(axis=0), rel=1e-6)
    assert metrics["psnr"] == round(by_seq.mean(), 2)  # the headline: best of N per sequence, metrics.json's 2 decimals
    assert "fvd" not in metrics and scores["fvd"]["skipped"] == "no video feature extractor"
    assert proto["horizon"] == H and proto["context_frames"] == C and "cluster bootstrap" in proto["intervals"]


def test_best_step_bounds_best_seq_bounds_mean(tmp_path, lpips):
    rng = np.random.default_rng(1)
    real = rng.integers(0, 256, (N, C + H, SIZE, SIZE, 3), dtype=np.uint8)
    preds = rng.integers(0, 256, (N, S, H, SIZE, SIZE, 3), dtype=np.uint8)
    info = write(tmp_path / "s.h5", real, preds)
    _, scores, _, _ = E.evaluate(info, lpips, None, CFG, progress=False)
    for metric in ("psnr", "ssim", "lpips", "mse"):
        s = scores["series"]["predictions"][metric]
        step, seq, mean = (s[r]["average"]["mean"] for r in ("best_step", "best_seq", "mean"))
        if stats.HIGHER_IS_BETTER[metric]:
            assert step >= seq >= mean
        else:
            assert step <= seq <= mean


def test_fvd_puts_the_real_context_in_both_sets(tmp_path, lpips):
    """A prediction equal to the real future gives FVD 0: the generated videos are context + prediction."""
    rng = np.random.default_rng(2)
    real = rng.integers(0, 256, (N, C + H, SIZE, SIZE, 3), dtype=np.uint8)
    perfect = np.repeat(real[:, None, C:], S, axis=1)
    info = write(tmp_path / "s.h5", real, perfect, extras={"recon": real[:, None, C:].copy(), "top_only": perfect})
    _, scores, _, _ = E.evaluate(info, lpips, stand_in_features, CFG, progress=False)
    fvd = scores["fvd"]["predictions"]
    assert fvd["mean"] == pytest.approx(0.0, abs=1e-6) and len(fvd["values"]) == CFG.fvd_repeats
    assert fvd["ci95"] == pytest.approx([0.0, 0.0], abs=1e-6)  # perfect on every resample of the clips too
    assert scores["fvd"]["predictions_vs_recon"]["mean"] == pytest.approx(0.0, abs=1e-6)


def test_fvd_repeats_draw_distinct_samples_of_each_clip_while_they_last():
    draws = E.fvd_draws(clips=500, samples=4, repeats=3, seed=7)
    assert draws.shape == (3, 500)
    assert all(len(set(draws[:, k])) == 3 for k in range(500))  # no sample of a clip used twice
    assert np.bincount(draws[0], minlength=4).min() > 90  # each repeat: one uniform sample per clip
    beyond = E.fvd_draws(clips=50, samples=2, repeats=5, seed=7)  # more repeats than samples
    assert beyond.shape == (5, 50) and set(np.unique(beyond)) == {0, 1}
    assert np.array_equal(draws, E.fvd_draws(500, 4, 3, seed=7))


def test_fvd_repeats_score_the_drawn_sample_of_each_clip():
    rng = np.random.default_rng(3)
    real, generated = rng.normal(size=(6, 4)), rng.normal(size=(6, 3, 4))
    draws = E.fvd_draws(6, 3, 2, seed=1)
    expected = [frechet_distance_features(real, np.stack([generated[k, draws[r, k]] for k in range(6)]))
                for r in range(2)]
    assert E.fvd_repeats(real, generated, draws) == pytest.approx(expected)


def test_the_fvd_interval_resamples_clusters_of_clips_around_the_estimate():
    rng = np.random.default_rng(4)
    real = rng.normal(size=(24, 30))
    near, far = real[:, None] + rng.normal(0, 0.3, size=(24, 2, 30)), np.repeat(real[:, None] + 3.0, 2, axis=1)
    near2 = real[:, None] + rng.normal(0, 0.3, size=(24, 2, 30))
    clusters, draws = np.repeat(np.arange(12), 2), E.fvd_draws(24, 2, 2, seed=0)

    def interval(generated):
        estimate = float(np.mean(E.fvd_repeats(real, generated, draws)))
        return estimate, E.fvd_interval(real, generated, draws, clusters, 300, 0, estimate)

    (e1, a), (e2, b), (e3, c) = interval(near), interval(near2), interval(far)
    assert a[0] <= e1 <= a[1] and c[0] <= e3 <= c[1] and a[0] >= 0.0
    assert not (a[1] < b[0] or b[1] < a[0])  # two draws of the same model: not separated
    assert a[1] < c[0]  # a model 3 units off on every feature: separated
    assert E.fvd_interval(real, near, draws, clusters, 300, 0, e1) == a  # seeded: the same numbers
    assert E.fvd_interval(real, near, draws, np.zeros(24, dtype=int), 300, 0, e1) is None  # one cluster


def test_identical_samples_are_embedded_once_and_only_drawn_samples_at_all(tmp_path, lpips):
    rng = np.random.default_rng(6)
    real = rng.integers(0, 256, (N, C + H, SIZE, SIZE, 3), dtype=np.uint8)
    copies = np.repeat(real[:, None, C - 1:C].repeat(H, axis=2), S, axis=1)  # a deterministic model: S equal samples
    embedded = []

    def counting(videos):
        embedded.append(videos.shape[0])
        return stand_in_features(videos)

    E.evaluate(write(tmp_path / "copies.h5", real, copies), lpips, counting, CFG, progress=False)
    assert sum(embedded) == N + N  # the real clips, then one video per clip for all 3 repeats
    embedded.clear()
    distinct = rng.integers(0, 256, (N, S, H, SIZE, SIZE, 3), dtype=np.uint8)
    two = EvaluateConfig(fvd_repeats=2, bootstrap=200, seed=0)
    E.evaluate(write(tmp_path / "distinct.h5", real, distinct), lpips, counting, two, progress=False)
    assert sum(embedded) == N + 2 * N  # 2 of the 3 samples of each clip


def test_the_reference_replaces_the_real_features_and_must_match_the_real_clips(tmp_path, lpips):
    rng = np.random.default_rng(7)
    real = rng.integers(0, 256, (N, C + H, SIZE, SIZE, 3), dtype=np.uint8)
    preds = rng.integers(0, 256, (N, S, H, SIZE, SIZE, 3), dtype=np.uint8)
    info = write(tmp_path / "s.h5", real, preds)
    with h5py.File(tmp_path / "frames.h5", "w") as f:  # the same clips, back to back in a frames file
        f["frames"] = real.reshape(-1, SIZE, SIZE, 3)
    starts = np.arange(N) * (C + H)
    ref = E.fvd_reference(tmp_path / "frames.h5", starts, C + H, stand_in_features, batch_clips=3, progress=False)
    E.save_reference(tmp_path / "ref.pt", ref, None)
    loaded = E.load_reference(tmp_path / "ref.pt")
    assert loaded.sha256 == ref.sha256 and np.array_equal(loaded.features, ref.features)
    with_ref = E.evaluate(info, lpips, stand_in_features, CFG, progress=False, reference=loaded)[1]["fvd"]
    without = E.evaluate(info, lpips, stand_in_features, CFG, progress=False)[1]["fvd"]
    assert with_ref["predictions"]["values"] == pytest.approx(without["predictions"]["values"])
    other = E.Reference(ref.features, ref.sha256[::-1])
    with pytest.raises(GenvidError, match="real clips differ from the benchmark's FVD reference"):
        E.evaluate(info, lpips, stand_in_features, CFG, progress=False, reference=other)
    with pytest.raises(GenvidError, match="FVD reference not found"):
        E.load_reference(tmp_path / "missing.pt")


def test_grey_frames_are_scored_and_repeated_to_rgb(tmp_path, lpips):
    rng = np.random.default_rng(4)
    values = rng.integers(0, 256, (N, C + H))
    real = grey_clips(values, channels=1)
    preds = np.repeat(grey_clips(values[:, C:], channels=1)[:, None], 2, axis=1)
    info = write(tmp_path / "g.h5", real, preds, channels=1)
    metrics, _, proto, _ = E.evaluate(info, lpips, stand_in_features, CFG, progress=False)
    assert proto["channels"] == 1 and metrics["psnr"] == pytest.approx(100.0)
    assert metrics["lpips"] == pytest.approx(0.0, abs=1e-6)


def test_duplicating_clips_within_their_cluster_does_not_narrow_the_interval(tmp_path, lpips):
    rng = np.random.default_rng(5)
    real = rng.integers(0, 256, (N, C + H, SIZE, SIZE, 3), dtype=np.uint8)
    preds = rng.integers(0, 256, (N, 2, H, SIZE, SIZE, 3), dtype=np.uint8)
    once = write(tmp_path / "once.h5", real, preds, cluster=np.array([0, 0, 1, 1]))
    twice = write(tmp_path / "twice.h5", np.repeat(real, 2, 0), np.repeat(preds, 2, 0),
                  cluster=np.array([0, 0, 0, 0, 1, 1, 1, 1]))
    a = E.evaluate(once, lpips, None, CFG, progress=False)[1]["series"]["predictions"]["psnr"]["best_seq"]
    b = E.evaluate(twice, lpips, None, CFG, progress=False)[1]["series"]["predictions"]["psnr"]["best_seq"]
    assert b["average"]["ci95"] == pytest.approx(a["average"]["ci95"])
    # ... whereas treating every copy as an independent clip would have narrowed it
    naive = stats.cluster_bootstrap(np.repeat(np.arange(4.0), 2), np.arange(8), 200, 0)
    honest = stats.cluster_bootstrap(np.repeat(np.arange(4.0), 2), np.repeat(np.arange(4), 2), 200, 0)
    assert naive[1] - naive[0] < honest[1] - honest[0]


def test_one_cluster_gives_no_interval(tmp_path, lpips):
    rng = np.random.default_rng(6)
    real = rng.integers(0, 256, (N, C + H, SIZE, SIZE, 3), dtype=np.uint8)
    info = write(tmp_path / "s.h5", real, rng.integers(0, 256, (N, 1, H, SIZE, SIZE, 3), dtype=np.uint8),
                 cluster=np.zeros(N, np.int64))
    s = E.evaluate(info, lpips, None, CFG, progress=False)[1]["series"]["predictions"]["psnr"]["best_seq"]
    assert s["average"]["ci95"] is None and s["per_timestep"]["lo"] is None


def test_metrics_json_is_flat_headline_numbers(tmp_path, lpips):
    """metrics.json (dvc metrics): one shared set of flat keys, numbers only; a number the run has
    not (FVD skipped, no likelihood) is an absent key; the detail is scores.json's."""
    rng = np.random.default_rng(11)
    real = rng.integers(0, 256, (N, C + H, SIZE, SIZE, 3), dtype=np.uint8)
    info = write(tmp_path / "s.h5", real, rng.integers(0, 256, (N, S, H, SIZE, SIZE, 3), dtype=np.uint8))
    with_fvd, result, _, _ = E.evaluate(info, lpips, stand_in_features, CFG, progress=False, bits_per_dim=3.2714)
    assert set(with_fvd) == {"psnr", "ssim", "lpips", "fvd", "diversity", "bits_per_dim"}
    assert all(type(v) is float for v in with_fvd.values())
    for m, places in (("psnr", 2), ("ssim", 4), ("lpips", 4)):  # dB to 2 decimals, scores in [0, 1] to 4
        assert with_fvd[m] == round(result["series"]["predictions"][m]["best_seq"]["average"]["mean"], places)
    assert with_fvd["fvd"] == round(result["fvd"]["predictions"]["mean"], 2) and with_fvd["bits_per_dim"] == 3.2714
    skipped, _, _, _ = E.evaluate(info, lpips, None, CFG, progress=False)
    assert set(skipped) == {"psnr", "ssim", "lpips", "diversity"}
    assert with_fvd["diversity"] == round(result["diversity"]["mean"], 4) > 0
    assert "FVD n/a" in E.summary_line("r", skipped) and "bits/dim" in E.summary_line("r", with_fvd)


def test_bits_per_dim_comes_from_train_metrics_or_is_absent(tmp_path):
    path = tmp_path / "train_metrics.json"
    with pytest.raises(GenvidError, match=r"train_metrics\.json: file not found \(stage train writes it"):
        E.read_bits_per_dim(path, "r")
    path.write_text('{"run": "r", "parameters": 0}')
    assert E.read_bits_per_dim(path, "r") is None
    path.write_text('{"run": "r", "parameters": 9, "bits_per_dim": 3}')
    assert E.read_bits_per_dim(path, "r") == 3.0
    with pytest.raises(GenvidError, match=r"the training metrics of run 'r', not 'q' \(rerun train@q\)"):
        E.read_bits_per_dim(path, "q")  # another run's file: its bits would join q's metrics.json
    path.write_text('{"mean": [0.5], "std": [0.2]}')
    with pytest.raises(GenvidError, match=r"not a train_metrics\.json \(no 'parameters'"):
        E.read_bits_per_dim(path, "r")
    path.write_text('{"run": "r", "parameters": 1, "bits_per_dim": "3.2"}')
    with pytest.raises(GenvidError, match=r"'bits_per_dim' must be a number, got '3\.2'"):
        E.read_bits_per_dim(path, "r")


def test_tables_have_every_series_and_rule(tmp_path, lpips):
    rng = np.random.default_rng(7)
    real = rng.integers(0, 256, (N, C + H, SIZE, SIZE, 3), dtype=np.uint8)
    preds = rng.integers(0, 256, (N, S, H, SIZE, SIZE, 3), dtype=np.uint8)
    info = write(tmp_path / "s.h5", real, preds, extras={"recon": real[:, None, C:].copy()})
    _, _, _, tables = E.evaluate(info, lpips, None, CFG, progress=False)
    header = tables["psnr"].splitlines()[0].split("\t")
    assert header[:5] == ["timestep", "frame", "predictions_best_seq", "predictions_best_step", "predictions_mean"]
    assert "recon_mean" in header and "recon_best_seq" not in header  # one deterministic sample: no best-of
    assert len(tables["psnr"].splitlines()) == H + 1


# ----------------------------------------------------------------------------- the stage

@pytest.fixture
def stage_root(tmp_path, weights):
    root = tmp_path / "root"
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["evaluate"] = {"fvd_repeats": 2, "bootstrap": 100, "seed": 0}
    del params["benchmarks"]["driving"]["long_horizon"]  # test_stage_checks_the_long_horizon_against_params: with one
    (root / "models/metrics").mkdir(parents=True)
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    for name, path in weights.items():
        target = root / ("models/metrics/lpips_alexnet.pt" if name == "lpips" else "models/metrics/i3d_kinetics400.pt")
        target.write_bytes(path.read_bytes())
    return root


def run_stage(root):
    return subprocess.run([sys.executable, "-m", "stages.evaluate", "--params", str(root / "params.yaml"), "--run",
                           "driving-copy_last", "--root", str(root), "--no-progress"], cwd=ROOT, env=venv_env(),
                          capture_output=True, text=True)


@pytest.mark.slow
def test_stage_writes_its_outputs_twice_to_identical_bytes(stage_root):
    N = 2  # noqa: N806 - the fewest clips FVD takes: each clip is seconds of I3D at 224 x 224
    rng = np.random.default_rng(8)
    real = rng.integers(0, 256, (N, 16, SIZE, SIZE, 3), dtype=np.uint8)
    path = stage_root / "data/driving/samples/driving-copy_last.h5"
    path.parent.mkdir(parents=True)
    with write_samples(path, N, (SIZE, SIZE, 3), 8, 8, 1, {"run": "driving-copy_last"}) as w:
        w.write(slice(0, N), real, np.repeat(real[:, None, 7:8], 8, axis=2), episode=np.zeros(N, np.int64),
                start=np.arange(N, dtype=np.int64) * 16, cluster=np.arange(N, dtype=np.int64))
    with h5py.File(stage_root / "frames.h5", "w") as f:  # what stage fvd_reference embeds: the same clips
        f["frames"] = real.reshape(-1, SIZE, SIZE, 3)
    i3d = load_i3d(stage_root / "models/metrics/i3d_kinetics400.pt")
    reference = E.fvd_reference(stage_root / "frames.h5", np.arange(N) * 16, 16, E.i3d_features(i3d), progress=False)
    E.save_reference(stage_root / "data/driving/fvd_reference.pt", reference, None)
    write_counterfactuals(stage_root / "data/driving/counterfactuals.h5", None, SimpleNamespace(source="synthetic", seed=0),
                          stage_root / "frames.h5", np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64),
                          8, 8, reason="synthetic frames")  # no counterfactual clips: controllability skipped
    from genvid.metrics import motion  # no motion labels: stage motion_classifier's file saying so
    motion.save(stage_root / "data/driving/motion_classifier.pt", motion.unavailable("driving", "synthetic frames"))
    train_metrics = stage_root / "reports/driving/runs/driving-copy_last/train_metrics.json"
    train_metrics.parent.mkdir(parents=True)
    train_metrics.write_text('{"run": "driving-copy_last", "parameters": 0}')  # stage train's, for copy_last: no likelihood
    first = run_stage(stage_root)
    assert first.returncode == 0, first.stderr[-2000:]
    out = stage_root / "reports/driving/runs/driving-copy_last"
    files = ["metrics.json", "scores.json", "protocol.json", "psnr.tsv", "ssim.tsv", "lpips.tsv", "mse.tsv"]
    before = {f: (out / f).read_bytes() for f in files}
    assert run_stage(stage_root).returncode == 0
    assert {f: (out / f).read_bytes() for f in files} == before
    metrics = yaml.safe_load(before["metrics.json"])
    assert set(metrics) == {"psnr", "ssim", "lpips", "fvd"} and metrics["fvd"] >= 0


@pytest.mark.parametrize("case", ["missing", "not_h5", "wrong_dtype", "no_clips", "bad_attr"])
def test_bad_samples_file_is_one_line_and_writes_nothing(stage_root, case, capsys):
    path = stage_root / "data/driving/samples/driving-copy_last.h5"
    path.parent.mkdir(parents=True)
    if case == "not_h5":
        path.write_bytes(b"junk")
    elif case != "missing":
        with h5py.File(path, "w") as f:
            n = 0 if case == "no_clips" else 2
            f.create_dataset("real", data=np.zeros((n, 16, SIZE, SIZE, 3), np.float32 if case == "wrong_dtype" else np.uint8))
            f.create_dataset("predictions", data=np.zeros((n, 1, 8, SIZE, SIZE, 3), np.uint8))
            for name in ("episode", "start", "cluster"):
                f.create_dataset(name, data=np.zeros(n, np.int64))
            f.attrs["context_frames"], f.attrs["horizon"] = (8, 8)
            f.attrs["num_samples"] = 0 if case == "bad_attr" else 1
    from stages import evaluate

    with pytest.raises(SystemExit) as exit_:  # in this process: a subprocess would add seconds of imports
        evaluate.main(["--params", str(stage_root / "params.yaml"), "--run", "driving-copy_last",
                       "--root", str(stage_root), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and len(err) == 1 and err[0].startswith(f"error: {path}"), err
    assert not (stage_root / "reports").exists()


def test_stage_checks_the_long_horizon_against_params(stage_root, capsys):
    """Params with a long horizon and a samples file without its clips (or the other way round, or with
    other settings): one line naming the file and the params key, before any scoring."""
    from stages import evaluate

    path = stage_root / "data/driving/samples/driving-copy_last.h5"
    path.parent.mkdir(parents=True)
    real = np.zeros((2, 16, SIZE, SIZE, 3), np.uint8)

    def samples(long_horizon: int | None) -> None:
        with write_samples(path, 2, (SIZE, SIZE, 3), 8, 8, 1, {"run": "driving-copy_last"}) as w:
            w.write(slice(0, 2), real, np.zeros((2, 1, 8, SIZE, SIZE, 3), np.uint8), episode=np.zeros(2, np.int64),
                    start=np.arange(2) * 16, cluster=np.arange(2))
            if long_horizon is not None:
                w.long_horizon(2, 8, long_horizon, 2).write(
                    slice(0, 2), np.zeros((2, 8 + long_horizon, SIZE, SIZE, 3), np.uint8),
                    np.zeros((2, 2, long_horizon, SIZE, SIZE, 3), np.uint8), episode=np.zeros(2, np.int64),
                    start=np.arange(2) * 40, cluster=np.arange(2))

    def error() -> str:
        with pytest.raises(SystemExit) as exit_:
            evaluate.main(["--params", str(stage_root / "params.yaml"), "--run", "driving-copy_last",
                           "--root", str(stage_root), "--no-progress"])
        err = capsys.readouterr().err.strip().splitlines()
        assert exit_.value.code == 2 and len(err) == 1 and not (stage_root / "reports").exists(), err
        return err[0]

    samples(16)
    assert "holds long-horizon clips, but params benchmarks.driving.long_horizon is not set" in error()
    params = yaml.safe_load((stage_root / "params.yaml").read_text())
    params["benchmarks"]["driving"]["long_horizon"] = yaml.safe_load((ROOT / "params.yaml").read_text())[
        "benchmarks"]["driving"]["long_horizon"]  # 8 -> 32, N = 2
    (stage_root / "params.yaml").write_text(yaml.safe_dump(params))
    assert f"{path}: long-horizon clips of 8 -> 16 frames with N = 2, but params benchmarks.driving.long_horizon " \
           "gives 8 -> 32 with N = 2" in error()
    samples(None)
    assert f"{path}: no long-horizon clips, but params benchmarks.driving.long_horizon is set" in error()


def test_samples_file_long_horizon_round_trip_and_errors(tmp_path):
    """The long-horizon group (genvid.data.samples): written batch by batch beside the protocol's clips,
    read back as a SamplesInfo view whose series and index are its own; None where a file has none; a
    broken group is one line naming the dataset."""
    from genvid.data.samples import LONG_HORIZON, read_clips, read_index, read_long_horizon

    rng = np.random.default_rng(11)
    real = rng.integers(0, 256, (N, C + H, SIZE, SIZE, 3), dtype=np.uint8)
    info = write(tmp_path / "plain.h5", real, rng.integers(0, 256, (N, S, H, SIZE, SIZE, 3), dtype=np.uint8))
    assert read_long_horizon(info.path) is None and info.group == "" and info.dataset("real") == "real"
    long_real = rng.integers(0, 256, (3, C + 2 * H, SIZE, SIZE, 3), dtype=np.uint8)
    long_pred = rng.integers(0, 256, (3, 2, 2 * H, SIZE, SIZE, 3), dtype=np.uint8)
    path = tmp_path / "long.h5"
    with write_samples(path, N, (SIZE, SIZE, 3), C, H, S, {"run": "t"}) as w:
        w.write(slice(0, N), real, np.zeros((N, S, H, SIZE, SIZE, 3), np.uint8), episode=np.zeros(N, np.int64),
                start=np.arange(N), cluster=np.arange(N))
        long = w.long_horizon(3, C, 2 * H, 2)
        for rows in (slice(0, 2), slice(2, 3)):  # batch by batch, as the sample stage writes
            long.write(rows, long_real[rows], long_pred[rows], episode=np.array([5, 5, 6])[rows],
                       start=np.array([0, 16, 0])[rows], cluster=np.array([0, 0, 1])[rows])
    got = read_long_horizon(path)
    assert (got.group, got.clips, got.samples, got.context_frames, got.horizon) == (LONG_HORIZON, 3, 2, C, 2 * H)
    assert got.attrs["run"] == "t" and got.attrs["horizon"] == 2 * H and got.extras == {} and got.cond is None
    assert read_samples_info(path).horizon == H  # the protocol's view is unchanged
    assert np.array_equal(read_clips(path, got.dataset("real"), slice(None)), long_real)
    assert np.array_equal(read_clips(path, got.dataset("predictions"), slice(None)), long_pred)
    assert read_index(path, LONG_HORIZON)["cluster"].tolist() == [0, 0, 1]
    assert read_index(path)["cluster"].tolist() == list(range(N))
    with h5py.File(path, "r+") as f:
        del f["long_horizon/cluster"]
    with pytest.raises(GenvidError, match=r"dataset 'long_horizon/cluster' must be integers \[3\]"):
        read_long_horizon(path)
    with h5py.File(path, "r+") as f:
        f.create_dataset("long_horizon/cluster", data=np.zeros(3, np.int64))
        f["long_horizon"].attrs["horizon"] = H - 1
    with pytest.raises(GenvidError, match="'long_horizon/real' clips have 16 frames, expected context_frames"):
        read_long_horizon(path)


def test_long_horizon_scores_copy_last_by_hand(tmp_path, lpips):
    """Issue 23 item 2: the long-horizon clips are scored by the same code on their own clips: copy-last's
    per-timestep MSE is the squared grey-level gap to the last context frame; FVD with one repeat has no
    sd; metrics.json gains long_fvd (long_lpips: scores.json's), each TSV the long_horizon_* columns over the longer horizon;
    the protocol's numbers are those of the same file scored without its long horizon."""
    from genvid.data.samples import read_long_horizon

    long_h, long_n = 2 * H, 3
    rng = np.random.default_rng(12)
    values = rng.integers(0, 256, (N, C + H))
    real = grey_clips(values)
    preds = np.stack([grey_clips(np.clip(values[:, C:] + d, 0, 255)) for d in (3, 10, 40)], axis=1)
    long_values = rng.integers(0, 256, (long_n, C + long_h))
    long_real = grey_clips(long_values)
    copies = np.repeat(long_real[:, None, C - 1:C].repeat(long_h, axis=2), 2, axis=1)
    path = tmp_path / "s.h5"
    with write_samples(path, N, (SIZE, SIZE, 3), C, H, S, {"run": "t"}) as w:
        w.write(slice(0, N), real, preds, episode=np.zeros(N, np.int64), start=np.arange(N), cluster=np.arange(N))
        w.long_horizon(long_n, C, long_h, 2).write(slice(0, long_n), long_real, copies, episode=np.zeros(long_n, np.int64),
                                                   start=np.arange(long_n), cluster=np.arange(long_n))
    info, long_info = read_samples_info(path), read_long_horizon(path)
    long = E.LongHorizon(long_info, 1)
    metrics, scores, proto, tables = E.evaluate(info, lpips, stand_in_features, CFG, progress=False, long=long)
    gap = (long_values[:, C:] - long_values[:, C - 1:C]) / 255.0  # [clips, horizon]
    mse = scores["long_horizon"]["series"]["predictions"]["mse"]
    for rule in ("best_seq", "best_step", "mean"):  # two identical samples: every rule the same
        assert mse[rule]["per_timestep"]["mean"] == pytest.approx((gap ** 2).mean(axis=0), rel=1e-6)
    fvd = scores["long_horizon"]["fvd"]["predictions"]
    assert len(fvd["values"]) == 1 and fvd["sd"] is None and metrics["long_fvd"] == round(fvd["values"][0], 2)
    assert scores["long_horizon"]["diversity"]["mean"] == 0.0  # copies: no spread
    assert "long_lpips" not in metrics  # the long horizon's LPIPS: scores.json's and the leaderboard's
    assert proto["long_horizon"] == {**proto["long_horizon"], "clips": long_n, "horizon": long_h, "num_samples": 2,
                                     "context_frames": C, "fvd_repeats": 1}
    lines = [line.split("\t") for line in tables["mse"].splitlines()]
    header, rows = lines[0], lines[1:]
    assert len(rows) == long_h and [r[0] for r in rows] == [str(t) for t in range(1, long_h + 1)]
    col, main_col = header.index("long_horizon_predictions_mean"), header.index("predictions_mean")
    assert [float(r[col]) for r in rows] == pytest.approx((gap ** 2).mean(axis=0), rel=1e-6)
    assert all(r[main_col] != "" for r in rows[:H]) and all(r[main_col] == "" for r in rows[H:])
    # the same file without its long horizon: the protocol's outputs exactly as before, nothing new
    plain = E.evaluate(info, lpips, stand_in_features, CFG, progress=False)
    assert "long_horizon" not in plain[1] and "long_horizon" not in plain[2]
    assert plain[0] == {k: v for k, v in metrics.items() if not k.startswith("long_")}
    assert plain[1] == {k: v for k, v in scores.items() if k != "long_horizon"}
    header_plain = plain[3]["mse"].splitlines()[0].split("\t")
    assert header_plain == [h for h in header if not h.startswith("long_horizon_")]
    assert "long horizon: FVD" in E.summary_line("t", metrics) and "long" not in E.summary_line("t", plain[0])
    # the benchmark's reference of the long-horizon clips stands in for their real features, checked by hash
    with h5py.File(tmp_path / "frames.h5", "w") as f:
        f["frames"] = long_real.reshape(-1, SIZE, SIZE, 3)
    ref = E.fvd_reference(tmp_path / "frames.h5", np.arange(long_n) * (C + long_h), C + long_h, stand_in_features,
                          progress=False)
    with_ref = E.evaluate(info, lpips, stand_in_features, CFG, progress=False, long=E.LongHorizon(long_info, 1, ref))
    assert with_ref[1]["long_horizon"]["fvd"]["predictions"]["values"] == pytest.approx(fvd["values"])
    with pytest.raises(GenvidError, match="its long-horizon real clips differ from the benchmark's FVD reference"):
        E.evaluate(info, lpips, stand_in_features, CFG, progress=False,
                   long=E.LongHorizon(long_info, 1, E.Reference(ref.features, ref.sha256[::-1])))


def test_long_horizon_reference_lives_in_the_benchmarks_reference_file(tmp_path):
    ref = E.Reference(np.arange(8.0).reshape(2, 4), "a" * 64)
    long = E.Reference(np.ones((3, 4)), "b" * 64)
    E.save_reference(tmp_path / "plain.pt", ref, None)
    E.save_reference(tmp_path / "long.pt", ref, None, (long, None))
    E.save_reference(tmp_path / "skipped.pt", ref, None, (None, "FVD needs at least 2 test clips, got 1"))
    assert E.load_reference(tmp_path / "long.pt").sha256 == "a" * 64
    got = E.load_reference(tmp_path / "long.pt", long_horizon=True)
    assert got.sha256 == "b" * 64 and np.array_equal(got.features, long.features)
    assert E.load_reference(tmp_path / "skipped.pt", long_horizon=True) is None
    with pytest.raises(GenvidError, match=r"plain\.pt: holds no reference of the long-horizon clips"):
        E.load_reference(tmp_path / "plain.pt", long_horizon=True)
    assert (tmp_path / "plain.pt").read_bytes() != (tmp_path / "long.pt").read_bytes()


def test_read_samples_info_names_the_problem(tmp_path):
    path = tmp_path / "s.h5"
    rng = np.random.default_rng(9)
    real = rng.integers(0, 256, (N, C + H, SIZE, SIZE, 3), dtype=np.uint8)
    write(path, real, rng.integers(0, 256, (N, 2, H, SIZE, SIZE, 3), dtype=np.uint8))
    with h5py.File(path, "r+") as f:
        del f["predictions"]
        f.create_dataset("predictions", data=np.zeros((N, 2, H + 1, SIZE, SIZE, 3), np.uint8))
    with pytest.raises(GenvidError, match=r"'predictions' has shape \[4, 2, 7, 32, 32, 3\], expected \[4, 2, 6, 32, 32, 3\]"):
        read_samples_info(path)


def test_samples_file_carries_a_conditioned_models_inputs(tmp_path):
    """The optional ``cond`` dataset: written only for a conditioned model, read back with its
    columns, required on every write of such a file, and checked on read."""
    rng = np.random.default_rng(10)
    real = rng.integers(0, 256, (N, C + H, SIZE, SIZE, 3), dtype=np.uint8)
    cond = rng.standard_normal((N, C + H, 3)).astype(np.float32)
    index = dict(episode=np.zeros(N, np.int64), start=np.arange(N, dtype=np.int64), cluster=np.arange(N, dtype=np.int64))
    path, spec = tmp_path / "c.h5", Cond("action", ("steer", "throttle", "brake"))
    with write_samples(path, N, (SIZE, SIZE, 3), C, H, 1, {}, cond=spec) as w:
        w.write(slice(0, N), real, real[:, None, C:], cond=cond, **index)
    assert read_samples_info(path).cond == spec and np.array_equal(read_cond(path, slice(1, 3)), cond[1:3])
    plain = tmp_path / "p.h5"
    write(plain, real, real[:, None, C:])
    assert read_samples_info(plain).cond is None
    with pytest.raises(GenvidError, match="no 'cond' dataset"):
        read_cond(plain, slice(None))
    with pytest.raises(GenvidError, match="cond missing for a conditioned file"):
        with write_samples(tmp_path / "x.h5", N, (SIZE, SIZE, 3), C, H, 1, {}, cond=spec) as w:
            w.write(slice(0, N), real, real[:, None, C:], **index)
    assert not (tmp_path / "x.h5").exists()
    with h5py.File(path, "r+") as f:
        del f["cond"]
        f.create_dataset("cond", data=cond[:, :C])
    with pytest.raises(GenvidError, match=rf"'cond' must be float32 \[{N}, {C + H}, A\]"):
        read_samples_info(path)


# ----------------------------------------------------------------------------- dvc metrics show (issue 18)

WIDE = {"psnr": 100.123456, "ssim": -0.123456, "lpips": 0.123456, "fvd": 12345.6789}  # widest plausible cells


def wide_result() -> dict:
    """A scores.json shape holding the widest plausible headline numbers (width, not values, matters), with a
    long horizon, diversity, counterfactuals and motion: every key metrics.json can hold."""
    series = {m: {rule: {"average": {"mean": WIDE[m]}} for rule in stats.RULES} for m in ("psnr", "ssim", "lpips")}
    fvd = {E.PREDICTIONS: {"mean": WIDE["fvd"], "sd": 1.0}}
    return {"series": {E.PREDICTIONS: series}, "fvd": fvd, "diversity": {"mean": 0.123456},
            E.LONG_HORIZON: {"series": {E.PREDICTIONS: series}, "fvd": fvd}}


def wide_metrics() -> dict:
    """metrics.json as stage evaluate assembles it (evaluation, controllability, motion), every key present."""
    from genvid import controllability as C
    from genvid.metrics import motion as M
    control = {"fidelity": {"ssim": {"mean": -0.123456}, "lpips": {"mean": 0.123456}},
               "sensitivity": {"mean": 12.345678}, "direction": {"mean": 0.123456}}
    return {**E.headline(wide_result(), 12.345678), **C.headline(control),
            **M.headline({"mean_of_n": {"mean": 0.123456}})}


@pytest.fixture(scope="module")
def metrics_repo(tmp_path_factory):
    """dvc.yaml and params.yaml in a bare DVC repo, every run's metrics.json written by headline()."""
    root = tmp_path_factory.mktemp("metrics_repo")
    for name in ("dvc.yaml", "params.yaml"):
        (root / name).write_bytes((ROOT / name).read_bytes())
    subprocess.run(["dvc", "init", "--no-scm", "-q"], cwd=root, env=venv_env(), check=True)
    runs = yaml.safe_load((ROOT / "params.yaml").read_text())["runs"]
    for run, entry in runs.items():
        out = root / f"reports/{entry['benchmark']}/runs/{run}"
        E.write_outputs(out, wide_metrics(), {}, {}, {})
    return root, runs


def test_the_only_dvc_metrics_are_each_runs_metrics_json(metrics_repo):
    """Train metrics (each family's own keys) and the leaderboard are plain outputs: one metrics
    table, one row per run, one column per headline key."""
    from dvc.repo import Repo

    root, runs = metrics_repo
    with Repo(str(root)) as repo:
        metrics = {str(out.def_path) for stage in repo.index.stages for out in stage.outs if out.metric}
    assert metrics == {f"reports/{e['benchmark']}/runs/{run}/metrics.json" for run, e in runs.items()}


def test_dvc_metrics_show_fits_a_terminal(metrics_repo):
    root, runs = metrics_repo
    shown = subprocess.run(["dvc", "metrics", "show"], cwd=root, env=venv_env(), check=True,
                           capture_output=True, text=True).stdout.splitlines()
    assert shown[0].split() == ["Path", "bits_per_dim", "cf_ssim", "direction", "diversity", "fvd", "long_fvd", "lpips",
                                "motion_acc", "psnr", "sensitivity", "ssim"]  # every key, on every run
    assert len(shown) == 1 + len(runs)
    assert max(map(len, shown)) <= 200, max(map(len, shown))


def test_diversity_compares_the_disjoint_pairs_of_samples(monkeypatch):
    """(0, 1) and (2, 3) of four samples, a fifth unpaired; by hand with a stand-in distance (the mean
    absolute difference) in place of LPIPS."""
    monkeypatch.setattr(E, "lpips_frames", lambda net, a, b, chunk: (a - b).abs().flatten(1).mean(1))
    video = torch.zeros(2, 5, 3, 3, 4, 4)  # [clips, samples, frames, 3, H, W]
    video[0, 1] = 0.5  # pair (0, 1) of clip 0 differs by 0.5 everywhere
    video[0, 2] = 0.7
    video[0, 3] = 0.7  # pair (2, 3) identical; sample 1 vs 2 is never compared
    video[1, 4] = 1.0  # clip 1: only the unpaired fifth sample differs
    got = E.diversity(video, lpips=None)
    assert got.dtype == np.float64 and got.tolist() == [0.25, 0.0]  # mean of 0.5 and 0 over pairs and frames
    with pytest.raises(ValueError, match="2 or more samples"):
        E.diversity(video[:, :1], lpips=None)


def test_one_sample_per_clip_has_no_diversity_and_says_why(tmp_path, lpips):
    rng = np.random.default_rng(12)
    real = rng.integers(0, 256, (N, C + H, SIZE, SIZE, 3), dtype=np.uint8)
    info = write(tmp_path / "s.h5", real, rng.integers(0, 256, (N, 1, H, SIZE, SIZE, 3), dtype=np.uint8))
    metrics, result, _, _ = E.evaluate(info, lpips, None, CFG, progress=False)
    assert "diversity" not in metrics and "no pair" in result["diversity"]["skipped"]


def test_identical_samples_have_zero_diversity(tmp_path, lpips):
    rng = np.random.default_rng(13)
    real = rng.integers(0, 256, (N, C + H, SIZE, SIZE, 3), dtype=np.uint8)
    one = rng.integers(0, 256, (N, 1, H, SIZE, SIZE, 3), dtype=np.uint8)
    info = write(tmp_path / "s.h5", real, np.repeat(one, S, axis=1))
    _, result, _, _ = E.evaluate(info, lpips, None, CFG, progress=False)
    assert result["diversity"]["mean"] == 0.0 and result["diversity"]["pairs_per_clip"] == S // 2


# ----------------------------------------------------------------------------- controllability (issue 24)

def hand_counterfactuals(m: int = 4):
    """M clips whose true futures move the image right under 'left', left under 'right', not at all
    under 'straight'; the simulator's heading turns accordingly."""
    from genvid.data.counterfactuals import Counterfactuals
    rng = np.random.default_rng(3)
    context = rng.integers(0, 256, (m, 2, SIZE, SIZE, 3), dtype=np.uint8)
    steps = {"left": 2, "straight": 0, "right": -2}
    frames = np.stack([np.stack([np.stack([np.roll(context[i, -1], dx * (t + 1), axis=1) for t in range(3)])
                                 for dx in steps.values()]) for i in range(m)])
    cond = np.zeros((m, 3, 5, 3), np.float32)
    cond[:, :, 1:, 0] = np.array([-0.5, 0.0, 0.5], np.float32)[None, :, None]
    pose = np.zeros((m, 3, 4, 3), np.float32)
    pose[:, :, -1, 1] = np.array([-0.2, 0.0, 0.2], np.float32)
    index = {"clip": np.arange(m), "start": np.arange(m) * 5, "episode": np.zeros(m, np.int64), "cluster": np.arange(m)}
    return Counterfactuals(True, "", tuple(steps), 2, 3, 1, context, frames, cond, pose, index)


def test_controllability_of_the_truth_of_a_copy_and_of_a_mirror(lpips):
    from genvid import controllability as C
    from genvid.data.samples import CounterfactualPredictions
    cf = hand_counterfactuals()
    cfg = EvaluateConfig(fvd_repeats=1, bootstrap=200, seed=0)
    truth = C.score_controllability(cf, CounterfactualPredictions(cf.frames[:, :, None], cf.sequences, True), lpips,
                                    None, cfg)
    assert truth["sensitivity"]["mean"] == pytest.approx(1.0) and truth["direction"]["mean"] == 1.0
    assert truth["direction"]["true_frames"] == 1.0 and truth["fidelity"]["lpips"]["mean"] == pytest.approx(0, abs=1e-6)
    assert truth["fidelity"]["ssim"]["mean"] == pytest.approx(1.0)
    assert (truth["direction"]["left"], truth["direction"]["right"]) == ("left", "right")
    copy = np.repeat(cf.frames[:, 1:2, None], 3, axis=1)  # 'straight' whatever the action: an unconditioned model
    ignored = C.score_controllability(cf, CounterfactualPredictions(copy, cf.sequences, False), lpips, None, cfg)
    assert ignored["sensitivity"]["mean"] == 0.0 and ignored["direction"]["mean"] == 0.0
    assert ignored["fidelity_by_action"]["straight"]["lpips"] == pytest.approx(0, abs=1e-6)
    assert ignored["fidelity_by_action"]["left"]["lpips"] > 0.01
    mirror = cf.frames[:, ::-1, None].copy()  # turns the wrong way, as much as the world
    wrong = C.score_controllability(cf, CounterfactualPredictions(mirror, cf.sequences, True), lpips, None, cfg)
    assert wrong["sensitivity"]["mean"] == pytest.approx(1.0) and wrong["direction"]["mean"] == 0.0
    assert C.headline(truth) == {"cf_ssim": pytest.approx(1.0), "sensitivity": pytest.approx(1.0), "direction": 1.0}
    assert C.headline(wrong)["sensitivity"] == round(wrong["sensitivity"]["mean"], 4)  # metrics.json's 4 decimals
    # issue 46: the first predicted frame's sensitivity alone: 1 for the truth, 0 for the copy; a model that
    # follows the action on frame 1 and then predicts every action's future alike has it at 1, the whole horizon less
    assert truth["sensitivity_first"]["mean"] == pytest.approx(1.0) and ignored["sensitivity_first"]["mean"] == 0.0
    first_only = copy.copy()
    first_only[:, :, :, 0] = cf.frames[:, :, None, 0]
    early = C.score_controllability(cf, CounterfactualPredictions(first_only, cf.sequences, True), lpips, None, cfg)
    assert early["sensitivity_first"]["mean"] == pytest.approx(1.0)
    assert 0 < early["sensitivity"]["mean"] < 0.9


def test_controllability_is_skipped_without_clips_and_refuses_mismatched_futures(lpips):
    from dataclasses import replace
    from genvid import controllability as C
    from genvid.data.samples import CounterfactualPredictions
    cf = hand_counterfactuals()
    cfg = EvaluateConfig(fvd_repeats=1, bootstrap=200, seed=0)
    none = replace(cf, available=False, reason="no simulator")
    assert C.score_controllability(none, None, lpips, None, cfg) == {"skipped": "no simulator"}
    assert C.headline({"skipped": "no simulator"}) == {}
    with pytest.raises(GenvidError, match="s.h5: no counterfactual futures"):
        C.score_controllability(cf, None, lpips, None, cfg, "s.h5")
    two = CounterfactualPredictions(cf.frames[:, :2, None], cf.sequences[:2], True)
    with pytest.raises(GenvidError, match="do not match the counterfactuals file"):
        C.score_controllability(cf, two, lpips, None, cfg, "s.h5")

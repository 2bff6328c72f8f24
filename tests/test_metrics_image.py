import math

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from genvid.metrics.image import PSNR_MAX, frame_metrics, gaussian_window, mse, psnr, ssim

torch.set_num_threads(1)


def _skimage_ssim(a: torch.Tensor, b: torch.Tensor) -> float:
    """Reference: the pinned scikit-image call on one [3,H,W] frame pair."""
    return structural_similarity(
        a.permute(1, 2, 0).numpy(), b.permute(1, 2, 0).numpy(),
        gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0, channel_axis=-1,
    )


def _smooth(n: int, h: int, w: int, g: torch.Generator) -> torch.Tensor:
    """Smooth images: low-resolution noise upsampled bilinearly, in [0, 1]."""
    low = torch.rand(n, 3, h // 8, w // 8, generator=g)
    return torch.nn.functional.interpolate(low, size=(h, w), mode="bilinear", align_corners=False)


@pytest.mark.parametrize("kind", ["random", "smooth"])
def test_ssim_matches_skimage(kind):
    g = torch.Generator().manual_seed(1)
    if kind == "random":
        x = torch.rand(3, 3, 32, 40, generator=g)
        y = (x + 0.2 * torch.randn(3, 3, 32, 40, generator=g)).clamp(0, 1)
    else:
        x = _smooth(3, 48, 32, g)
        y = (0.8 * x + 0.2 * _smooth(3, 48, 32, g)).clamp(0, 1)
    ours = ssim(x, y)
    ref = torch.tensor([_skimage_ssim(a, b) for a, b in zip(x, y)], dtype=torch.float64)
    assert ours.shape == (3,)
    assert torch.allclose(ours, ref, atol=1e-4), (ours, ref)


def test_ssim_video_layout_and_identity():
    g = torch.Generator().manual_seed(2)
    x = torch.rand(2, 4, 3, 16, 16, generator=g)
    y = torch.rand(2, 4, 3, 16, 16, generator=g)
    s = ssim(x, y)
    assert s.shape == (2, 4) and s.dtype == torch.float64
    assert torch.allclose(s[1, 2], ssim(x[1, 2:3], y[1, 2:3])[0])  # per-frame, batch-independent
    assert torch.allclose(ssim(x, x), torch.ones(2, 4, dtype=torch.float64))
    assert (s < 0.5).all()  # independent noise is dissimilar


def test_gaussian_window_is_scipy_kernel():
    from scipy.ndimage import gaussian_filter1d

    impulse = np.zeros(21)
    impulse[10] = 1.0
    ref = gaussian_filter1d(impulse, sigma=1.5, truncate=3.5)[5:16]
    assert gaussian_window().shape == (11,)
    assert np.allclose(gaussian_window().numpy(), ref, atol=1e-12)


def test_mse_psnr_hand_computation():
    g = torch.Generator().manual_seed(3)
    x = torch.rand(2, 3, 3, 8, 8, generator=g)
    y = torch.rand(2, 3, 3, 8, 8, generator=g)
    xn, yn = x.double().numpy(), y.double().numpy()
    ref_mse = ((xn - yn) ** 2).reshape(2, 3, -1).mean(axis=-1)
    assert np.allclose(mse(x, y).numpy(), ref_mse, rtol=1e-12)
    assert np.allclose(psnr(x, y).numpy(), 10 * np.log10(1.0 / ref_mse), rtol=1e-12)
    # one value off by 0.1 in a 3×2×2 frame: MSE = 0.01/12, PSNR = 10·log10(1200)
    a = torch.zeros(1, 3, 2, 2)
    b = a.clone()
    b[0, 1, 0, 1] = 0.1
    assert math.isclose(mse(a, b).item(), 0.01 / 12, rel_tol=1e-6)
    assert math.isclose(psnr(a, b).item(), 10 * math.log10(1200), rel_tol=1e-6)


def test_psnr_identical_frames_is_capped_at_100db():
    x = torch.rand(2, 3, 16, 16)
    p = psnr(x, x)
    assert PSNR_MAX == 100.0
    assert torch.isfinite(p).all() and torch.equal(p, torch.full((2,), 100.0, dtype=torch.float64))


def test_frame_metrics_keys_and_agreement():
    g = torch.Generator().manual_seed(4)
    x = torch.rand(2, 2, 3, 16, 16, generator=g)
    y = torch.rand(2, 2, 3, 16, 16, generator=g)
    m = frame_metrics(x, y)
    assert set(m) == {"mse", "psnr", "ssim"}
    assert torch.equal(m["mse"], mse(x, y)) and torch.equal(m["psnr"], psnr(x, y)) and torch.equal(m["ssim"], ssim(x, y))


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="shapes differ"):
        mse(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 9))
    with pytest.raises(ValueError, match=r"C in \(1, 3\)"):
        psnr(torch.rand(1, 2, 8, 8), torch.rand(1, 2, 8, 8))


def test_grey_frames_score_like_their_rgb_copies():
    """SM-MNIST frames have one channel: MSE/PSNR/SSIM on it equal those of the grey repeated to RGB."""
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(2, 1, 16, 16, generator=g), torch.rand(2, 1, 16, 16, generator=g)
    rgb = (a.expand(-1, 3, -1, -1), b.expand(-1, 3, -1, -1))
    for fn in (mse, psnr, ssim):
        assert torch.allclose(fn(a, b), fn(*rgb), rtol=1e-12), fn.__name__
    with pytest.raises(ValueError, match="at least 11"):
        ssim(torch.rand(1, 3, 10, 32), torch.rand(1, 3, 10, 32))

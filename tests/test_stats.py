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
    with pytest.raises(GenvidError, match="s.json: 'mean' must list 1 or 3 channel values, got None"):
        load_stats({"std": [0.2, 0.2, 0.2]}, "s.json")
    with pytest.raises(GenvidError, match="'std' must be positive"):
        load_stats({"mean": [0.1, 0.2, 0.3], "std": [0.2, 0.0, 0.2]}, "s.json")


# ----------------------------------------------------------------------------- one channel

def test_one_channel_stats_by_hand(tmp_path):
    """Grey frames 0, 255, 0, 255 (2x2): mean 1/2, std 1/2; a 51 frame outside the ranges is ignored."""
    from types import SimpleNamespace

    from genvid.data.frames import write_frames

    values = [0, 255, 51, 0, 255]
    frames = np.array(values, np.uint8)[:, None, None, None] * np.ones((1, 2, 2, 1), np.uint8)
    episode = SimpleNamespace(frames=frames, actions=np.zeros((5, 3), np.float32), speed=np.zeros(5, np.float32))
    path = tmp_path / "grey.h5"
    write_frames(path, [episode], 5, 2, {}, channels=1)
    stats = channel_stats(path, [[0, 2], [3, 5]], chunk_frames=1, progress=False)
    assert stats["mean"] == [0.5] and stats["std"] == [0.5]
    assert stats["pixels_per_channel"] == 4 * 4
    mean, std = load_stats(stats, "grey.json", channels=1)
    assert mean.tolist() == [0.5] and std.tolist() == [0.5]


def test_smmnist_train_split_stats(tmp_path):
    """The SM-MNIST test set through read_frames_info -> split -> stats, against numpy."""
    from genvid.data import smmnist as sm
    from genvid.data.frames import read_frames_info
    from genvid.data.split import split_ranges

    path = tmp_path / "smmnist.h5"
    sm.write_test_set(path, num_sequences=4, length=6, seed=3)
    info = read_frames_info(path)
    split = split_ranges(info.episode, {"train": 0.5, "val": 0.25, "test": 0.25}, clip_len=6)
    ranges = split["splits"]["train"]["ranges"]
    assert ranges == [[0, 6], [6, 12]]
    stats = channel_stats(path, ranges, chunk_frames=4, progress=False)
    pixels = np.stack([sm.generate_sequence(3, i, 6, "test").frames for i in (0, 1)]) / 255.0
    assert len(stats["mean"]) == len(stats["std"]) == 1
    np.testing.assert_allclose(stats["mean"], [pixels.mean()], rtol=0, atol=1e-12)
    np.testing.assert_allclose(stats["std"], [pixels.std()], rtol=0, atol=1e-10)
    assert stats["pixels_per_channel"] == 12 * 64 * 64
    assert 0 < stats["mean"][0] < 0.5  # two digits on black: mostly dark


def test_load_stats_channel_counts():
    mean, std = load_stats({"mean": [0.1], "std": [0.3]}, "s.json")
    assert mean.shape == std.shape == (1,) and mean.dtype == std.dtype == np.float32
    with pytest.raises(GenvidError, match="s.json: 'std' must list 1 channel values, got 3"):
        load_stats({"mean": [0.1], "std": [0.2, 0.2, 0.2]}, "s.json")
    with pytest.raises(GenvidError, match="s.json: 'mean' must list 1 or 3 channel values, got 2"):
        load_stats({"mean": [0.1, 0.2], "std": [0.2, 0.2]}, "s.json")
    with pytest.raises(GenvidError, match="s.json: 'mean' must list 3 channel values, got 1"):
        load_stats({"mean": [0.1], "std": [0.2]}, "s.json", channels=3)
    with pytest.raises(GenvidError, match="s.json: 'std' must list numbers"):
        load_stats({"mean": [0.1], "std": ["a"]}, "s.json")

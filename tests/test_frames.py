import hashlib
from types import SimpleNamespace

import h5py
import numpy as np
import pytest

from conftest import make_frames_file
from genvid.data.frames import episode_runs, read_frames_info, write_frames
from genvid.errors import GenvidError


def test_roundtrip_and_layout(frames_file):
    info = read_frames_info(frames_file)
    assert (info.num_frames, info.height, info.width, info.channels) == (120, 16, 16, 3)
    assert episode_runs(info.episode) == [(0, 40), (40, 80), (80, 120)]
    with h5py.File(frames_file) as f:
        assert f["frames"].chunks == (1, 16, 16, 3)
        assert f["step"][40] == 0 and f["step"][79] == 39
        assert f["action"].shape == (120, 3) and f["action"].dtype == np.float32
        assert f.attrs["source"] == "synthetic"


def test_writing_is_byte_identical(tmp_path):
    a = make_frames_file(tmp_path / "a.h5")
    b = make_frames_file(tmp_path / "b.h5")
    assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()


def test_failed_write_leaves_nothing(tmp_path):
    from conftest import synthetic_episodes
    from genvid.data.frames import write_frames

    with pytest.raises(GenvidError, match="produced 80 frames, expected 100"):
        write_frames(tmp_path / "x.h5", synthetic_episodes([40, 40]), 100, 16, {})
    assert list(tmp_path.iterdir()) == []


def test_truncated_file(frames_file, tmp_path):
    data = frames_file.read_bytes()
    bad = tmp_path / "truncated.h5"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(GenvidError, match=r"truncated.h5: not a readable HDF5 frames file"):
        read_frames_info(bad)


def test_not_hdf5(tmp_path):
    bad = tmp_path / "garbage.h5"
    bad.write_bytes(b"not an hdf5 file" * 100)
    with pytest.raises(GenvidError, match="garbage.h5: not a readable HDF5 frames file"):
        read_frames_info(bad)


@pytest.mark.parametrize("make,message", [
    (lambda f: f.create_dataset("episode", data=np.zeros(4, np.int32)), "no 'frames' dataset"),
    (lambda f: f.create_dataset("frames", data=np.zeros((4, 8, 8, 3), np.float32)),
     "'frames' has dtype float32, expected uint8"),
    (lambda f: f.create_dataset("frames", data=np.zeros((4, 8, 8), np.uint8)),
     r"bad.h5: 'frames' has shape \(4, 8, 8\), expected \[N,H,W,C\] with C in \(1, 3\)"),
    (lambda f: f.create_dataset("frames", data=np.zeros((4, 8, 8, 2), np.uint8)),
     r"bad.h5: 'frames' has shape \(4, 8, 8, 2\), expected \[N,H,W,C\] with C in \(1, 3\)"),
    (lambda f: f.create_dataset("frames", data=np.zeros((4, 8, 8, 4), np.uint8)),
     r"'frames' has shape \(4, 8, 8, 4\)"),
    (lambda f: f.create_dataset("frames", data=np.zeros((4, 8, 8, 3), np.uint8)),
     "'episode' missing"),
])
def test_malformed_contents(tmp_path, make, message):
    path = tmp_path / "bad.h5"
    with h5py.File(path, "w") as f:
        make(f)
    with pytest.raises(GenvidError, match=message):
        read_frames_info(path)


# ----------------------------------------------------------------------------- one channel, optional columns

def grey_episodes(lengths, resolution=8, seed=0):
    rng = np.random.default_rng(seed)
    for n in lengths:
        yield SimpleNamespace(frames=rng.integers(0, 256, size=(n, resolution, resolution, 1), dtype=np.uint8),
                              actions=np.zeros((n, 3), np.float32), speed=np.zeros(n, np.float32))


def test_one_channel_roundtrip(tmp_path):
    path = tmp_path / "grey.h5"
    write_frames(path, grey_episodes([5, 7]), 12, 8, {"source": "synthetic"}, channels=1)
    info = read_frames_info(path)
    assert (info.num_frames, info.height, info.width, info.channels) == (12, 8, 8, 1)
    assert episode_runs(info.episode) == [(0, 5), (5, 12)]
    with h5py.File(path) as f:
        assert f["frames"].shape == (12, 8, 8, 1) and f["frames"].chunks == (1, 8, 8, 1)
        expected = np.concatenate([e.frames for e in grey_episodes([5, 7])])
        np.testing.assert_array_equal(f["frames"][:], expected)


def test_write_frames_rejects_wrong_channels(tmp_path):
    with pytest.raises(GenvidError, match=r"x.h5: channels=2 must be one of \(1, 3\)"):
        write_frames(tmp_path / "x.h5", grey_episodes([4]), 4, 8, {}, channels=2)
    # one grey channel would broadcast silently into three: it must be refused
    with pytest.raises(GenvidError, match=r"x.h5: episode 0 has frames of shape \(4, 8, 8, 1\), "
                                          r"expected \[n,8,8,3\]"):
        write_frames(tmp_path / "x.h5", grey_episodes([4]), 4, 8, {})
    assert list(tmp_path.iterdir()) == []


def test_smmnist_test_set_reads_as_a_frames_file(tmp_path):
    from genvid.data import smmnist as sm

    path = tmp_path / "smmnist.h5"
    sm.write_test_set(path, num_sequences=3, length=5, seed=7)
    info = read_frames_info(path)
    assert (info.num_frames, info.height, info.width, info.channels) == (15, 64, 64, 1)
    assert episode_runs(info.episode) == [(0, 5), (5, 10), (10, 15)]
    assert info.attrs["source"] == "smmnist" and info.attrs["channels"] == 1
    with h5py.File(path) as f:
        assert "action" not in f and "speed" not in f


def write_columns(path, n=6, **columns):
    """A frames file with only the datasets given (frames [n,4,4,1] always)."""
    with h5py.File(path, "w") as f:
        f.create_dataset("frames", data=np.arange(n * 16, dtype=np.uint8).reshape(n, 4, 4, 1))
        for name, value in columns.items():
            f.create_dataset(name, data=value)
    return path


def test_only_frames_and_episode_are_required(tmp_path):
    info = read_frames_info(write_columns(tmp_path / "min.h5", episode=np.array([0, 0, 0, 1, 1, 1], np.int64)))
    assert (info.num_frames, info.channels) == (6, 1)
    assert info.episode.tolist() == [0, 0, 0, 1, 1, 1]
    # a step that restarts (anywhere) at an episode boundary and grows by 1 within one is valid
    read_frames_info(write_columns(tmp_path / "ok.h5", episode=np.array([0, 0, 0, 1, 1, 1], np.int32),
                                   step=np.array([0, 1, 2, 4, 5, 6], np.int32)))


@pytest.mark.parametrize("columns,message", [
    ({"step": np.arange(6)}, r"'episode' missing \(expected integers \[N\] with N=6"),
    ({"episode": np.zeros(6, np.float32)}, r"'episode' is float32 \(6,\), expected integers \[N\] with N=6"),
    ({"episode": np.zeros(5, np.int32)}, r"'episode' is int32 \(5,\), expected integers"),
    ({"episode": np.array([0, 0, 1, 1, 0, 0])}, "'episode' ids are not in recording order"),
    ({"episode": np.zeros(6, np.int32), "step": np.zeros(7, np.int32)}, r"'step' is int32 \(7,\)"),
    ({"episode": np.zeros(6, np.int32), "step": np.array([0, 1, 2, 4, 5, 6])},
     r"'step' goes from 2 to 4 inside episode 0 \(rows 2, 3\)"),
    ({"episode": np.array([0, 0, 0, 1, 1, 1]), "step": np.array([0, 1, 2, 0, 0, 1])},
     r"'step' goes from 0 to 0 inside episode 1 \(rows 3, 4\)"),
    ({"episode": np.zeros(6, np.int32), "action": np.zeros((5, 3), np.float32)},
     r"'action' has shape \(5, 3\), expected \[N,A\] with N=6"),
    ({"episode": np.zeros(6, np.int32), "speed": np.zeros((6, 1), np.float32)},
     r"'speed' has shape \(6, 1\), expected \[N\] with N=6"),
])
def test_malformed_columns(tmp_path, columns, message):
    path = write_columns(tmp_path / "bad.h5", **columns)
    with pytest.raises(GenvidError, match="bad.h5: " + message):
        read_frames_info(path)


@pytest.mark.parametrize("error", [TypeError("a model's"), ValueError("a metric's"), KeyError("a dict's"),
                                   OSError("a disk's")])
def test_read_h5_blames_the_file_only_for_h5py_errors(frames_file, error):
    """An error the caller's block raises passes unchanged; one h5py raises reading the file names the file."""
    from genvid.data.h5 import read_h5

    with pytest.raises(type(error)) as caught:
        with read_h5(frames_file, "HDF5 frames file"):
            raise error
    assert caught.value is error
    with pytest.raises(GenvidError, match=r"frames.h5: not a readable HDF5 frames file \(truncated or corrupt: .*"
                                          r"'missing' doesn't exist"):
        with read_h5(frames_file, "HDF5 frames file") as f:
            f["missing"]

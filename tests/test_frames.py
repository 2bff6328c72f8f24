import hashlib

import h5py
import numpy as np
import pytest

from conftest import make_frames_file
from genvid.data.frames import episode_runs, read_frames_info
from genvid.errors import GenvidError


def test_roundtrip_and_layout(frames_file):
    info = read_frames_info(frames_file)
    assert (info.num_frames, info.height, info.width) == (120, 16, 16)
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
     r"'frames' has shape \(4, 8, 8\), expected \[N,H,W,3\]"),
    (lambda f: f.create_dataset("frames", data=np.zeros((4, 8, 8, 3), np.uint8)),
     "'episode' missing"),
])
def test_malformed_contents(tmp_path, make, message):
    path = tmp_path / "bad.h5"
    with h5py.File(path, "w") as f:
        make(f)
    with pytest.raises(GenvidError, match=message):
        read_frames_info(path)

"""The latent-code file (genvid/data/latents.py): round trip, stable bytes, one-line errors."""
import hashlib
import time

import h5py
import numpy as np
import pytest
import torch

from genvid.data.latents import LatentDataset, read_latent_info, write_latents
from genvid.data.split import SPLITS
from genvid.errors import GenvidError

torch.set_num_threads(1)

K = 16
SHAPES = {"top": (2, 4, 4), "bottom": (4, 8, 8)}
COUNTS = {"train": 7, "val": 3, "test": 2}
ATTRS = {"codebook_size": K, "clip_len": 8, "stride_train": 1, "stride_val": 4, "stride_test": 4}


def make_codes(seed=0):
    """Per split: (start int64 [N], top int16 [N,...], bottom int16 [N,...]), every index in [0, K)."""
    rng = np.random.default_rng(seed)
    out = {}
    for offset, (split, n) in enumerate(COUNTS.items()):
        start = np.arange(n, dtype=np.int64) * 4 + 100 * offset
        out[split] = (start, rng.integers(0, K, (n, *SHAPES["top"])).astype(np.int16),
                      rng.integers(0, K, (n, *SHAPES["bottom"])).astype(np.int16))
    return out


def batches(codes, size):
    start, top, bottom = codes
    for i in range(0, len(start), size):
        yield start[i:i + size], top[i:i + size], bottom[i:i + size]


def write(path, codes=None, batch=3):
    codes = codes or make_codes()
    write_latents(path, {s: batches(codes[s], batch) for s in SPLITS}, COUNTS, SHAPES, ATTRS)
    return codes


def test_round_trip(tmp_path):
    path = tmp_path / "latents.h5"
    codes = write(path)
    info = read_latent_info(path)
    assert info["codebook_size"] == K and info["shapes"] == SHAPES
    assert info["attrs"] == ATTRS
    with h5py.File(path) as f:
        assert set(f) == set(SPLITS)
        assert f["train"]["top"].dtype == np.int16 and f["train"]["bottom"].dtype == np.int16
        assert f["train"]["start"].dtype == np.int64
    for split in SPLITS:
        ds = LatentDataset(path, split)
        start, top, bottom = codes[split]
        assert len(ds) == COUNTS[split]
        assert np.array_equal(ds.start, start)
        assert ds.top.dtype == torch.long and ds.top.shape == (COUNTS[split], *SHAPES["top"])
        assert ds.bottom.shape == (COUNTS[split], *SHAPES["bottom"])
        t, b = ds[COUNTS[split] - 1]
        assert t.dtype == b.dtype == torch.long
        assert np.array_equal(t.numpy(), top[-1]) and np.array_equal(b.numpy(), bottom[-1])
        assert np.array_equal(ds.top.numpy(), top) and np.array_equal(ds.bottom.numpy(), bottom)


def test_bytes_depend_only_on_content(tmp_path):
    write(tmp_path / "a.h5", batch=3)
    time.sleep(1.1)  # HDF5 object times have 1 s resolution: would differ if they were stored
    write(tmp_path / "b.h5", batch=5)  # a different batching writes the same rows
    digest = [hashlib.sha256((tmp_path / n).read_bytes()).hexdigest() for n in ("a.h5", "b.h5")]
    assert digest[0] == digest[1]
    write(tmp_path / "c.h5", make_codes(seed=1))
    assert hashlib.sha256((tmp_path / "c.h5").read_bytes()).hexdigest() != digest[0]


def test_short_stream_is_an_error_and_writes_nothing(tmp_path):
    path = tmp_path / "latents.h5"
    codes = make_codes()
    short = {s: batches(codes[s], 3) for s in SPLITS}
    short["val"] = batches(tuple(a[:2] for a in codes["val"]), 3)
    with pytest.raises(GenvidError, match=r"latents.h5: split 'val' got 2 clips, expected 3"):
        write_latents(path, short, COUNTS, SHAPES, ATTRS)
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- bad files

def corrupt(path, how):
    """Rewrite one part of a valid file."""
    with h5py.File(path, "r+") as f:
        if how == "top_3d":
            del f["val/top"]
            f["val"].create_dataset("top", data=np.zeros((3, 4, 4), np.int16))
        elif how == "n_mismatch":
            del f["test/start"]
            f["test"].create_dataset("start", data=np.zeros(5, np.int64))
        elif how == "float_codes":
            data = f["train/bottom"][:]
            del f["train/bottom"]
            f["train"].create_dataset("bottom", data=data.astype(np.float32))
        elif how == "missing_group":
            del f["test"]
        elif how == "missing_start":
            del f["val/start"]
        elif how == "missing_attr":
            del f.attrs["codebook_size"]
        elif how == "grid_mismatch":
            del f["test/top"]
            f["test"].create_dataset("top", data=np.zeros((2, 2, 8, 8), np.int16))


@pytest.mark.parametrize("how,message", [
    ("top_3d", "'val/top' has shape (3, 4, 4), expected [3,T,H,W]"),
    ("n_mismatch", "'test/top' has shape (2, 2, 4, 4), expected [5,T,H,W]"),
    ("float_codes", "'train/bottom' has dtype float32, expected int16"),
    ("missing_group", "no 'test' group"),
    ("missing_start", "'val/start' missing"),
    ("missing_attr", "missing attribute 'codebook_size'"),
    ("grid_mismatch", "'test' code shapes {'top': (2, 8, 8), 'bottom': (4, 8, 8)} differ from"),
])
def test_malformed_file_names_file_and_problem(tmp_path, how, message):
    path = tmp_path / "latents.h5"
    write(path)
    corrupt(path, how)
    for load in (read_latent_info, lambda p: LatentDataset(p, "train")):
        with pytest.raises(GenvidError) as err:
            load(path)
        text = str(err.value)
        assert text.startswith(f"{path}: ") and message in text and "\n" not in text


@pytest.mark.parametrize("value", [K, -1])
def test_index_outside_codebook(tmp_path, value):
    path = tmp_path / "latents.h5"
    write(path)
    with h5py.File(path, "r+") as f:
        f["val/bottom"][1, 2, 3, 4] = value
    read_latent_info(path)  # the grid is well-formed; the values are checked on load
    LatentDataset(path, "train")
    with pytest.raises(GenvidError, match=rf"latents.h5: 'val/bottom' holds index {value} outside \[0, {K}\)"):
        LatentDataset(path, "val")


def test_missing_and_truncated_files(tmp_path):
    with pytest.raises(GenvidError, match="nope.h5: file not found"):
        read_latent_info(tmp_path / "nope.h5")
    path = tmp_path / "latents.h5"
    write(path)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 3])
    for load in (read_latent_info, lambda p: LatentDataset(p, "train")):
        with pytest.raises(GenvidError, match="latents.h5: not a readable latent file"):
            load(path)

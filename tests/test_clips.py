import h5py
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from conftest import make_frames_file
from genvid.data.clips import ClipDataset, UnitClipDataset, denormalize, normalize
from genvid.errors import GenvidError
from genvid.data.split import split_ranges
from genvid.determinism import seed_everything, seed_worker
from genvid.io import write_json


def setup(tmp_path):
    frames = make_frames_file(tmp_path / "f.h5", lengths=(60, 60, 80), resolution=16)
    with h5py.File(frames) as f:
        episode = f["episode"][:]
    split = split_ranges(episode, {"train": 0.8, "val": 0.1, "test": 0.1}, clip_len=8)
    write_json(tmp_path / "split.json", split)
    write_json(tmp_path / "stats.json", {"mean": [0.5, 0.4, 0.3], "std": [0.25, 0.2, 0.3]})
    return frames, tmp_path / "split.json", tmp_path / "stats.json", split


def test_clip_indexing_at_both_strides(tmp_path):
    frames, split_path, stats, split = setup(tmp_path)
    train = ClipDataset(frames, split_path, stats, "train", clip_len=8, stride=1)
    test = ClipDataset(frames, split_path, stats, "test", clip_len=8, stride=8)
    # train: frames [0,160) over episodes [0,60) [60,120) [120,160)
    assert len(train) == (60 - 7) + (60 - 7) + (40 - 7)
    assert train.starts[:3].tolist() == [0, 1, 2] and train.starts[53] == 60
    # test: frames [180, 200) within episode 2 -> starts 180, 188
    assert test.starts.tolist() == [180, 188]


def test_item_is_normalised_clip(tmp_path):
    frames, split_path, stats, _ = setup(tmp_path)
    ds = ClipDataset(frames, split_path, stats, "train", clip_len=8, stride=1)
    x = ds[5]
    assert x.shape == (3, 8, 16, 16) and x.dtype == torch.float32
    raw = ds.raw(5)
    with h5py.File(frames) as f:
        np.testing.assert_array_equal(raw, f["frames"][5:13])
    expected = (raw[..., 1].astype(np.float32) / 255 - 0.4) / 0.2
    np.testing.assert_allclose(x[1].numpy(), expected, atol=1e-6)
    back = denormalize(x, ds.mean, ds.std)
    np.testing.assert_allclose(back.permute(1, 2, 3, 0).numpy(), raw / 255.0, atol=1e-6)


def test_seeded_loader_with_workers_is_deterministic(tmp_path):
    frames, split_path, stats, _ = setup(tmp_path)
    ds = ClipDataset(frames, split_path, stats, "train", clip_len=8, stride=1)

    def batches(workers):
        gen = seed_everything(3)
        loader = DataLoader(ds, batch_size=4, shuffle=True, num_workers=workers, generator=gen,
                            worker_init_fn=seed_worker)
        return [b for _, b in zip(range(5), loader)]

    a, b, c = batches(0), batches(2), batches(2)
    for x, y, z in zip(a, b, c):
        assert torch.equal(x, y) and torch.equal(y, z)


def test_unit_clips_are_pixels_over_255_time_first(tmp_path):
    frames, split_path, _, _ = setup(tmp_path)
    ds = UnitClipDataset(frames, split_path, "test", clip_len=8, stride=8)
    assert len(ds) == 2 and ds.channels == 3
    x = ds[1]
    assert x.shape == (8, 3, 16, 16) and x.dtype == torch.float32 and x.is_contiguous()
    with h5py.File(frames) as f:
        raw = f["frames"][188:196]
    np.testing.assert_array_equal(x.numpy(), raw.transpose(0, 3, 1, 2).astype(np.float32) / np.float32(255))


# ----------------------------------------------------------------------------- one channel (SM-MNIST)

SEED, SEQUENCES, LENGTH, CLIP = 5, 5, 10, 6


@pytest.fixture(scope="module")
def grey(tmp_path_factory):
    """The SM-MNIST test-set file through the data layer: frames info, split, statistics."""
    from genvid.data import smmnist as sm
    from genvid.data.frames import read_frames_info
    from genvid.data.split import split_ranges
    from genvid.data.stats import channel_stats

    root = tmp_path_factory.mktemp("grey")
    frames = root / "smmnist.h5"
    sm.write_test_set(frames, num_sequences=SEQUENCES, length=LENGTH, seed=SEED)
    info = read_frames_info(frames)
    assert info.channels == 1
    split = split_ranges(info.episode, {"train": 0.6, "val": 0.2, "test": 0.2}, clip_len=CLIP)
    write_json(root / "split.json", split)
    write_json(root / "stats.json", channel_stats(frames, split["splits"]["train"]["ranges"], 8, progress=False))
    sequences = np.stack([sm.generate_sequence(SEED, i, LENGTH, "test").frames for i in range(SEQUENCES)])
    return frames, root / "split.json", root / "stats.json", sequences


def test_one_channel_clip_windows(grey):
    frames, split_path, stats, _ = grey
    train = ClipDataset(frames, split_path, stats, "train", clip_len=CLIP, stride=2)
    # train = sequences 0..2 = frames [0, 30): starts 0, 2, 4 in each sequence
    assert train.starts.tolist() == [0, 2, 4, 10, 12, 14, 20, 22, 24]
    test = UnitClipDataset(frames, split_path, "test", clip_len=CLIP, stride=CLIP)
    assert test.starts.tolist() == [40]  # sequence 4; one clip of 6 fits in 10 frames at stride 6


def test_one_channel_normalised_clip_by_hand(grey):
    frames, split_path, stats, sequences = grey
    ds = ClipDataset(frames, split_path, stats, "train", clip_len=CLIP, stride=2)
    assert ds.channels == 1 and ds.mean.shape == ds.std.shape == (1,)
    x = ds[4]  # start 12: sequence 1, frames 2..7
    assert x.shape == (1, CLIP, 64, 64) and x.dtype == torch.float32
    raw = sequences[1, 2:2 + CLIP]
    np.testing.assert_array_equal(ds.raw(4)[..., 0], raw)
    train = sequences[:3] / 255.0
    expected = (raw / 255.0 - train.mean()) / train.std()
    np.testing.assert_allclose(x[0].numpy(), expected, rtol=0, atol=1e-5)
    back = denormalize(x, ds.mean, ds.std)
    np.testing.assert_allclose(back[0].numpy(), raw / 255.0, rtol=0, atol=1e-6)


def test_one_channel_unit_clips_feed_the_pixel_models(grey):
    from genvid.models.predictor import to_unit

    frames, split_path, _, sequences = grey
    ds = UnitClipDataset(frames, split_path, "val", clip_len=CLIP, stride=4)
    assert ds.starts.tolist() == [30, 34]  # sequence 3
    x = ds[1]
    assert x.shape == (CLIP, 1, 64, 64) and x.dtype == torch.float32
    raw = sequences[3, 4:4 + CLIP]
    np.testing.assert_array_equal(x[:, 0].numpy(), raw.astype(np.float32) / np.float32(255))
    assert torch.equal(x, to_unit(torch.from_numpy(raw[..., None])))  # the Predictor's own scaling
    assert 0.0 == x.min() and x.max() <= 1.0
    batch = next(iter(DataLoader(ds, batch_size=2)))
    assert batch.shape == (2, CLIP, 1, 64, 64)  # [B, T, C, H, W]: model.loss(frames, step)


def test_channel_mismatches_are_one_line_errors(grey, tmp_path):
    frames, split_path, _, _ = grey
    write_json(tmp_path / "rgb.json", {"mean": [0.5, 0.4, 0.3], "std": [0.25, 0.2, 0.3]})
    with pytest.raises(GenvidError, match=r"rgb.json: statistics of 3 channels, but .*smmnist.h5 has 1$"):
        ClipDataset(frames, split_path, tmp_path / "rgb.json", "train", clip_len=CLIP, stride=1)
    grey_clip = np.zeros((CLIP, 4, 4, 1), np.uint8)
    rgb_stats = np.full(3, 0.5, np.float32)
    with pytest.raises(GenvidError, match=r"normalize: frames of shape \(6, 4, 4, 1\) with statistics of 3"):
        normalize(grey_clip, rgb_stats, rgb_stats)
    with pytest.raises(GenvidError, match=r"denormalize: tensor of shape \(2, 1, 6, 4, 4\)"):
        denormalize(torch.zeros(2, 1, CLIP, 4, 4), rgb_stats, rgb_stats)
    # the normalised clip inverts for one channel as for three
    one = np.full(1, 0.25, np.float32)
    clip = np.arange(CLIP * 16, dtype=np.uint8).reshape(CLIP, 4, 4, 1)
    np.testing.assert_allclose(denormalize(normalize(clip, one, one * 2), one, one * 2)[0].numpy(),
                               clip[..., 0] / 255.0, rtol=0, atol=1e-6)


def test_split_of_another_file_or_unknown_split(grey, tmp_path):
    frames, _, _, _ = grey
    big = make_frames_file(tmp_path / "big.h5", lengths=(60, 60), resolution=16)
    with h5py.File(big) as f:
        split = split_ranges(f["episode"][:], {"train": 0.8, "val": 0.1, "test": 0.1}, clip_len=CLIP)
    write_json(tmp_path / "split.json", split)
    with pytest.raises(GenvidError, match=r"split.json: split 'test' reaches frame 120, but .*smmnist.h5 "
                                          r"holds 50 frames"):
        UnitClipDataset(frames, tmp_path / "split.json", "test", clip_len=CLIP, stride=1)
    with pytest.raises(GenvidError, match=r"split.json: no split 'dev'"):
        UnitClipDataset(big, tmp_path / "split.json", "dev", clip_len=CLIP, stride=1)

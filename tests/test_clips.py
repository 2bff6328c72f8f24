import numpy as np
import torch
from torch.utils.data import DataLoader

from conftest import make_frames_file
from genvid.data.clips import ClipDataset, denormalize
from genvid.data.split import split_ranges
from genvid.determinism import seed_everything, seed_worker
from genvid.io import write_json


def setup(tmp_path):
    frames = make_frames_file(tmp_path / "f.h5", lengths=(60, 60, 80), resolution=16)
    import h5py

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
    import h5py

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

"""The linear probe's data (genvid.data.probe): targets by hand, held-out sets that no model trained on."""
from __future__ import annotations

import h5py
import numpy as np
import pytest

from conftest import make_frames_file
from genvid.data.benchmark import SMMNISTCollectConfig
from genvid.data.probe import DIGIT_CLASSES, SPEED_CLASSES, probe_data
from genvid.data.smmnist import generate_sequence, pools
from genvid.data.split import split_ranges
from genvid.errors import GenvidError
from genvid.io import write_json


class _Bench:
    """What probe_data reads of a benchmark: its collect section."""

    def __init__(self, collect):
        self.collect = collect


def test_smmnist_targets_are_the_two_digit_labels_and_held_out_digits_are_the_test_pool(tmp_path):
    collect = SMMNISTCollectConfig(source="smmnist", seed=7, test_sequences=2, sequence_length=16,
                                   train_sequences=10, val_sequences=2, stats_sequences=2)
    write_json(tmp_path / "stats.json", {"mean": [0.1], "std": [0.3]})
    data = probe_data(_Bench(collect), tmp_path / "none.h5", tmp_path / "none.json", tmp_path / "stats.json",
                      clip_len=8, fit_clips=6, held_out_clips=3)
    assert len(data.fit.clips) == 6 and len(data.held_out.clips) == 3
    assert data.fit.targets.shape == (6, DIGIT_CLASSES)
    for i in range(6):
        labels = generate_sequence(7, i, 8, "train").labels
        assert np.flatnonzero(data.fit.targets[i]).tolist() == sorted(set(labels.tolist()))
    test_pool = set(pools()["test"].tolist())
    for i in range(3):
        sequence = generate_sequence(7, i, 8, "test")
        assert set(sequence.digit_ids.tolist()) <= test_pool
        assert data.held_out.targets[i, sequence.labels].all() and data.held_out.targets[i].sum() == len(
            set(sequence.labels.tolist()))
        clip = data.held_out.clips[i]
        np.testing.assert_allclose(clip[0].numpy(), (sequence.frames / 255.0 - 0.1) / 0.3, rtol=1e-5, atol=1e-5)
    # The fit set never exceeds the generated training sequences.
    assert len(probe_data(_Bench(collect), tmp_path / "n.h5", tmp_path / "n.json", tmp_path / "stats.json",
                          8, 50, 3).fit.clips) == 10


def _recorded(tmp_path):
    frames = make_frames_file(tmp_path / "f.h5", lengths=(60, 60, 80), resolution=16)
    with h5py.File(frames) as f:
        episode, speed = f["episode"][:], f["speed"][:].astype(np.float64)
    write_json(tmp_path / "split.json", split_ranges(episode, {"train": 0.7, "val": 0.15, "test": 0.15}, clip_len=8))
    write_json(tmp_path / "stats.json", {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]})
    return frames, speed


def test_driving_targets_are_mean_speed_tertiles_of_the_fit_clips(tmp_path):
    frames, speed = _recorded(tmp_path)
    collect = type("Collect", (), {"source": "procedural"})()
    data = probe_data(_Bench(collect), frames, tmp_path / "split.json", tmp_path / "stats.json",
                      clip_len=8, fit_clips=12, held_out_clips=5)
    fit_starts = np.array([data.fit.clips.dataset.starts[i] for i in data.fit.clips.indices])
    assert len(fit_starts) == 12 and fit_starts[0] == 0  # evenly thinned, the first kept
    means = np.array([speed[s:s + 8].mean() for s in fit_starts])
    cuts = np.quantile(means, [1 / 3, 2 / 3])
    want = np.searchsorted(cuts, means, side="right")
    assert data.fit.targets.argmax(1).tolist() == want.tolist()
    assert data.fit.targets.shape == (12, SPEED_CLASSES) and (data.fit.targets.sum(1) == 1).all()
    assert sorted(np.bincount(want, minlength=3).tolist()) == [4, 4, 4]  # tertiles of the fit clips
    assert len(data.held_out.clips) == len(data.held_out.targets) <= 10
    assert "held out: the validation and test clips" in data.task


def test_a_frames_file_without_speed_is_one_line(tmp_path):
    frames, _ = _recorded(tmp_path)
    with h5py.File(frames, "a") as f:
        del f["speed"]
    collect = type("Collect", (), {"source": "procedural"})()
    with pytest.raises(GenvidError, match="f.h5: no 'speed' dataset"):
        probe_data(_Bench(collect), frames, tmp_path / "split.json", tmp_path / "stats.json", 8, 12, 5)

import re

import numpy as np
import pytest

from genvid.data.split import clip_starts, split_ranges, validate_split_file
from genvid.errors import GenvidError

FRACTIONS = {"train": 0.8, "val": 0.1, "test": 0.1}


def test_chronological_split_of_one_long_episode():
    episode = np.zeros(1000, dtype=np.int32)
    result = split_ranges(episode, FRACTIONS, clip_len=16)
    s = result["splits"]
    assert s["train"]["ranges"] == [[0, 800]]
    assert s["val"]["ranges"] == [[800, 900]]
    assert s["test"]["ranges"] == [[900, 1000]]


def test_no_clip_crosses_an_episode_or_split_boundary():
    lengths = [37, 120, 64, 90, 51, 75]
    episode = np.repeat(np.arange(len(lengths)), lengths).astype(np.int32)
    result = split_ranges(episode, FRACTIONS, clip_len=16)
    n = len(episode)
    cut1, cut2 = round(n * 0.8), round(n * 0.9)
    owner = np.full(n, "", dtype=object)
    last_end = 0
    for name in ("train", "val", "test"):
        for stride in (1, 8):
            for start in clip_starts(result["splits"][name]["ranges"], 16, stride):
                frames = np.arange(start, start + 16)
                assert len(set(episode[frames])) == 1, "clip crosses an episode boundary"
                split_of = np.where(frames < cut1, "train", np.where(frames < cut2, "val", "test"))
                assert set(split_of) == {name}, "clip crosses a split boundary"
        # chronological: every range of this split starts after the previous split's ranges
        ranges = result["splits"][name]["ranges"]
        assert ranges[0][0] >= last_end
        last_end = ranges[-1][1]
        for a, b in ranges:
            assert not owner[a:b].any()
            owner[a:b] = name
    kept = sum(r["frames"] + r["dropped_frames"] for r in result["splits"].values())
    assert kept == n


def test_clip_starts_at_both_strides():
    ranges = [[0, 40], [100, 131]]
    assert clip_starts(ranges, 16, 1).tolist() == list(range(0, 25)) + list(range(100, 116))
    assert clip_starts(ranges, 16, 8).tolist() == [0, 8, 16, 24, 100, 108]


def test_short_episode_is_an_error():
    episode = np.repeat([0, 1, 2], [40, 10, 40]).astype(np.int32)
    with pytest.raises(GenvidError, match="episode 1 has 10 frames, fewer than clips.clip_len=16"):
        split_ranges(episode, FRACTIONS, clip_len=16, source="frames.h5")


def test_split_without_a_clip_is_an_error():
    episode = np.zeros(100, dtype=np.int32)
    with pytest.raises(GenvidError, match="split 'val' .* holds no clip"):
        split_ranges(episode, FRACTIONS, clip_len=16)


def test_a_written_split_validates_against_its_frames():
    episode = np.repeat(np.arange(3), 40)
    split = split_ranges(episode, {"train": 0.5, "val": 0.25}, 8)
    assert validate_split_file(split, "split.json", len(episode)) is split


@pytest.mark.parametrize("splits, message", [
    ({"train": [[0, 10]], "val": [[10, 20]], "test": [[20, 31]]}, "runs past the end of the frames file (30 frames)"),
    ({"train": [[0, 10]], "val": [[5, 20]], "test": [[20, 30]]}, "'val' range [5, 20] overlaps or precedes 'train'"),
    ({"train": [[10, 20]], "val": [[0, 5]], "test": [[20, 30]]}, "'val' range [0, 5] overlaps or precedes 'train'"),
    ({"train": [[0, 10], [2, 8]], "val": [[10, 20]], "test": [[20, 30]]}, "'train' range [2, 8] overlaps"),
    ({"train": [[0, 10]], "val": [[10, 20]], "test": [[20, "30"]]}, "split 'test' has range [20, '30']"),
    ({"train": [[0, 10]], "val": [[10, 20]], "test": [[-1, 5]]}, "split 'test' has range [-1, 5]"),
])
def test_split_file_ranges_must_fit_and_be_disjoint(splits, message):
    data = {"splits": {k: {"ranges": v} for k, v in splits.items()}}
    with pytest.raises(GenvidError, match=re.escape(message)):
        validate_split_file(data, "split.json", 30)

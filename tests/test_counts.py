"""Issue 47: a count param above what exists is clamped to what exists, with one "note:" line naming the key
(genvid.config.clamped, the one rule; docs/pipeline.md), never silently."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import make_frames_file
from genvid.config import clamped


@pytest.mark.parametrize("count, available, used", [(3, 5, 3), (5, 5, 5), (9, 5, 5)])
def test_a_count_is_used_as_given_up_to_what_exists_and_clamped_above_with_a_note(count, available, used, capsys):
    assert clamped(count, available, "x.count (things)") == used
    err = capsys.readouterr().err
    assert (err == f"note: x.count (things) = 9 is more than the 5 there are: using 5\n") if count > available \
        else err == ""


def test_protocol_max_clips_above_the_test_clips_is_clamped_with_a_note(tmp_path, capsys):
    from genvid.data.benchmark import protocol_clips

    frames = make_frames_file(tmp_path / "frames.h5", lengths=(40, 40, 40))
    split = {"splits": {"train": {"ranges": [[0, 80]]}, "val": {"ranges": [[80, 100]]},
                        "test": {"ranges": [[100, 120]]}}}
    (tmp_path / "split.json").write_text(json.dumps(split))
    proto = SimpleNamespace(clip_len=4, context_frames=2, horizon=2, test_stride=4, max_clips=0, block_clips=1)
    every, _, _ = protocol_clips(proto, frames, tmp_path / "split.json")
    assert capsys.readouterr().err == ""
    some, _, _ = protocol_clips(SimpleNamespace(**{**vars(proto), "max_clips": 2}), frames, tmp_path / "split.json")
    assert np.array_equal(some, every[:2]) and capsys.readouterr().err == ""
    above, _, _ = protocol_clips(SimpleNamespace(**{**vars(proto), "max_clips": 99}), frames, tmp_path / "split.json")
    assert np.array_equal(above, every)
    assert capsys.readouterr().err == (f"note: protocol.max_clips (test clips) = 99 is more than the {len(every)} "
                                       f"there are: using {len(every)}\n")

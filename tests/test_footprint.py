"""genvid.footprint: what a benchmark's sizes imply for memory and disk, by hand, and the one-line refusal."""
from types import SimpleNamespace as NS

import pytest

from genvid import footprint as FP
from genvid.errors import ParamError


def _simulated(**collect):
    base = dict(source="procedural", resolution=64, episodes=10, frames_per_episode=100)
    proto = NS(context_frames=4, horizon=6)
    cf = NS(clips=5, actions={"left": (-1, 0.5, 0), "straight": (0, 0.5, 0), "right": (1, 0.5, 0)})
    return NS(collect=NS(**{**base, **collect}), protocol=proto, counterfactuals=cf, motion_classifier=None)


def test_the_estimates_by_hand():
    bench = _simulated()
    memory, disk = FP.collect_needs(bench, "driving")
    assert (memory.resource, memory.bytes) == ("memory", 100 * 64 * 64 * 3)  # one episode's uint8 frames
    assert (disk.resource, disk.bytes) == ("disk", 10 * 100 * 64 * 64 * 3)  # the frames file, uncompressed
    assert memory.keys == "benchmarks.driving.collect.frames_per_episode x resolution²"
    (cf,) = FP.counterfactual_needs(bench, "driving")
    assert cf.bytes == 5 * 3 * (4 + 6) * 64 * 64 * 3  # clips x held actions x frames x a frame
    bench.counterfactuals.clips = 0  # all of the protocol's test clips: the protocol's own sizes bound them
    assert FP.counterfactual_needs(bench, "driving") == []
    generated = NS(collect=NS(source="smmnist", test_sequences=7, sequence_length=20), protocol=NS(horizon=10),
                   motion_classifier=NS(sequences=30))
    (disk,) = FP.collect_needs(generated, "smmnist")
    assert disk.bytes == 7 * 20 * 64 * 64 * 1
    (motion,) = FP.motion_needs(generated, "smmnist")
    assert motion.bytes == 30 * 10 * 1 * 64 * 64 * 4  # float32 futures
    videos = NS(collect=NS(source="video_dir", resolution=32, max_frames=None))
    assert FP.collect_needs(videos, "mine") == []  # no bound given: the videos' own lengths decide
    videos.collect.max_frames = 50
    assert FP.collect_needs(videos, "mine")[0].bytes == 50 * 32 * 32 * 3


def test_a_need_beyond_the_machine_is_one_line_naming_keys_and_estimate(tmp_path):
    needs = FP.collect_needs(_simulated(), "driving")  # 1.2 MB in memory, 12.3 MB on disk
    FP.check(needs, "params.yaml", tmp_path / "frames.h5", memory=2 * 10 ** 6, disk=2 * 10 ** 7)  # fits
    with pytest.raises(ParamError) as err:
        FP.check(needs, "params.yaml", tmp_path / "frames.h5", memory=2 ** 20, disk=2 * 10 ** 7)
    assert str(err.value) == ("params.yaml: benchmarks.driving.collect.frames_per_episode x resolution² imply 1.2 MiB "
                              "for one episode's frames, more than this machine's memory (1.0 MiB); lower them")
    with pytest.raises(ParamError, match=r"episodes x frames_per_episode x resolution² imply .* for the frames file, "
                                         r"more than the free disk under"):
        FP.check(needs, "params.yaml", tmp_path / "sub/frames.h5", memory=2 * 10 ** 6, disk=10 ** 7)


def test_the_machine_is_measured():
    assert FP.machine_memory() > 2 ** 28 and FP.free_disk("/no/such/folder/file") > 0

"""Data stage CLIs (collect, split, normalize per benchmark): happy path, one clear line on bad
input, a non-zero exit, no partial output."""
import json
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
import yaml

from conftest import ROOT, make_frames_file, venv_env
from genvid.data.benchmark import GENERATED_SOURCES
from genvid.data.video_dir import VIDEO_SOURCE
from genvid.io import read_json


def stage(name, root, benchmark="driving"):
    return subprocess.run([sys.executable, "-m", f"stages.{name}", "--params", str(root / "params.yaml"),
                           "--benchmark", benchmark, "--root", str(root)], cwd=ROOT, env=venv_env(),
                          capture_output=True, text=True)


def assert_one_line_error(result, *fragments):
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture
def root(tmp_path):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["benchmarks"]["driving"]["clips"]["clip_len"] = 8
    params["benchmarks"]["driving"]["protocol"].update(context_frames=4, horizon=4, test_stride=8)
    params["benchmarks"]["driving"]["long_horizon"]["context_frames"] = 4  # it must equal the protocol's
    (tmp_path / "data/driving").mkdir(parents=True)

    def write(**overrides):
        for dotted, value in overrides.items():
            node = params["benchmarks"]["driving"]
            *path, key = dotted.split("__")
            for part in path:
                node = node[part]
            node[key] = value
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
        return tmp_path

    return write


def test_split_and_normalize_happy_path(root):
    r = root()
    make_frames_file(r / "data/driving/frames.h5", lengths=(40, 40, 40))
    assert stage("split", r).returncode == 0
    result = stage("normalize", r)
    assert result.returncode == 0, result.stderr
    stats = read_json(r / "data/driving/stats.json")
    assert len(stats["mean"]) == 3 and all(0 < s < 1 for s in stats["std"])


@pytest.mark.parametrize("corrupt,fragments", [
    ("truncate", ("frames.h5: not a readable HDF5 frames file",)),
    ("no_frames", ("no 'frames' dataset",)),
    ("float_frames", ("'frames' has dtype float64, expected uint8",)),
    ("bad_shape", ("'frames' has shape (120, 16, 16)",)),
    ("short_episode", ("episode 1 has 5 frames, fewer than clips.clip_len=8",)),
])
def test_split_rejects_bad_frames_file(root, corrupt, fragments):
    r = root()
    frames = r / "data/driving/frames.h5"
    if corrupt == "truncate":
        make_frames_file(frames)
        data = frames.read_bytes()
        frames.write_bytes(data[: len(data) // 3])
    elif corrupt == "short_episode":
        make_frames_file(frames, lengths=(40, 5, 40))
    else:
        with h5py.File(frames, "w") as f:
            f.create_dataset("episode", data=np.zeros(120, np.int32))
            if corrupt == "float_frames":
                f.create_dataset("frames", data=np.zeros((120, 16, 16, 3)))
            elif corrupt == "bad_shape":
                f.create_dataset("frames", data=np.zeros((120, 16, 16), np.uint8))
    assert_one_line_error(stage("split", r), *fragments)
    assert not (r / "data/driving/split.json").exists()


def test_split_fraction_sum_and_unknown_source(root):
    r = root(split__test=0.2)
    make_frames_file(r / "data/driving/frames.h5")
    assert_one_line_error(stage("split", r), "benchmarks.driving.split.train + val + test must sum to 1, got 1.1")
    assert not (r / "data/driving/split.json").exists()
    r = root(split__test=0.1, collect__source="gta5")
    (r / "data/driving/frames.h5").unlink()
    sources = ", ".join(("procedural", "carracing", *GENERATED_SOURCES, VIDEO_SOURCE))
    assert_one_line_error(stage("collect", r), "params.yaml: benchmarks.driving.collect.source must be one of "
                                               f"{sources}, got 'gta5'")
    assert not (r / "data/driving/frames.h5").exists()
    assert_one_line_error(stage("collect", r, "moon"), "section 'benchmarks.moon' is missing")


def test_normalize_rejects_a_bad_split_file(root):
    r = root()
    make_frames_file(r / "data/driving/frames.h5")
    (r / "data/driving/split.json").write_text('{"splits": {"train": {}}}')
    assert_one_line_error(stage("normalize", r), "split.json: split 'train' missing or has no 'ranges'")
    assert not (r / "data/driving/stats.json").exists()


@pytest.mark.parametrize("ranges, message", [
    ({"train": [[0, 80]], "val": [[80, 100]], "test": [[100, 500]]},
     "split 'test' range [100, 500] runs past the end of the frames file (120 frames)"),
    ({"train": [[0, 80]], "val": [[80, 100]], "test": [[60, 120]]},
     "split 'test' range [60, 120] overlaps or precedes 'val' range [80, 100]"),
    ({"train": [[0, 80]], "val": [[80, 100]], "test": [[110, 100]]}, "split 'test' has range [110, 100]"),
])
def test_normalize_rejects_a_split_that_does_not_fit_its_frames(root, ranges, message):
    """Issue 26: a split running past the frames or overlapping another split was accepted, and the
    statistics written."""
    r = root()
    make_frames_file(r / "data/driving/frames.h5")  # 3 episodes of 40 frames
    (r / "data/driving/split.json").write_text(json.dumps({"splits": {k: {"ranges": v} for k, v in ranges.items()}}))
    assert_one_line_error(stage("normalize", r), message)
    assert not (r / "data/driving/stats.json").exists()


def test_smmnist_data_stages(tmp_path):
    """The generated benchmark: a fixed test file, every sequence in test, training statistics."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["benchmarks"]["smmnist"]["collect"].update(test_sequences=3, stats_sequences=4)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    for name in ("collect", "split", "normalize"):
        result = stage(name, tmp_path, "smmnist")
        assert result.returncode == 0, result.stderr
    split = read_json(tmp_path / "data/smmnist/split.json")["splits"]
    assert split["train"]["ranges"] == [] and split["test"]["ranges"] == [[0, 25], [25, 50], [50, 75]]
    stats = read_json(tmp_path / "data/smmnist/stats.json")
    assert len(stats["mean"]) == 1 and 0 < stats["mean"][0] < 0.5


def test_collect_killed_midway_leaves_no_output(root):
    r = root(collect__episodes=400, collect__frames_per_episode=200)
    out = r / "data/driving/frames.h5"
    proc = subprocess.Popen([sys.executable, "-m", "stages.collect", "--params", str(r / "params.yaml"),
                             "--benchmark", "driving", "--root", str(r)],
                            cwd=ROOT, env=venv_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and not list((r / "data/driving").glob(".frames.h5.*")):
        time.sleep(0.1)
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not out.exists()


def test_collect_refuses_sizes_beyond_the_machine_before_any_work(root):
    """Issue 47: one accepted value of a collect size made the simulator allocate 235 GiB and die with a
    traceback. Each size passes its own range; what they imply together is refused in one line naming the
    keys and the estimate, and nothing is written (2³¹ − 1 RGB frames of 1,024² are 6 PiB)."""
    r = root(collect__resolution=1024, collect__frames_per_episode=2 ** 31 - 1)
    assert_one_line_error(stage("collect", r), "params.yaml: benchmarks.driving.collect.frames_per_episode x "
                                               "resolution² imply 6,291,456.0 GiB for one episode's frames, more "
                                               "than this machine's memory (")
    assert not (r / "data/driving/frames.h5").exists() and not list((r / "data/driving").iterdir())
    r = root(collect__resolution=1024, collect__frames_per_episode=2, collect__episodes=2 ** 31 - 1)
    assert_one_line_error(stage("collect", r), "benchmarks.driving.collect.episodes x frames_per_episode x "
                                               "resolution² imply", "for the frames file, more than the free disk")
    r = root(collect__resolution=2048)
    assert_one_line_error(stage("collect", r), "benchmarks.driving.collect.resolution must be <= 1024, got 2048")
    r = root(collect__resolution=64, collect__episodes=2 ** 31)
    assert_one_line_error(stage("collect", r), "benchmarks.driving.collect.episodes must be an integer of at most "
                                               "2,147,483,647 in size, got 2147483648")
